//! `GET /api/customers/{id}/cashback`: balance, available, holds and history in one currency.
//!
//! Balance, available and holds come from the inline tables (always current); the history is a
//! projection and honours `?min_position`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use ledger_events::Currency;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

use super::account::read_balance;
use crate::http::auth::{Authorized, CashbackRead};
use crate::http::consistency::{self, MinPosition};
use crate::http::error::ApiError;
use crate::http::extract::{Path, Query};
use crate::state::AppState;

/// History lines answered by default, and at most.
const DEFAULT_HISTORY: i64 = 100;
const MAX_HISTORY: i64 = 1_000;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/customers/{customer_id}/cashback",
        get(customer_cashback),
    )
}

#[derive(Deserialize)]
struct CashbackQuery {
    currency: Option<String>,
    limit: Option<String>,
}

async fn customer_cashback(
    State(state): State<AppState>,
    _auth: Authorized<CashbackRead>,
    Path(customer_id): Path<String>,
    Query(query): Query<CashbackQuery>,
    min_position: MinPosition,
) -> Result<Json<Value>, ApiError> {
    let currency = match query.currency {
        None => state.config.cashback_currency.clone(),
        Some(code) => Currency::new(code.trim())
            .map_err(|error| ApiError::invalid("currency", error.to_string()))?,
    };
    let limit = match query.limit {
        None => DEFAULT_HISTORY,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|limit| (1..=MAX_HISTORY).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid("limit", format!("limit must be 1 to {MAX_HISTORY}"))
            })?,
    };
    let read = consistency::caught_up(&state, "cashback_history", min_position).await?;
    Ok(Json(
        cashback_json(&read.pool, &customer_id, &currency, limit, read.position).await?,
    ))
}

/// The document answered by this route (also served to Mini App users for themselves).
pub async fn cashback_json(
    pool: &PgPool,
    customer_id: &str,
    currency: &Currency,
    history_limit: i64,
    position: i64,
) -> Result<Value, ApiError> {
    let mut connection = pool.acquire().await?;
    let known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM customer_index WHERE customer_id = $1)")
            .bind(customer_id)
            .fetch_one(&mut *connection)
            .await?;
    if !known {
        return Err(ApiError::not_found(
            "user_not_found",
            format!("customer {customer_id:?} not found"),
        ));
    }
    let (balance, held) = read_balance(&mut connection, customer_id, currency).await?;
    let holds = sqlx::query(
        "SELECT hold_id, order_id, amount_minor, status, created_at FROM cashback_holds \
         WHERE customer_id = $1 AND currency = $2 AND status = 'pending' ORDER BY created_at",
    )
    .bind(customer_id)
    .bind(currency.code())
    .fetch_all(&mut *connection)
    .await?
    .iter()
    .map(|row| {
        Ok(json!({
            "hold_id": row.try_get::<String, _>("hold_id")?,
            "order_id": row.try_get::<String, _>("order_id")?,
            "amount": currency.format_minor(row.try_get("amount_minor")?),
            "status": row.try_get::<String, _>("status")?,
            "created_at": row.try_get::<DateTime<Utc>, _>("created_at")?,
        }))
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let history = sqlx::query(
        "SELECT event_id, kind, amount_minor, source, label, description, order_id, store_id, \
                register_id, external_id, created_at \
         FROM cashback_history WHERE customer_id = $1 AND currency = $2 \
         ORDER BY position DESC LIMIT $3",
    )
    .bind(customer_id)
    .bind(currency.code())
    .bind(history_limit)
    .fetch_all(&mut *connection)
    .await?
    .iter()
    .map(|row| history_entry(row, currency))
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(json!({
        "customer_id": customer_id,
        "currency": currency.code(),
        "balance": currency.format_minor(balance),
        "available": currency.format_minor(balance.saturating_sub(held).max(0)),
        "held": currency.format_minor(held),
        "holds": holds,
        "history": history,
        "position": position,
    }))
}

fn history_entry(row: &sqlx::postgres::PgRow, currency: &Currency) -> Result<Value, sqlx::Error> {
    let mut entry = json!({
        "transaction_id": row.try_get::<uuid::Uuid, _>("event_id")?,
        "type": row.try_get::<String, _>("kind")?,
        "amount": currency.format_minor(row.try_get("amount_minor")?),
        "currency": currency.code(),
        "source": row.try_get::<String, _>("source")?,
        "label": row.try_get::<String, _>("label")?,
        "description": row.try_get::<Option<String>, _>("description")?,
        "created_at": row.try_get::<DateTime<Utc>, _>("created_at")?,
    });
    for optional in ["order_id", "store_id", "register_id", "external_id"] {
        if let Some(value) = row.try_get::<Option<String>, _>(optional)? {
            entry[optional] = json!(value);
        }
    }
    Ok(entry)
}
