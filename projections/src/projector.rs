//! The projector contract.

use async_trait::async_trait;
use ledger_events::RecordedEvent;
use sqlx::PgConnection;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The log contradicts what the read model knows: a bug, or a corrupted read model. The
    /// runner stops advancing and reports it; it never skips the event.
    #[error("invariant violated at position {position}: {message}")]
    Invariant { position: i64, message: String },
    #[error(transparent)]
    Read(#[from] ledger_events::store::ReadError),
}

impl ProjectionError {
    pub fn invariant(event: &RecordedEvent, message: impl Into<String>) -> Self {
        ProjectionError::Invariant {
            position: event.position,
            message: message.into(),
        }
    }
}

/// Folds events into tables. `apply` runs inside a transaction the caller owns (the runner's
/// batch transaction, or the append transaction for inline projections) and must not commit.
#[async_trait]
pub trait Projector: Send + Sync + 'static {
    /// Stable name: the checkpoint's key, the replay tool's argument.
    fn name(&self) -> &'static str;

    /// Stream types (`order`, `cashback`, ...) this projector reads. Every event of these streams
    /// reaches [`Projector::apply`] in stream-version order; `apply` ignores the types it does
    /// not use.
    fn stream_types(&self) -> &'static [&'static str];

    /// Tables this projector owns and writes (emptied before a rebuild).
    fn tables(&self) -> &'static [&'static str];

    /// Applies one event. A projector implements this or [`Projector::apply_batch`] (or both):
    /// each default calls the other, so one of them must be its own.
    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(connection, &[event]).await
    }

    /// Applies several events (all of streams this projector reads, in log order) with the same
    /// effect as applying them one by one. Projectors on hot paths implement it with set-based
    /// statements (and leave `apply` to it); the default applies one at a time.
    async fn apply_batch(
        &self,
        connection: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(connection, event).await?;
        }
        Ok(())
    }

    fn reads_stream(&self, event: &RecordedEvent) -> bool {
        self.stream_types().contains(&event.stream_id.stream_type())
    }
}
