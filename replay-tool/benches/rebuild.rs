//! `ledger-replay rebuild` speed and memory (docs/benchmarks.md): generates a log of cashback
//! operations (1C accruals and debits over many customers, each with its postings and the
//! balance it leaves), then, in the same run,
//! - the ceiling: a raw `SELECT` of the same rows in feed order, every row fetched;
//! - the rebuild of `cashback_balances` and of `account_balances` through the library (the
//!   same code as the command), with events/s, the tool's CPU per event and its peak RSS.
//!
//! Prints figures, asserts nothing about time. Needs DATABASE_URL (a server where it may create
//! the database `ledger_bench_rebuild`, dropped and recreated at each run).
//!
//! `cargo bench -p ledger-replay --bench rebuild -- [EVENTS] [CUSTOMERS]`
//! (default 1,000,000 events over 20,000 customers). Peak RSS is the process's high-water mark,
//! so measure each log size in its own run.

use std::str::FromStr;
use std::time::Instant;

use chrono::Utc;
use futures::TryStreamExt;
use ledger_events::accounts::{customer_cashback, store_cashback_issued, store_cashback_redeemed};
use ledger_events::domain::{
    CashbackAccrued, CashbackDebited, CashbackOrigin, DomainEvent, InStoreOperation,
};
use ledger_events::{Currency, EventMetadata, Posting, Postings, Side, Source};
use ledger_projections::read_models;
use ledger_replay::rebuild::{rebuild, RebuildOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor, PgPool};
use uuid::Uuid;

const DATABASE: &str = "ledger_bench_rebuild";
/// Events per INSERT transaction while generating.
const INSERT_CHUNK: usize = 20_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut arguments = std::env::args()
        .skip(1)
        .filter(|argument| !argument.starts_with("--"));
    let events: usize = arguments.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let customers: usize = arguments.next().map_or(Ok(20_000), |a| a.parse())?;
    let server = PgConnectOptions::from_str(&std::env::var("DATABASE_URL")?)?;
    let mut admin = server.connect().await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)").as_str())
        .await?;
    admin
        .execute(format!("CREATE DATABASE {DATABASE}").as_str())
        .await?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(server.clone().database(DATABASE))
        .await?;
    sqlx::migrate!("../migrations").run(&pool).await?;

    let started = Instant::now();
    generate(&pool, events, customers).await?;
    sqlx::query("VACUUM ANALYZE events").execute(&pool).await?;
    println!(
        "log: {events} cashback events over {customers} customers, generated in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The ceiling: the same rows, in the same order, fetched and thrown away.
    let (raw_seconds, raw_rows) = raw_select(&pool).await?;
    let raw_rate = raw_rows as f64 / raw_seconds;
    println!(
        "raw SELECT of the feed: {raw_rows} rows in {raw_seconds:.2} s = {raw_rate:.0} rows/s"
    );

    for name in ["cashback_balances", "account_balances"] {
        let projector = read_models::by_name(name).expect("a projector");
        let cpu_before = cpu_seconds();
        let summary = rebuild(&pool, projector.as_ref(), &RebuildOptions::default(), false).await?;
        let cpu = cpu_seconds() - cpu_before;
        let rate = summary.events_per_second();
        println!(
            "rebuild {name}: {} events in {:.2} s = {rate:.0} events/s ({:.0} % of the raw SELECT); \
             tool CPU {:.2} µs/event; peak RSS {} MiB",
            summary.folded.events_read,
            summary.elapsed.as_secs_f64(),
            100.0 * rate / raw_rate,
            cpu * 1e6 / summary.folded.events_read.max(1) as f64,
            peak_rss_kib() / 1024,
        );
    }
    pool.close().await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)").as_str())
        .await?;
    Ok(())
}

