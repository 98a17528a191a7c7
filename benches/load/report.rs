//! The figures, per request kind and for the whole load, next to the raw ceiling of the same
//! run: throughput, latency percentiles from the due time, errors, CPU per request split into
//! this process (and external servers) and PostgreSQL, projector lag and peak RSS.

use std::fmt::Write;
use std::time::Duration;

use tokio::time::Instant;

use crate::mix::Request;
use crate::observe::{Cpu, Lag};
use crate::open_loop::Samples;
use crate::pgbench::{Ceiling, BATCH_ROWS};
use crate::requests::BATCH_ITEMS;

/// Everything the run observed besides the samples.
pub struct Observed {
    pub warm_end: Instant,
    pub cpu: Cpu,
    pub lag: Vec<Lag>,
    pub caught_up: Option<Duration>,
    /// (what, MiB) per server process.
    pub peak_rss: Vec<(String, f64)>,
    pub external: bool,
    pub server_pids: Vec<u32>,
}

struct Kind {
    count: usize,
    errors: usize,
    first_error: Option<String>,
    latencies: Vec<Duration>,
    last_answer: Option<Instant>,
}

pub fn render(samples: &Samples, observed: &Observed, ceiling: Option<&Ceiling>) -> String {
    let mut out = String::new();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    if let Some(ceiling) = ceiling {
        let single = &ceiling.single;
        let batch = &ceiling.batch;
        let _ = writeln!(
            out,
            "raw ceiling (pgbench, 16 clients):\n  single-row INSERT  {:>9.0} txn/s   CPU {:.3} ms a row (PostgreSQL {:.3}, pgbench {:.3})\n  \
             {BATCH_ROWS}-row INSERT     {:>9.0} rows/s  CPU {:.3} ms a row (PostgreSQL {:.3}, pgbench {:.3})",
            single.transactions_per_second,
            per(single.cpu.database.unwrap_or_default() + single.cpu.children, single.transactions),
            per(single.cpu.database.unwrap_or_default(), single.transactions),
            per(single.cpu.children, single.transactions),
            batch.transactions_per_second * f64::from(BATCH_ROWS),
            per(batch.cpu.database.unwrap_or_default() + batch.cpu.children, batch.transactions * f64::from(BATCH_ROWS)),
            per(batch.cpu.database.unwrap_or_default(), batch.transactions * f64::from(BATCH_ROWS)),
            per(batch.cpu.children, batch.transactions * f64::from(BATCH_ROWS)),
        );
    }

    let mut kinds: Vec<(Request, Kind)> = Request::ALL
        .iter()
        .map(|request| {
            let kind = Kind {
                count: 0,
                errors: 0,
                first_error: None,
                latencies: Vec::new(),
                last_answer: None,
            };
            (*request, kind)
        })
        .collect();
    for sample in samples
        .samples
        .iter()
        .filter(|s| s.due >= observed.warm_end)
    {
        let (_, kind) = kinds
            .iter_mut()
            .find(|(request, _)| *request == sample.request)
            .expect("every request kind is listed");
        kind.count += 1;
        kind.latencies
            .push(sample.answered.saturating_duration_since(sample.due));
        kind.last_answer = kind.last_answer.max(Some(sample.answered));
        if let Some(error) = &sample.error {
            kind.errors += 1;
            kind.first_error.get_or_insert_with(|| error.clone());
        }
    }
    let _ = writeln!(
        out,
        "\nrequests (after the warm-up; latency from the due time)\n  {:<26} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "kind", "sent", "ok/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors"
    );
    let single_rate = rate_of(&kinds, Request::OnecSingle, observed.warm_end);
    let batch_rate = rate_of(&kinds, Request::OnecBatch, observed.warm_end);
    for (request, kind) in &mut kinds {
        if kind.count == 0 {
            continue;
        }
        kind.latencies.sort_unstable();
        let p = |fraction: f64| ms(percentile(&kind.latencies, fraction));
        let _ = writeln!(
            out,
            "  {:<26} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            request.name(),
            kind.count,
            rate_of_kind(kind, observed.warm_end),
            p(0.50),
            p(0.99),
            p(0.999),
            p(1.0),
            kind.errors,
        );
    }
    for (request, kind) in &kinds {
        if let Some(error) = &kind.first_error {
            let _ = writeln!(out, "  first error, {}: {error}", request.name());
        }
    }
    if samples.abandoned > 0 {
        let _ = writeln!(
            out,
            "  {} operations still unanswered 35 s after the schedule ended (abandoned)",
            samples.abandoned
        );
    }

    // CPU over the whole load (warm-up included) and the projections' catch-up, per request.
    let requests = samples.samples.len() as f64;
    let span = samples.finished.saturating_duration_since(samples.start);
    let ok = samples.samples.iter().filter(|s| s.error.is_none()).count() as f64;
    let _ = writeln!(
        out,
        "\nall requests, warm-up included: {} in {:.1} s ({:.0}/s answered, {:.0}/s without error)",
        samples.samples.len(),
        span.as_secs_f64(),
        requests / span.as_secs_f64().max(1e-9),
        ok / span.as_secs_f64().max(1e-9)
    );
    let cpu = observed.cpu;
    let database = cpu.database.map_or("n/a (not local)".to_owned(), |d| {
        format!("{:.3} ms", per(d, requests))
    });
    if observed.external {
        let each: Vec<String> = observed
            .server_pids
            .iter()
            .zip(cpu.servers)
            .map(|(pid, used)| format!("{pid}: {:.3}", per(used, requests)))
            .collect();
        let _ = writeln!(
            out,
            "CPU per request: servers {:.3} ms ({}), PostgreSQL {database}, load generator {:.3} ms",
            per(cpu.all_servers(), requests),
            each.join(", "),
            per(cpu.process, requests)
        );
    } else {
        let _ = writeln!(
            out,
            "CPU per request: this process (servers and load generator) {:.3} ms, PostgreSQL {database}",
            per(cpu.process, requests)
        );
    }
    if let Some(ceiling) = ceiling {
        let raw = ceiling.single.transactions_per_second;
        let raw_rows = ceiling.batch.transactions_per_second * f64::from(BATCH_ROWS);
        let _ = writeln!(
            out,
            "ratios to the raw ceiling (a capacity only when the run saturates; below, the offered rate): \
             1C singles {single_rate:.0}/s = {:.1} % of single INSERTs; \
             1C batch items {:.0}/s = {:.1} % of {BATCH_ROWS}-row INSERT rows",
            100.0 * single_rate / raw,
            batch_rate * BATCH_ITEMS as f64,
            100.0 * batch_rate * BATCH_ITEMS as f64 / raw_rows
        );
        let raw_cpu = per(
            ceiling.single.cpu.database.unwrap_or_default() + ceiling.single.cpu.children,
            ceiling.single.transactions,
        );
        let ours = per(
            cpu.process + cpu.all_servers() + cpu.database.unwrap_or_default(),
            requests,
        );
        let _ = writeln!(
            out,
            "  CPU: {ours:.3} ms a request (all kinds) = {:.1} x a raw single-row INSERT ({raw_cpu:.3} ms)",
            ours / raw_cpu.max(1e-9)
        );
    }
    let mut lag: Vec<f64> = observed.lag.iter().map(|l| l.seconds).collect();
    let events = observed.lag.iter().map(|l| l.events).max().unwrap_or(0);
    if lag.is_empty() {
        let _ = writeln!(out, "projector lag: no samples");
    } else {
        let _ = writeln!(
            out,
            "projector lag (largest over projections, {} samples every 0.5 s): p50 {:.3} s, p99 {:.3} s, max {:.3} s; most events behind {events}",
            lag.len(),
            quantile(&mut lag, 0.50),
            quantile(&mut lag, 0.99),
            quantile(&mut lag, 1.0)
        );
        let mut names: Vec<&str> = observed
            .lag
            .iter()
            .flat_map(|l| l.by_projection.iter().map(|(name, _)| name.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        let each: Vec<String> = names
            .iter()
            .map(|name| {
                let mut own: Vec<f64> = observed
                    .lag
                    .iter()
                    .flat_map(|l| l.by_projection.iter())
                    .filter(|(projection, _)| projection == name)
                    .map(|(_, seconds)| *seconds)
                    .collect();
                format!("{name} {:.3}", quantile(&mut own, 0.99))
            })
            .collect();
        let _ = writeln!(out, "  p99 by projection (s): {}", each.join(", "));
    }
    let _ = match observed.caught_up {
        Some(after) => writeln!(
            out,
            "projections caught up {:.2} s after the last answer",
            after.as_secs_f64()
        ),
        None => writeln!(out, "projections had not caught up a minute after the load"),
    };
    for (what, mib) in &observed.peak_rss {
        let _ = writeln!(out, "peak RSS (VmHWM) of {what}: {mib:.0} MiB");
    }
    out
}

/// The `fraction` quantile of `values` (sorted here), nearest rank.
fn quantile(values: &mut [f64], fraction: f64) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    let rank = ((values.len() as f64) * fraction).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

fn per(cpu: Duration, count: f64) -> f64 {
    cpu.as_secs_f64() * 1_000.0 / count.max(1.0)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Successful answers per second, from the end of the warm-up to the kind's last answer.
fn rate_of_kind(kind: &Kind, warm_end: Instant) -> f64 {
    let Some(last) = kind.last_answer else {
        return 0.0;
    };
    let seconds = last.saturating_duration_since(warm_end).as_secs_f64();
    (kind.count - kind.errors) as f64 / seconds.max(1e-9)
}

fn rate_of(kinds: &[(Request, Kind)], wanted: Request, warm_end: Instant) -> f64 {
    kinds
        .iter()
        .find(|(request, _)| *request == wanted)
        .map_or(0.0, |(_, kind)| rate_of_kind(kind, warm_end))
}
