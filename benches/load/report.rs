//! The figures, per request kind and for the whole load, next to the raw ceiling of the same
//! run: throughput, latency percentiles from the due time, errors, CPU per request split into
//! this process (and external servers) and PostgreSQL, projector lag and peak RSS.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use tokio::time::Instant;

use crate::mix::Request;
use crate::observe::{Cpu, Lag};
use crate::open_loop::Samples;
use crate::pgbench::{Ceiling, Phase, BATCH_ROWS};
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

/// One request kind's samples after the warm-up.
#[derive(Default)]
struct Kind {
    count: usize,
    errors: usize,
    first_error: Option<String>,
    /// Errors counted by their class (status and machine code).
    error_classes: BTreeMap<String, usize>,
    latencies: Vec<Duration>,
    last_answer: Option<Instant>,
}

impl Kind {
    /// Successful answers per second, from the end of the warm-up to the kind's last answer.
    fn ok_rate(&self, warm_end: Instant) -> f64 {
        let Some(last) = self.last_answer else {
            return 0.0;
        };
        let seconds = last.saturating_duration_since(warm_end).as_secs_f64();
        (self.count - self.errors) as f64 / seconds.max(1e-9)
    }
}

pub fn render(samples: &Samples, observed: &Observed, ceiling: Option<&Ceiling>) -> String {
    let mut out = String::new();
    if let Some(ceiling) = ceiling {
        write_ceiling(&mut out, ceiling);
    }
    let kinds = write_requests(&mut out, samples, observed.warm_end);
    let requests = samples.samples.len() as f64;
    write_totals(&mut out, samples, observed);
    if let Some(ceiling) = ceiling {
        let rate = |wanted: Request| {
            kinds
                .iter()
                .find(|(request, _)| *request == wanted)
                .map_or(0.0, |(_, kind)| kind.ok_rate(observed.warm_end))
        };
        write_ratios(&mut out, ceiling, observed.cpu, requests, rate);
    }
    write_lag(&mut out, observed);
    for (what, mib) in &observed.peak_rss {
        let _ = writeln!(out, "peak RSS (VmHWM) of {what}: {mib:.0} MiB");
    }
    out
}

fn write_ceiling(out: &mut String, ceiling: &Ceiling) {
    let line = |phase: &Phase, rows: u32| {
        let rows_done = phase.transactions * f64::from(rows);
        let database = phase.cpu.database.unwrap_or_default();
        format!(
            "{:>9.0} rows/s  CPU {:.3} ms a row (PostgreSQL {:.3}, pgbench {:.3})",
            phase.transactions_per_second * f64::from(rows),
            per(database + phase.cpu.children, rows_done),
            per(database, rows_done),
            per(phase.cpu.children, rows_done),
        )
    };
    let _ = writeln!(
        out,
        "raw ceiling (pgbench, 16 clients):\n  single-row INSERT  {}\n  {BATCH_ROWS}-row INSERT     {}",
        line(&ceiling.single, 1),
        line(&ceiling.batch, BATCH_ROWS)
    );
}

/// The table of request kinds; returns the kinds for the ratios.
fn write_requests(out: &mut String, samples: &Samples, warm_end: Instant) -> Vec<(Request, Kind)> {
    let mut kinds: Vec<(Request, Kind)> = Request::ALL
        .iter()
        .map(|request| (*request, Kind::default()))
        .collect();
    for sample in samples.samples.iter().filter(|s| s.due >= warm_end) {
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
            *kind.error_classes.entry(class_of(error)).or_default() += 1;
        }
    }
    let _ = writeln!(
        out,
        "\nrequests (after the warm-up; latency from the due time)\n  {:<26} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "kind", "sent", "ok/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors"
    );
    for (request, kind) in &mut kinds {
        if kind.count == 0 {
            continue;
        }
        kind.latencies.sort_unstable();
        let p = |fraction: f64| percentile(&kind.latencies, fraction).as_secs_f64() * 1_000.0;
        let _ = writeln!(
            out,
            "  {:<26} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            request.name(),
            kind.count,
            kind.ok_rate(warm_end),
            p(0.50),
            p(0.99),
            p(0.999),
            p(1.0),
            kind.errors,
        );
    }
    for (request, kind) in &kinds {
        if let Some(error) = &kind.first_error {
            let classes: Vec<String> = kind
                .error_classes
                .iter()
                .map(|(class, count)| format!("{count} x {class}"))
                .collect();
            let _ = writeln!(
                out,
                "  errors, {}: {}; first: {error}",
                request.name(),
                classes.join(", ")
            );
        }
    }
    if samples.abandoned > 0 {
        let _ = writeln!(
            out,
            "  {} operations still unanswered 35 s after the schedule ended (abandoned)",
            samples.abandoned
        );
    }
    kinds
}

/// Rates of the whole load, and its CPU (warm-up and the projections' catch-up included) per
/// request.
fn write_totals(out: &mut String, samples: &Samples, observed: &Observed) {
    let requests = samples.samples.len() as f64;
    let span = samples
        .finished
        .saturating_duration_since(samples.start)
        .as_secs_f64()
        .max(1e-9);
    let ok = samples.samples.iter().filter(|s| s.error.is_none()).count() as f64;
    let _ = writeln!(
        out,
        "\nall requests, warm-up included: {} in {span:.1} s ({:.0}/s answered, {:.0}/s without error)",
        samples.samples.len(),
        requests / span,
        ok / span
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
}

fn write_ratios(
    out: &mut String,
    ceiling: &Ceiling,
    cpu: Cpu,
    requests: f64,
    rate: impl Fn(Request) -> f64,
) {
    let raw = ceiling.single.transactions_per_second;
    let raw_rows = ceiling.batch.transactions_per_second * f64::from(BATCH_ROWS);
    let single_rate = rate(Request::OnecSingle);
    let items_rate = rate(Request::OnecBatch) * BATCH_ITEMS as f64;
    let _ = writeln!(
        out,
        "ratios to the raw ceiling (a capacity only when the run saturates; below, the offered rate): \
         1C singles {single_rate:.0}/s = {:.1} % of single INSERTs; \
         1C batch items {items_rate:.0}/s = {:.1} % of {BATCH_ROWS}-row INSERT rows",
        100.0 * single_rate / raw,
        100.0 * items_rate / raw_rows
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

fn write_lag(out: &mut String, observed: &Observed) {
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
}

/// An error's class: the HTTP status and the machine code of the body (`error`, or Payme's
/// `error.code`), else the text's start.
fn class_of(error: &str) -> String {
    let (status, body) = match error.strip_prefix("HTTP ") {
        Some(rest) => {
            let status = rest.split_whitespace().next().unwrap_or("");
            let body = rest.split_once(": ").map_or("", |(_, body)| body);
            (format!("HTTP {status}"), body)
        }
        None => ("HTTP 200".to_owned(), error),
    };
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|body| match &body["error"] {
            serde_json::Value::String(code) => Some(code.clone()),
            serde_json::Value::Object(payme) => Some(format!("Payme {}", payme.get("code")?)),
            _ => None,
        });
    match code {
        Some(code) => format!("{status} {code}"),
        None => error.chars().take(40).collect(),
    }
}

/// The `fraction` quantile of `values` (sorted here).
fn quantile(values: &mut [f64], fraction: f64) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    percentile(values, fraction)
}

/// Nearest-rank percentile of sorted, non-empty values.
fn percentile<T: Copy>(sorted: &[T], fraction: f64) -> T {
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn per(cpu: Duration, count: f64) -> f64 {
    cpu.as_secs_f64() * 1_000.0 / count.max(1.0)
}
