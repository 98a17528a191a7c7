//! Payme benchmark (issue 4), one run, two measurements (`docs/benchmarks.md`):
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

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::stream::{self, StreamExt};
use ledger::config::{Config, Secret};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};

const KEY: &str = "bench-payme-key-5b0c8e2f9a4d7c1e3f6a";
const ADMIN_TOKEN: &str = "bench-admin-token-9f8e7d6c5b4a";

/// Open-loop load: 500 requests/s = one Create+Perform pair every 4 ms, each Perform
/// `PERFORM_AFTER` + half an interval after its Create.
/// `PAYME_BENCH_RATE` (requests/s, ≤ 2 000) and `PAYME_BENCH_PAIRS` (≤ 20 000) override them,
/// for looking at service times below saturation.
const DEFAULT_RATE: u32 = 500;
const MAX_RATE: u32 = 2_000;
const PERFORM_AFTER: Duration = Duration::from_secs(1);
const WARM_UP_PAIRS: usize = 500;
const DEFAULT_MEASURED_PAIRS: usize = 5_000; // 20 s at 250 pairs/s
const MAX_MEASURED_PAIRS: usize = 20_000;
/// Customers the orders are spread over (each Perform locks its customer's cashback stream).
const CUSTOMERS: usize = 500;
/// Guard: the load phase stops waiting this long after its last scheduled request.
const LOAD_GRACE: Duration = Duration::from_secs(60);

const STATEMENT_ROWS: i64 = 1_000_000;
const STATEMENT_SPAN_MS: i64 = 30 * 24 * 3_600_000;
const WINDOW_MS: i64 = 3_600_000;
const STATEMENT_WARM_UP: usize = 5;
const STATEMENT_QUERIES: usize = 50;

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
    let database = format!("payme_bench_{}", chrono::Utc::now().timestamp());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&server_url)
        .await
        .context("connecting to DATABASE_URL")?;
    admin
        .execute(format!("CREATE DATABASE {database}").as_str())
        .await?;
    let outcome = measure(&with_database(&server_url, &database)?).await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str())
        .await?;
    let report = outcome?;
    println!("\n{report}");
    Ok(())
}

/// The same server URL with another database name.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (before_query, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let Some(slash) = before_query.rfind('/').filter(|i| *i > "postgres://".len()) else {
        bail!("DATABASE_URL has no database part: {url}");
    };
    let mut replaced = format!("{}/{database}", &before_query[..slash]);
    if let Some(query) = query {
        replaced.push('?');
        replaced.push_str(query);
    }
    Ok(replaced)
}

/// The load's shape: time between pair starts, and how many pairs are measured.
#[derive(Clone, Copy)]
struct Load {
    pair_interval: Duration,
    pairs: usize,
}

impl Load {
    fn from_environment() -> anyhow::Result<Load> {
        let number = |name: &str, default: usize, max: usize| -> anyhow::Result<usize> {
            match std::env::var(name) {
                Err(_) => Ok(default),
                Ok(text) => {
                    let value: usize = text
                        .trim()
                        .parse()
                        .with_context(|| format!("{name}={text}"))?;
                    anyhow::ensure!((1..=max).contains(&value), "{name} must be 1..={max}");
                    Ok(value)
                }
            }
        };
        let rate = number("PAYME_BENCH_RATE", DEFAULT_RATE as usize, MAX_RATE as usize)?;
        Ok(Load {
            pair_interval: Duration::from_secs(2) / u32::try_from(rate)?,
            pairs: number(
                "PAYME_BENCH_PAIRS",
                DEFAULT_MEASURED_PAIRS,
                MAX_MEASURED_PAIRS,
            )?,
        })
    }
}

