//! Reading streams and the raw log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

use super::error::AppendError;
use super::recorded::{ReadError, RecordedEvent, EVENT_COLUMNS};
use super::EventStore;
use crate::idempotency::Idempotency;
use crate::stream::StreamId;

/// Which events of the raw log an operator asks for; `None` leaves a field open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawFilter {
    /// Exactly this stream (`order-<id>`, `payme_tx-<id>`, ...).
    pub stream_id: Option<String>,
    /// The event type (`OrderPaid`, ...).
    pub event_type: Option<String>,
    /// The metadata's source (`payme`, `1c`, `api`, ...).
    pub source: Option<String>,
    /// Recorded at or after (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Recorded before (exclusive).
    pub to: Option<DateTime<Utc>>,
}

/// An event exactly as stored (payload not upcast), for operators inspecting the log.
#[derive(Clone, Debug, Serialize)]
pub struct RawEvent {
    pub position: i64,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

impl EventStore {
    /// Events of one stream with a version above `after_version`, in version order.
    pub async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, ReadError> {
        read_stream(&self.pool, stream, after_version).await
    }

    /// [`Self::read_stream`] inside the caller's transaction (after locking the stream, a
    /// command decides on exactly what it will append after).
    pub async fn read_stream_in(
        &self,
        connection: &mut PgConnection,
        stream: &StreamId,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, ReadError> {
        read_stream(connection, stream, after_version).await
    }

    /// Locks streams for a decision inside a transaction, in stream-id order (the order
    /// `ledger_append` locks in, so the two cannot deadlock), and returns their versions in the
    /// order given. A command that locks first can append with `Exact` versions that cannot
    /// conflict, which is how batch paths avoid retry storms under contention.
    ///
    /// Call it before the transaction's first write. The streams are first claimed with
    /// transaction-level advisory locks, which do not give the transaction its id; the id comes
    /// with the row locks, once every claim is held (one statement does both). Every writer
    /// that locks through here claims, even for one stream: a single-stream writer that took the
    /// row lock without the claim could get its id after a multi-stream claimer got its own and
    /// then write the stream first, forcing the older claimer into a refusal and a retry. Two such lockers therefore get their ids
    /// in the order they win the streams, and the later one never has to write behind a
    /// younger transaction — which the store would refuse as out of transaction order
    /// (migration 0007), costing a retry of the whole command.
    pub async fn lock_streams(
        &self,
        connection: &mut PgConnection,
        streams: &[StreamId],
    ) -> Result<Vec<i64>, sqlx::Error> {
        let ids: Vec<&str> = streams.iter().map(StreamId::as_str).collect();
        // Usually every stream exists already: one statement. Missing ones are created (at
        // version 0 = "no stream"; a concurrent creator makes the insert wait for its commit)
        // and the lock is taken again, which then covers them too.
        if let Some(versions) = lock_existing(connection, &ids).await? {
            return Ok(versions);
        }
        let types: Vec<&str> = streams.iter().map(StreamId::stream_type).collect();
        sqlx::query(
            "INSERT INTO streams (stream_id, stream_type, version) \
             SELECT s.id, s.type, 0 FROM unnest($1::text[], $2::text[]) AS s(id, type) ORDER BY s.id \
             ON CONFLICT ON CONSTRAINT streams_pkey DO NOTHING",
        )
        .bind(&ids)
        .bind(&types)
        .execute(&mut *connection)
        .await?;
        Ok(lock_existing(connection, &ids)
            .await?
            .expect("every stream exists once inserted"))
    }

    /// The number of events in a stream (0 when it has none).
    pub async fn stream_version(&self, stream: &StreamId) -> Result<i64, sqlx::Error> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM streams WHERE stream_id = $1")
                .bind(stream.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(version.unwrap_or(0))
    }

    /// The event that carries an idempotency key, if any.
    pub async fn find_by_idempotency_key(
        &self,
        key: &str,
    ) -> Result<Option<RecordedEvent>, ReadError> {
        let query = format!("SELECT {EVENT_COLUMNS} FROM events WHERE idempotency_key = $1");
        let row = sqlx::query(&query)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(RecordedEvent::from_row).transpose()
    }

    /// For an idempotent request about to be decided: the original keyed event when the key was
    /// used with the same fingerprint, [`AppendError::IdempotencyConflict`] when it was used with
    /// another, None when it is new. A fast path only: the unique index decides races on append.
    /// Runs on the caller's connection, so a command holding a transaction never needs a
    /// second connection from the pool (which could exhaust it under load).
    pub async fn find_original(
        &self,
        connection: &mut PgConnection,
        idempotency: &Idempotency,
    ) -> Result<Option<RecordedEvent>, AppendError> {
        let query = format!(
            "SELECT {EVENT_COLUMNS}, idempotency_fingerprint FROM events WHERE idempotency_key = $1"
        );
        let Some(row) = sqlx::query(&query)
            .bind(&idempotency.key)
            .fetch_optional(connection)
            .await?
        else {
            return Ok(None);
        };
        let original = RecordedEvent::from_row(&row)?;
        let fingerprint: String = row.try_get("idempotency_fingerprint")?;
        if fingerprint == idempotency.fingerprint.as_str() {
            Ok(Some(original))
        } else {
            Err(AppendError::IdempotencyConflict {
                key: idempotency.key.clone(),
                original: Box::new(original),
            })
        }
    }

    /// The keyed events of many idempotency keys at once, with their stored fingerprints
    /// (batch paths decide a whole chunk after one lookup).
    pub async fn find_keyed(
        &self,
        connection: &mut PgConnection,
        keys: &[&str],
    ) -> Result<Vec<(String, String, RecordedEvent)>, ReadError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let query = format!(
            "SELECT {EVENT_COLUMNS}, idempotency_key, idempotency_fingerprint FROM events \
             WHERE idempotency_key = ANY($1)"
        );
        let rows = sqlx::query(&query).bind(keys).fetch_all(connection).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("idempotency_key")?,
                    row.try_get("idempotency_fingerprint")?,
                    RecordedEvent::from_row(row)?,
                ))
            })
            .collect()
    }

    /// The highest position assigned so far (0 for an empty log). Positions of transactions
    /// still open or rolled back may be missing below it.
    pub async fn head_position(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&self.pool)
            .await
    }

    /// The raw log by position (operators' view; projectors use the commit-ordered feed),
    /// narrowed by the filters that are set (they combine).
    pub async fn read_raw(
        &self,
        after_position: i64,
        limit: i64,
        filter: &RawFilter,
    ) -> Result<Vec<RawEvent>, sqlx::Error> {
        sqlx::query(
            "SELECT global_position, stream_id, stream_version, event_id, event_type, \
             schema_version, payload, metadata, recorded_at FROM events \
             WHERE global_position > $1 \
               AND ($3::text IS NULL OR stream_id = $3) \
               AND ($4::text IS NULL OR event_type = $4) \
               AND ($5::text IS NULL OR metadata->>'source' = $5) \
               AND ($6::timestamptz IS NULL OR recorded_at >= $6) \
               AND ($7::timestamptz IS NULL OR recorded_at < $7) \
             ORDER BY global_position LIMIT $2",
        )
        .bind(after_position)
        .bind(limit)
        .bind(filter.stream_id.as_deref())
        .bind(filter.event_type.as_deref())
        .bind(filter.source.as_deref())
        .bind(filter.from)
        .bind(filter.to)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(raw_event)
        .collect()
    }

    /// A whole stream as stored, with its version.
    pub async fn read_raw_stream(
        &self,
        stream: &StreamId,
    ) -> Result<(i64, Vec<RawEvent>), sqlx::Error> {
        let events = sqlx::query(
            "SELECT global_position, stream_id, stream_version, event_id, event_type, \
             schema_version, payload, metadata, recorded_at FROM events \
             WHERE stream_id = $1 ORDER BY stream_version",
        )
        .bind(stream.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(raw_event)
        .collect::<Result<Vec<_>, _>>()?;
        let version = events.last().map_or(0, |event| event.stream_version);
        Ok((version, events))
    }
}

