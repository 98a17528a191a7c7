//! Running a command: one short transaction that decides from the event-sourced state, appends,
//! and updates the inline projections — retried when it lost a race.
//!
//! Races are decided by the database (a stream's expected version, an idempotency key's or a
//! lookup index's unique constraint); the loser's transaction fails, and the command runs again
//! from the start, re-reading what the winner wrote. Clients never see these conflicts. Only
//! the constraints listed in [`RACE_CONSTRAINTS`] mean "someone else did it first": any other
//! violation is a bug or corrupt data, and surfaces as a failure instead of being retried.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ledger_events::{AppendError, AppendOutcome, AppendRequest};
use ledger_projections::ProjectionError;
use sqlx::PgConnection;

use crate::infra::metrics::Family;
use crate::rejection::Rejection;
use crate::state::AppState;

/// Attempts per command before a persistent conflict is reported as an internal error.
const MAX_ATTEMPTS: u32 = 8;

/// Unique constraints whose violation means a concurrent command created the same thing first
/// (a stream, a version of it, an idempotency key, a lookup row); re-running the command finds
/// the winner's row and decides again.
pub const RACE_CONSTRAINTS: &[&str] = &[
    "streams_pkey",
    "events_stream_version_key",
    "events_idempotency_key_key",
    "customer_index_pkey",
    "customer_index_phone_key",
    "customer_index_telegram_id_key",
    "order_index_pkey",
    "order_index_external_id_key",
    "cashback_accounts_pkey",
    "cashback_holds_pkey",
    "onec_operations_pkey",
    "payme_transactions_pkey",
    "payme_transactions_transaction_id_key",
    "crystalpay_invoices_pkey",
];

/// How one attempt of a command ended, when it did not succeed.
#[derive(Debug)]
pub enum CommandError {
    /// A business rule refused; the client is told why.
    Rejected(Rejection),
    /// Lost a race; run the command again.
    Retry(Conflict),
    Failed(anyhow::Error),
}

/// Why a command lost a race (the label of `ledger_command_retries_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryReason {
    /// A stream was not at the version the command decided on.
    VersionConflict,
    /// A concurrent twin recorded the same idempotency key first.
    ConcurrentDuplicate,
    /// A lookup row or key on one of [`RACE_CONSTRAINTS`] was created first by another.
    UniqueRace,
    /// PostgreSQL's serialization failure — among them the store's refusal of a write from a
    /// transaction older than the stream's last writer.
    Serialization,
    Deadlock,
    /// The command saw its state move on under it and chose to start again.
    StateMoved,
}

impl RetryReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::VersionConflict => "version_conflict",
            RetryReason::ConcurrentDuplicate => "concurrent_duplicate",
            RetryReason::UniqueRace => "unique_race",
            RetryReason::Serialization => "serialization",
            RetryReason::Deadlock => "deadlock",
            RetryReason::StateMoved => "state_moved",
        }
    }
}

/// A lost race: why, and what happened (for the log).
#[derive(Clone, Debug)]
pub struct Conflict {
    pub reason: RetryReason,
    pub detail: String,
}

impl Conflict {
    pub fn new(reason: RetryReason, detail: impl Into<String>) -> Self {
        Conflict {
            reason,
            detail: detail.into(),
        }
    }
}

/// A command's own decision to start again: its state moved on under it.
impl From<String> for Conflict {
    fn from(detail: String) -> Self {
        Conflict::new(RetryReason::StateMoved, detail)
    }
}

impl From<&str> for Conflict {
    fn from(detail: &str) -> Self {
        Conflict::new(RetryReason::StateMoved, detail)
    }
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}

