//! Appending: the request builder, the call to `ledger_append`, and the outcome.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

use super::error::{AppendError, VersionConflict};
use super::recorded::RecordedEvent;
use super::EventStore;
use crate::domain::DomainEvent;
use crate::idempotency::Idempotency;
use crate::metadata::EventMetadata;
use crate::stream::StreamId;

/// How many times the single-call path sends a request that lost a race: on its own
/// idempotency key (the re-send then finds the winner and answers it as a duplicate), or a
/// transient one (each re-send runs in a new, younger transaction, which settles it).
const RACE_ATTEMPTS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must have no events yet.
    NoStream,
    /// The stream must have exactly this many events.
    Exact(i64),
}

impl ExpectedVersion {
    /// Encoding used by `ledger_append`: NULL = any, 0 = no stream, n = exactly n.
    fn as_sql(self) -> Option<i64> {
        match self {
            ExpectedVersion::Any => None,
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exact(version) => Some(version),
        }
    }

    /// The expectation matching a stream just read at `version` (0 = never written).
    pub fn after(version: i64) -> Self {
        if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        }
    }
}

/// One atomic write: events for one or more streams, each stream with its own expectation.
#[derive(Clone, Debug)]
pub struct AppendRequest {
    streams: Vec<(StreamId, ExpectedVersion)>,
    events: Vec<(usize, Uuid, DomainEvent)>,
    metadata: EventMetadata,
    idempotency: Option<Idempotency>,
}

impl AppendRequest {
    pub fn new(metadata: EventMetadata) -> Self {
        AppendRequest {
            streams: Vec::new(),
            events: Vec::new(),
            metadata,
            idempotency: None,
        }
    }

    /// Declares a stream of this write and what its version must be. A declared stream without
    /// events is still locked and checked: a write can depend on a stream it does not change.
    pub fn expect(mut self, stream: &StreamId, expected: ExpectedVersion) -> Self {
        self.declare(stream, expected);
        self
    }

    /// Adds an event to a stream (declared with `Any` if not declared yet).
    pub fn event(mut self, stream: &StreamId, event: impl Into<DomainEvent>) -> Self {
        self.push_event(stream, event);
        self
    }

    /// The idempotency key belongs to the last event of the request.
    pub fn idempotent(mut self, idempotency: Idempotency) -> Self {
        self.idempotency = Some(idempotency);
        self
    }

    pub fn declare(&mut self, stream: &StreamId, expected: ExpectedVersion) {
        match self.streams.iter().find(|(declared, _)| declared == stream) {
            Some((_, already)) => assert_eq!(
                *already, expected,
                "stream {stream} declared twice with different expectations"
            ),
            None => self.streams.push((stream.clone(), expected)),
        }
    }

    pub fn push_event(&mut self, stream: &StreamId, event: impl Into<DomainEvent>) {
        let index = match self
            .streams
            .iter()
            .position(|(declared, _)| declared == stream)
        {
            Some(index) => index,
            None => {
                self.streams.push((stream.clone(), ExpectedVersion::Any));
                self.streams.len() - 1
            }
        };
        self.events.push((index, Uuid::now_v7(), event.into()));
    }

    pub fn metadata(&self) -> &EventMetadata {
        &self.metadata
    }

    pub fn idempotency(&self) -> Option<&Idempotency> {
        self.idempotency.as_ref()
    }

    pub fn events(&self) -> impl Iterator<Item = &DomainEvent> {
        self.events.iter().map(|(_, _, event)| event)
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// What an append did.
#[derive(Clone, Debug, PartialEq)]
pub enum AppendOutcome {
    /// New events, in request order.
    Appended(Vec<RecordedEvent>),
    /// The idempotency key was already used with the same fingerprint: nothing was written;
    /// this is the original keyed event (the last of the original write).
    Duplicate(Box<RecordedEvent>),
}

impl AppendOutcome {
    /// The event that carries the idempotency key (or simply the last event written).
    pub fn keyed_event(&self) -> &RecordedEvent {
        match self {
            AppendOutcome::Appended(events) => events.last().expect("an append writes events"),
            AppendOutcome::Duplicate(original) => original,
        }
    }

    /// Global position of the write's last event — the `position` answered to clients.
    pub fn position(&self) -> i64 {
        self.keyed_event().position
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, AppendOutcome::Duplicate(_))
    }

    /// Events this call wrote (none for a duplicate).
    pub fn appended(&self) -> &[RecordedEvent] {
        match self {
            AppendOutcome::Appended(events) => events,
            AppendOutcome::Duplicate(_) => &[],
        }
    }
}

impl EventStore {
    /// Appends in its own (implicit) transaction: one round trip. Races on the request's own
    /// idempotency key are resolved here, so the caller sees either the write or the duplicate.
    /// A transient refusal — a deadlock victim, or a write refused because a younger
    /// transaction wrote the stream first (migration 0007; a first append to a new stream that
    /// lost the creation race takes its transaction id while waiting) — wrote nothing, and the
    /// same request is simply run again in a new transaction.
    pub async fn append(&self, request: &AppendRequest) -> Result<AppendOutcome, AppendError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = call_ledger_append(&self.pool, request).await;
            let may_resolve_as_duplicate = request.idempotency.is_some()
                && matches!(
                    result,
                    Err(AppendError::ConcurrentDuplicate) | Err(AppendError::VersionConflict(_))
                );
            let transient = matches!(result, Err(AppendError::Transient(_)));
            if (may_resolve_as_duplicate || transient) && attempt < RACE_ATTEMPTS {
                continue;
            }
            return result;
        }
    }

    /// Appends inside the caller's transaction (next to inline projections and lookup indexes).
    /// On [`AppendError::ConcurrentDuplicate`] the transaction is aborted: roll back and retry.
    pub async fn append_in(
        &self,
        connection: &mut PgConnection,
        request: &AppendRequest,
    ) -> Result<AppendOutcome, AppendError> {
        call_ledger_append(connection, request).await
    }
}

