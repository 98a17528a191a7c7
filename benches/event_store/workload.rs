//! The two write workloads compared by the benchmark, built from the same event so that they
//! move the same bytes: a 1C in-store cashback accrual with its postings and idempotency key.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::Utc;
use ledger_events::accounts::{customer_cashback, store_cashback_issued};
use ledger_events::domain::{CashbackAccrued, CashbackOrigin, InStoreOperation};
use ledger_events::{
    AppendOutcome, AppendRequest, Currency, DomainEvent, EventMetadata, EventStore,
    ExpectedVersion, Fingerprint, Idempotency, Postings, Source, StreamId,
};
use sqlx::PgPool;

use crate::load::Operation;

/// The raw baseline's table: the columns, types and defaults of `events` (so each row is as
/// wide and each insert assigns an xid and a timestamp the same way) but only the primary key —
/// no unique constraints, no feed index, no checks, no triggers.
pub const CREATE_RAW_TABLE: &str = "CREATE TABLE raw_insert_baseline ( \
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(), \
    stream_id text NOT NULL, \
    stream_version bigint NOT NULL, \
    event_id uuid NOT NULL, \
    event_type text NOT NULL, \
    schema_version integer NOT NULL, \
    idempotency_key text, \
    idempotency_fingerprint text, \
    payload jsonb NOT NULL, \
    metadata jsonb NOT NULL, \
    recorded_at timestamptz NOT NULL DEFAULT now())";

const RAW_INSERT: &str = "INSERT INTO raw_insert_baseline (stream_id, stream_version, event_id, \
    event_type, schema_version, idempotency_key, idempotency_fingerprint, payload, metadata) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const EVENTS_INSERT: &str = "INSERT INTO events (stream_id, stream_version, event_id, event_type, \
    schema_version, idempotency_key, idempotency_fingerprint, payload, metadata) \
    VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8)";

/// Which streams the append workload writes to.
#[derive(Clone, Copy, Debug)]
pub enum StreamChoice {
    /// Task `t` rotates over its own `count` streams with `ExpectedVersion::Any`: after the
    /// warm-up every append hits an existing stream (the common case: a customer's cashback).
    Rotating { count: u64 },
    /// Every append opens a new stream with `ExpectedVersion::NoStream` (an order, a payment).
    New,
    /// Two events on two of the task's rotating streams at once, both `Any` — the general path
    /// that multi-stream commands take (a payment and its order, say).
    RotatingPairs { count: u64 },
}

/// Numbers every operation of a run, so idempotency keys and new stream ids never repeat.
#[derive(Clone, Default)]
pub struct Sequence(Arc<AtomicU64>);

