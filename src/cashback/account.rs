//! A customer's cashback account in one currency, as a command sees it under lock.

use ledger_events::{Currency, StreamId};
use sqlx::{PgConnection, Row};

use crate::command::CommandError;
use crate::rejection::Rejection;
use crate::state::AppState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CashbackAccount {
    pub customer_id: String,
    pub currency: Currency,
    /// May be negative: a debt left by a refund's claw-back.
    pub balance_minor: i64,
    /// Reserved by pending holds.
    pub held_minor: i64,
    /// Version of the customer's cashback stream when read (append with `Exact` of it).
    pub stream_version: i64,
}

impl CashbackAccount {
    /// What may be spent now: balance minus holds, never below zero.
    pub fn available_minor(&self) -> i64 {
        self.balance_minor.saturating_sub(self.held_minor).max(0)
    }

    pub fn insufficient(&self, requested_minor: i64) -> Rejection {
        Rejection::insufficient(
            &self.currency,
            self.balance_minor,
            self.available_minor(),
            requested_minor,
        )
    }
}

/// Locks the customer's cashback stream, then reads the balance: every change to the balance
/// happens under that lock, so what is read stays true until this transaction ends.
pub async fn lock(
    state: &AppState,
    connection: &mut PgConnection,
    customer_id: &str,
    currency: &Currency,
) -> Result<CashbackAccount, CommandError> {
    let versions = state
        .store
        .lock_streams(connection, &[StreamId::cashback(customer_id)])
        .await?;
    let (balance_minor, held_minor) = read_balance(connection, customer_id, currency).await?;
    Ok(CashbackAccount {
        customer_id: customer_id.to_owned(),
        currency: currency.clone(),
        balance_minor,
        held_minor,
        stream_version: versions[0],
    })
}

/// (balance, held) in minor units; zeros for a customer without operations in that currency.
pub async fn read_balance(
    connection: &mut PgConnection,
    customer_id: &str,
    currency: &Currency,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT balance_minor, held_minor FROM cashback_accounts \
         WHERE customer_id = $1 AND currency = $2",
    )
    .bind(customer_id)
    .bind(currency.code())
    .fetch_optional(connection)
    .await?;
    match row {
        Some(row) => Ok((row.try_get("balance_minor")?, row.try_get("held_minor")?)),
        None => Ok((0, 0)),
    }
}
