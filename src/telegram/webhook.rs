//! `POST /api/telegram/webhook`: Bot API updates.
//!
//! Checks in order: the `X-Telegram-Bot-Api-Secret-Token` header against
//! `LEDGER_TELEGRAM_WEBHOOK_SECRET` in constant time (missing, wrong, or no secret configured:
//! 401, nothing recorded); the body (400); then the update, once per `update_id` — a
//! redelivered update is answered 200 and does nothing again. Updates we do not act on are
//! recorded as handled and answered 200, so Telegram stops sending them.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::Json;
use ledger_events::Source;
use serde_json::{json, Value};

use super::bot_api::BotApi;
use super::charges::{self, Handled, ReceiveCharge, RefundCharge};
use super::contact::LinkSharedPhone;
use super::pre_checkout;
use super::updates::{Kind, PreCheckoutQuery, Update};
use crate::command;
use crate::http::body::parse_json;
use crate::http::error::ApiError;
use crate::http::request::RequestId;
use crate::http::router::BODY_LIMIT_BYTES;
use crate::infra::security::secrets_match;
use crate::state::AppState;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

pub async fn webhook(
    State(state): State<AppState>,
    request_id: RequestId,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (parts, body) = request.into_parts();
    authenticate(&state, &parts.headers)?;
    let bytes = axum::body::to_bytes(body, BODY_LIMIT_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let body = parse_json(&bytes)?;
    let update = Update::read(body).map_err(|error| ApiError::InvalidRequest {
        field: None,
        message: format!("not a Bot API update: {error}"),
    })?;
    let kind = update.kind();
    let metadata = request_id
        .metadata(Source::Telegram, "telegram")
        .with_raw_body(&bytes);
    let handled = match &kind {
        Kind::PreCheckout(query) => answer_pre_checkout(&state, update.update_id, query).await?,
        Kind::Paid { payer, charge } => {
            let command = ReceiveCharge {
                update_id: update.update_id,
                payer: *payer,
                charge,
                metadata: &metadata,
            };
            command::execute(&state, &command).await?
        }
        Kind::Refunded { charge } => {
            let command = RefundCharge {
                update_id: update.update_id,
                charge,
                metadata: &metadata,
            };
            command::execute(&state, &command).await?
        }
        Kind::OwnContact { telegram_id, phone } => {
            let metadata = request_id
                .metadata(Source::Telegram, format!("telegram:{telegram_id}"))
                .with_raw_body(&bytes);
            let command = LinkSharedPhone {
                update_id: update.update_id,
                telegram_id: *telegram_id,
                phone,
                metadata: &metadata,
            };
            command::execute(&state, &command).await?
        }
        Kind::Ignored(what) => {
            let mut connection = state.pool.acquire().await?;
            charges::record(&mut connection, update.update_id, what).await?;
            Handled::Now { position: None }
        }
    };
    Ok(Json(match handled {
        Handled::Now { position } => {
            json!({"ok": true, "update": kind.name(), "duplicate": false, "position": position})
        }
        Handled::Before => json!({"ok": true, "update": kind.name(), "duplicate": true}),
    }))
}

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = state.config.telegram.webhook_secret.as_ref();
    let presented = headers
        .get(SECRET_HEADER)
        .and_then(|value| value.to_str().ok());
    match (expected, presented) {
        (Some(expected), Some(presented)) if secrets_match(expected.expose(), presented) => Ok(()),
        _ => {
            tracing::warn!("Telegram webhook call without the right secret token; refused");
            Err(ApiError::Unauthorized)
        }
    }
}

/// Decides and answers through `answerPreCheckoutQuery` within Telegram's 10 s. A failure to
/// answer is logged, not retried: a redelivery would come too late to matter, and no money
/// moves without a yes.
async fn answer_pre_checkout(
    state: &AppState,
    update_id: i64,
    query: &PreCheckoutQuery,
) -> Result<Handled, ApiError> {
    let started = Instant::now();
    let mut connection = state.pool.acquire().await?;
    if charges::seen(&mut connection, update_id).await? {
        return Ok(Handled::Before);
    }
    drop(connection);
    let bot = BotApi::of(state).ok_or(ApiError::TelegramClosed)?;
    let refusal = pre_checkout::check(state, query).await?;
    if let Some(reason) = &refusal {
        tracing::info!(order_id = %query.invoice_payload, reason, "pre-checkout refused");
    }
    if let Err(error) = bot
        .answer_pre_checkout_query(&query.id, refusal.as_deref(), pre_checkout::ANSWER_TIMEOUT)
        .await
    {
        tracing::warn!(%error, elapsed_ms = started.elapsed().as_millis() as u64,
            "could not answer a pre-checkout query");
    }
    let mut connection = state.pool.acquire().await?;
    charges::record(&mut connection, update_id, "pre_checkout_query").await?;
    Ok(Handled::Now { position: None })
}
