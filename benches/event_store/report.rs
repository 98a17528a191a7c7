//! What the benchmark prints: the conditions of the run (so figures can be compared with their
//! context), one line per phase, the append/raw ratio against its target, the feed rate.

use sqlx::PgPool;

use crate::feed::FeedMeasurement;
use crate::load::Measurement;
use crate::settings::Settings;

/// The target: one-event appends with an idempotency key reach at least this share of the raw
/// single-row INSERT rate measured in the same run.
pub const APPEND_TARGET_RATIO: f64 = 0.70;

pub async fn print_conditions(pool: &PgPool, settings: &Settings) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    println!("machine: {cpus} CPUs, load average {}", load_average());
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(pool)
        .await?;
    println!("server: {version}");
    let mut settings_line = Vec::new();
    for name in [
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "wal_sync_method",
        "shared_buffers",
    ] {
        let value: String = sqlx::query_scalar(&format!("SHOW {name}"))
            .fetch_one(pool)
            .await?;
        settings_line.push(format!("{name}={value}"));
    }
    println!("server settings: {}", settings_line.join(" "));
    println!(
        "load: {} concurrent tasks (one connection each), {} s per write phase after {} s of \
         warm-up, at most {} operations per phase, {} round(s)",
        settings.concurrency,
        settings.seconds,
        settings.warm_up_seconds,
        settings.max_operations,
        settings.rounds
    );
    println!();
    println!(
        "{:<46} {:>9} {:>8} {:>10} {:>8} {:>8} {:>13} {:>13}",
        "phase", "ops", "seconds", "ops/s", "p50 ms", "p99 ms", "client us/op", "server us/op"
    );
    Ok(())
}

/// The 1-minute load average (background load on a shared machine skews every figure).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

pub fn print_phase(label: &str, measurement: &Measurement) {
    let (client, server) = match measurement.cpu {
        Some(cpu) => {
            let (client, server) = cpu.micros_per_operation(measurement.operations);
            (format!("{client:.0}"), format!("{server:.0}"))
        }
        None => ("n/a".to_owned(), "n/a".to_owned()),
    };
    println!(
        "{:<46} {:>9} {:>8.2} {:>10.0} {:>8.2} {:>8.2} {:>13} {:>13}",
        label,
        measurement.operations,
        measurement.elapsed.as_secs_f64(),
        measurement.per_second(),
        measurement.latency_ms(0.50),
        measurement.latency_ms(0.99),
        client,
        server
    );
}

pub fn print_ratio(raw: &Measurement, append: &Measurement) {
    let ratio = append.per_second() / raw.per_second().max(1e-9);
    let verdict = if ratio >= APPEND_TARGET_RATIO {
        "met"
    } else {
        "NOT met"
    };
    println!();
    println!(
        "append / raw = {:.0} / {:.0} ops/s = {:.1} % (target >= {:.0} %: {verdict})",
        append.per_second(),
        raw.per_second(),
        ratio * 100.0,
        APPEND_TARGET_RATIO * 100.0
    );
    if let (Some(raw_cpu), Some(append_cpu)) = (raw.cpu, append.cpu) {
        let total = |cpu: crate::cpu::CpuUsage, operations| {
            let (client, server) = cpu.micros_per_operation(operations);
            client + server
        };
        let raw_total = total(raw_cpu, raw.operations);
        let append_total = total(append_cpu, append.operations);
        println!(
            "CPU per operation (client + server): raw {raw_total:.0} us, append \
             {append_total:.0} us; raw/append = {:.1} % (the ratio a CPU-bound machine allows)",
            raw_total / append_total.max(1e-9) * 100.0
        );
    }
}

pub fn print_feed(feed: &FeedMeasurement, batch_size: i64) {
    println!(
        "feed: {} events in {} batches of up to {batch_size} in {:.2} s = {:.0} events/s \
         (read_global_feed, decoded)",
        feed.events,
        feed.batches,
        feed.elapsed.as_secs_f64(),
        feed.per_second()
    );
}
