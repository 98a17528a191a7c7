//! CrystalPay callback benchmark (`docs/benchmarks.md`): how many callbacks per second the
//! server takes, how fast it answers them, and how long until each payment is applied — the
//! `invoice/info` round trip to a local fake CrystalPay included.
//!
//! One run: guest orders and their invoices are made through the API (not measured), the fake
//! then reports every invoice `payed`, and natively signed callbacks are sent. Measured:
//! - **raw ceiling**: `invoice/info` calls straight to the fake by the same number of senders,
//!   the round trip every re-check contains, with nothing of ours around it;
//! - per phase, **callback answered**: latency of `POST /api/crystalpay/callback` (signature
//!   checked, the pending re-check recorded durably, 200); **applied**: from sending a callback
//!   to its `CrystalPayInvoiceChecked` (the worker's `invoice/info` call and the atomic append
//!   that pays the order), and the throughput until the last one is applied; database commits
//!   and CPU per callback (this process: server, client and fake; and PostgreSQL's backends);
//! - phases: **flood** (`CRYSTALPAY_BENCH_CALLBACKS`, default 2000, from
//!   `CRYSTALPAY_BENCH_SENDERS`, default 32, concurrent senders, closed loop) and **steady**
//!   (`CRYSTALPAY_BENCH_RATE` callbacks/s, default 100, for `CRYSTALPAY_BENCH_SECONDS`, default
//!   10, open loop: latencies count from the scheduled time).
//!
//! Command (each run uses a fresh database `crystalpay_bench_<epoch>`, dropped at the end):
//!
//! ```text
//! DATABASE_URL=$(cargo run -q --bin ledger -- embedded-pg start --data-dir .ledger-bench | tail -1) \
//!     cargo bench --bench crystalpay
//! ```

#[path = "payme/cost.rs"]
mod cost;
#[path = "common/empty_database.rs"]
mod empty_database;
#[path = "crystalpay/fake.rs"]
mod fake;
#[path = "common/in_process_app.rs"]
mod in_process_app;
#[path = "payme/latency.rs"]
mod latency;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use ledger::config::{CrystalPayConfig, Secret};
use ledger::crystalpay::signature::native_signature;
use serde_json::{json, Value};
use sqlx::PgPool;

use empty_database::EmptyDatabase;

const ADMIN_TOKEN: &str = "bench-admin-token-3c1d9e7f2a6b";
const SALT: &str = "bench-crystalpay-salt";

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

fn setting(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(text) => text.parse().with_context(|| format!("{name}={text:?}")),
        Err(_) => Ok(default),
    }
}

async fn run() -> anyhow::Result<()> {
    let server_url = std::env::var("DATABASE_URL").context(
        "set DATABASE_URL, e.g. DATABASE_URL=$(cargo run -q --bin ledger -- embedded-pg start \
         --data-dir .ledger-bench | tail -1) cargo bench --bench crystalpay",
    )?;
    let name = format!("crystalpay_bench_{}", Utc::now().timestamp());
    let database = EmptyDatabase::create(&server_url, name).await?;
    eprintln!("scratch database: {}", database.name());
    let outcome = measure(database.url()).await;
    database.drop_database().await?;
    println!("\n{}", outcome?);
    Ok(())
}

