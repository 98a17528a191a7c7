//! `pre_checkout_query`: Telegram asks whether to take the buyer's money, and must be answered
//! within 10 seconds. Yes only for an order that exists, belongs to the paying Telegram user,
//! awaits payment with no other gateway transaction holding it, and whose currency and total
//! are exactly the invoice's; otherwise no, with a message the buyer reads.
//!
//! The decision reads the order and its customer from their own streams (never from a lagging
//! projection) and writes nothing: a yes reserves nothing, and a charge that arrives for an
//! order that stopped being payable meanwhile is recorded and flagged ([`super::charges`]).

use std::time::Duration;

use super::updates::PreCheckoutQuery;
use crate::customers::state as customer_state;
use crate::orders::state::{self as order_state, OrderState, OrderStatus};
use crate::state::AppState;

/// Time left for the Bot API call, out of Telegram's 10 s.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the buyer may not pay (the text Telegram shows them), or Ok.
pub fn decide(
    query: &PreCheckoutQuery,
    order: Option<&OrderState>,
    owner_telegram_id: Option<i64>,
) -> Result<(), &'static str> {
    let order = order.ok_or("This order was not found.")?;
    if owner_telegram_id != Some(query.from.id) {
        return Err("This order belongs to another account.");
    }
    match order.status {
        OrderStatus::AwaitingPayment => {}
        OrderStatus::Paid | OrderStatus::Completed => {
            return Err("This order has already been paid.")
        }
        OrderStatus::Refunded => return Err("This order was refunded."),
        OrderStatus::Cancelled => return Err("This order was cancelled. Please place it again."),
    }
    if order.active_payment.is_some() {
        return Err("This order is being paid another way. Please try again in a few minutes.");
    }
    let placed = &order.placed;
    if query.currency != placed.currency.code() || query.total_amount != placed.amount_minor {
        return Err("The order's total has changed. Please reopen the order and pay again.");
    }
    Ok(())
}

/// Loads what [`decide`] needs and decides.
pub async fn check(state: &AppState, query: &PreCheckoutQuery) -> anyhow::Result<Option<String>> {
    let mut connection = state.pool.acquire().await?;
    let order = order_state::load(state, &mut connection, &query.invoice_payload)
        .await
        .map_err(|error| anyhow::anyhow!("{error:?}"))?;
    let owner = match order
        .as_ref()
        .and_then(|order| order.placed.customer_id.clone())
    {
        Some(customer_id) => customer_state::load(state, &mut connection, &customer_id)
            .await
            .map_err(|error| anyhow::anyhow!("{error:?}"))?
            .and_then(|customer| customer.telegram_id),
        None => None,
    };
    Ok(decide(query, order.as_ref(), owner)
        .err()
        .map(str::to_owned))
}

#[cfg(test)]
mod tests {
    //! Given an order, when Telegram asks, then yes or a refusal the buyer understands.

    use chrono::Utc;
    use ledger_events::accounts::{order_receivable, shop_sales};
    use ledger_events::domain::{OrderPlaced, PaymentProvider};
    use ledger_events::{Currency, Postings};

    use super::*;
    use crate::orders::state::ActivePayment;
    use crate::telegram::updates::User;

    fn order(status: OrderStatus) -> OrderState {
        let xtr = Currency::new("XTR").unwrap();
        OrderState {
            placed: OrderPlaced {
                order_id: "o-1".into(),
                external_id: "A-1".into(),
                customer_id: Some("c-1".into()),
                currency: xtr.clone(),
                items: vec![],
                items_total_minor: 50,
                cashback_redeemed_minor: 0,
                amount_minor: 50,
                hold_id: None,
                fx: None,
                expires_at: Utc::now(),
                postings: Postings::transfer(order_receivable("o-1"), shop_sales(), 50, &xtr),
            },
            status,
            active_payment: None,
            payment: None,
            version: 1,
        }
    }

    fn query(currency: &str, total: i64) -> PreCheckoutQuery {
        PreCheckoutQuery {
            id: "q-1".into(),
            from: User { id: 7 },
            currency: currency.into(),
            total_amount: total,
            invoice_payload: "o-1".into(),
        }
    }

    #[test]
    fn a_payable_order_of_the_payer_is_accepted() {
        assert_eq!(
            decide(
                &query("XTR", 50),
                Some(&order(OrderStatus::AwaitingPayment)),
                Some(7)
            ),
            Ok(())
        );
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        let awaiting = order(OrderStatus::AwaitingPayment);
        assert!(decide(&query("XTR", 50), None, None).is_err());
        assert!(decide(&query("XTR", 50), Some(&awaiting), Some(8)).is_err());
        assert!(decide(&query("XTR", 51), Some(&awaiting), Some(7)).is_err());
        assert!(decide(&query("USD", 50), Some(&awaiting), Some(7)).is_err());
        for status in [
            OrderStatus::Paid,
            OrderStatus::Completed,
            OrderStatus::Cancelled,
            OrderStatus::Refunded,
        ] {
            assert!(decide(&query("XTR", 50), Some(&order(status)), Some(7)).is_err());
        }
        let mut held = awaiting.clone();
        held.active_payment = Some(ActivePayment {
            provider: PaymentProvider::Payme,
            provider_id: "p".into(),
        });
        assert_eq!(
            decide(&query("XTR", 50), Some(&held), Some(7)),
            Err("This order is being paid another way. Please try again in a few minutes.")
        );
    }
}
