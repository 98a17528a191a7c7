//! The metrics registry of one server process: request counters and latencies kept in memory,
//! and gauge sources registered by the areas that own them.
//!
//! The registry knows no area. An area that has something to report (the 1C stores' staleness,
//! the projections' lag) implements [`GaugeSource`] and `app.rs` registers it at start; the
//! `/metrics` handler in `http::metrics` writes the request counters and the sources' gauges.
//!
//! Two things keep `/metrics` cheap and bounded whatever clients do:
//! - every label value comes from a closed set (the caller maps methods and routes to one), so
//!   invented methods or random paths never create new series;
//! - a source's gauges (database queries) are cached for [`GAUGE_CACHE_TTL`], so a scrape storm
//!   costs one query set per interval, not one per scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

/// Upper bounds (seconds) of the request-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How long a source's gauges are reused before it is asked again.
pub const GAUGE_CACHE_TTL: Duration = Duration::from_secs(5);

/// What a gauge source returns: its gauge families, read at scrape time.
pub type GaugeFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Vec<Gauge>>> + Send + 'a>>;

/// Something that can report gauges when `/metrics` is scraped.
pub trait GaugeSource: Send + Sync {
    /// A short name for log lines when the source fails.
    fn name(&self) -> &'static str;
    fn collect(&self) -> GaugeFuture<'_>;
}

/// One request-counter series: method and route from closed sets, and the status code.
type RequestSeries = (&'static str, String, u16);

/// A counter or histogram family recorded in memory by the code that owns it (declared as a
/// `static` next to that code, so its name and help live where the events happen).
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
}

/// A recorded series: its family and its labels (values from closed or operator-made sets).
type Series = (&'static str, Labels);

pub struct Metrics {
    requests: Mutex<BTreeMap<RequestSeries, u64>>,
    latency: Mutex<Histogram>,
    counters: Mutex<BTreeMap<Series, u64>>,
    histograms: Mutex<BTreeMap<Series, Histogram>>,
    helps: Mutex<BTreeMap<&'static str, &'static str>>,
    /// Commands waiting for a pooled connection right now. Shared with the pool gauge by its
    /// own `Arc`: a gauge must never hold the registry that holds it, or the cycle keeps the
    /// registry, and the database pool inside its gauges, alive forever.
    pub waiting_for_connection: Arc<std::sync::atomic::AtomicI64>,
    sources: RwLock<Vec<Arc<CachedSource>>>,
    gauge_ttl: Duration,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::with_gauge_ttl(GAUGE_CACHE_TTL)
    }
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

impl Histogram {
    fn record(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }

    fn write(&self, out: &mut String, name: &str, labels: &[(&'static str, String)]) {
        let prefix = if labels.is_empty() {
            String::new()
        } else {
            format!("{},", render_labels(labels))
        };
        for (bound, count) in LATENCY_BUCKETS.iter().zip(self.buckets) {
            let _ = writeln!(out, "{name}_bucket{{{prefix}le=\"{bound}\"}} {count}");
        }
        let plain = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", render_labels(labels))
        };
        let _ = writeln!(
            out,
            "{name}_bucket{{{prefix}le=\"+Inf\"}} {count}\n{name}_sum{plain} {sum}\n{name}_count{plain} {count}",
            count = self.count,
            sum = self.sum_seconds,
        );
    }
}

fn owned(labels: &[(&'static str, &str)]) -> Labels {
    labels
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()))
        .collect()
}

/// A source with its last rendering. The lock is held while the source is asked, so scrapes
/// arriving meanwhile wait for that one answer instead of each querying the database.
struct CachedSource {
    source: Arc<dyn GaugeSource>,
    last: tokio::sync::Mutex<Option<(Instant, String)>>,
}

impl Metrics {
    pub fn with_gauge_ttl(gauge_ttl: Duration) -> Self {
        Metrics {
            requests: Mutex::default(),
            latency: Mutex::default(),
            counters: Mutex::default(),
            histograms: Mutex::default(),
            helps: Mutex::default(),
            waiting_for_connection: Arc::default(),
            sources: RwLock::default(),
            gauge_ttl,
        }
    }

    pub fn register(&self, source: Arc<dyn GaugeSource>) {
        self.sources
            .write()
            .expect("metrics lock")
            .push(Arc::new(CachedSource {
                source,
                last: tokio::sync::Mutex::new(None),
            }));
    }

    /// Adds one to a counter series. Label values must come from closed or operator-made sets.
    pub fn increment(&self, family: &'static Family, labels: &[(&'static str, &str)]) {
        self.remember_help(family);
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .entry((family.name, owned(labels)))
            .or_default() += 1;
    }

    /// Records one duration in a histogram series.
    pub fn observe(&self, family: &'static Family, labels: &[(&'static str, &str)], seconds: f64) {
        self.remember_help(family);
        self.histograms
            .lock()
            .expect("metrics lock")
            .entry((family.name, owned(labels)))
            .or_default()
            .record(seconds);
    }

    fn remember_help(&self, family: &'static Family) {
        self.helps
            .lock()
            .expect("metrics lock")
            .entry(family.name)
            .or_insert(family.help);
    }

    /// The counters and histograms recorded in memory.
    pub fn write_recorded(&self, out: &mut String) {
        let helps = self.helps.lock().expect("metrics lock").clone();
        let mut written = std::collections::BTreeSet::new();
        for ((name, labels), count) in self.counters.lock().expect("metrics lock").iter() {
            if written.insert(*name) {
                let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} counter", helps[name]);
            }
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {count}");
            } else {
                let _ = writeln!(out, "{name}{{{}}} {count}", render_labels(labels));
            }
        }
        for ((name, labels), histogram) in self.histograms.lock().expect("metrics lock").iter() {
            if written.insert(*name) {
                let _ = writeln!(
                    out,
                    "# HELP {name} {}\n# TYPE {name} histogram",
                    helps[name]
                );
            }
            histogram.write(out, name, labels);
        }
    }

    /// Counts one answered request. `method` and `route` must come from closed sets.
    pub fn record_request(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((method, route.to_owned(), status))
            .or_default() += 1;
        self.latency.lock().expect("metrics lock").record(seconds);
    }

    pub fn write_requests(&self, out: &mut String) {
        out.push_str("# HELP ledger_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE ledger_http_requests_total counter\n");
        for ((method, route, status), count) in self.requests.lock().expect("metrics lock").iter() {
            let labels = render_labels(&[
                ("method", method.to_string()),
                ("route", route.clone()),
                ("status", status.to_string()),
            ]);
            let _ = writeln!(out, "ledger_http_requests_total{{{labels}}} {count}");
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

    /// Every source's gauges, asked at most once per cache interval. A failing source is logged
    /// and reported as a comment line (the failure is cached too, so an outage is not hammered).
    pub async fn write_gauges(&self, out: &mut String) {
        let sources = self.sources.read().expect("metrics lock").clone();
        for cached in sources {
            let mut last = cached.last.lock().await;
            let fresh = last
                .as_ref()
                .is_some_and(|(asked, _)| asked.elapsed() < self.gauge_ttl);
            if !fresh {
                *last = Some((Instant::now(), render_source(cached.source.as_ref()).await));
            }
            if let Some((_, text)) = last.as_ref() {
                out.push_str(text);
            }
        }
    }
}

async fn render_source(source: &dyn GaugeSource) -> String {
    let mut text = String::new();
    match source.collect().await {
        Ok(gauges) => gauges.iter().for_each(|gauge| gauge.write(&mut text)),
        Err(error) => {
            tracing::warn!(
                source = source.name(),
                error = format!("{error:#}"),
                "metrics: a gauge source failed"
            );
            let _ = writeln!(text, "# {} gauges unavailable", source.name());
        }
    }
    text
}

/// A sample's labels: names are ours, values may come from data and are escaped when written.
pub type Labels = Vec<(&'static str, String)>;

/// What a family read at scrape time is, for its `# TYPE` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    /// Only ever grows (read from elsewhere at scrape time, e.g. the process's CPU seconds).
    Counter,
}

/// A family written at scrape time (a gauge, or a counter kept outside this registry).
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
    pub samples: Vec<(Labels, f64)>,
}

