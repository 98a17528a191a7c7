//! `/metrics` in the Prometheus text format, and the middleware that counts requests.
//!
//! Request counters live in the process's [`Metrics`](crate::infra::metrics::Metrics) registry;
//! every other gauge comes from the [`GaugeSource`](crate::infra::metrics::GaugeSource)s
//! registered at start, asked at scrape time (cached a few seconds). This module knows no area.
//!
//! Request labels come from closed sets: the method from the standard ones (else `OTHER`) and
//! the route's template (`/api/orders/{order_id}`, `unmatched` when no route matched), so a
//! client sending invented methods or random paths cannot grow the number of series.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// The `route` label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Middleware counting every answered request.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.record_request(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The method as a label: one of the standard methods, or `OTHER`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("OTHER", Method::as_str)
}

pub async fn render(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    state.metrics.write_requests(&mut out);
    state.metrics.write_recorded(&mut out);
    state.metrics.write_gauges(&mut out).await;
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}
