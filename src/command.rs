//! Running a command: one short transaction that decides from the event-sourced state, appends,
//! and updates the inline projections — retried when it lost a race.
//!
//! Races are decided by the database (a stream's expected version, an idempotency key's or a
//! lookup index's unique constraint); the loser's transaction fails, and the command runs again
//! from the start, re-reading what the winner wrote. Clients never see these conflicts.

use std::future::Future;

use ledger_events::{AppendError, AppendOutcome, AppendRequest};
use ledger_projections::ProjectionError;
use sqlx::PgConnection;

use crate::app::AppState;
use crate::http::error::ApiError;

/// Attempts per command before a persistent conflict is reported as an internal error.
const MAX_ATTEMPTS: u32 = 8;

#[derive(Debug)]
pub enum CommandError {
    /// A business-rule or input rejection for the client.
    Rejected(ApiError),
    /// Lost a race; run the command again.
    Retry(String),
    Failed(anyhow::Error),
}

impl From<ApiError> for CommandError {
    fn from(error: ApiError) -> Self {
        CommandError::Rejected(error)
    }
}

impl From<anyhow::Error> for CommandError {
    fn from(error: anyhow::Error) -> Self {
        CommandError::Failed(error)
    }
}

impl From<sqlx::Error> for CommandError {
    fn from(error: sqlx::Error) -> Self {
        let code = error
            .as_database_error()
            .and_then(|db| db.code().map(|c| c.into_owned()));
        match code.as_deref() {
            // unique_violation: someone created the same thing first (a lookup index, a key);
            // serialization_failure / deadlock_detected: plain contention.
            Some("23505") | Some("40001") | Some("40P01") => CommandError::Retry(error.to_string()),
            _ => CommandError::Failed(error.into()),
        }
    }
}

impl From<AppendError> for CommandError {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::IdempotencyConflict { key, .. } => {
                CommandError::Rejected(ApiError::IdempotencyConflict {
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
pub async fn execute<C: Command>(state: &AppState, command: &C) -> Result<C::Output, ApiError> {
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
            Err(CommandError::Rejected(error)) => return Err(error),
            Err(CommandError::Failed(error)) => return Err(ApiError::Internal(error)),
        }
    }
    Err(ApiError::internal(anyhow::anyhow!(
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