async fn measure(url: &str) -> anyhow::Result<String> {
    let callbacks = setting("CRYSTALPAY_BENCH_CALLBACKS", 2_000)?;
    let senders = setting("CRYSTALPAY_BENCH_SENDERS", 32)?;
    let (fake_url, gateway) = fake::start().await?;
    let pool = ledger::infra::database::connect(
        url,
        &ledger::infra::database::PoolSettings::with_connections(32),
    )
    .await?;
    let server = in_process_app::start(pool.clone(), ADMIN_TOKEN, |config| {
        config.crystalpay = Some(CrystalPayConfig {
            login: "bench".into(),
            secret: Secret::new("bench-secret"),
            salt: Secret::new(SALT),
            api_url: fake_url.clone(),
            webhook_secret: None,
            timeout: Duration::from_secs(10),
            sweep: Default::default(),
        });
    })
    .await?;
    let base = server.base_url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;

    let rate = setting("CRYSTALPAY_BENCH_RATE", 100)?;
    let seconds = setting("CRYSTALPAY_BENCH_SECONDS", 10)?;
    let started = Instant::now();
    let mut invoices = make_invoices(&http, &base, callbacks + rate * seconds).await?;
    let paced = invoices.split_off(callbacks);
    eprintln!(
        "{} invoices in {:.1} s",
        invoices.len() + paced.len(),
        started.elapsed().as_secs_f64()
    );
    gateway.everyone_paid();

    let (raw_rate, mut raw) = raw_info_calls(&http, &fake_url, &invoices, senders).await?;
    let flood = phase(&pool, &http, &base, &invoices, Pace::ClosedLoop(senders)).await?;
    let steady = phase(&pool, &http, &base, &paced, Pace::Rate(rate)).await?;
    let paid: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'OrderPaid'")
            .fetch_one(&pool)
            .await?;
    let total = invoices.len() + paced.len();
    ensure!(paid as usize == total, "{paid} orders paid of {total}");
    server.stop().await?;
    pool.close().await;
    Ok(format!(
        "CrystalPay callbacks\n\
         \x20 raw ceiling, invoice/info to the fake alone ({senders} senders): {raw_rate:.0}/s, {}\n\
         {flood}\n{steady}\n\
         \x20 applied throughput / raw ceiling, flood: {:.3}",
        latency::summary(&mut raw),
        flood.applied_rate / raw_rate,
    ))
}

/// How callbacks are sent.
#[derive(Clone, Copy)]
enum Pace {
    /// As fast as this many concurrent senders go (each sends its next when answered).
    ClosedLoop(usize),
    /// Callback k at `start + k / rate`, whatever the answers (open loop; latencies count from
    /// the scheduled time, so a stall shows instead of slowing the load).
    Rate(usize),
}

struct PhaseReport {
    title: String,
    answered_rate: f64,
    answers: String,
    applied_rate: f64,
    applied: String,
    commits: f64,
    cpu_process_ms: f64,
    cpu_database_ms: f64,
}

impl std::fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "  {}\n\
             \x20   callback answered (verified, recorded, 200): {:.0}/s, {}\n\
             \x20   callback → payment applied (invoice/info + atomic append): {:.0}/s, {}\n\
             \x20   per callback: {:.1} database commits (projector batches included), CPU \
             {:.2} ms in this process (server, client, fake) + {:.2} ms in its PostgreSQL backends",
            self.title,
            self.answered_rate,
            self.answers,
            self.applied_rate,
            self.applied,
            self.commits,
            self.cpu_process_ms,
            self.cpu_database_ms,
        )
    }
}

async fn phase(
    pool: &PgPool,
    http: &reqwest::Client,
    base: &str,
    invoices: &[String],
    pace: Pace,
) -> anyhow::Result<PhaseReport> {
    let before: i64 = checked_count(pool).await?;
    let commits_before = cost::database_commits(pool).await?;
    let cpu_before = cost::cpu_seconds(pool).await?;
    let began = Instant::now();
    let sent = send_callbacks(http, base, invoices, pace).await?;
    let answered = began.elapsed();
    wait_until_applied(pool, before as usize + invoices.len()).await?;
    let applied_all = began.elapsed();
    let cpu = cost::cpu_seconds(pool).await? - cpu_before;
    let commits = cost::database_commits(pool).await? - commits_before;
    let mut answers: Vec<Duration> = sent.values().map(|(_, latency)| *latency).collect();
    let mut applied = applied_latencies(pool, &sent).await?;
    let n = invoices.len() as f64;
    Ok(PhaseReport {
        title: match pace {
            Pace::ClosedLoop(senders) => {
                format!("flood: {n} callbacks from {senders} concurrent senders (closed loop)")
            }
            Pace::Rate(rate) => format!("steady: {n} callbacks at {rate}/s (open loop)"),
        },
        answered_rate: n / answered.as_secs_f64(),
        answers: latency::summary(&mut answers),
        applied_rate: n / applied_all.as_secs_f64(),
        applied: latency::summary(&mut applied),
        commits: commits as f64 / n,
        cpu_process_ms: cpu.process * 1_000.0 / n,
        cpu_database_ms: cpu.database * 1_000.0 / n,
    })
}

