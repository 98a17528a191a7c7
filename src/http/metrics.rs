//! `/metrics` in the Prometheus text format, and the middleware that counts requests.
//!
//! Request counters live in the process's [`Metrics`] registry; every other gauge comes from the
//! [`GaugeSource`](crate::infra::metrics::GaugeSource)s registered at start, asked at scrape time.
//! This module knows no area.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

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
    for source in state.metrics.sources() {
        match source.collect().await {
            Ok(gauges) => gauges.iter().for_each(|gauge| gauge.write(&mut out)),
            Err(error) => {
                tracing::warn!(
                    source = source.name(),
                    error = format!("{error:#}"),
                    "metrics: a gauge source failed"
                );
                out.push_str(&format!("# {} gauges unavailable\n", source.name()));
            }
        }
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}