async fn call_ledger_append<'c>(
    executor: impl PgExecutor<'c>,
    request: &AppendRequest,
) -> Result<AppendOutcome, AppendError> {
    assert!(
        !request.events.is_empty(),
        "an append request needs at least one event"
    );
    let metadata =
        serde_json::to_value(&request.metadata).expect("event metadata serialises to JSON");
    let stream_ids: Vec<&str> = request.streams.iter().map(|(s, _)| s.as_str()).collect();
    let stream_types: Vec<&str> = request
        .streams
        .iter()
        .map(|(s, _)| s.stream_type())
        .collect();
    let expected: Vec<Option<i64>> = request.streams.iter().map(|(_, e)| e.as_sql()).collect();
    let event_streams: Vec<i32> = request
        .events
        .iter()
        .map(|(index, _, _)| i32::try_from(*index + 1).expect("fewer than 2^31 streams"))
        .collect();
    let event_ids: Vec<Uuid> = request.events.iter().map(|(_, id, _)| *id).collect();
    let event_types: Vec<&str> = request
        .events
        .iter()
        .map(|(_, _, e)| e.event_type())
        .collect();
    let schema_versions: Vec<i32> = request
        .events
        .iter()
        .map(|(_, _, e)| e.schema_version())
        .collect();
    let payloads: Vec<serde_json::Value> =
        request.events.iter().map(|(_, _, e)| e.payload()).collect();
    let metadata_per_event = vec![metadata; request.events.len()];

    let rows =
        sqlx::query("SELECT * FROM ledger_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(&stream_ids)
            .bind(&stream_types)
            .bind(&expected)
            .bind(&event_streams)
            .bind(&event_ids)
            .bind(&event_types)
            .bind(&schema_versions)
            .bind(&payloads)
            .bind(&metadata_per_event)
            .bind(request.idempotency.as_ref().map(|i| i.key.as_str()))
            .bind(request.idempotency.as_ref().map(|i| i.fingerprint.as_str()))
            .fetch_all(executor)
            .await
            .map_err(AppendError::from_database)?;

    interpret_rows(request, rows)
}

fn interpret_rows(request: &AppendRequest, rows: Vec<PgRow>) -> Result<AppendOutcome, AppendError> {
    let first = rows
        .first()
        .expect("ledger_append always answers at least one row");
    let outcome: String = first.try_get("outcome")?;
    match outcome.as_str() {
        "duplicate" => Ok(AppendOutcome::Duplicate(Box::new(RecordedEvent::from_row(
            first,
        )?))),
        "idempotency_conflict" => Err(AppendError::IdempotencyConflict {
            key: request
                .idempotency
                .as_ref()
                .map(|i| i.key.clone())
                .unwrap_or_default(),
            original: Box::new(RecordedEvent::from_row(first)?),
        }),
        "version_conflict" => {
            let conflicts = rows
                .iter()
                .map(|row| {
                    Ok(VersionConflict {
                        stream_id: row.try_get("stream_id")?,
                        expected: row.try_get("expected_version")?,
                        actual: row.try_get("actual_version")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            Err(AppendError::VersionConflict(conflicts))
        }
        "appended" => {
            assert_eq!(
                rows.len(),
                request.events.len(),
                "ledger_append answered one row per appended event"
            );
            let recorded = rows
                .iter()
                .zip(&request.events)
                .map(|(row, (_, event_id, event))| appended_event(row, *event_id, event, request))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            Ok(AppendOutcome::Appended(recorded))
        }
        other => panic!("ledger_append answered an unknown outcome {other:?}"),
    }
}

fn appended_event(
    row: &PgRow,
    event_id: Uuid,
    event: &DomainEvent,
    request: &AppendRequest,
) -> Result<RecordedEvent, sqlx::Error> {
    let stored_id: Uuid = row.try_get("event_id")?;
    assert_eq!(
        stored_id, event_id,
        "ledger_append answers events in request order"
    );
    Ok(RecordedEvent {
        position: row.try_get("global_position")?,
        tx_id: row.try_get("tx_id")?,
        stream_id: StreamId::from_raw(row.try_get::<String, _>("stream_id")?),
        stream_version: row.try_get("stream_version")?,
        event_id,
        event: event.clone(),
        metadata: request.metadata.clone(),
        recorded_at: row.try_get("recorded_at")?,
    })
}
