//! Mixed-load generator, a bench binary (`harness = false`). Drives the HTTP API at a fixed
//! open-loop rate with what a shop's day brings — 1C single accruals and 100-item batches,
//! Payme CheckPerform/Create/Perform, orders placed then read back with `min_position`,
//! Telegram payment updates — and prints per request kind the throughput, p50/p99/p99.9 from
//! each request's due time (no coordinated omission) and errors; for the whole load the CPU per
//! request of this process (or of the external servers) and of PostgreSQL, the projections' lag
//! and the servers' peak RSS; all next to a raw ceiling measured by `pgbench` in the same run on
//! the same database. Figures and commands: docs/benchmarks.md, "Mixed load".
//!
//! ```text
//! DATABASE_URL=$(cargo run --release -q --bin ledger -- embedded-pg start --data-dir .ledger-bench | tail -1) \
//!     cargo bench --bench load -- --rate 200 --seconds 30 [--servers 2]
//! ```
//!
//! By default the app runs in this process on a scratch database (created, migrated, dropped);
//! `--servers 2` starts two instances on it and splits the load between them. `--external URL`
//! drives running `ledger serve` instances instead (see `--help`). Bounded: ≤ 5,000
//! operations/s, ≤ 120 s, loopback only.

#[path = "common/empty_database.rs"]
mod empty_database;
#[path = "common/in_process_app.rs"]
mod in_process_app;
#[path = "load/mix.rs"]
mod mix;
#[path = "load/observe.rs"]
mod observe;
#[path = "load/open_loop.rs"]
mod open_loop;
#[path = "load/pgbench.rs"]
mod pgbench;
#[path = "common/processes.rs"]
mod processes;
#[path = "load/report.rs"]
mod report;
#[path = "load/requests.rs"]
mod requests;
#[path = "load/settings.rs"]
mod settings;
#[path = "load/setup.rs"]
mod setup;
#[path = "common/shop.rs"]
mod shop;
#[path = "load/target.rs"]
mod target;

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use tokio_util::sync::CancellationToken;

use observe::Meter;
use report::Observed;
use requests::Context;
use settings::Settings;
use target::Target;

fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    let mix = settings.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(settings, mix))
}

async fn run(settings: Settings, mix: mix::Mix) -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context(
        "DATABASE_URL must name a durable PostgreSQL server; see docs/benchmarks.md for the command",
    )?;
    let seed = settings
        .seed
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis() as u64);
    println!(
        "Mixed load: {} operations/s for {} s ({} s warm-up), mix {}, seed {seed}, {}",
        settings.rate,
        settings.seconds,
        settings.warmup_seconds,
        mix.describe(),
        if settings.external.is_empty() {
            format!("{} in-process server(s)", settings.servers)
        } else {
            format!("{} external server(s)", settings.external.len())
        }
    );
    println!("load average at start: {}", load_average());
    let target = Target::start(&settings, &url).await?;
    let outcome = measure(&settings, &mix, seed, &target).await;
    target.stop().await?;
    let report = outcome?;
    println!("{report}");
    println!("load average at end: {}", load_average());
    Ok(())
}

async fn measure(
    settings: &Settings,
    mix: &mix::Mix,
    seed: u64,
    target: &Target,
) -> anyhow::Result<String> {
    let meter = Meter::new(&target.pool, &target.server_pids).await?;
    let ceiling = if settings.pgbench_seconds > 0 {
        let ceiling = pgbench::measure(
            &target.pool,
            &target.database_url,
            &meter,
            settings.pgbench_seconds,
        )
        .await?;
        Some(ceiling)
    } else {
        None
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1_024)
        .timeout(Duration::from_secs(30))
        .build()?;
    let plan = mix.plan(settings.rate as usize * settings.seconds as usize, seed);
    let fixture = setup::prepare(target, &http, &plan).await?;
    let admin = target.credentials.admin_token.clone();
    let base = target.bases[0].clone();
    observe::wait_for_projections(&http, &base, &admin).await;

    let run = chrono::Utc::now().timestamp();
    let warm_end = tokio::time::Instant::now() + Duration::from_secs(settings.warmup_seconds);
    let stop_sampling = CancellationToken::new();
    let sampler = tokio::spawn(observe::sample_lag(
        (http.clone(), base.clone(), admin.clone()),
        warm_end,
        stop_sampling.clone(),
    ));
    let before = meter.read();
    let samples = open_loop::run(
        |sender| Context {
            http: http.clone(),
            bases: target.bases.clone(),
            credentials: target.credentials.clone(),
            fixture,
            run,
            samples: sender,
        },
        &plan,
        settings.rate,
    )
    .await?;
    stop_sampling.cancel();
    let lag = sampler.await?;
    let caught_up = observe::wait_for_projections(&http, &base, &admin).await;
    let cpu = meter.read() - before;
    let peak_rss = if target.server_pids.is_empty() {
        observe::peak_rss_mib(std::process::id())
            .map(|mib| vec![("this process (servers and load generator)".to_owned(), mib)])
            .unwrap_or_default()
    } else {
        target
            .server_pids
            .iter()
            .filter_map(|pid| Some((format!("server {pid}"), observe::peak_rss_mib(*pid)?)))
            .collect()
    };
    let observed = Observed {
        warm_end,
        cpu,
        lag,
        caught_up,
        peak_rss,
        external: !target.server_pids.is_empty() || !settings.external.is_empty(),
        server_pids: target.server_pids.clone(),
    };
    Ok(report::render(&samples, &observed, ceiling.as_ref()))
}

/// `/proc/loadavg`'s three averages: how busy the machine was besides this run.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}
