//! What every transition of a Payme transaction shares: its idempotency key, how it is
//! appended, and the cancellation before perform (asked by Payme, or forced by the 12-hour
//! timeout from Create, Perform or a new Create on the same order).

use ledger_events::domain::{OrderPaymentEnded, PaymeTransactionCancelled, PaymentProvider};
use ledger_events::{
    AppendOutcome, AppendRequest, EventMetadata, ExpectedVersion, Fingerprint, Idempotency,
    RecordedEvent, StreamId,
};
use serde::Serialize;
use sqlx::PgConnection;

use super::error::PaymeError;
use super::transaction::{PaymeTransaction, STATE_CANCELLED};
use crate::command::{self, CommandError};
use crate::orders::state::OrderState;
use crate::rejection::Rejection;
use crate::state::AppState;

/// The transitions that carry an idempotency key (`payme:<kind>:<payme id>`).
#[derive(Clone, Copy, Debug)]
pub enum Transition {
    Create,
    Perform,
    Cancel,
}

impl Transition {
    /// The key of this transition of `payme_id`, fingerprinted by Payme's own request fields
    /// (`fields`), never by values we generate.
    pub fn idempotency(self, payme_id: &str, fields: &impl Serialize) -> Idempotency {
        let kind = match self {
            Transition::Create => "create",
            Transition::Perform => "perform",
            Transition::Cancel => "cancel",
        };
        Idempotency::new(format!("payme:{kind}:{payme_id}"), Fingerprint::of(fields))
    }
}

/// Appends a transition inside the command's transaction and returns its keyed event.
///
/// A key already used means a twin request (Payme retries, or calls concurrently) committed the
/// same transition between our read and our append. The answer is then not decided here: the
/// command runs again and answers from the transaction's stream, which now holds the twin's
/// transition — exactly as a sequential repeat would be answered.
pub async fn append(
    state: &AppState,
    connection: &mut PgConnection,
    request: &AppendRequest,
) -> Result<RecordedEvent, CommandError> {
    match command::append(state, connection, request).await {
        Ok(AppendOutcome::Appended(mut events)) => {
            Ok(events.pop().expect("an append writes at least one event"))
        }
        Ok(AppendOutcome::Duplicate(_))
        | Err(CommandError::Rejected(Rejection::IdempotencyConflict { .. })) => Err(
            CommandError::Retry("a concurrent twin recorded this Payme transition".into()),
        ),
        Err(other) => Err(other),
    }
}

/// Payme's fields of a cancellation.
#[derive(Serialize)]
struct CancelFields<'a> {
    id: &'a str,
    reason: i32,
}

/// The events that cancel a created (state 1) transaction: state -1 on its stream, and the
/// order released (back to awaiting payment) if this transaction is what holds it.
pub fn cancellation_before_perform(
    transaction: &PaymeTransaction,
    order: &OrderState,
    reason: i32,
    now_ms: i64,
    metadata: &EventMetadata,
) -> AppendRequest {
    let payme_id = transaction.payme_id();
    let mut request = AppendRequest::new(metadata.clone()).expect(
        &transaction.stream(),
        ExpectedVersion::Exact(transaction.version),
    );
    let holds_order = order.active_payment.as_ref().is_some_and(|active| {
        active.provider == PaymentProvider::Payme && active.provider_id == payme_id
    });
    if holds_order {
        request.declare(&order.stream(), ExpectedVersion::Exact(order.version));
        request.push_event(
            &order.stream(),
            OrderPaymentEnded {
                order_id: order.order_id().to_owned(),
                provider: PaymentProvider::Payme,
                provider_id: payme_id.to_owned(),
                reason: format!("payme cancel reason {reason}"),
            },
        );
    }
    request.push_event(
        &transaction.stream(),
        PaymeTransactionCancelled {
            payme_id: payme_id.to_owned(),
            order_id: order.order_id().to_owned(),
            cancel_time_ms: now_ms,
            reason,
            state: STATE_CANCELLED,
        },
    );
    request.idempotent(cancel_idempotency(payme_id, reason))
}

/// The key of a cancellation (before or after perform, asked by Payme or forced by a timeout).
pub fn cancel_idempotency(payme_id: &str, reason: i32) -> Idempotency {
    Transition::Cancel.idempotency(
        payme_id,
        &CancelFields {
            id: payme_id,
            reason,
        },
    )
}

/// Whether a twin request changed the transaction since it was read at `version` (0: it did not
/// exist). The transaction and its order are read by two statements; when the order contradicts
/// the transaction, either a twin committed between the two reads — then the command must run
/// again and read both anew ([`lost_race`]) — or the log is inconsistent, which is refused loudly.
pub async fn moved_on_since(
    state: &AppState,
    connection: &mut PgConnection,
    payme_id: &str,
    version: i64,
) -> Result<bool, CommandError> {
    let newer = state
        .store
        .read_stream_in(connection, &StreamId::payme_transaction(payme_id), version)
        .await?;
    Ok(!newer.is_empty())
}

/// The answer when the order contradicts the transaction read at `known.version` (for Perform:
/// not held by it; for Cancel after perform: not paid by it). A twin that moved the transaction
/// on since makes the command run again; otherwise the log is inconsistent, which cannot happen
/// through our commands, so it is logged loudly and Payme gets "cannot perform" with nothing
/// recorded.
pub async fn refuse_contradicting_order(
    state: &AppState,
    connection: &mut PgConnection,
    known: &PaymeTransaction,
    order: &OrderState,
    contradiction: &'static str,
) -> Result<PaymeError, CommandError> {
    let payme_id = known.payme_id();
    if moved_on_since(state, connection, payme_id, known.version).await? {
        return Err(lost_race(payme_id));
    }
    tracing::error!(
        payme_id,
        order_id = order.order_id(),
        status = order.status.as_str(),
        "{contradiction}"
    );
    Ok(PaymeError::CannotPerform)
}

/// Makes `command::execute` run the command again (a twin request moved the transaction on).
pub fn lost_race(payme_id: &str) -> CommandError {
    CommandError::Retry(
        format!("Payme transaction {payme_id} changed while it was being decided").into(),
    )
}

/// The order a transaction pays (its stream was written with the transaction's creation, so it
/// exists; anything else is a broken log).
pub async fn load_order(
    state: &AppState,
    connection: &mut PgConnection,
    transaction: &PaymeTransaction,
) -> Result<OrderState, CommandError> {
    let order_id = &transaction.created.order_id;
    crate::orders::state::load(state, connection, order_id)
        .await?
        .ok_or_else(|| {
            CommandError::Failed(anyhow::anyhow!(
                "Payme transaction {} names order {order_id}, whose stream is empty",
                transaction.payme_id()
            ))
        })
}
