//! `/metrics` in the Prometheus text format.
//!
//! Request counters and latencies are kept in memory; the projection and database gauges are
//! read when scraped, so they are never stale. Gateways add their own gauges through
//! [`GaugeSource`]s registered in `render`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// Upper bounds (seconds) of the request-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<Histogram>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

impl Metrics {
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

    fn write_requests(&self, out: &mut String) {
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

/// Middleware counting every answered request.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.record_request(
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

pub async fn render(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    state.metrics.write_requests(&mut out);
    if let Err(error) = write_database_gauges(&state, &mut out).await {
        tracing::warn!(%error, "metrics: could not read database gauges");
        out.push_str("# database gauges unavailable\n");
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}

/// A gauge family written at scrape time.
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    /// (labels as `key="value",...`, value)
    pub samples: Vec<(String, f64)>,
}

impl Gauge {
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

async fn write_database_gauges(state: &AppState, out: &mut String) -> anyhow::Result<()> {
    let statuses = ledger_projections::status::projection_statuses(&state.pool).await?;
    let per_projection =
        |name, help, value: &dyn Fn(&ledger_projections::status::ProjectionStatus) -> f64| Gauge {
            name,
            help,
            samples: statuses
                .iter()
                .map(|status| (format!("projection=\"{}\"", status.name), value(status)))
                .collect(),
        };
    per_projection(
        "ledger_projection_lag_events",
        "Committed events a projection has not consumed yet.",
        &|s| s.lag_events as f64,
    )
    .write(out);
    per_projection(
        "ledger_projection_lag_seconds",
        "Age of the oldest event a projection has not consumed yet.",
        &|s| s.lag_seconds,
    )
    .write(out);
    per_projection(
        "ledger_projection_position",
        "Highest log position a projection has applied.",
        &|s| s.position as f64,
    )
    .write(out);
    per_projection(
        "ledger_projection_failing",
        "1 when the projection's last batch failed.",
        &|s| if s.last_error.is_some() { 1.0 } else { 0.0 },
    )
    .write(out);
    Gauge {
        name: "ledger_xmin_horizon_age_seconds",
        help: "Age of the oldest open write transaction; it holds every projection back.",
        samples: vec![(
            String::new(),
            ledger_projections::status::xmin_horizon_age_seconds(&state.pool).await?,
        )],
    }
    .write(out);
    Gauge {
        name: "ledger_event_log_head_position",
        help: "Highest position assigned in the event log.",
        samples: vec![(String::new(), state.store.head_position().await? as f64)],
    }
    .write(out);
    crate::onec::monitoring::write_gauges(state, out).await?;
    Ok(())
}
