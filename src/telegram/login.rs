//! `POST /api/telegram/auth` (Mini App login) and `POST /api/telegram/logout`.
//!
//! Login: the Mini App's `initData` is validated with the bot token ([`super::init_data`]);
//! the Telegram user is linked to a customer — found by Telegram id, else created (with the
//! user's name) in the same write that indexes it, so every write can use it at once — and a
//! session token is issued. The phone is never taken from the Mini App: a phone joins a
//! Telegram customer only through the bot, from a contact the user shared
//! ([`super::contact`]), or from the shop's backend (`POST /api/customers`).

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use ledger_events::Source;
use serde_json::{json, Value};

use super::init_data::{self, MAX_INIT_DATA_BYTES};
use crate::customers::register::{self, RegisterCustomer};
use crate::http::auth::MiniAppSession;
use crate::http::body::JsonBody;
use crate::http::error::ApiError;
use crate::http::request::RequestId;
use crate::infra::sessions;
use crate::state::AppState;

/// Longest customer name taken from Telegram (first + last name).
const MAX_NAME_CHARS: usize = 200;

pub async fn login(
    State(state): State<AppState>,
    request_id: RequestId,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let raw = match body.get("init_data") {
        Some(Value::String(raw)) if raw.len() <= MAX_INIT_DATA_BYTES => raw,
        Some(Value::String(_)) => {
            return Err(ApiError::invalid(
                "init_data",
                format!("init_data is longer than {MAX_INIT_DATA_BYTES} bytes"),
            ))
        }
        Some(_) => return Err(ApiError::invalid("init_data", "init_data must be a string")),
        None => return Err(ApiError::invalid("init_data", "init_data is required")),
    };
    let telegram = &state.config.telegram;
    let bot_token = telegram
        .bot_token
        .as_ref()
        .ok_or(ApiError::TelegramClosed)?;
    let validated = init_data::validate(
        raw,
        bot_token.expose(),
        Utc::now().timestamp(),
        telegram.init_data_max_age_s,
    )
    .map_err(|error| {
        tracing::info!(reason = %error, "Mini App login refused");
        ApiError::InitDataRefused {
            code: error.code(),
            message: error.to_string(),
        }
    })?;
    let user = &validated.user;
    let name: String = user.full_name().chars().take(MAX_NAME_CHARS).collect();
    let input = RegisterCustomer {
        phone: None,
        telegram_id: Some(user.id),
        name: (!name.is_empty()).then_some(name),
    };
    let metadata = request_id.metadata(Source::Telegram, format!("telegram:{}", user.id));
    let registration = register::register(&state, &input, &metadata).await?;
    let customer = registration.customer;
    let (token, expires_at) = sessions::create(
        &state.pool,
        &customer.customer_id,
        user.id,
        telegram.session_ttl_s,
    )
    .await?;
    Ok(Json(json!({
        "token": token,
        "expires_at": expires_at,
        "customer_id": customer.customer_id,
        "created": registration.created,
        "user": user,
        "start_param": validated.start_param,
        "position": customer.position,
    })))
}

/// Revokes the presented session at once.
pub async fn logout(
    State(state): State<AppState>,
    MiniAppSession(user): MiniAppSession,
) -> Result<Json<Value>, ApiError> {
    sessions::revoke(&state.pool, &user.token_sha256).await?;
    Ok(Json(json!({ "revoked": true })))
}
