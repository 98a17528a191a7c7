//! Payme benchmark, one run, two measurements (`docs/benchmarks.md`):
//!
//! 1. CreateTransaction + PerformTransaction pairs over HTTP at a fixed **open-loop** rate of
//!    500 requests/s: pair k's Create is scheduled at `start + k·4 ms` and its Perform one second
//!    and 2 ms later (Payme performs once the payer has confirmed), so Creates of new pairs and
//!    Performs of older ones interleave at a steady 500 requests/s. Requests are sent by the
//!    schedule, never by the previous answer (a Perform whose Create has not answered yet waits
//!    for it, and the wait counts), and each latency counts from the request's *scheduled* time:
//!    a stall shows in the figures instead of silently slowing the load (no coordinated
//!    omission). 500 warm-up pairs run first in the same schedule. Target: p99 < 10 ms.
//! 2. GetStatement over 1-hour windows with 1 000 000 transactions in the `payme_transactions`
//!    projection (bulk-loaded with SQL `generate_series`, spread over 30 days ≈ 1 389 per hour),
//!    50 sequential calls over HTTP after 5 warm-up calls. Target: < 20 ms.
//!
//! Needs `DATABASE_URL` (a server where its user may create databases). Each run creates a fresh
//! database `payme_bench_<epoch>` there, starts the app in-process on 127.0.0.1 (random port),
//! and drops the database at the end. Load only targets 127.0.0.1 and is bounded: 500 + 5 000
//! pairs, 55 statement calls.
//!
//!     DATABASE_URL=$(cargo run -q --bin ledger -- embedded-pg start --data-dir .ledger-bench | tail -1) \
//!         cargo bench --bench payme

#[path = "payme/cost.rs"]
mod cost;
#[path = "common/empty_database.rs"]
mod empty_database;
#[path = "common/in_process_app.rs"]
mod in_process_app;
#[path = "payme/latency.rs"]
mod latency;
#[path = "payme/merchant_api.rs"]
mod merchant_api;
#[path = "payme/open_loop.rs"]
mod open_loop;
#[path = "common/shop.rs"]
mod shop;
#[path = "payme/statement.rs"]
mod statement;

use std::time::{Duration, Instant};

use anyhow::Context;
use ledger::config::Secret;

use empty_database::EmptyDatabase;
use open_loop::Load;

/// The merchant key the app is started with and every Payme call carries.
const KEY: &str = "bench-payme-key-5b0c8e2f9a4d7c1e3f6a";
const ADMIN_TOKEN: &str = "bench-admin-token-9f8e7d6c5b4a";
/// Customers the orders are spread over (each Perform locks its customer's cashback stream).
const CUSTOMERS: usize = 500;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let server_url = std::env::var("DATABASE_URL").context(
        "set DATABASE_URL, e.g. DATABASE_URL=$(cargo run -q --bin ledger -- embedded-pg start \
         --data-dir .ledger-bench | tail -1) cargo bench --bench payme",
    )?;
    let name = format!("payme_bench_{}", chrono::Utc::now().timestamp());
    let database = EmptyDatabase::create(&server_url, name).await?;
    eprintln!("scratch database: {}", database.name());
    let outcome = measure(database.url()).await;
    database.drop_database().await?;
    let report = outcome?;
    println!("\n{report}");
    Ok(())
}

async fn measure(url: &str) -> anyhow::Result<String> {
    let load_shape = Load::from_environment()?;
    let pool = ledger::infra::database::connect(
        url,
        &ledger::infra::database::PoolSettings::with_connections(32),
    )
    .await?;
    let server = in_process_app::start(pool.clone(), ADMIN_TOKEN, |config| {
        config.payme_keys = vec![Secret::new(KEY)];
    })
    .await?;
    let base = server.base_url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;

    let started = Instant::now();
    let count = open_loop::WARM_UP_PAIRS + load_shape.pairs;
    let orders = shop::place_orders(&http, &base, ADMIN_TOKEN, "bench", (count, CUSTOMERS)).await?;
    eprintln!(
        "placed {} orders in {:.1} s",
        orders.len(),
        started.elapsed().as_secs_f64()
    );
    let commits_before = cost::database_commits(&pool).await?;
    let cpu_before = cost::cpu_seconds(&pool).await?;
    let load = open_loop::run(&http, &base, &orders, load_shape).await?;
    let cpu = cost::cpu_seconds(&pool).await? - cpu_before;
    let commits = cost::database_commits(&pool).await? - commits_before;
    let requests = 2.0 * orders.len() as f64;
    let load = format!(
        "{load}\n  database commits during the load: {commits} ({:.1} per pair; projector batches included)\n\
         \x20 CPU per request: {:.2} ms in this process (server and client), {:.2} ms in its \
         PostgreSQL backends (warm-up included)",
        commits as f64 / orders.len() as f64,
        cpu.process * 1_000.0 / requests,
        cpu.database * 1_000.0 / requests,
    );

    let loaded = statement::bulk_load(&pool).await?;
    let statement = statement::statements(&http, &base, loaded).await?;
    server.stop().await?;
    pool.close().await;
    Ok(format!("{load}\n{statement}"))
}
