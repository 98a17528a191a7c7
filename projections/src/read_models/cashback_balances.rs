//! Inline cashback balances (`cashback_accounts`) and holds (`cashback_holds`).
//!
//! The balance is folded from the postings on the customer's cashback account, and every event
//! states the balance it left behind (`balance_after_minor`): the two must agree, which is
//! checked on every apply — inline and during a rebuild.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_events::accounts::customer_cashback;
use ledger_events::domain::*;
use ledger_events::{Currency, Postings, RecordedEvent};
use sqlx::PgConnection;

use super::expect_one_row;
use crate::{ProjectionError, Projector};

pub struct CashbackBalances;

#[async_trait]
impl Projector for CashbackBalances {
    fn name(&self) -> &'static str {
        "cashback_balances"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["cashback"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["cashback_accounts", "cashback_holds"]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let movement = |customer_id: &str, currency: &Currency, postings: &Postings, after: i64| {
            BalanceMovement {
                customer_id: customer_id.to_owned(),
                currency: currency.clone(),
                // Liability account: credits raise what the customer has.
                change_minor: -postings.net_for(&customer_cashback(customer_id, currency)),
                balance_after_minor: after,
            }
        };
        match &event.event {
            DomainEvent::CashbackAccrued(e) => {
                let m = movement(
                    &e.customer_id,
                    &e.currency,
                    &e.postings,
                    e.balance_after_minor,
                );
                move_balance(connection, event, m).await
            }
            DomainEvent::CashbackDebited(e) => {
                let m = movement(
                    &e.customer_id,
                    &e.currency,
                    &e.postings,
                    e.balance_after_minor,
                );
                move_balance(connection, event, m).await
            }
            DomainEvent::CashbackDebitReleased(e) => {
                let m = movement(
                    &e.customer_id,
                    &e.currency,
                    &e.postings,
                    e.balance_after_minor,
                );
                move_balance(connection, event, m).await
            }
            DomainEvent::CashbackAccrualReversed(e) => {
                let m = movement(
                    &e.customer_id,
                    &e.currency,
                    &e.postings,
                    e.balance_after_minor,
                );
                move_balance(connection, event, m).await
            }
            DomainEvent::CashbackRedemptionReturned(e) => {
                let m = movement(
                    &e.customer_id,
                    &e.currency,
                    &e.postings,
                    e.balance_after_minor,
                );
                move_balance(connection, event, m).await
            }
            DomainEvent::CashbackHoldPlaced(e) => place_hold(connection, event, e).await,
            DomainEvent::CashbackHoldPosted(e) => {
                settle_hold(connection, event, &e.hold_id, "posted").await?;
                change_held(
                    connection,
                    event,
                    &e.customer_id,
                    &e.currency,
                    -e.amount_minor,
                )
                .await?;
                let m = movement(
                    &e.customer_id,
                    &e.currency,
                    &e.postings,
                    e.balance_after_minor,
                );
                move_balance(connection, event, m).await
            }
            DomainEvent::CashbackHoldVoided(e) => {
                settle_hold(connection, event, &e.hold_id, "voided").await?;
                change_held(
                    connection,
                    event,
                    &e.customer_id,
                    &e.currency,
                    -e.amount_minor,
                )
                .await
            }
            _ => Ok(()),
        }
    }
}

struct BalanceMovement {
    customer_id: String,
    currency: Currency,
    change_minor: i64,
    balance_after_minor: i64,
}

async fn move_balance(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    movement: BalanceMovement,
) -> Result<(), ProjectionError> {
    let balance: i64 = sqlx::query_scalar(
        "INSERT INTO cashback_accounts (customer_id, currency, balance_minor, updated_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (customer_id, currency) DO UPDATE \
         SET balance_minor = cashback_accounts.balance_minor + excluded.balance_minor, \
             updated_at = excluded.updated_at \
         RETURNING balance_minor",
    )
    .bind(&movement.customer_id)
    .bind(movement.currency.code())
    .bind(movement.change_minor)
    .bind(event.recorded_at)
    .fetch_one(connection)
    .await?;
    if balance != movement.balance_after_minor {
        return Err(ProjectionError::invariant(
            event,
            format!(
                "cashback balance of {} in {} folds to {balance}, the event says {}",
                movement.customer_id, movement.currency, movement.balance_after_minor
            ),
        ));
    }
    Ok(())
}

async fn place_hold(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    hold: &CashbackHoldPlaced,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO cashback_holds (hold_id, customer_id, order_id, currency, amount_minor, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
    )
    .bind(&hold.hold_id)
    .bind(&hold.customer_id)
    .bind(&hold.order_id)
    .bind(hold.currency.code())
    .bind(hold.amount_minor)
    .bind(event.recorded_at)
    .execute(&mut *connection)
    .await?;
    change_held(
        connection,
        event,
        &hold.customer_id,
        &hold.currency,
        hold.amount_minor,
    )
    .await
}

/// A hold is posted or voided exactly once, and only from pending.
async fn settle_hold(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    hold_id: &str,
    status: &str,
) -> Result<(), ProjectionError> {
    let result = sqlx::query(
        "UPDATE cashback_holds SET status = $2, updated_at = $3 WHERE hold_id = $1 AND status = 'pending'",
    )
    .bind(hold_id)
    .bind(status)
    .bind(event.recorded_at)
    .execute(connection)
    .await?;
    expect_one_row(result, event, "pending cashback hold")
}

async fn change_held(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    customer_id: &str,
    currency: &Currency,
    change_minor: i64,
) -> Result<(), ProjectionError> {
    let updated_at: DateTime<Utc> = event.recorded_at;
    // A release (negative change) is a plain UPDATE of the row its hold created: an upsert would
    // propose a row with a negative `held_minor`, and PostgreSQL checks `held_minor >= 0` on the
    // proposed row before ON CONFLICT turns it into an update.
    let statement = if change_minor >= 0 {
        "INSERT INTO cashback_accounts (customer_id, currency, held_minor, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (customer_id, currency) DO UPDATE \
         SET held_minor = cashback_accounts.held_minor + excluded.held_minor, updated_at = excluded.updated_at"
    } else {
        "UPDATE cashback_accounts SET held_minor = held_minor + $3, updated_at = $4 \
         WHERE customer_id = $1 AND currency = $2"
    };
    let result = sqlx::query(statement)
        .bind(customer_id)
        .bind(currency.code())
        .bind(change_minor)
        .bind(updated_at)
        .execute(connection)
        .await
        .map_err(
            |error| match error.as_database_error().and_then(|db| db.constraint()) {
                Some(_) => ProjectionError::invariant(
                    event,
                    format!("held cashback would go negative: {error}"),
                ),
                None => ProjectionError::Database(error),
            },
        )?;
    expect_one_row(result, event, "cashback account holding the released hold")
}