/// First key of the transaction-level advisory locks that claim streams (the second is the
/// stream id's hash). Distinct from the projection runners' namespace. Public for server-side
/// functions that claim streams the same way (the 1C chunk's state read).
pub const STREAM_CLAIM_NAMESPACE: i32 = 0x4c44_5354; // "LDST"

/// Claims the given streams, then locks their rows in id order; their versions in the order
/// given, or None when some stream has no row yet (the locks taken stay held; taking them
/// again is harmless).
///
/// The claims are an uncorrelated subquery, which PostgreSQL runs once before the first row
/// is locked; they are taken in hash order so that two claimers cannot deadlock (a hash
/// collision only makes two streams share a claim).
async fn lock_existing(
    connection: &mut PgConnection,
    ids: &[&str],
) -> Result<Option<Vec<i64>>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT s.ord, st.version FROM unnest($1::text[]) WITH ORDINALITY AS s(id, ord) \
         JOIN streams st ON st.stream_id = s.id \
         WHERE (SELECT count(pg_advisory_xact_lock($2, claims.key)) \
                FROM (SELECT DISTINCT hashtext(id) AS key FROM unnest($1::text[]) AS id \
                      ORDER BY key) AS claims) >= 0 \
         ORDER BY st.stream_id FOR UPDATE OF st",
    )
    .bind(ids)
    .bind(STREAM_CLAIM_NAMESPACE)
    .fetch_all(&mut *connection)
    .await?;
    if rows.len() != ids.len() {
        return Ok(None);
    }
    let mut versions = vec![0_i64; ids.len()];
    for row in rows {
        let ordinal: i64 = row.try_get("ord")?;
        versions[usize::try_from(ordinal - 1).expect("ordinals start at 1")] =
            row.try_get("version")?;
    }
    Ok(Some(versions))
}

async fn read_stream<'c>(
    executor: impl PgExecutor<'c>,
    stream: &StreamId,
    after_version: i64,
) -> Result<Vec<RecordedEvent>, ReadError> {
    let query = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 \
         ORDER BY stream_version"
    );
    let rows = sqlx::query(&query)
        .bind(stream.as_str())
        .bind(after_version)
        .fetch_all(executor)
        .await?;
    let events = rows
        .iter()
        .map(RecordedEvent::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    for (expected_version, event) in (after_version + 1..).zip(&events) {
        assert_eq!(
            event.stream_version, expected_version,
            "stream {stream} has a gap or disorder at version {expected_version}"
        );
    }
    Ok(events)
}

fn raw_event(row: &sqlx::postgres::PgRow) -> Result<RawEvent, sqlx::Error> {
    Ok(RawEvent {
        position: row.try_get("global_position")?,
        stream_id: row.try_get("stream_id")?,
        stream_version: row.try_get("stream_version")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}
