//! 1C exchange benchmark (issue 5). In one run, at the same concurrency:
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

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::app::{self, RunningServer};
use ledger::config::{Config, Secret};
use ledger::onec::stores::{self, NewStore};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgPool};

const ADMIN: &str = "bench-admin-token-0a1b2c3d4e";
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
    let (scratch_url, scratch_name, admin_options) = create_scratch_database(&base_url).await?;
    println!(
        "1C benchmark: concurrency {concurrency}, {phase:?} per phase, database {scratch_name}"
    );

    let pool =
        ledger::infra::database::connect(&scratch_url, (concurrency as u32 * 2).max(16)).await?;
    let server = start_app(pool.clone(), concurrency).await?;
    let key = prepare(&server, &pool).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .build()?;

    sqlx::query(
        "CREATE TABLE bench_raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, external_id text NOT NULL, \
         customer_id text NOT NULL, amount_minor bigint NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&pool)
    .await?;

    // BENCH_ONLY=batch|single runs one comparison (for profiling); the default runs all.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let (run_batch, run_single) = (only != "single", only != "batch");
    let skipped = f64::NAN;
    let raw_batch = if run_batch {
        raw_batch_inserts(&pool, concurrency, phase).await?
    } else {
        skipped
    };
    let ours_batch = if run_batch {
        batch_uploads(&http, &server, &key, concurrency, phase).await?
    } else {
        skipped
    };
    let raw_single = if run_single {
        raw_single_inserts(&pool, concurrency, phase).await?
    } else {
        skipped
    };
    let ours_single = if run_single {
        single_uploads(&http, &server, &key, concurrency, phase).await?
    } else {
        skipped
    };
    let backlog = if run_batch {
        let catch_up = wait_for_projections(&pool).await?;
        println!(
            "projections caught up {:.1} s after the load stopped",
            catch_up.as_secs_f64()
        );
        offline_backlog(&http, &server, &key).await?
    } else {
        Duration::ZERO
    };

    println!();
    println!("raw PostgreSQL, {RAW_BATCH_ROWS}-row INSERT statements:  {raw_batch:>10.0} rows/s");
    println!(
        "ours, {OUR_BATCH_ITEMS}-operation batches over HTTP:     {ours_batch:>10.0} operations/s"
    );
    let batch_ratio = ours_batch / raw_batch;
    println!(
        "  ratio {:.1} % (target >= 30 %: {}); absolute target >= 50,000 ops/s: {}",
        batch_ratio * 100.0,
        verdict(batch_ratio >= 0.30),
        verdict(ours_batch >= 50_000.0)
    );
    println!("raw PostgreSQL, single-row INSERTs:               {raw_single:>10.0} rows/s");
    println!("ours, single POST /transactions:                  {ours_single:>10.0} operations/s");
    let single_ratio = ours_single / raw_single;
    println!(
        "  ratio {:.1} % (target >= 60 %: {})",
        single_ratio * 100.0,
        verdict(single_ratio >= 0.60)
    );
    println!(
        "10,000-operation offline backlog (10 x 1,000, one register): {:.3} s (target < 1 s: {})",
        backlog.as_secs_f64(),
        verdict(backlog < Duration::from_secs(1))
    );

    server.stop().await?;
    pool.close().await;
    drop_scratch_database(admin_options, &scratch_name).await?;
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

async fn create_scratch_database(
    base_url: &str,
) -> anyhow::Result<(String, String, PgConnectOptions)> {
    let admin = PgConnectOptions::from_str(base_url)?;
    let name = format!("ledger_bench_onec_{}", std::process::id());
    let mut connection = admin.connect().await?;
    connection
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    connection.close().await?;
    let options = admin.clone().database(&name);
    let url = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        name
    );
    Ok((url, name, admin))
}

async fn drop_scratch_database(admin: PgConnectOptions, name: &str) -> anyhow::Result<()> {
    let mut connection = admin.connect().await?;
    connection
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    Ok(())
}

async fn start_app(pool: PgPool, concurrency: usize) -> anyhow::Result<RunningServer> {
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".parse()?;
    config.admin_token = Some(Secret::new(ADMIN));
    // Every worker uploads with the same store key: let them all past the per-store limit.
    config.limits.onec_batches_per_store = concurrency.max(1);
    app::start(config, pool).await
}

fn phone(n: usize) -> String {
    format!("99890{:07}", n)
}