/// Commands re-run after a lost race, by reason.
pub static COMMAND_RETRIES: Family = Family {
    name: "ledger_command_retries_total",
    help: "Commands re-run after losing a race, by reason.",
};
/// Time to run a command to its end (retries included), by command.
pub static COMMAND_DURATION: Family = Family {
    name: "ledger_command_duration_seconds",
    help: "Time to run a command to its end, retries included.",
};
/// Time of one append with its inline projections, inside a command's transaction.
pub static APPEND_DURATION: Family = Family {
    name: "ledger_append_duration_seconds",
    help: "Time of one append with its inline projections.",
};

/// How a command ended for its caller, after any retries.
#[derive(Debug, thiserror::Error)]
pub enum CommandFailure {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Our own failure (database down, a persistent conflict, a bug): logged, never detailed
    /// to a client.
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

impl From<Rejection> for CommandError {
    fn from(rejection: Rejection) -> Self {
        CommandError::Rejected(rejection)
    }
}

impl From<anyhow::Error> for CommandError {
    fn from(error: anyhow::Error) -> Self {
        CommandError::Failed(error)
    }
}

impl From<sqlx::Error> for CommandError {
    fn from(error: sqlx::Error) -> Self {
        match lost_race(&error) {
            Some(reason) => CommandError::Retry(Conflict::new(reason, error.to_string())),
            None => CommandError::Failed(error.into()),
        }
    }
}

/// Why `error` means a lost race: a unique violation on one of [`RACE_CONSTRAINTS`], or plain
/// contention (serialization failure, deadlock). None for every other error.
pub fn lost_race(error: &sqlx::Error) -> Option<RetryReason> {
    let database = error.as_database_error()?;
    match database.code().as_deref() {
        Some("40001") => Some(RetryReason::Serialization),
        Some("40P01") => Some(RetryReason::Deadlock),
        Some("23505") => database
            .constraint()
            .filter(|constraint| RACE_CONSTRAINTS.contains(constraint))
            .map(|_| RetryReason::UniqueRace),
        _ => None,
    }
}

impl From<AppendError> for CommandError {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::IdempotencyConflict { key, .. } => {
                CommandError::Rejected(Rejection::IdempotencyConflict {
                    message: format!(
                        "{} was already used with different content",
                        describe_key(&key)
                    ),
                })
            }
            AppendError::Database(error) => error.into(),
            AppendError::Transient(error) => {
                let reason = lost_race(&error).unwrap_or(RetryReason::Serialization);
                CommandError::Retry(Conflict::new(reason, error.to_string()))
            }
            AppendError::VersionConflict(conflicts) => CommandError::Retry(Conflict::new(
                RetryReason::VersionConflict,
                AppendError::VersionConflict(conflicts).to_string(),
            )),
            AppendError::ConcurrentDuplicate => CommandError::Retry(Conflict::new(
                RetryReason::ConcurrentDuplicate,
                AppendError::ConcurrentDuplicate.to_string(),
            )),
            other => CommandError::Failed(other.into()),
        }
    }
}

impl From<ProjectionError> for CommandError {
    fn from(error: ProjectionError) -> Self {
        match error {
            ProjectionError::Database(error) => error.into(),
            other => CommandError::Failed(other.into()),
        }
    }
}

impl From<ledger_events::store::ReadError> for CommandError {
    fn from(error: ledger_events::store::ReadError) -> Self {
        match error {
            ledger_events::store::ReadError::Database(error) => error.into(),
            other => CommandError::Failed(other.into()),
        }
    }
}

impl From<sqlx::Error> for CommandFailure {
    fn from(error: sqlx::Error) -> Self {
        CommandFailure::Internal(error.into())
    }
}

/// The client-facing part of an idempotency key. Keys are `<source>:<scope>:<external id>`
/// (`api:order:A-17`, `1c:<store>:<document id>`), and the external id may itself hold `:`.
fn describe_key(key: &str) -> String {
    let external = key.splitn(3, ':').nth(2).unwrap_or(key);
    format!("the id {external:?}")
}

/// A write: decides from the event-sourced state inside the given transaction and appends.
/// `run` may be called several times (after a lost race); it must not have effects outside the
/// transaction.
pub trait Command: Sync {
    type Output: Send;

    fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> impl Future<Output = Result<Self::Output, CommandError>> + Send;
}

/// Runs a command in a transaction, committing on success and re-running it (a bounded number
/// of times) when it lost a race. Local projectors are woken after a commit.
pub async fn execute<C: Command>(
    state: &AppState,
    command: &C,
) -> Result<C::Output, CommandFailure> {
    let started = Instant::now();
    let outcome = attempts(state, command).await;
    state.metrics.observe(
        &COMMAND_DURATION,
        &[("command", command_name::<C>())],
        started.elapsed().as_secs_f64(),
    );
    outcome
}

/// The command type's own name (`Place`, `ApplyChunk`): a closed set, fit for a label.
fn command_name<C>() -> &'static str {
    let full = std::any::type_name::<C>();
    let without_generics = full.split('<').next().unwrap_or(full);
    without_generics
        .rsplit("::")
        .next()
        .unwrap_or(without_generics)
}

async fn attempts<C: Command>(state: &AppState, command: &C) -> Result<C::Output, CommandFailure> {
    let mut last_conflict = String::new();
    for _attempt in 0..MAX_ATTEMPTS {
        let mut transaction = begin(state).await?;
        let decided = command.run(state, &mut transaction).await;
        let committed = match decided {
            Ok(value) => transaction
                .commit()
                .await
                .map(|()| value)
                .map_err(CommandError::from),
            Err(error) => {
                transaction.rollback().await.ok();
                Err(error)
            }
        };
        match committed {
            Ok(value) => {
                state.appended();
                return Ok(value);
            }
            Err(CommandError::Retry(conflict)) => {
                state
                    .metrics
                    .increment(&COMMAND_RETRIES, &[("reason", conflict.reason.as_str())]);
                last_conflict = conflict.to_string();
            }
            Err(CommandError::Rejected(rejection)) => return Err(rejection.into()),
            Err(CommandError::Failed(error)) => return Err(CommandFailure::Internal(error)),
        }
    }
    Err(CommandFailure::Internal(anyhow::anyhow!(
        "command still conflicting after {MAX_ATTEMPTS} attempts: {last_conflict}"
    )))
}

/// Appends inside the command's transaction and applies the inline projections to what was
/// written. A duplicate writes nothing and projects nothing.
pub async fn append(
    state: &AppState,
    connection: &mut PgConnection,
    request: &AppendRequest,
) -> Result<AppendOutcome, CommandError> {
    let started = Instant::now();
    let outcome = state.store.append_in(connection, request).await?;
    state.inline.apply(connection, outcome.appended()).await?;
    state
        .metrics
        .observe(&APPEND_DURATION, &[], started.elapsed().as_secs_f64());
    Ok(outcome)
}

/// A transaction from the pool, counting the commands waiting for a connection meanwhile.
async fn begin(
    state: &AppState,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let waiting = &state.metrics.waiting_for_connection;
    waiting.fetch_add(1, Ordering::Relaxed);
    let transaction = state
        .pool
        .begin_with(ledger_events::store::BEGIN_WITH_GENERIC_PLANS)
        .await;
    waiting.fetch_sub(1, Ordering::Relaxed);
    transaction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_described_by_their_external_part() {
        assert_eq!(describe_key("api:order:A-17"), "the id \"A-17\"");
        assert_eq!(describe_key("1c:store:doc:1"), "the id \"doc:1\"");
    }

    #[test]
    fn commands_are_named_by_their_type() {
        struct Place;
        assert_eq!(command_name::<Place>(), "Place");
        assert_eq!(command_name::<Option<Place>>(), "Option");
    }

    #[test]
    fn only_known_constraints_are_races() {
        for name in RACE_CONSTRAINTS {
            assert!(!name.is_empty() && !name.contains(' '), "{name:?}");
        }
        assert!(!RACE_CONSTRAINTS.contains(&"api_tokens_pkey"));
    }
}
