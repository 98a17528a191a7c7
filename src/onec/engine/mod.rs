//! Deciding and recording 1C operations, a chunk at a time.
//!
//! One chunk = one short transaction with a fixed number of statements, however many items it
//! holds: lock the chunk's customer streams and read their balances, the keys already used and
//! the operations referred to (one statement), decide every item in order in memory, append all events
//! in one statement, update the inline projections set-wise, write the sync log. Items are
//! independent: an item's failure never changes another's outcome, but later items see the
//! balance earlier ones left.
//!
//! Duplicates — a register re-sending a batch, possibly on several connections at once — are
//! decided after the locks are taken, so the second sender sees the first one's committed keys;
//! senders whose items share a key but no customer collide on the idempotency key's unique index
//! and the losing chunk is re-run from the start.
//!
//! Parts: [`lanes`] splits a request into independent lanes; [`chunk`] is the command run per
//! chunk (lock and load the book, decide, append, log); [`state`] is the one statement that
//! locks and loads; [`book`] holds the decision rules, pure and
//! unit-tested; [`outcomes`] turns decisions into answers.

mod book;
mod chunk;
mod lanes;
mod outcomes;
mod state;

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use ledger_events::{EventMetadata, Idempotency};
use sqlx::Row;

use self::chunk::ApplyChunk;
use self::lanes::lanes;
pub use self::outcomes::ItemOutcome;
use self::outcomes::{sync_entry, sync_request};
use super::auth::StoreContext;
use super::operation::Operation;
use super::sync_log::{self, SyncEntry};
use crate::command::{self, CommandFailure};
use crate::http::error::ApiError;
use crate::rejection::Rejection;
use crate::state::AppState;

/// Operations decided per transaction. Bounded so that locks are held briefly and a retried
/// chunk redoes little work.
pub const CHUNK_SIZE: usize = 250;

/// Independent lanes of one request run concurrently (PostgreSQL works on each in its own
/// backend), so one register's backlog uses more than one core.
pub const MAX_LANES: usize = 4;

/// A request's items, each already parsed (or refused at parsing).
pub struct Submission<'a> {
    pub store: &'a StoreContext,
    pub items: Vec<Result<Operation, ApiError>>,
    /// `single` or `batch`, for the sync log.
    pub request_kind: &'static str,
    /// The raw items' external and register ids, for logging refused items.
    pub ids: Vec<(Option<String>, Option<String>)>,
    pub received: Instant,
    pub received_at: DateTime<Utc>,
    pub metadata: EventMetadata,
}

/// An operation ready to be decided.
struct Prepared {
    index: usize,
    operation: Operation,
    customer_id: String,
    idempotency: Idempotency,
}

/// Decides and records every item; outcomes come back in request order.
pub async fn apply(
    state: &AppState,
    submission: Submission<'_>,
) -> Result<Vec<ItemOutcome>, CommandFailure> {
    let item_count = submission.items.len();
    let mut outcomes: Vec<Option<ItemOutcome>> = (0..item_count).map(|_| None).collect();
    let customers = customers_by_phone(state, &submission.items).await?;
    let mut prepared = Vec::new();
    for (index, item) in submission.items.into_iter().enumerate() {
        match item {
            Err(error) => outcomes[index] = Some(ItemOutcome::Invalid(error)),
            Ok(operation) => match customers.get(&operation.phone) {
                None => {
                    outcomes[index] = Some(ItemOutcome::Refused(Rejection::UserNotFound {
                        phone: operation.phone.clone(),
                    }))
                }
                Some(customer_id) => prepared.push(Prepared {
                    index,
                    idempotency: operation.idempotency(&submission.store.store_id),
                    customer_id: customer_id.clone(),
                    operation,
                }),
            },
        }
    }

    // Refused before deciding: logged now, in one statement.
    let refused: Vec<SyncEntry> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(index, outcome)| outcome.as_ref().map(|outcome| (index, outcome)))
        .map(|(index, outcome)| sync_entry(&submission.ids[index], outcome))
        .collect();
    let request = sync_request(
        submission.request_kind,
        submission.received,
        submission.received_at,
    );
    sync_log::insert(&state.pool, submission.store, request, &refused).await?;

    let lanes = lanes(prepared, MAX_LANES);
    let (store, metadata, request_kind) = (
        submission.store,
        &submission.metadata,
        submission.request_kind,
    );
    let (received, received_at) = (submission.received, submission.received_at);
    let run_lane = |lane: Vec<Prepared>| async move {
        let mut decided = Vec::with_capacity(lane.len());
        for chunk in lane.chunks(CHUNK_SIZE) {
            let command = ApplyChunk {
                store,
                items: chunk,
                metadata,
                request_kind,
                received,
                received_at,
            };
            decided.extend(command::execute(state, &command).await?);
        }
        Ok::<_, CommandFailure>(decided)
    };
    let results = futures::future::join_all(lanes.into_iter().map(run_lane)).await;
    for lane in results {
        for (index, outcome) in lane? {
            outcomes[index] = Some(outcome);
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|outcome| outcome.expect("every item got an outcome"))
        .collect())
}

async fn customers_by_phone(
    state: &AppState,
    items: &[Result<Operation, ApiError>],
) -> Result<HashMap<String, String>, sqlx::Error> {
    let phones: BTreeSet<&str> = items.iter().flatten().map(|op| op.phone.as_str()).collect();
    let phones: Vec<&str> = phones.into_iter().collect();
    let rows = match phones.as_slice() {
        [] => return Ok(HashMap::new()),
        // A single operation's look-up takes a scalar: PostgreSQL plans `= ANY($1)` again on
        // every execution (it cannot tell the array's length), a scalar only the first times.
        [phone] => {
            sqlx::query("SELECT phone, customer_id FROM customer_index WHERE phone = $1")
                .bind(phone)
                .fetch_all(&state.pool)
                .await?
        }
        _ => {
            sqlx::query("SELECT phone, customer_id FROM customer_index WHERE phone = ANY($1)")
                .bind(&phones)
                .fetch_all(&state.pool)
                .await?
        }
    };
    rows.iter()
        .map(|row| Ok((row.try_get("phone")?, row.try_get("customer_id")?)))
        .collect()
}
