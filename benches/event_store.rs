//! Event-store benchmark, a bench binary (`harness = false`):
//!
//! 1. raw: autocommit single-row INSERTs into a table shaped like `events` with only its
//!    primary key — what PostgreSQL itself sustains on this machine at this concurrency;
//! 2. append: `EventStore::append` of one event with an idempotency key, one transaction each,
//!    at the same concurrency, into streams that already exist (`ExpectedVersion::Any`);
//! 3. the ratio append/raw against the 70 % target, printed with met / not met;
//! 4. for information: appends that each open a new stream (`ExpectedVersion::NoStream`),
//!    appends of two events on two streams (the general path of multi-stream commands), and the
//!    same event INSERTed straight into `events` (every index of the log, no function, no
//!    stream row) — the floor under any append;
//! 5. the global feed: the whole log read through `read_global_feed`, decoded;
//!
//! with the client's and the server's CPU per operation, which explains a ratio on a machine
//! whose background load moves the throughput figures.
//!
//! Targets live here and in docs/benchmarks.md, never in timed tests. Run (durable cluster,
//! separate from the test cluster):
//!
//! ```text
//! DATABASE_URL=$(cargo run -q --bin ledger -- embedded-pg start --data-dir .ledger-bench | tail -1) \
//!     cargo bench --bench event_store
//! ```

#[path = "event_store/cpu.rs"]
mod cpu;
#[path = "common/empty_database.rs"]
mod empty_database;
#[path = "event_store/feed.rs"]
mod feed;
#[path = "event_store/load.rs"]
mod load;
#[path = "common/processes.rs"]
mod processes;
#[path = "event_store/report.rs"]
mod report;
#[path = "event_store/scratch_database.rs"]
mod scratch_database;
#[path = "event_store/settings.rs"]
mod settings;
#[path = "event_store/workload.rs"]
mod workload;

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use ledger_events::EventStore;
use sqlx::PgPool;

use cpu::CpuSnapshot;
use load::{LoadShape, Measurement, Operation};
use scratch_database::ScratchDatabase;
use settings::Settings;
use workload::{Sequence, StreamChoice};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    settings.validate()?;
    let url = std::env::var("DATABASE_URL").context(
        "DATABASE_URL must name a durable PostgreSQL server; see docs/benchmarks.md for the command",
    )?;
    let connections = u32::try_from(settings.concurrency)?;
    let scratch = ScratchDatabase::create(&url, connections).await?;
    println!("scratch database: {}", scratch.name());
    let outcome = run(&settings, scratch.pool()).await;
    if settings.keep_database {
        println!("kept the scratch database {}", scratch.name());
        scratch.keep().await;
    } else {
        scratch.drop_database().await?;
    }
    outcome
}

async fn run(settings: &Settings, pool: &PgPool) -> anyhow::Result<()> {
    report::print_conditions(pool, settings).await?;
    sqlx::query(workload::CREATE_RAW_TABLE)
        .execute(pool)
        .await?;
    let store = EventStore::new(pool.clone());
    let sequence = Sequence::default();
    let measured = LoadShape {
        concurrency: settings.concurrency,
        duration: settings.measured(),
        max_operations: settings.max_operations,
    };
    let warm_up = LoadShape {
        duration: settings.warm_up(),
        ..measured
    };
    let rotating = StreamChoice::Rotating {
        count: settings.streams_per_task,
    };

    let (mut raw, mut append) = (Measurement::default(), Measurement::default());
    let mut events_written = 0;
    for round in 1..=settings.rounds {
        // Later rounds start warm: the previous round left connections, caches and plans.
        let round_warm_up = if round == 1 {
            warm_up
        } else {
            LoadShape {
                duration: Duration::ZERO,
                ..warm_up
            }
        };
        let operation = workload::raw_insert(pool.clone(), sequence.clone());
        load::run(round_warm_up, operation.clone()).await?;
        let round_raw = measure(pool, measured, operation).await?;
        report::print_phase(&format!("raw INSERT, round {round}"), &round_raw);
        raw.merge(round_raw);

        let operation = workload::append(store.clone(), sequence.clone(), rotating);
        events_written += load::run(round_warm_up, operation.clone())
            .await?
            .operations;
        let round_append = measure(pool, measured, operation).await?;
        events_written += round_append.operations;
        report::print_phase(
            &format!("append 1 event + key, Any, round {round}"),
            &round_append,
        );
        append.merge(round_append);
    }
    if settings.rounds > 1 {
        report::print_phase("raw INSERT, all rounds", &raw);
        report::print_phase("append 1 event + key, Any, all rounds", &append);
    }

    let operation = workload::append(store.clone(), sequence.clone(), StreamChoice::New);
    events_written += load::run(warm_up, operation.clone()).await?.operations;
    let new_streams = measure(pool, measured, operation).await?;
    events_written += new_streams.operations;
    report::print_phase("append 1 event + key, new stream (info)", &new_streams);

    let pairs = StreamChoice::RotatingPairs {
        count: settings.streams_per_task,
    };
    let operation = workload::append(store.clone(), sequence.clone(), pairs);
    events_written += 2 * load::run(warm_up, operation.clone()).await?.operations;
    let two_streams = measure(pool, measured, operation).await?;
    events_written += 2 * two_streams.operations;
    report::print_phase("append 2 events on 2 streams + key (info)", &two_streams);

    let operation = workload::events_insert(pool.clone(), sequence.clone());
    events_written += load::run(warm_up, operation.clone()).await?.operations;
    let floor = measure(pool, measured, operation).await?;
    events_written += floor.operations;
    report::print_phase("plain INSERT into events, no function (info)", &floor);

    report::print_ratio(&raw, &append);
    println!(
        "load average after the write phases: {}",
        report::load_average()
    );

    let feed = feed::read_whole_log(&store, settings.feed_batch, events_written).await?;
    report::print_feed(&feed, settings.feed_batch);
    Ok(())
}

/// One measured phase, with the CPU it cost when that can be read.
async fn measure(
    pool: &PgPool,
    shape: LoadShape,
    operation: Operation,
) -> anyhow::Result<Measurement> {
    let before = CpuSnapshot::take(pool).await?;
    let mut measurement = load::run(shape, operation).await?;
    measurement.cpu = before.and_then(|snapshot| snapshot.elapsed());
    Ok(measurement)
}