impl Sequence {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// One accrual as a command would build it: the event, its stream, and its idempotency key.
struct Accrual {
    stream: StreamId,
    event: DomainEvent,
    idempotency: Idempotency,
}

fn accrual(customer: &str, number: u64) -> Accrual {
    let currency = Currency::uzs();
    let store_id = "bench-store";
    let external_id = format!("Sale_{number}_2025-01-01");
    let amount_minor = 1_000 + (number % 9_000) as i64;
    let event = CashbackAccrued {
        customer_id: customer.to_owned(),
        currency: currency.clone(),
        amount_minor,
        origin: CashbackOrigin::InStore(InStoreOperation {
            store_id: store_id.to_owned(),
            register_id: Some("register-1".to_owned()),
            external_id: external_id.clone(),
            performed_at: Utc::now(),
            description: Some("benchmark receipt".to_owned()),
        }),
        balance_after_minor: amount_minor,
        postings: Postings::transfer(
            store_cashback_issued(store_id),
            customer_cashback(customer, &currency),
            amount_minor,
            &currency,
        ),
    };
    let key = format!("1c:{store_id}:{external_id}");
    let fingerprint = Fingerprint::of(&(&key, amount_minor, customer));
    Accrual {
        stream: StreamId::cashback(customer),
        event: event.into(),
        idempotency: Idempotency::new(key, fingerprint),
    }
}

fn metadata() -> EventMetadata {
    EventMetadata::new(Source::OneC, "store:bench-store")
}

/// Plain SQL: one autocommit single-row INSERT of the same event into the baseline table.
pub fn raw_insert(pool: PgPool, sequence: Sequence) -> Operation {
    Arc::new(move |task| {
        let (pool, number) = (pool.clone(), sequence.next());
        Box::pin(async move {
            let accrual = accrual(&format!("raw-{task}"), number);
            let metadata = serde_json::to_value(metadata())?;
            let version = i64::try_from(number)?;
            sqlx::query(RAW_INSERT)
                .bind(accrual.stream.as_str())
                .bind(version)
                .bind(uuid::Uuid::now_v7())
                .bind(accrual.event.event_type())
                .bind(accrual.event.schema_version())
                .bind(&accrual.idempotency.key)
                .bind(accrual.idempotency.fingerprint.as_str())
                .bind(accrual.event.payload())
                .bind(metadata)
                .execute(&pool)
                .await?;
            Ok(())
        })
    })
}

/// The floor under `append` (for information): the same event INSERTed straight into `events`
/// with every index and check of that table, but no function, no stream row and no key lookup —
/// what the log's own shape costs. Each row opens its own stream at version 1.
pub fn events_insert(pool: PgPool, sequence: Sequence) -> Operation {
    Arc::new(move |_task| {
        let (pool, number) = (pool.clone(), sequence.next());
        Box::pin(async move {
            let accrual = accrual(&format!("floor-{number}"), number);
            let metadata = serde_json::to_value(metadata())?;
            sqlx::query(EVENTS_INSERT)
                .bind(accrual.stream.as_str())
                .bind(uuid::Uuid::now_v7())
                .bind(accrual.event.event_type())
                .bind(accrual.event.schema_version())
                .bind(&accrual.idempotency.key)
                .bind(accrual.idempotency.fingerprint.as_str())
                .bind(accrual.event.payload())
                .bind(metadata)
                .execute(&pool)
                .await?;
            Ok(())
        })
    })
}

/// `EventStore::append` of one event with an idempotency key, one transaction per append.
pub fn append(store: EventStore, sequence: Sequence, streams: StreamChoice) -> Operation {
    Arc::new(move |task| {
        let (store, number) = (store.clone(), sequence.next());
        Box::pin(async move {
            let request = match streams {
                StreamChoice::Rotating { count } => single_request(
                    &format!("bench-{task}-{}", number % count),
                    ExpectedVersion::Any,
                    number,
                ),
                StreamChoice::New => {
                    single_request(&format!("new-{number}"), ExpectedVersion::NoStream, number)
                }
                StreamChoice::RotatingPairs { count } => pair_request(task, number, count),
            };
            let expected_events = request.events().count();
            match store.append(&request).await? {
                AppendOutcome::Appended(events) if events.len() == expected_events => Ok(()),
                other => anyhow::bail!("append {number} did not write its events: {other:?}"),
            }
        })
    })
}

fn single_request(customer: &str, expected: ExpectedVersion, number: u64) -> AppendRequest {
    let accrual = accrual(customer, number);
    AppendRequest::new(metadata())
        .expect(&accrual.stream, expected)
        .event(&accrual.stream, accrual.event)
        .idempotent(accrual.idempotency)
}

/// Two accruals on two streams of the task (`pair-<task>-<k>-a` and `-b`), keyed on the last.
fn pair_request(task: usize, number: u64, count: u64) -> AppendRequest {
    let pair = number % count;
    let first = accrual(&format!("pair-{task}-{pair}-a"), number);
    let second = accrual(&format!("pair-{task}-{pair}-b"), number);
    AppendRequest::new(metadata())
        .expect(&first.stream, ExpectedVersion::Any)
        .expect(&second.stream, ExpectedVersion::Any)
        .event(&first.stream, first.event)
        .event(&second.stream, second.event)
        .idempotent(second.idempotency)
}
