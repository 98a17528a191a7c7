//! Appending many events in one statement, for a caller that already holds the stream locks.
//!
//! The 1C batch path locks every customer stream of a chunk first (`lock_streams`), decides all
//! items in memory, and then writes a thousand events at once. Going through `ledger_append`
//! one event at a time would cost a statement per item. Semantics stay those of the store: the
//! caller passes the versions it locked, and each stream's events must continue them without
//! gaps (asserted here); the stream rows are updated only if still at those versions; the
//! unique indexes on (stream_id, stream_version) and on idempotency_key still decide any race.

use std::collections::BTreeMap;

use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::error::{AppendError, VersionConflict};
use super::recorded::RecordedEvent;
use super::EventStore;
use crate::domain::DomainEvent;
use crate::idempotency::Idempotency;
use crate::metadata::EventMetadata;
use crate::stream::StreamId;

/// One event of a locked bulk append.
#[derive(Clone, Debug)]
pub struct LockedEvent {
    pub stream: StreamId,
    pub stream_version: i64,
    pub event: DomainEvent,
    pub idempotency: Option<Idempotency>,
}

impl EventStore {
    /// Writes `events` (in order) to streams the caller locked at `locked_versions` in this
    /// transaction. Returns the recorded events in the same order.
    pub async fn append_locked(
        &self,
        connection: &mut PgConnection,
        locked_versions: &BTreeMap<StreamId, i64>,
        events: &[LockedEvent],
        metadata: &EventMetadata,
    ) -> Result<Vec<RecordedEvent>, AppendError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let final_versions = check_contiguous(locked_versions, events);
        let metadata_json = serde_json::to_value(metadata).expect("metadata serialises to JSON");
        let event_ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
        let stream_ids: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
        let versions: Vec<i64> = events.iter().map(|e| e.stream_version).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event.event_type()).collect();
        let schema_versions: Vec<i32> = events.iter().map(|e| e.event.schema_version()).collect();
        let keys: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.idempotency.as_ref().map(|i| i.key.as_str()))
            .collect();
        let fingerprints: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.idempotency.as_ref().map(|i| i.fingerprint.as_str()))
            .collect();
        let payloads: Vec<serde_json::Value> = events.iter().map(|e| e.event.payload()).collect();
        let bumped_streams: Vec<&str> = final_versions.keys().map(StreamId::as_str).collect();
        let bumped_from: Vec<i64> = final_versions.keys().map(|s| locked_versions[s]).collect();
        let bumped_to: Vec<i64> = final_versions.values().copied().collect();

        let rows = sqlx::query(
            "WITH inserted AS ( \
                 INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, \
                                     idempotency_key, idempotency_fingerprint, payload, metadata) \
                 SELECT s, v, id, t, sv, k, f, p, $10::jsonb \
                 FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::int[], \
                             $6::text[], $7::text[], $8::jsonb[]) \
                      WITH ORDINALITY AS u(s, v, id, t, sv, k, f, p, ord) \
                 ORDER BY ord \
                 RETURNING event_id, global_position, tx_id::text::bigint AS tx_id, recorded_at \
             ), bumped AS ( \
                 UPDATE streams SET version = b.version_to, updated_at = now() \
                 FROM unnest($9::text[], $11::bigint[], $12::bigint[]) AS b(stream_id, version_from, version_to) \
                 WHERE streams.stream_id = b.stream_id AND streams.version = b.version_from \
                 RETURNING streams.stream_id \
             ) \
             SELECT inserted.*, (SELECT count(*) FROM bumped) AS streams_bumped FROM inserted",
        )
        .bind(&stream_ids)
        .bind(&versions)
        .bind(&event_ids)
        .bind(&types)
        .bind(&schema_versions)
        .bind(&keys)
        .bind(&fingerprints)
        .bind(&payloads)
        .bind(&bumped_streams)
        .bind(&metadata_json)
        .bind(&bumped_from)
        .bind(&bumped_to)
        .fetch_all(&mut *connection)
        .await
        .map_err(AppendError::from_database)?;

        let bumped: i64 = rows.first().map_or(0, |row| row.get("streams_bumped"));
        if bumped != final_versions.len() as i64 {
            return Err(AppendError::VersionConflict(
                final_versions
                    .keys()
                    .map(|stream| VersionConflict {
                        stream_id: stream.to_string(),
                        expected: locked_versions[stream],
                        actual: -1,
                    })
                    .collect(),
            ));
        }
        let mut by_id: BTreeMap<Uuid, (i64, i64, chrono::DateTime<chrono::Utc>)> = BTreeMap::new();
        for row in &rows {
            by_id.insert(
                row.try_get("event_id")?,
                (
                    row.try_get("global_position")?,
                    row.try_get("tx_id")?,
                    row.try_get("recorded_at")?,
                ),
            );
        }
        Ok(events
            .iter()
            .zip(event_ids)
            .map(|(event, event_id)| {
                let (position, tx_id, recorded_at) = by_id[&event_id];
                RecordedEvent {
                    position,
                    tx_id,
                    stream_id: event.stream.clone(),
                    stream_version: event.stream_version,
                    event_id,
                    event: event.event.clone(),
                    metadata: metadata.clone(),
                    recorded_at,
                }
            })
            .collect())
    }
}

/// Each stream's events must continue its locked version without gaps; returns the final
/// version per stream. A violation is a bug in the caller, so it panics.
fn check_contiguous(
    locked_versions: &BTreeMap<StreamId, i64>,
    events: &[LockedEvent],
) -> BTreeMap<StreamId, i64> {
    let mut next: BTreeMap<StreamId, i64> = BTreeMap::new();
    for event in events {
        let locked = *locked_versions
            .get(&event.stream)
            .unwrap_or_else(|| panic!("stream {} was not locked", event.stream));
        let last = next.entry(event.stream.clone()).or_insert(locked);
        assert_eq!(
            event.stream_version,
            *last + 1,
            "events of {} must continue version {}",
            event.stream,
            last
        );
        *last = event.stream_version;
    }
    next
}
