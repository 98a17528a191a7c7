//! Wraps the areas' routes (joined by `app.rs`) in the shared layers: request ids, tracing
//! spans, metrics, panics answered as JSON, load shedding, the whole-request time-out, the body
//! size limit, and JSON answers for unknown routes. Knows no area.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{HeaderName, Request, Response};
use axum::routing::get;
use axum::{middleware, Router};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::error::ApiError;
use super::{guards, health, metrics, openapi};
use crate::state::AppState;

/// Default request body limit (1 MiB); the 1C batch route raises its own.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// The whole router: the plumbing's own routes, `areas`, and the shared layers. Tests build it
/// around routes of their own (a handler that panics) to check what every route gets.
///
/// Layers, outermost first: request id and tracing span; metrics (so shed, timed-out and
/// panicked requests are counted); panics → 500; load shedding; the time-out; the body limit.
/// They wrap each route (after routing), so the metrics see the matched route's template.
pub fn build(state: AppState, areas: Router<AppState>) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::document))
        .merge(areas)
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guards::time_limit,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guards::shed_load,
        ))
        .layer(middleware::from_fn(guards::answer_panics))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_request(())
                        .on_response(log_response),
                )
                .layer(PropagateRequestIdLayer::new(request_id)),
        )
        .with_state(state)
}

/// The span every log line of a request carries: method, route template, path, request id, and
/// the store or provider once an extractor knows it (recorded into the empty fields).
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        path = %request.uri().path(),
        request_id = %id,
        store = tracing::field::Empty,
        provider = tracing::field::Empty,
    )
}

/// Requests slower than this are logged at `info` even when they succeed.
const SLOW_REQUEST: Duration = Duration::from_secs(1);

/// One line per answer: `debug` for ordinary ones (an access log costs CPU on every request;
/// `RUST_LOG=info,ledger::http=debug` turns it on), `info` for slow ones, `warn` for 5xx.
fn log_response<B>(response: &Response<B>, latency: Duration, _span: &tracing::Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::warn!(status, latency_ms, "answered");
    } else if latency >= SLOW_REQUEST {
        tracing::info!(status, latency_ms, "answered slowly");
    } else {
        tracing::debug!(status, latency_ms, "answered");
    }
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
