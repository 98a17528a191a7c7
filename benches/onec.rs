//! 1C exchange benchmark. In one run, at the same concurrency:
//!
//! 1. raw PostgreSQL: 100-row `INSERT ... SELECT unnest(...)` statements into a scratch table;
//! 2. ours: `POST /api/cashback/v1/transactions/batch` with 1,000 operations per batch;
//! 3. raw single-row `INSERT`s vs ours: single `POST /api/cashback/v1/transactions`;
//! 4. a 10,000-operation offline backlog uploaded by one register (10 batches, one after the
//!    other), timed from the first request to the last answer.
//!
//! Needs `DATABASE_URL` (a server this benchmark may create and drop a scratch database on):
//!     DATABASE_URL=$(cargo run -q --bin ledger -- embedded-pg start --data-dir .ledger-bench | tail -1) \
//!         cargo bench --bench onec
//! Settings (environment): BENCH_CONCURRENCY (8), BENCH_SECONDS per phase (8).

#[path = "common/empty_database.rs"]
mod empty_database;
#[path = "common/in_process_app.rs"]
mod in_process_app;
#[path = "onec/raw.rs"]
mod raw;
#[path = "onec/setup.rs"]
mod setup;
#[path = "common/shop.rs"]
mod shop;
#[path = "onec/throughput.rs"]
mod throughput;
#[path = "onec/uploads.rs"]
mod uploads;

use std::time::Duration;

use ledger::app::RunningServer;
use sqlx::PgPool;

use empty_database::EmptyDatabase;

const ADMIN: &str = "bench-admin-token-0a1b2c3d4e";
/// Customers registered before the load; operations are spread over all of them.
const CUSTOMERS: usize = 10_000;
const RAW_BATCH_ROWS: usize = 100;
const OUR_BATCH_ITEMS: usize = 1_000;
const BACKLOG_ITEMS: usize = 10_000;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let concurrency = setting("BENCH_CONCURRENCY", 8) as usize;
    let phase = Duration::from_secs(setting("BENCH_SECONDS", 8));
    let base_url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("set DATABASE_URL (see the file's header)"))?;
    let name = format!("ledger_bench_onec_{}", std::process::id());
    let database = EmptyDatabase::create(&base_url, name).await?;
    println!(
        "1C benchmark: concurrency {concurrency}, {phase:?} per phase, database {}",
        database.name()
    );
    let outcome = run(database.url(), concurrency, phase).await;
    database.drop_database().await?;
    outcome
}

async fn run(url: &str, concurrency: usize, phase: Duration) -> anyhow::Result<()> {
    let pool = ledger::infra::database::connect(
        url,
        &ledger::infra::database::PoolSettings::with_connections((concurrency as u32 * 2).max(16)),
    )
    .await?;
    // Every worker uploads with the same store key: let them all past the per-store limit.
    let server = in_process_app::start(pool.clone(), ADMIN, |config| {
        config.limits.onec_batches_per_store = concurrency.max(1);
    })
    .await?;
    let key = setup::prepare(&server, &pool).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .build()?;
    let outcome = compare(&pool, &server, &http, &key, concurrency, phase).await;
    server.stop().await?;
    pool.close().await;
    outcome
}

/// Every phase, then the figures against their targets.
async fn compare(
    pool: &PgPool,
    server: &RunningServer,
    http: &reqwest::Client,
    key: &str,
    concurrency: usize,
    phase: Duration,
) -> anyhow::Result<()> {
    raw::create_table(pool).await?;
    uploads::warm_up(http, server, key, pool).await?;

    // BENCH_ONLY=batch|single runs one comparison (for profiling); the default runs all.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let (run_batch, run_single) = (only != "single", only != "batch");
    let skipped = f64::NAN;
    let raw_batch = if run_batch {
        raw::batch_inserts(pool, concurrency, phase).await?
    } else {
        skipped
    };
    let ours_batch = if run_batch {
        uploads::batches(http, server, key, concurrency, phase).await?
    } else {
        skipped
    };
    let raw_single = if run_single {
        raw::single_inserts(pool, concurrency, phase).await?
    } else {
        skipped
    };
    let ours_single = if run_single {
        uploads::singles(http, server, key, concurrency, phase).await?
    } else {
        skipped
    };
    let backlog = if run_batch {
        let catch_up = setup::wait_for_projections(pool).await?;
        println!(
            "projections caught up {:.1} s after the load stopped",
            catch_up.as_secs_f64()
        );
        uploads::offline_backlog(http, server, key).await?
    } else {
        Duration::ZERO
    };

    println!();
    if run_batch {
        println!(
            "raw PostgreSQL, {RAW_BATCH_ROWS}-row INSERT statements:  {raw_batch:>10.0} rows/s"
        );
        println!(
            "ours, {OUR_BATCH_ITEMS}-operation batches over HTTP:     {ours_batch:>10.0} operations/s"
        );
        let batch_ratio = ours_batch / raw_batch;
        println!(
            "  ratio {:.1} % (target >= 40 %: {}); absolute target >= 30,000 ops/s: {}",
            batch_ratio * 100.0,
            verdict(batch_ratio >= 0.40),
            verdict(ours_batch >= 30_000.0)
        );
    }
    if run_single {
        println!("raw PostgreSQL, single-row INSERTs:               {raw_single:>10.0} rows/s");
        println!(
            "ours, single POST /transactions:                  {ours_single:>10.0} operations/s"
        );
        let single_ratio = ours_single / raw_single;
        println!(
            "  ratio {:.1} % (target >= 40 %: {})",
            single_ratio * 100.0,
            verdict(single_ratio >= 0.40)
        );
    }
    if run_batch {
        println!(
            "10,000-operation offline backlog (10 x 1,000, one register): {:.3} s (target < 1 s: {})",
            backlog.as_secs_f64(),
            verdict(backlog < Duration::from_secs(1))
        );
    }
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}
