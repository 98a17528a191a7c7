//! A Payme transaction, folded from its own stream (`payme_tx-<payme id>`): what the methods
//! decide on, and the answers they give — always rebuilt from the stored events, so a repeated
//! call gets the very same times.

use ledger_events::domain::{
    PaymeTransactionCancelled, PaymeTransactionCreated, PaymeTransactionPerformed,
};
use ledger_events::{DomainEvent, RecordedEvent, StreamId};
use sqlx::PgConnection;

use super::answers::{CancelAnswer, CheckAnswer, CreateAnswer, PerformAnswer};
use crate::command::CommandError;
use crate::state::AppState;

/// 12 hours: a created transaction not performed within this time after Payme's `time` is
/// cancelled (reason 4) the next time it is touched.
pub const TIMEOUT_MS: i64 = 43_200_000;

/// Payme's transaction states.
pub const STATE_CREATED: i32 = 1;
pub const STATE_PERFORMED: i32 = 2;
pub const STATE_CANCELLED: i32 = -1;
pub const STATE_CANCELLED_AFTER_PERFORM: i32 = -2;

/// Payme's cancel reason for a timeout.
pub const REASON_TIMEOUT: i32 = 4;

/// Longest Payme id we record (Payme's are 24 hex characters).
pub const MAX_PAYME_ID_CHARS: usize = 200;

#[derive(Clone, Debug, PartialEq)]
pub struct PaymeTransaction {
    pub created: PaymeTransactionCreated,
    pub performed: Option<PaymeTransactionPerformed>,
    pub cancelled: Option<PaymeTransactionCancelled>,
    /// Stream version (append the next transition with `Exact` of it).
    pub version: i64,
}

impl PaymeTransaction {
    pub fn payme_id(&self) -> &str {
        &self.created.payme_id
    }

    pub fn stream(&self) -> StreamId {
        StreamId::payme_transaction(&self.created.payme_id)
    }

    pub fn state(&self) -> i32 {
        match (&self.cancelled, &self.performed) {
            (Some(cancelled), _) => cancelled.state,
            (None, Some(_)) => STATE_PERFORMED,
            (None, None) => STATE_CREATED,
        }
    }

    /// More than 12 hours since Payme's `time` (our clock against Payme's, as Payme counts it).
    pub fn is_past_timeout(&self, now_ms: i64) -> bool {
        now_ms - self.created.payme_time_ms > TIMEOUT_MS
    }

    pub fn create_answer(&self) -> CreateAnswer {
        CreateAnswer {
            create_time: self.created.create_time_ms,
            transaction: self.created.transaction.clone(),
            state: STATE_CREATED,
        }
    }

    /// Only for a performed transaction (state 2).
    pub fn perform_answer(&self) -> Option<PerformAnswer> {
        let performed = self.performed.as_ref()?;
        Some(PerformAnswer {
            transaction: self.created.transaction.clone(),
            perform_time: performed.perform_time_ms,
            state: STATE_PERFORMED,
        })
    }

    /// Only for a cancelled transaction (state -1 or -2).
    pub fn cancel_answer(&self) -> Option<CancelAnswer> {
        let cancelled = self.cancelled.as_ref()?;
        Some(CancelAnswer {
            transaction: self.created.transaction.clone(),
            cancel_time: cancelled.cancel_time_ms,
            state: cancelled.state,
        })
    }

    pub fn check_answer(&self) -> CheckAnswer {
        CheckAnswer {
            create_time: self.created.create_time_ms,
            perform_time: self.performed.as_ref().map_or(0, |p| p.perform_time_ms),
            cancel_time: self.cancelled.as_ref().map_or(0, |c| c.cancel_time_ms),
            transaction: self.created.transaction.clone(),
            state: self.state(),
            reason: self.cancelled.as_ref().map(|c| c.reason),
        }
    }
}

pub fn fold(events: &[RecordedEvent]) -> Option<PaymeTransaction> {
    let mut transaction: Option<PaymeTransaction> = None;
    for event in events {
        match (&mut transaction, &event.event) {
            (None, DomainEvent::PaymeTransactionCreated(created)) => {
                transaction = Some(PaymeTransaction {
                    created: created.clone(),
                    performed: None,
                    cancelled: None,
                    version: 0,
                });
            }
            (Some(current), DomainEvent::PaymeTransactionPerformed(performed)) => {
                assert!(
                    current.performed.is_none() && current.cancelled.is_none(),
                    "{} performed twice or after a cancellation",
                    event.stream_id
                );
                current.performed = Some(performed.clone());
            }
            (Some(current), DomainEvent::PaymeTransactionCancelled(cancelled)) => {
                assert!(
                    current.cancelled.is_none(),
                    "{} cancelled twice",
                    event.stream_id
                );
                current.cancelled = Some(cancelled.clone());
            }
            _ => {}
        }
        if let Some(current) = &mut transaction {
            current.version = event.stream_version;
        }
    }
    transaction
}

/// Reads and folds a transaction (None: Payme never created it with us).
pub async fn load(
    state: &AppState,
    connection: &mut PgConnection,
    payme_id: &str,
) -> Result<Option<PaymeTransaction>, CommandError> {
    if payme_id.is_empty() || payme_id.chars().count() > MAX_PAYME_ID_CHARS {
        return Ok(None); // never recorded: Create refuses such ids
    }
    let events = state
        .store
        .read_stream_in(connection, &StreamId::payme_transaction(payme_id), 0)
        .await?;
    Ok(fold(&events))
}

/// Milliseconds since the epoch on our clock (`create_time`, `perform_time`, `cancel_time`).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
