//! Guards every route gets (wired by `router::build`): load shedding beyond the concurrent-request
//! limit, the whole-request time-out, and panics answered as JSON 500.
//!
//! Each answers in our error format with a stable code, so a client can tell "come back later"
//! (`overloaded`, 503 with `Retry-After`), "too slow" (`request_timeout`, 408) and "our bug"
//! (`internal`, 500) apart from the answer alone.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;

use super::error::ApiError;
use crate::state::AppState;

/// Beyond `LEDGER_MAX_CONCURRENT_REQUESTS` requests in flight, answers 503 `overloaded` at once:
/// nothing queues, so a flood costs a refusal each rather than memory and latency for everyone.
pub async fn shed_load(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(_slot) = state.admission.try_request() else {
        return ApiError::Overloaded { what: "requests" }.into_response();
    };
    next.run(request).await
}

/// Answers 408 `request_timeout` when a request (its body included) is not answered within
/// `LEDGER_REQUEST_TIMEOUT_S`. The handler is dropped: a transaction it had open rolls back, and
/// writes are idempotent, so the client may retry.
pub async fn time_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.config.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?limit, "request timed out");
            ApiError::RequestTimeout {
                seconds: limit.as_secs(),
            }
            .into_response()
        }
    }
}

/// A panicking handler answers 500 `internal` with no detail; the panic is logged with the
/// request's id. (`/api/payme` catches its own panics first and answers in JSON-RPC.)
pub async fn answer_panics(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            tracing::error!(
                request_id,
                panic = panic_message(panic.as_ref()),
                "a handler panicked; answered 500"
            );
            ApiError::Panicked.into_response()
        }
    }
}

/// The text a panic was raised with, when it has one.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