/// N guest orders and a web invoice for each; returns the invoice ids.
async fn make_invoices(
    http: &reqwest::Client,
    base: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let results: Vec<anyhow::Result<String>> = futures::stream::iter(0..count)
        .map(|index| async move {
            let order: Value = http
                .post(format!("{base}/api/orders"))
                .bearer_auth(ADMIN_TOKEN)
                .json(
                    &json!({"external_id": format!("cp-bench-{index}"), "currency": "RUB",
                    "items": [{"sku": "x", "title": "Thing", "qty": 1, "price": "10.00"}]}),
                )
                .send()
                .await?
                .json()
                .await?;
            let order_id = order["order_id"].as_str().context("order_id")?;
            let invoice: Value = http
                .post(format!("{base}/api/crystalpay/invoice"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"order_id": order_id, "context": "web"}))
                .send()
                .await?
                .json()
                .await?;
            Ok(invoice["invoice_id"]
                .as_str()
                .context("invoice_id")?
                .to_owned())
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The raw ceiling: `invoice/info` straight to the fake, as many calls as callbacks.
async fn raw_info_calls(
    http: &reqwest::Client,
    fake_url: &str,
    invoices: &[String],
    senders: usize,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let began = Instant::now();
    let results: Vec<anyhow::Result<Duration>> = futures::stream::iter(invoices)
        .map(|invoice_id| async move {
            let sent = Instant::now();
            let answer: Value = http
                .post(format!("{fake_url}/v3/invoice/info/"))
                .json(&json!({"auth_login": "bench", "auth_secret": "bench-secret", "id": invoice_id}))
                .send()
                .await?
                .json()
                .await?;
            ensure!(answer["state"] == "payed", "{answer}");
            Ok(sent.elapsed())
        })
        .buffer_unordered(senders)
        .collect()
        .await;
    let latencies = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok((
        invoices.len() as f64 / began.elapsed().as_secs_f64(),
        latencies,
    ))
}

/// Sends one callback per invoice; returns each one's (scheduled) send time and answer latency.
async fn send_callbacks(
    http: &reqwest::Client,
    base: &str,
    invoices: &[String],
    pace: Pace,
) -> anyhow::Result<HashMap<String, (DateTime<Utc>, Duration)>> {
    let start = Instant::now();
    let start_at = Utc::now();
    let (concurrency, interval) = match pace {
        Pace::ClosedLoop(senders) => (senders, None),
        Pace::Rate(rate) => (
            4_096,
            Some(Duration::from_secs_f64(1.0 / rate.max(1) as f64)),
        ),
    };
    let results: Vec<anyhow::Result<(String, DateTime<Utc>, Duration)>> =
        futures::stream::iter(invoices.iter().enumerate())
            .map(|(index, invoice_id)| async move {
                let (at, sent) = match interval {
                    Some(interval) => {
                        let offset = interval * index as u32;
                        tokio::time::sleep_until((start + offset).into()).await;
                        (start_at + offset, start + offset)
                    }
                    None => (Utc::now(), Instant::now()),
                };
                let body = json!({"id": invoice_id, "state": "payed",
                    "signature": native_signature(invoice_id, SALT)});
                let response = http
                    .post(format!("{base}/api/crystalpay/callback"))
                    .json(&body)
                    .send()
                    .await?;
                ensure!(
                    response.status().is_success(),
                    "callback answered {}",
                    response.status()
                );
                response.bytes().await?;
                Ok((invoice_id.clone(), at, sent.elapsed()))
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    results
        .into_iter()
        .map(|result| result.map(|(id, at, latency)| (id, (at, latency))))
        .collect()
}

async fn checked_count(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'CrystalPayInvoiceChecked'",
    )
    .fetch_one(pool)
    .await?)
}

async fn wait_until_applied(pool: &PgPool, count: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let checked = checked_count(pool).await?;
        if checked as usize >= count {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "only {checked} of {count} applied in 300 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// From each callback's sending to its check's commit (`recorded_at`, the database's clock on
/// this same machine).
async fn applied_latencies(
    pool: &PgPool,
    sent: &HashMap<String, (DateTime<Utc>, Duration)>,
) -> anyhow::Result<Vec<Duration>> {
    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT payload->>'invoice_id', recorded_at FROM events \
         WHERE event_type = 'CrystalPayInvoiceChecked'",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|(invoice_id, recorded_at)| {
            let (at, _) = sent.get(invoice_id)?;
            (*recorded_at - *at).to_std().ok()
        })
        .collect())
}
