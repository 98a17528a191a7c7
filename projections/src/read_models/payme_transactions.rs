//! Payme transactions by Payme `time` (`payme_transactions`), what GetStatement and the
//! `/api/reports/payme/statement` report read.
//!
//! Inline: applied in the append transaction, so a transition is in this table the moment it
//! is acknowledged to Payme. A GetStatement that follows a Perform by a millisecond must show the
//! transaction performed, and an asynchronous projection could not promise that.

use async_trait::async_trait;
use ledger_events::{DomainEvent, RecordedEvent};
use sqlx::PgConnection;

use super::expect_one_row;
use crate::{ProjectionError, Projector};

pub struct PaymeTransactions;

/// Payme's states.
const STATE_PERFORMED: i16 = 2;
const STATE_CANCELLED_BEFORE_PERFORM: i32 = -1;
const STATE_CANCELLED_AFTER_PERFORM: i32 = -2;

#[async_trait]
impl Projector for PaymeTransactions {
    fn name(&self) -> &'static str {
        "payme_transactions"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["payme_tx"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["payme_transactions"]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        match &event.event {
            DomainEvent::PaymeTransactionCreated(created) => {
                if created.amount_tiyin <= 0 {
                    return Err(ProjectionError::invariant(
                        event,
                        format!(
                            "Payme transaction {} has a non-positive amount",
                            created.payme_id
                        ),
                    ));
                }
                let result = sqlx::query(
                    "INSERT INTO payme_transactions (payme_id, transaction_id, order_id, amount_tiyin, \
                       account, payme_time_ms, create_time_ms, state) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1)",
                )
                .bind(&created.payme_id)
                .bind(&created.transaction)
                .bind(&created.order_id)
                .bind(created.amount_tiyin)
                .bind(&created.account)
                .bind(created.payme_time_ms)
                .bind(created.create_time_ms)
                .execute(connection)
                .await?;
                expect_one_row(result, event, "payme_transactions insert")
            }
            DomainEvent::PaymeTransactionPerformed(performed) => {
                // Only a created (state 1) transaction can be performed.
                let result = sqlx::query(
                    "UPDATE payme_transactions SET state = $2, perform_time_ms = $3 \
                     WHERE payme_id = $1 AND state = 1",
                )
                .bind(&performed.payme_id)
                .bind(STATE_PERFORMED)
                .bind(performed.perform_time_ms)
                .execute(connection)
                .await?;
                expect_one_row(
                    result,
                    event,
                    "payme_transactions perform of a created transaction",
                )
            }
            DomainEvent::PaymeTransactionCancelled(cancelled) => {
                // -1 only from state 1, -2 only from state 2: the log must say the same.
                let from_state: i16 = match cancelled.state {
                    STATE_CANCELLED_BEFORE_PERFORM => 1,
                    STATE_CANCELLED_AFTER_PERFORM => STATE_PERFORMED,
                    other => {
                        return Err(ProjectionError::invariant(
                            event,
                            format!("Payme cancellation with state {other} (expected -1 or -2)"),
                        ))
                    }
                };
                let to_state = i16::try_from(cancelled.state).expect("-1 or -2");
                let result = sqlx::query(
                    "UPDATE payme_transactions SET state = $2, cancel_time_ms = $3, reason = $4 \
                     WHERE payme_id = $1 AND state = $5",
                )
                .bind(&cancelled.payme_id)
                .bind(to_state)
                .bind(cancelled.cancel_time_ms)
                .bind(cancelled.reason)
                .bind(from_state)
                .execute(connection)
                .await?;
                expect_one_row(result, event, "payme_transactions cancellation")
            }
            _ => Ok(()),
        }
    }
}