/// A store and 10,000 customers (registered through the API, 16 at a time).
async fn prepare(server: &RunningServer, pool: &PgPool) -> anyhow::Result<String> {
    let key = stores::create_store(
        pool,
        "UZS",
        &NewStore {
            store_id: "bench".into(),
            name: None,
            currency: None,
            timezone: None,
        },
    )
    .await?;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (http, base, next) = (http.clone(), server.base_url(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                if n >= CUSTOMERS {
                    return anyhow::Ok(());
                }
                let answer = http
                    .post(format!("{base}/api/customers"))
                    .bearer_auth(ADMIN)
                    .json(&json!({ "phone": phone(n) }))
                    .send()
                    .await?;
                anyhow::ensure!(
                    answer.status().is_success(),
                    "customer registration failed: {}",
                    answer.status()
                );
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    println!(
        "registered {CUSTOMERS} customers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(key)
}

/// Runs `step` on `concurrency` tasks until `phase` has passed; returns units per second.
async fn throughput<F, Fut>(concurrency: usize, phase: Duration, step: F) -> anyhow::Result<f64>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send,
{
    let step = Arc::new(step);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (step, done) = (step.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut round = 0_u64;
            while started.elapsed() < phase {
                done.fetch_add(step(worker, round).await?, Ordering::Relaxed);
                round += 1;
            }
            anyhow::Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

async fn raw_batch_inserts(
    pool: &PgPool,
    concurrency: usize,
    phase: Duration,
) -> anyhow::Result<f64> {
    let pool = pool.clone();
    throughput(concurrency, phase, move |worker, round| {
        let pool = pool.clone();
        async move {
            let ids: Vec<String> = (0..RAW_BATCH_ROWS)
                .map(|n| format!("raw_{worker}_{round}_{n}"))
                .collect();
            let customers: Vec<String> = (0..RAW_BATCH_ROWS)
                .map(|n| format!("c{}", n % 97))
                .collect();
            let amounts: Vec<i64> = vec![100; RAW_BATCH_ROWS];
            let payloads: Vec<Value> = ids
                .iter()
                .map(|id| json!({ "external_id": id, "type": "accrual" }))
                .collect();
            sqlx::query(
                "INSERT INTO bench_raw (external_id, customer_id, amount_minor, payload) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[])",
            )
            .bind(&ids)
            .bind(&customers)
            .bind(&amounts)
            .bind(&payloads)
            .execute(&pool)
            .await?;
            Ok(RAW_BATCH_ROWS as u64)
        }
    })
    .await
}

async fn raw_single_inserts(
    pool: &PgPool,
    concurrency: usize,
    phase: Duration,
) -> anyhow::Result<f64> {
    let pool = pool.clone();
    throughput(concurrency, phase, move |worker, round| {
        let pool = pool.clone();
        async move {
            let id = format!("single_{worker}_{round}");
            sqlx::query("INSERT INTO bench_raw (external_id, customer_id, amount_minor, payload) VALUES ($1, $2, $3, $4)")
                .bind(&id)
                .bind("c1")
                .bind(100_i64)
                .bind(json!({ "external_id": id, "type": "accrual" }))
                .execute(&pool)
                .await?;
            Ok(1)
        }
    })
    .await
}

fn accrual(external_id: String, customer: usize) -> Value {
    json!({
        "external_id": external_id,
        "type": "accrual",
        "amount": "1.00",
        "user_phone": phone(customer),
        "created_at": "2026-11-20T10:00:00Z",
        "register_id": "R-1",
    })
}

async fn post_batch(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    items: Vec<Value>,
) -> anyhow::Result<u64> {
    let answer = http
        .post(format!("{base}/api/cashback/v1/transactions/batch"))
        .header("x-api-key", key)
        .json(&json!({ "transactions": items }))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "batch answered {}",
        answer.status()
    );
    let body: Value = answer.json().await?;
    let ok = body["results"]
        .as_array()
        .map_or(0, |r| r.iter().filter(|i| i["status"] == "ok").count());
    Ok(ok as u64)
}

async fn batch_uploads(
    http: &reqwest::Client,
    server: &RunningServer,
    key: &str,
    concurrency: usize,
    phase: Duration,
) -> anyhow::Result<f64> {
    let (http, base, key) = (http.clone(), server.base_url(), key.to_owned());
    throughput(concurrency, phase, move |worker, round| {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        async move {
            let items = (0..OUR_BATCH_ITEMS)
                .map(|n| {
                    accrual(
                        format!("Batch_{worker}_{round}_{n}"),
                        (worker * 7_919 + round as usize * 1_009 + n) % CUSTOMERS,
                    )
                })
                .collect();
            post_batch(&http, &base, &key, items).await
        }
    })
    .await
}

async fn single_uploads(
    http: &reqwest::Client,
    server: &RunningServer,
    key: &str,
    concurrency: usize,
    phase: Duration,
) -> anyhow::Result<f64> {
    let (http, base, key) = (http.clone(), server.base_url(), key.to_owned());
    throughput(concurrency, phase, move |worker, round| {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        async move {
            let item = accrual(
                format!("Single_{worker}_{round}"),
                (worker * 131 + round as usize) % CUSTOMERS,
            );
            let answer = http
                .post(format!("{base}/api/cashback/v1/transactions"))
                .header("x-api-key", &key)
                .json(&item)
                .send()
                .await?;
            anyhow::ensure!(
                answer.status().as_u16() == 201,
                "single answered {}",
                answer.status()
            );
            Ok(1)
        }
    })
    .await
}

/// Waits until every projection has consumed the whole log; returns how long that took.
async fn wait_for_projections(pool: &PgPool) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let statuses = ledger_projections::status::projection_statuses(pool).await?;
        if statuses.iter().all(|status| status.lag_events == 0) {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "projections did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn offline_backlog(
    http: &reqwest::Client,
    server: &RunningServer,
    key: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut applied = 0;
    for batch in 0..BACKLOG_ITEMS / OUR_BATCH_ITEMS {
        let items = (0..OUR_BATCH_ITEMS)
            .map(|n| {
                accrual(
                    format!("Backlog_{batch}_{n}"),
                    (batch * OUR_BATCH_ITEMS + n) % CUSTOMERS,
                )
            })
            .collect();
        applied += post_batch(http, &server.base_url(), key, items).await?;
    }
    anyhow::ensure!(
        applied == BACKLOG_ITEMS as u64,
        "backlog applied {applied} of {BACKLOG_ITEMS}"
    );
    Ok(started.elapsed())
}