async fn measure(url: &str) -> anyhow::Result<String> {
    let load_shape = Load::from_environment()?;
    let pool = ledger::infra::database::connect(url, 32).await?;
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".parse()?;
    config.admin_token = Some(Secret::new(ADMIN_TOKEN));
    config.payme_keys = vec![Secret::new(KEY)];
    let server = ledger::app::start(config, pool.clone()).await?;
    let base = server.base_url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;

    let started = Instant::now();
    let orders = place_orders(&http, &base, WARM_UP_PAIRS + load_shape.pairs).await?;
    eprintln!(
        "placed {} orders in {:.1} s",
        orders.len(),
        started.elapsed().as_secs_f64()
    );
    let commits_before = database_commits(&pool).await?;
    let cpu_before = cpu_seconds(&pool).await?;
    let load = open_loop(&http, &base, &orders, load_shape).await?;
    let cpu = cpu_seconds(&pool).await? - cpu_before;
    let commits = database_commits(&pool).await? - commits_before;
    let requests = 2.0 * orders.len() as f64;
    let load = format!(
        "{load}\n  database commits during the load: {commits} ({:.1} per pair; projector batches included)\n\
         \x20 CPU per request: {:.2} ms in this process (server and client), {:.2} ms in its \
         PostgreSQL backends (warm-up included)",
        commits as f64 / orders.len() as f64,
        cpu.process * 1_000.0 / requests,
        cpu.database * 1_000.0 / requests,
    );

    let loaded = bulk_load(&pool).await?;
    let statement = statements(&http, &base, loaded).await?;
    server.stop().await?;
    pool.close().await;
    Ok(format!("{load}\n{statement}"))
}

/// Transactions committed in this database so far (PostgreSQL's statistics, which lag by up to
/// half a second: read after a short pause).
async fn database_commits(pool: &PgPool) -> anyhow::Result<i64> {
    tokio::time::sleep(Duration::from_millis(700)).await;
    Ok(sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

/// CPU time used so far by this process and by the PostgreSQL backends serving its database
/// (Linux `/proc`; clock ticks of 1/100 s, Linux's fixed USER_HZ). Load-independent, unlike
/// latencies on a shared machine.
#[derive(Clone, Copy)]
struct Cpu {
    process: f64,
    database: f64,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            process: self.process - earlier.process,
            database: self.database - earlier.database,
        }
    }
}

fn cpu_of(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0; // gone (a closed connection) or not Linux
    };
    // Fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

async fn cpu_seconds(pool: &PgPool) -> anyhow::Result<Cpu> {
    let backends: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            .fetch_all(pool)
            .await?;
    Ok(Cpu {
        process: cpu_of("self"),
        database: backends.iter().map(|pid| cpu_of(&pid.to_string())).sum(),
    })
}

/// An order to pay: its id and amount in tiyin.
struct Order {
    order_id: String,
    amount: i64,
}

