//! Running a command: one short transaction that decides from the event-sourced state, appends,
//! and updates the inline projections — retried when it lost a race.
//!
//! Races are decided by the database (a stream's expected version, an idempotency key's or a
//! lookup index's unique constraint); the loser's transaction fails, and the command runs again
//! from the start, re-reading what the winner wrote. Clients never see these conflicts. Only
//! the constraints listed in [`RACE_CONSTRAINTS`] mean "someone else did it first": any other
//! violation is a bug or corrupt data, and surfaces as a failure instead of being retried.

use std::future::Future;

use ledger_events::{AppendError, AppendOutcome, AppendRequest};
use ledger_projections::ProjectionError;
use sqlx::PgConnection;

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
];

/// How one attempt of a command ended, when it did not succeed.
#[derive(Debug)]
pub enum CommandError {
    /// A business rule refused; the client is told why.
    Rejected(Rejection),
    /// Lost a race; run the command again.
    Retry(String),
    Failed(anyhow::Error),
}

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
        if is_lost_race(&error) {
            CommandError::Retry(error.to_string())
        } else {
            CommandError::Failed(error.into())
        }
    }
}

/// A unique violation on one of [`RACE_CONSTRAINTS`], or plain contention
/// (serialization failure, deadlock).
pub fn is_lost_race(error: &sqlx::Error) -> bool {
    let Some(database) = error.as_database_error() else {
        return false;
    };
    match database.code().as_deref() {
        Some("40001") | Some("40P01") => true,
        Some("23505") => database
            .constraint()
            .is_some_and(|constraint| RACE_CONSTRAINTS.contains(&constraint)),
        _ => false,
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
            retryable if retryable.is_retryable() => CommandError::Retry(retryable.to_string()),
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
    let mut last_conflict = String::new();
    for _attempt in 0..MAX_ATTEMPTS {
        let mut transaction = state.pool.begin().await?;
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
            Err(CommandError::Retry(conflict)) => last_conflict = conflict,
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
    let outcome = state.store.append_in(connection, request).await?;
    state.inline.apply(connection, outcome.appended()).await?;
    Ok(outcome)
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
    fn only_known_constraints_are_races() {
        for name in RACE_CONSTRAINTS {
            assert!(!name.is_empty() && !name.contains(' '), "{name:?}");
        }
        assert!(!RACE_CONSTRAINTS.contains(&"api_tokens_pkey"));
    }
}
