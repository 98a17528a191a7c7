//! The one error type of our own API, mapped to HTTP in exactly one place.
//!
//! Every variant has a stable machine `error` code and a human `message`; some carry details
//! (`field`, `status`, `balance`, ...) that are added to the same JSON object. Internal errors
//! are logged with the request's id and never shown.

use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::command::CommandFailure;
use crate::infra::database;
use crate::rejection::Rejection;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no credential, or one we do not know.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// 401 `unauthorized` on a page a browser opens (the operator page): asks for HTTP Basic
    /// credentials with `WWW-Authenticate`, so the browser shows its login prompt.
    #[error("the admin token is required, as a bearer token or as the Basic-auth password")]
    LoginRequired,
    /// 401 `invalid_init_data` / `init_data_expired`: a Mini App's Telegram `initData` was
    /// refused (`code` says which).
    #[error("{message}")]
    InitDataRefused { code: &'static str, message: String },
    /// 403: a known credential without the scope the route needs.
    #[error("this credential lacks the {scope} scope")]
    Forbidden { scope: &'static str },
    /// 404 with a route-specific code (`not_found`, `order_not_found`, `user_not_found`,
    /// `operation_not_found`).
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 400: the body or query is malformed; `field` names the offending input when known.
    #[error("{message}")]
    InvalidRequest {
        field: Option<String>,
        message: String,
    },
    /// 400
    #[error("{field} is not a valid phone number (Russia: 7XXXXXXXXXX, Uzbekistan: 998XXXXXXXXX)")]
    InvalidPhone { field: String },
    /// 400
    #[error("{field}: {message}")]
    InvalidAmount { field: String, message: String },
    /// 422 `invalid_request`: each field is well-formed, but the rules forbid the combination
    /// (e.g. a guest order redeeming cashback).
    #[error("{message}")]
    Unprocessable { field: String, message: String },
    /// 409: the same client key was used before with different content.
    #[error("{message}")]
    IdempotencyConflict { message: String },
    /// 409: the command does not apply in the entity's current state.
    #[error("{message}")]
    InvalidState { status: String, message: String },
    /// 409: a phone and a Telegram id that belong to two different customers.
    #[error("{message}")]
    CustomerConflict { message: String },
    /// 409: a reference to an operation of another customer or of the wrong kind.
    #[error("{message}")]
    InvalidReference { message: String },
    /// 409: `?min_position` not reached within the wait.
    #[error("the projection has not reached position {min_position} yet")]
    NotCaughtUp { min_position: i64 },
    /// 422: `balance` and `requested` as decimal strings.
    #[error("insufficient cashback: {requested} requested, {available} available")]
    InsufficientBalance {
        balance: String,
        available: String,
        requested: String,
    },
    /// 422
    #[error("the amount exceeds what remains of the referenced operation ({remaining})")]
    ExceedsRemaining { remaining: String },
    /// 405
    #[error("this route does not accept that HTTP method")]
    MethodNotAllowed,
    /// 413
    #[error("the request body is too large (limit: 1 MiB; 16 MiB for 1C batches)")]
    PayloadTooLarge,
    /// 408: the request was not received and answered within the whole-request time-out.
    #[error("the request was not completed within {seconds} s")]
    RequestTimeout { seconds: u64 },
    /// 429 with `Retry-After`: this caller already has as much work in flight as it may.
    #[error("{message}")]
    TooManyRequests { message: String },
    /// 503 with `Retry-After`: the server is at its limit; shed at once rather than queued.
    #[error("the server is handling as many {what} as it may; retry shortly")]
    Overloaded { what: &'static str },
    /// 503
    #[error("{message}")]
    FxUnavailable { message: String },
    /// 503 with `Retry-After`: the database cannot serve the request now (restarting,
    /// unreachable, read-only, full, every connection busy, a statement cancelled as too long).
    #[error("the database is unavailable: {reason}; retry shortly")]
    DatabaseUnavailable { reason: &'static str },
    /// 502 `telegram_api_error`: the Telegram Bot API refused a call or could not be reached
    /// (`message` carries Telegram's own description, never the bot token).
    #[error("the Telegram Bot API failed: {message}")]
    TelegramApi { message: String },
    /// 503 `telegram_closed`: the route needs `LEDGER_TELEGRAM_BOT_TOKEN`, which is not set.
    #[error("Telegram is not configured on this server")]
    TelegramClosed,
    /// 502 `crystalpay_api_error`: the CrystalPay API refused a call (`message` carries its own
    /// error text), answered something we could not read, or could not be reached in time.
    #[error("{message}")]
    CrystalPayApi { message: String },
    /// 503 `crystalpay_closed`: the route needs the CrystalPay credentials, which are not set.
    #[error("CrystalPay is not configured on this server")]
    CrystalPayClosed,
    /// 500 `internal`: a handler panicked; the panic is logged with the request id.
    #[error("internal error (a handler panicked)")]
    Panicked,
    /// 500: logged, never detailed to the client.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// Seconds a shed or throttled client is asked to wait (`Retry-After`).
pub const RETRY_AFTER_SECONDS: u64 = 1;

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(error.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::LoginRequired | ApiError::InitDataRefused { .. } => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::InvalidRequest { .. }
            | ApiError::InvalidPhone { .. }
            | ApiError::InvalidAmount { .. } => StatusCode::BAD_REQUEST,
            ApiError::IdempotencyConflict { .. }
            | ApiError::InvalidState { .. }
            | ApiError::CustomerConflict { .. }
            | ApiError::InvalidReference { .. }
            | ApiError::NotCaughtUp { .. } => StatusCode::CONFLICT,
            ApiError::InsufficientBalance { .. }
            | ApiError::ExceedsRemaining { .. }
            | ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. }
            | ApiError::FxUnavailable { .. }
            | ApiError::DatabaseUnavailable { .. }
            | ApiError::TelegramClosed
            | ApiError::CrystalPayClosed => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TelegramApi { .. } | ApiError::CrystalPayApi { .. } => {
                StatusCode::BAD_GATEWAY
            }
            ApiError::Panicked | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `Retry-After` seconds, for answers that ask the client to come back.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyRequests { .. }
            | ApiError::Overloaded { .. }
            | ApiError::DatabaseUnavailable { .. } => Some(RETRY_AFTER_SECONDS),
            _ => None,
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized | ApiError::LoginRequired => "unauthorized",
            ApiError::InitDataRefused { code, .. } => code,
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound { code, .. } => code,
            ApiError::InvalidRequest { .. } | ApiError::Unprocessable { .. } => "invalid_request",
            ApiError::InvalidPhone { .. } => "invalid_phone",
            ApiError::InvalidAmount { .. } => "invalid_amount",
            ApiError::IdempotencyConflict { .. } => "idempotency_conflict",
            ApiError::InvalidState { .. } => "invalid_state",
            ApiError::CustomerConflict { .. } => "customer_conflict",
            ApiError::InvalidReference { .. } => "invalid_reference",
            ApiError::NotCaughtUp { .. } => "not_caught_up",
            ApiError::InsufficientBalance { .. } => "insufficient_balance",
            ApiError::ExceedsRemaining { .. } => "exceeds_remaining",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::RequestTimeout { .. } => "request_timeout",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::FxUnavailable { .. } => "fx_unavailable",
            ApiError::DatabaseUnavailable { .. } => "database_unavailable",
            ApiError::TelegramApi { .. } => "telegram_api_error",
            ApiError::TelegramClosed => "telegram_closed",
            ApiError::CrystalPayApi { .. } => "crystalpay_api_error",
            ApiError::CrystalPayClosed => "crystalpay_closed",
            ApiError::Panicked | ApiError::Internal(_) => "internal",
        }
    }

    /// The JSON object answered: `{error, message, ...details}`.
    pub fn body(&self) -> Map<String, Value> {
        let message = match self {
            ApiError::Panicked | ApiError::Internal(_) => {
                "internal error; the server log has the details".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = Map::new();
        body.insert("error".into(), json!(self.code()));
        body.insert("message".into(), json!(message));
        let mut detail = |key: &str, value: Value| {
            body.insert(key.into(), value);
        };
        match self {
            ApiError::InvalidRequest {
                field: Some(field), ..
            }
            | ApiError::InvalidPhone { field }
            | ApiError::InvalidAmount { field, .. }
            | ApiError::Unprocessable { field, .. } => detail("field", json!(field)),
            ApiError::Forbidden { scope } => detail("scope", json!(scope)),
            ApiError::InvalidState { status, .. } => detail("status", json!(status)),
            ApiError::InsufficientBalance {
                balance,
                available,
                requested,
            } => {
                detail("balance", json!(balance));
                detail("available", json!(available));
                detail("requested", json!(requested));
            }
            ApiError::ExceedsRemaining { remaining } => detail("remaining", json!(remaining)),
            ApiError::NotCaughtUp { min_position } => detail("min_position", json!(min_position)),
            _ => {}
        }
        body
    }
}

impl ApiError {
    /// An internal error whose cause is the database being unavailable becomes 503
    /// `database_unavailable` (retryable), wherever in the code it was wrapped.
    fn refined(self) -> Self {
        match self {
            ApiError::Internal(error) => match database::unavailability_in(&error) {
                Some(reason) => {
                    tracing::warn!(reason, error = format!("{error:#}"), "database unavailable");
                    ApiError::DatabaseUnavailable { reason }
                }
                None => ApiError::Internal(error),
            },
            other => other,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.refined();
        if let ApiError::Internal(cause) = &error {
            tracing::error!(
                error = format!("{cause:#}"),
                "internal error answering a request"
            );
        }
        let mut response = (error.status(), Json(Value::Object(error.body()))).into_response();
        if let ApiError::LoginRequired = error {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ledger\""),
            );
        }
        if let Some(seconds) = error.retry_after() {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::Internal(error.into())
    }
}

/// The one mapping of the domain's refusals to HTTP.
impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        let message = rejection.to_string();
        match rejection {
            Rejection::OrderNotFound { .. }
            | Rejection::CustomerNotFound { .. }
            | Rejection::UserNotFound { .. }
            | Rejection::OperationNotFound { .. } => ApiError::NotFound {
                code: rejection.code(),
                message,
            },
            Rejection::InvalidState { status, message } => {
                ApiError::InvalidState { status, message }
            }
            Rejection::IdempotencyConflict { message } => ApiError::IdempotencyConflict { message },
            Rejection::CustomerConflict { message } => ApiError::CustomerConflict { message },
            Rejection::InvalidReference { message } => ApiError::InvalidReference { message },
            Rejection::InsufficientBalance {
                currency,
                balance_minor,
                available_minor,
                requested_minor,
            } => ApiError::InsufficientBalance {
                balance: currency.format_minor(balance_minor),
                available: currency.format_minor(available_minor),
                requested: currency.format_minor(requested_minor),
            },
            Rejection::ExceedsRemaining {
                currency,
                remaining_minor,
            } => ApiError::ExceedsRemaining {
                remaining: currency.format_minor(remaining_minor),
            },
            Rejection::InvalidAmount { field, message } => {
                ApiError::InvalidAmount { field, message }
            }
            Rejection::InvalidRequest { field, message } => {
                ApiError::Unprocessable { field, message }
            }
            Rejection::FxUnavailable { message } => ApiError::FxUnavailable { message },
        }
    }
}

impl From<CommandFailure> for ApiError {
    fn from(failure: CommandFailure) -> Self {
        match failure {
            CommandFailure::Rejected(rejection) => rejection.into(),
            CommandFailure::Internal(error) => ApiError::Internal(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_body_has_code_and_message() {
        let error = ApiError::InsufficientBalance {
            balance: "5.00".into(),
            available: "5.00".into(),
            requested: "7.00".into(),
        };
        let body = error.body();
        assert_eq!(body["error"], "insufficient_balance");
        assert_eq!(body["requested"], "7.00");
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["message"].as_str().unwrap().contains("7.00"));
    }

    #[test]
    fn shed_and_throttled_answers_say_when_to_retry() {
        for error in [
            ApiError::Overloaded { what: "requests" },
            ApiError::TooManyRequests {
                message: "busy".into(),
            },
        ] {
            let response = error.into_response();
            assert!(response.headers().contains_key(RETRY_AFTER));
        }
        let response = ApiError::RequestTimeout { seconds: 30 }.into_response();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(!response.headers().contains_key(RETRY_AFTER));
    }

    #[test]
    fn internal_errors_leak_nothing() {
        let error = ApiError::internal(anyhow::anyhow!("password=secret at db"));
        let body = error.body();
        assert_eq!(body["error"], "internal");
        assert!(!body["message"].as_str().unwrap().contains("secret"));
    }
}