impl Gauge {
    pub fn new(name: &'static str, help: &'static str, samples: Vec<(Labels, f64)>) -> Self {
        Gauge {
            name,
            help,
            kind: MetricKind::Gauge,
            samples,
        }
    }

    /// A gauge with one unlabelled sample.
    pub fn single(name: &'static str, help: &'static str, value: f64) -> Self {
        Gauge::new(name, help, vec![(Labels::new(), value)])
    }

    /// A counter with one unlabelled sample.
    pub fn counter(name: &'static str, help: &'static str, value: f64) -> Self {
        Gauge {
            kind: MetricKind::Counter,
            ..Gauge::single(name, help, value)
        }
    }

    pub fn write(&self, out: &mut String) {
        let kind = match self.kind {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        };
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} {kind}",
            self.name, self.help, self.name
        );
        for (labels, value) in &self.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", self.name);
            } else {
                let _ = writeln!(out, "{}{{{}}} {value}", self.name, render_labels(labels));
            }
        }
    }
}

/// `name="value",...` with each value escaped as the text format requires.
fn render_labels(labels: &[(&'static str, String)]) -> String {
    labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escape_label_value(value)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Backslash, double quote and line feed escaped, so a value cannot end its label or its line.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn label_values_cannot_break_out_of_their_quotes() {
        assert_eq!(
            escape_label_value("a\\b\"c\nd"),
            "a\\\\b\\\"c\\nd",
            "backslash, quote and newline are escaped"
        );
        let gauge = Gauge::new(
            "ledger_test",
            "test",
            vec![(vec![("store", "evil\"} 1\nfake 2".into())], 1.0)],
        );
        let mut out = String::new();
        gauge.write(&mut out);
        assert!(
            out.contains("ledger_test{store=\"evil\\\"} 1\\nfake 2\"} 1"),
            "{out}"
        );
        assert_eq!(out.lines().count(), 3, "no line was injected: {out}");
    }

    struct CountingSource(AtomicUsize);

    impl GaugeSource for CountingSource {
        fn name(&self) -> &'static str {
            "counting"
        }

        fn collect(&self) -> GaugeFuture<'_> {
            Box::pin(async move {
                let calls = self.0.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(vec![Gauge::single("ledger_calls", "calls", calls as f64)])
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_scrape_storm_asks_each_source_once_per_interval() {
        let metrics = Arc::new(Metrics::default());
        let source = Arc::new(CountingSource(AtomicUsize::new(0)));
        metrics.register(source.clone());
        let scrapes: Vec<_> = (0..50)
            .map(|_| {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let mut out = String::new();
                    metrics.write_gauges(&mut out).await;
                    out
                })
            })
            .collect();
        for scrape in scrapes {
            assert!(scrape.await.unwrap().contains("ledger_calls 1"));
        }
        assert_eq!(source.0.load(Ordering::SeqCst), 1);

        tokio::time::advance(GAUGE_CACHE_TTL).await;
        let mut out = String::new();
        metrics.write_gauges(&mut out).await;
        assert!(out.contains("ledger_calls 2"), "{out}");
        assert_eq!(source.0.load(Ordering::SeqCst), 2);
    }
}
