//! The projectors, one file each. `inline()` are applied in the append transaction;
//! `asynchronous()` run behind the global feed.

pub mod account_balances;
pub mod cashback_balances;
pub mod cashback_history;
pub mod crystalpay_invoices;
mod crystalpay_payments;
pub mod customers;
pub mod lookups;
pub mod onec_operations;
pub mod orders;
pub mod outbox;
pub mod outbox_messages;
pub mod payme_transactions;
pub mod telegram_payments;

use std::sync::Arc;

use crate::projector::Projector;

/// Projectors applied inside the append transaction.
pub fn inline() -> Vec<Arc<dyn Projector>> {
    vec![
        Arc::new(lookups::CustomerIndex),
        Arc::new(lookups::OrderIndex),
        Arc::new(cashback_balances::CashbackBalances),
        Arc::new(onec_operations::OnecOperations),
        Arc::new(payme_transactions::PaymeTransactions),
        Arc::new(crystalpay_invoices::CrystalPayInvoices),
    ]
}

/// Projectors run by [`crate::ProjectionRunner`]s behind the global feed.
pub fn asynchronous() -> Vec<Arc<dyn Projector>> {
    vec![
        Arc::new(orders::Orders),
        Arc::new(customers::Customers),
        Arc::new(account_balances::AccountBalances),
        Arc::new(cashback_history::CashbackHistory),
        Arc::new(outbox::Outbox),
    ]
}

/// Every projector, by name (the replay tool's argument).
pub fn by_name(name: &str) -> Option<Arc<dyn Projector>> {
    inline()
        .into_iter()
        .chain(asynchronous())
        .find(|projector| projector.name() == name)
}

/// Asserts that a statement changed exactly one row, which the log guarantees (e.g. an order is
/// paid only after it was placed). Anything else means the read model and the log disagree.
pub(crate) fn expect_one_row(
    result: sqlx::postgres::PgQueryResult,
    event: &ledger_events::RecordedEvent,
    what: &str,
) -> Result<(), crate::ProjectionError> {
    match result.rows_affected() {
        1 => Ok(()),
        other => Err(crate::ProjectionError::invariant(
            event,
            format!("{what}: expected to change one row, changed {other}"),
        )),
    }
}