/// Appends `events` operations round-robin over the customers (each customer's stream in
/// version order, as the feed needs): mostly accruals, every fourth a debit of half of the
/// last accrual, so balances never go below zero.
async fn generate(pool: &PgPool, events: usize, customers: usize) -> anyhow::Result<()> {
    let uzs = Currency::uzs();
    let metadata = serde_json::to_value(EventMetadata::new(Source::OneC, "bench"))?;
    let mut balances = vec![0_i64; customers];
    let now = Utc::now();
    let mut index = 0;
    while index < events {
        let end = (index + INSERT_CHUNK).min(events);
        let mut streams = Vec::with_capacity(end - index);
        let mut versions = Vec::with_capacity(end - index);
        let mut ids = Vec::with_capacity(end - index);
        let mut types = Vec::with_capacity(end - index);
        let mut schema_versions = Vec::with_capacity(end - index);
        let mut payloads = Vec::with_capacity(end - index);
        for n in index..end {
            let customer = n % customers;
            let version = (n / customers) as i64 + 1;
            let customer_id = format!("bench-customer-{customer}");
            let store = format!("store-{}", customer % 50);
            let origin = CashbackOrigin::InStore(InStoreOperation {
                store_id: store.clone(),
                register_id: None,
                external_id: format!("Op_{n}"),
                performed_at: now,
                description: None,
            });
            let debit = version % 4 == 0;
            let amount = if debit { 500 } else { 1_000 + (n % 7) as i64 };
            let (store_account, change) = if debit {
                (store_cashback_redeemed(&store), -amount)
            } else {
                (store_cashback_issued(&store), amount)
            };
            balances[customer] += change;
            let (debit_account, credit_account) = if debit {
                (customer_cashback(&customer_id, &uzs), store_account)
            } else {
                (store_account, customer_cashback(&customer_id, &uzs))
            };
            let postings = Postings::new(vec![
                Posting {
                    account: debit_account,
                    side: Side::Debit,
                    amount_minor: amount,
                    currency: uzs.clone(),
                },
                Posting {
                    account: credit_account,
                    side: Side::Credit,
                    amount_minor: amount,
                    currency: uzs.clone(),
                },
            ])?;
            let event: DomainEvent = if debit {
                CashbackDebited {
                    customer_id,
                    currency: uzs.clone(),
                    amount_minor: amount,
                    origin,
                    balance_after_minor: balances[customer],
                    postings,
                }
                .into()
            } else {
                CashbackAccrued {
                    customer_id,
                    currency: uzs.clone(),
                    amount_minor: amount,
                    origin,
                    balance_after_minor: balances[customer],
                    postings,
                }
                .into()
            };
            streams.push(format!("cashback-bench-customer-{customer}"));
            versions.push(version);
            ids.push(Uuid::now_v7());
            types.push(event.event_type().to_owned());
            schema_versions.push(event.schema_version());
            payloads.push(event.payload());
        }
        sqlx::query(
            "INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata) \
             SELECT s, v, i, t, n, p, $6 FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::jsonb[], $7::int[]) \
                 AS x(s, v, i, t, p, n)",
        )
        .bind(&streams)
        .bind(&versions)
        .bind(&ids)
        .bind(&types)
        .bind(&payloads)
        .bind(&metadata)
        .bind(&schema_versions)
        .execute(pool)
        .await?;
        index = end;
    }
    Ok(())
}

async fn raw_select(pool: &PgPool) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    let mut rows = sqlx::query(
        "SELECT global_position, tx_id::text::bigint AS tx_id, stream_id, stream_version, event_id, \
                event_type, schema_version, payload, metadata, recorded_at \
         FROM events WHERE stream_id LIKE ANY('{cashback-%}') ORDER BY tx_id, global_position",
    )
    .fetch(pool);
    let mut count = 0_u64;
    while rows.try_next().await?.is_some() {
        count += 1;
    }
    Ok((started.elapsed().as_secs_f64(), count))
}

/// User + system CPU time of this process, from /proc/self/stat (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the name start at "state" (3rd field overall): utime is 14th, stime 15th.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set (VmHWM) in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
