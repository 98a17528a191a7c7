//! Typed append failures.

use super::recorded::{ReadError, RecordedEvent};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionConflict {
    pub stream_id: String,
    pub expected: i64,
    pub actual: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// A stream was not at the expected version. Command handlers re-read, re-decide and retry
    /// a bounded number of times; clients never see this.
    #[error("version conflict on {}", describe(.0))]
    VersionConflict(Vec<VersionConflict>),
    /// The idempotency key was used before with different content.
    #[error("idempotency key {key:?} was already used with different content")]
    IdempotencyConflict {
        key: String,
        original: Box<RecordedEvent>,
    },
    /// Another transaction appended the same idempotency key concurrently and won the unique
    /// index. The current transaction is aborted; retrying the whole command will find the
    /// winner's event and answer it as a duplicate.
    #[error("a concurrent append with the same idempotency key won")]
    ConcurrentDuplicate,
    /// Two transactions locked streams in conflicting order or PostgreSQL chose this one as a
    /// serialization victim; retrying is safe.
    #[error("transient database conflict: {0}")]
    Transient(sqlx::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored event could not be decoded: {0}")]
    Decode(#[from] ReadError),
}

impl AppendError {
    /// Whether re-running the whole command (re-read, re-decide, re-append) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AppendError::VersionConflict(_)
                | AppendError::ConcurrentDuplicate
                | AppendError::Transient(_)
        )
    }

    /// Classifies a database error raised while appending.
    pub(crate) fn from_database(error: sqlx::Error) -> Self {
        let classified = error.as_database_error().map(|db| {
            let on_idempotency_key = db.constraint() == Some("events_idempotency_key_key");
            let transient = matches!(db.code().as_deref(), Some("40P01") | Some("40001"));
            (on_idempotency_key, transient)
        });
        match classified {
            Some((true, _)) => AppendError::ConcurrentDuplicate,
            Some((false, true)) => AppendError::Transient(error),
            _ => AppendError::Database(error),
        }
    }
}

fn describe(conflicts: &[VersionConflict]) -> String {
    conflicts
        .iter()
        .map(|c| {
            format!(
                "{} (expected {}, actual {})",
                c.stream_id, c.expected, c.actual
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
