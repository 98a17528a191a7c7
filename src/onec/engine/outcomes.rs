//! What happened to each operation: the outcome types, the original answer of a repeat, joining
//! decisions with what was written, and the sync log's view of an outcome.

use std::time::Instant;

use chrono::{DateTime, Utc};
use ledger_events::domain::DomainEvent;
use ledger_events::{Currency, RecordedEvent};
use uuid::Uuid;

use super::book::Decision;
use super::Prepared;
use crate::http::error::ApiError;
use crate::onec::sync_log::{SyncEntry, SyncRequest};
use crate::rejection::Rejection;

/// What happened to one operation.
#[derive(Debug)]
pub enum ItemOutcome {
    Applied {
        transaction_id: Uuid,
        balance_after_minor: i64,
        position: i64,
    },
    /// The same external id with the same content was recorded before: its original answer.
    Duplicate {
        transaction_id: Uuid,
        balance_after_minor: i64,
        position: i64,
    },
    /// A rule refused it (recorded in the log when the refusal is final, e.g. not enough
    /// cashback; not recorded when the item was never acceptable, e.g. an unknown customer).
    Refused(Rejection),
    /// Malformed: it never reached a decision.
    Invalid(ApiError),
}

impl ItemOutcome {
    /// The stable error code of a refused or invalid item.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            ItemOutcome::Refused(rejection) => Some(rejection.code()),
            ItemOutcome::Invalid(error) => Some(error.code()),
            ItemOutcome::Applied { .. } | ItemOutcome::Duplicate { .. } => None,
        }
    }
}

/// The answer a recorded event gave, for a repeat of its external id.
pub(super) fn outcome_of_recorded(event: &RecordedEvent, currency: &Currency) -> ItemOutcome {
    let applied = |balance_after_minor| ItemOutcome::Duplicate {
        transaction_id: event.event_id,
        balance_after_minor,
        position: event.position,
    };
    match &event.event {
        DomainEvent::CashbackAccrued(e) => applied(e.balance_after_minor),
        DomainEvent::CashbackDebited(e) => applied(e.balance_after_minor),
        DomainEvent::CashbackDebitReleased(e) => applied(e.balance_after_minor),
        DomainEvent::CashbackAccrualReversed(e) => applied(e.balance_after_minor),
        DomainEvent::CashbackOperationRejected(rejected) => {
            ItemOutcome::Refused(match rejected.remaining_minor {
                Some(remaining_minor) if rejected.reason == "exceeds_remaining" => {
                    Rejection::ExceedsRemaining {
                        currency: currency.clone(),
                        remaining_minor,
                    }
                }
                _ => Rejection::insufficient(
                    currency,
                    rejected.balance_minor,
                    rejected.available_minor,
                    rejected.requested_minor,
                ),
            })
        }
        other => ItemOutcome::Invalid(ApiError::internal(anyhow::anyhow!(
            "a 1C idempotency key names a {} event",
            other.event_type()
        ))),
    }
}

/// Joins decisions with what was written.
pub(super) fn resolve(
    items: &[Prepared],
    decisions: Vec<Decision>,
    recorded: &[RecordedEvent],
) -> Vec<(usize, ItemOutcome)> {
    let mut written = recorded.iter();
    let mut resolved: Vec<ItemOutcome> = Vec::with_capacity(decisions.len());
    for decision in decisions {
        let outcome = match decision {
            Decision::Record {
                balance_after_minor,
                refusal,
                ..
            } => {
                let event = written
                    .next()
                    .expect("one recorded event per Record decision");
                match refusal {
                    Some(rejection) => ItemOutcome::Refused(rejection),
                    None => ItemOutcome::Applied {
                        transaction_id: event.event_id,
                        balance_after_minor,
                        position: event.position,
                    },
                }
            }
            Decision::Repeat(outcome) => outcome,
            Decision::RepeatOfEarlier(earlier) => repeat_of(&resolved[earlier]),
            Decision::Refused(rejection) => ItemOutcome::Refused(rejection),
        };
        resolved.push(outcome);
    }
    items.iter().map(|item| item.index).zip(resolved).collect()
}

/// The same external id twice in one request: the second gets the first's answer.
fn repeat_of(earlier: &ItemOutcome) -> ItemOutcome {
    match earlier {
        ItemOutcome::Applied {
            transaction_id,
            balance_after_minor,
            position,
        }
        | ItemOutcome::Duplicate {
            transaction_id,
            balance_after_minor,
            position,
        } => ItemOutcome::Duplicate {
            transaction_id: *transaction_id,
            balance_after_minor: *balance_after_minor,
            position: *position,
        },
        ItemOutcome::Refused(rejection) => ItemOutcome::Refused(rejection.clone()),
        ItemOutcome::Invalid(error) => ItemOutcome::Invalid(ApiError::internal(anyhow::anyhow!(
            "an invalid item was repeated within its chunk: {error}"
        ))),
    }
}

pub(super) fn sync_entry(
    ids: &(Option<String>, Option<String>),
    outcome: &ItemOutcome,
) -> SyncEntry {
    let status = match outcome {
        ItemOutcome::Applied { .. } => "ok",
        ItemOutcome::Duplicate { .. } => "duplicate",
        ItemOutcome::Refused(_) | ItemOutcome::Invalid(_) => "error",
    };
    let error = outcome.error_code();
    SyncEntry {
        external_id: ids.0.clone(),
        register_id: ids.1.clone(),
        status,
        error,
    }
}

pub(super) fn sync_request(
    kind: &'static str,
    received: Instant,
    received_at: DateTime<Utc>,
) -> SyncRequest {
    SyncRequest {
        kind,
        received_at,
        latency_micros: i64::try_from(received.elapsed().as_micros()).unwrap_or(i64::MAX),
    }
}
