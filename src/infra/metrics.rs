//! The metrics registry of one server process: request counters and latencies kept in memory,
//! and gauge sources registered by the areas that own them.
//!
//! The registry knows no area. An area that has something to report (the 1C stores' staleness,
//! the projections' lag) implements [`GaugeSource`] and `app.rs` registers it at start; the
//! `/metrics` handler in `http::metrics` only asks every source and writes the text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};

/// Upper bounds (seconds) of the request-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// What a gauge source returns: its gauge families, read at scrape time.
pub type GaugeFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Vec<Gauge>>> + Send + 'a>>;

/// Something that can report gauges when `/metrics` is scraped.
pub trait GaugeSource: Send + Sync {
    /// A short name for log lines when the source fails.
    fn name(&self) -> &'static str;
    fn collect(&self) -> GaugeFuture<'_>;
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<Histogram>,
    sources: RwLock<Vec<Arc<dyn GaugeSource>>>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

impl Metrics {
    pub fn register(&self, source: Arc<dyn GaugeSource>) {
        self.sources.write().expect("metrics lock").push(source);
    }

    pub fn sources(&self) -> Vec<Arc<dyn GaugeSource>> {
        self.sources.read().expect("metrics lock").clone()
    }

    pub fn record_request(&self, method: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((method.to_owned(), status))
            .or_default() += 1;
        let mut latency = self.latency.lock().expect("metrics lock");
        for (bucket, bound) in latency.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        latency.count += 1;
        latency.sum_seconds += seconds;
    }

    pub fn write_requests(&self, out: &mut String) {
        out.push_str("# HELP ledger_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE ledger_http_requests_total counter\n");
        for ((method, status), count) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "ledger_http_requests_total{{method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        let latency = self.latency.lock().expect("metrics lock");
        out.push_str("# HELP ledger_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE ledger_http_request_duration_seconds histogram\n");
        for (bound, count) in LATENCY_BUCKETS.iter().zip(latency.buckets) {
            let _ = writeln!(
                out,
                "ledger_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "ledger_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n\
             ledger_http_request_duration_seconds_sum {}\n\
             ledger_http_request_duration_seconds_count {}",
            latency.count, latency.sum_seconds, latency.count
        );
    }
}

/// A gauge family written at scrape time.
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    /// (labels as `key="value",...`, value)
    pub samples: Vec<(String, f64)>,
}

impl Gauge {
    /// A gauge with one unlabelled sample.
    pub fn single(name: &'static str, help: &'static str, value: f64) -> Self {
        Gauge {
            name,
            help,
            samples: vec![(String::new(), value)],
        }
    }

    pub fn write(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} gauge",
            self.name, self.help, self.name
        );
        for (labels, value) in &self.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", self.name);
            } else {
                let _ = writeln!(out, "{}{{{labels}}} {value}", self.name);
            }
        }
    }
}
