//! `POST /api/payme` (JSON-RPC, always HTTP 200) and `GET /api/reports/payme/statement`.
//!
//! The order of checks on `/api/payme`: the HTTP method (-32300); the body, read here with its
//! own 1 MiB limit (too large: -32600) and parsed as JSON (-32700), so that every later error
//! echoes the request's `id`; the credentials (-32504); the envelope (-32600, -32601); the
//! parameters (-32600); then the method's own rules. Nothing of our REST API's error format ever
//! leaves this route, and a panic is answered -32400 too.

use std::any::Any;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method as HttpMethod};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};
use ledger_events::Source;
use serde_json::Value;
use tower_http::catch_panic::CatchPanicLayer;

use super::answers::MethodResult;
use super::error::PaymeError;
use super::keys::KeyRing;
use super::methods::{self, Context};
use super::{protocol, report};
use crate::http::body;
use crate::http::request::RequestId;
use crate::http::router::BODY_LIMIT_BYTES;
use crate::state::AppState;

/// Answers are JSON (UTF-8: the Russian and Uzbek messages need it).
const JSON_UTF8: &str = "application/json; charset=utf-8";

pub fn router() -> Router<AppState> {
    let keys = Arc::new(KeyRing::default());
    Router::new()
        .route(
            "/api/payme",
            any(endpoint).layer(CatchPanicLayer::custom(answer_panic)),
        )
        .route(
            "/api/reports/payme/statement",
            get(report::statement_report),
        )
        .layer(Extension(keys))
}

async fn endpoint(
    State(state): State<AppState>,
    Extension(keys): Extension<Arc<KeyRing>>,
    request_id: RequestId,
    request: Request,
) -> Response {
    tracing::Span::current().record("provider", "payme");
    let (id, outcome) = answer(&state, &keys, &request_id, request).await;
    json_response(protocol::render(
        &outcome,
        &id,
        &state.config.payme_account_field,
    ))
}

/// The request's `id` (null until the body is parsed) and the outcome.
async fn answer(
    state: &AppState,
    keys: &KeyRing,
    request_id: &RequestId,
    request: Request,
) -> (Value, Result<MethodResult, PaymeError>) {
    let (parts, body) = request.into_parts();
    if parts.method != HttpMethod::POST {
        return (Value::Null, Err(PaymeError::NotPost));
    }
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT_BYTES).await else {
        return (Value::Null, Err(PaymeError::invalid("body")));
    };
    let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
        return (Value::Null, Err(PaymeError::ParseError));
    };
    let id = protocol::request_id(&json);
    // Text holding NUL could be stored nowhere (PostgreSQL refuses it): a malformed request.
    if body::holds_nul(&json) {
        return (id, Err(PaymeError::invalid("request")));
    }
    let outcome = async {
        let caller = keys.authorize(&state.store, &parts.headers).await?;
        let call = protocol::read_call(&json)?;
        let metadata = request_id
            .metadata(Source::Payme, "payme")
            .with_raw_body(&bytes);
        let context = Context {
            state,
            keys,
            caller: &caller,
            metadata: &metadata,
        };
        methods::dispatch(&context, &call).await
    }
    .await;
    (id, outcome)
}

fn json_response(body: Vec<u8>) -> Response {
    let mut response = Body::from(body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    response
}

/// A bug must not turn into an HTTP 500 that Payme reads as an outage of the whole shop.
fn answer_panic(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("the Payme endpoint panicked; answered -32400");
    json_response(protocol::render(
        &Err(PaymeError::Internal),
        &Value::Null,
        "",
    ))
}