async fn place_orders(
    http: &reqwest::Client,
    base: &str,
    count: usize,
) -> anyhow::Result<Vec<Order>> {
    let placed: Vec<anyhow::Result<Order>> = stream::iter(0..count)
        .map(|index| async move {
            let body = json!({
                "external_id": format!("bench-{index}"),
                "customer_phone": format!("99890{:07}", index % CUSTOMERS),
                "currency": "UZS",
                "items": [
                    {"sku": "tea", "title": "Green tea", "qty": 2, "price": "15000.00", "vat_percent": 12,
                     "ikpu_code": "10901001001000000", "package_code": "1234"},
                    {"sku": "cup", "title": "Cup", "qty": 1, "price": "5000.00", "vat_percent": 12,
                     "ikpu_code": "10902002002000000", "package_code": "5678"}
                ]
            });
            let answer: Value = http
                .post(format!("{base}/api/orders"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            Ok(Order {
                order_id: answer["order_id"].as_str().context("order_id")?.to_owned(),
                amount: 3_500_000,
            })
        })
        .buffer_unordered(16)
        .collect()
        .await;
    placed.into_iter().collect()
}

fn basic_auth() -> String {
    format!("Basic {}", STANDARD.encode(format!("Paycom:{KEY}")))
}

/// Sends one JSON-RPC call and returns the parsed answer (a result or a Payme error).
async fn rpc(http: &reqwest::Client, base: &str, body: &Value) -> anyhow::Result<Value> {
    let response = http
        .post(format!("{base}/api/payme"))
        .header("authorization", basic_auth())
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
    Ok(response.json().await?)
}

#[derive(Default)]
struct Samples {
    create: Vec<Duration>,
    perform: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

async fn open_loop(
    http: &reqwest::Client,
    base: &str,
    orders: &[Order],
    shape: Load,
) -> anyhow::Result<String> {
    let samples = Arc::new(Mutex::new(Samples::default()));
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let measured_pairs = orders.len() - WARM_UP_PAIRS;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, order) in orders.iter().enumerate() {
        let scheduled = start + shape.pair_interval * u32::try_from(index)?;
        let (http, base, samples) = (http.clone(), base.to_owned(), samples.clone());
        let payme_id = format!("{:024x}", (now_ms as u128) << 32 | index as u128);
        let create = json!({"method": "CreateTransaction", "id": index, "params": {
            "id": payme_id, "time": now_ms, "amount": order.amount,
            "account": {"order_id": order.order_id}}});
        let perform =
            json!({"method": "PerformTransaction", "id": index, "params": {"id": payme_id}});
        tasks.spawn(async move {
            tokio::time::sleep_until(scheduled).await;
            let created = rpc(&http, &base, &create).await;
            let create_latency = scheduled.elapsed();
            let perform_at = scheduled + PERFORM_AFTER + shape.pair_interval / 2;
            tokio::time::sleep_until(perform_at).await;
            let performed = rpc(&http, &base, &perform).await;
            let perform_latency = perform_at.elapsed();
            if index < WARM_UP_PAIRS {
                return;
            }
            let mut samples = samples.lock().expect("samples lock");
            samples.create.push(create_latency);
            samples.perform.push(perform_latency);
            for answer in [created, performed] {
                let failure = match answer {
                    Ok(body) if body.get("result").is_some() => None,
                    Ok(body) => Some(body.to_string()),
                    Err(error) => Some(format!("{error:#}")),
                };
                if let Some(failure) = failure {
                    samples.errors += 1;
                    samples.first_error.get_or_insert(failure);
                }
            }
        });
    }
    let deadline =
        start + shape.pair_interval * u32::try_from(orders.len())? + PERFORM_AFTER + LOAD_GRACE;
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        joined?;
    }
    anyhow::ensure!(
        tasks.is_empty(),
        "the load did not finish {LOAD_GRACE:?} after its schedule"
    );
    let samples = samples.lock().expect("samples lock");
    let mut all: Vec<Duration> = samples
        .create
        .iter()
        .chain(&samples.perform)
        .copied()
        .collect();
    let mut create = samples.create.clone();
    let mut perform = samples.perform.clone();
    let pairs = measured_pairs;
    let seconds = shape.pair_interval.as_secs_f64() * pairs as f64;
    Ok(format!(
        "Create+Perform, open loop at {:.0} requests/s, {pairs} pairs ({} requests) over {seconds:.0} s \
         (after {WARM_UP_PAIRS} warm-up pairs):\n\
         \x20 all      {}\n  create   {}\n  perform  {}\n  errors   {}{}",
        2.0 * pairs as f64 / seconds,
        2 * pairs,
        summary(&mut all),
        summary(&mut create),
        summary(&mut perform),
        samples.errors,
        samples
            .first_error
            .as_deref()
            .map(|error| format!(" (first: {error})"))
            .unwrap_or_default(),
    ))
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort_unstable();
    if samples.is_empty() {
        return "no samples".into();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    format!(
        "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n = {})",
        ms(percentile(samples, 0.50)),
        ms(percentile(samples, 0.99)),
        ms(*samples.last().expect("not empty")),
        samples.len()
    )
}

/// The bulk-loaded window: (first Payme time, count).
struct Loaded {
    first_time_ms: i64,
    rows_in_table: i64,
}

/// Writes 1 000 000 transactions straight into the projection table (not through the log: this
/// measures the read side), spread evenly over 30 days ending a day ago, in every state.
async fn bulk_load(pool: &PgPool) -> anyhow::Result<Loaded> {
    let started = Instant::now();
    let first_time_ms = chrono::Utc::now().timestamp_millis() - STATEMENT_SPAN_MS - 86_400_000;
    let step_ms = STATEMENT_SPAN_MS / STATEMENT_ROWS;
    sqlx::query(
        "INSERT INTO payme_transactions (payme_id, transaction_id, order_id, amount_tiyin, account, \
           payme_time_ms, create_time_ms, perform_time_ms, cancel_time_ms, state, reason) \
         SELECT 'bulk-' || g, 'bulk-tx-' || g, 'bulk-order-' || g, 100000 + (g % 5000) * 100, \
                jsonb_build_object('order_id', 'bulk-order-' || g), \
                t, t + 150, \
                CASE WHEN g % 10 < 7 OR g % 10 = 9 THEN t + 4000 ELSE 0 END, \
                CASE WHEN g % 10 IN (7, 9) THEN t + 60000 ELSE 0 END, \
                CASE WHEN g % 10 < 7 THEN 2 WHEN g % 10 = 7 THEN -1 WHEN g % 10 = 8 THEN 1 ELSE -2 END, \
                CASE WHEN g % 10 = 7 THEN 3 WHEN g % 10 = 9 THEN 5 END \
         FROM generate_series(1, $1::bigint) AS g, LATERAL (SELECT $2::bigint + g * $3::bigint AS t) AS times",
    )
    .bind(STATEMENT_ROWS)
    .bind(first_time_ms)
    .bind(step_ms)
    .execute(pool)
    .await
    .context("bulk-loading payme_transactions")?;
    sqlx::query("ANALYZE payme_transactions")
        .execute(pool)
        .await?;
    let rows_in_table: i64 = sqlx::query_scalar("SELECT count(*) FROM payme_transactions")
        .fetch_one(pool)
        .await?;
    eprintln!(
        "bulk-loaded {STATEMENT_ROWS} transactions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Loaded {
        first_time_ms,
        rows_in_table,
    })
}

async fn statements(http: &reqwest::Client, base: &str, loaded: Loaded) -> anyhow::Result<String> {
    let hours = STATEMENT_SPAN_MS / WINDOW_MS;
    let mut latencies = Vec::with_capacity(STATEMENT_QUERIES);
    let (mut fewest, mut most, mut bytes) = (usize::MAX, 0_usize, 0_usize);
    for call in 0..STATEMENT_WARM_UP + STATEMENT_QUERIES {
        // Windows spread over the 30 days (a fixed stride, so runs compare).
        let hour = (call as i64 * 263) % (hours - 1);
        let from = loaded.first_time_ms + hour * WINDOW_MS;
        let body = json!({"method": "GetStatement", "id": call,
                          "params": {"from": from, "to": from + WINDOW_MS}});
        let started = Instant::now();
        let response = http
            .post(format!("{base}/api/payme"))
            .header("authorization", basic_auth())
            .json(&body)
            .send()
            .await?;
        let text = response.text().await?;
        let elapsed = started.elapsed();
        let answer: Value = serde_json::from_str(&text)?;
        let rows = answer["result"]["transactions"]
            .as_array()
            .with_context(|| format!("GetStatement failed: {text}"))?
            .len();
        if call >= STATEMENT_WARM_UP {
            latencies.push(elapsed);
            fewest = fewest.min(rows);
            most = most.max(rows);
            bytes = bytes.max(text.len());
        }
    }
    Ok(format!(
        "GetStatement, 1-hour windows, {} transactions in the table, {STATEMENT_QUERIES} calls:\n\
         \x20 {}\n  rows per answer {fewest}..{most}, largest answer {} KiB",
        loaded.rows_in_table,
        summary(&mut latencies).replace("p50", "median"),
        bytes / 1024
    ))
}
