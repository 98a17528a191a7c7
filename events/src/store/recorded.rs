//! An event as read back from the log.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use crate::domain::{DecodeError, DomainEvent};
use crate::metadata::EventMetadata;
use crate::stream::StreamId;

#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    /// Global log position (assigned at insert; see the feed for commit order).
    pub position: i64,
    /// The appending transaction's id (`xid8`), the feed's primary order key.
    pub tx_id: i64,
    pub stream_id: StreamId,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event: DomainEvent,
    pub metadata: EventMetadata,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("event at position {position}: {source}")]
    Event {
        position: i64,
        #[source]
        source: DecodeError,
    },
    #[error("event at position {position}: bad metadata: {source}")]
    Metadata {
        position: i64,
        #[source]
        source: serde_json::Error,
    },
}

impl RecordedEvent {
    /// Decodes a row with the columns `global_position, tx_id (bigint), stream_id,
    /// stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at`.
    pub(crate) fn from_row(row: &PgRow) -> Result<Self, ReadError> {
        let position: i64 = row.try_get("global_position")?;
        let event_type: String = row.try_get("event_type")?;
        let schema_version: i32 = row.try_get("schema_version")?;
        let payload: serde_json::Value = row.try_get("payload")?;
        let metadata: serde_json::Value = row.try_get("metadata")?;
        let event = DomainEvent::decode(&event_type, schema_version, payload)
            .map_err(|source| ReadError::Event { position, source })?;
        let metadata = serde_json::from_value(metadata)
            .map_err(|source| ReadError::Metadata { position, source })?;
        Ok(RecordedEvent {
            position,
            tx_id: row.try_get("tx_id")?,
            stream_id: StreamId::from_raw(row.try_get::<String, _>("stream_id")?),
            stream_version: row.try_get("stream_version")?,
            event_id: row.try_get("event_id")?,
            event,
            metadata,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

/// Columns [`RecordedEvent::from_row`] expects, for `SELECT {EVENT_COLUMNS} FROM events`.
pub(crate) const EVENT_COLUMNS: &str = "global_position, tx_id::text::bigint AS tx_id, stream_id, \
     stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at";
