//! The Mini App's own routes, with a session token: `GET /api/me`, `GET /api/me/orders`,
//! `GET /api/me/cashback`, and `GET /api/me/orders/{id}/payment-status` (which the shop's
//! backend may also call with `orders:read`).
//!
//! A session sees only its own customer: another customer's order is answered 404 exactly like
//! an order that does not exist, so a session cannot learn which ids exist.

use axum::extract::State;
use axum::Json;
use ledger_events::Currency;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cashback::routes::cashback_json;
use crate::customers::state as customer_state;
use crate::http::auth::{MiniAppSession, OrdersRead, ShopOrMiniApp};
use crate::http::consistency::{self, MinPosition};
use crate::http::error::ApiError;
use crate::http::extract::{Path, Query};
use crate::orders::view;
use crate::state::AppState;

const DEFAULT_ORDERS: i64 = 50;
const DEFAULT_HISTORY: i64 = 100;
const MAX_HISTORY: i64 = 1_000;

/// `GET /api/me`: the session's customer, from its own stream (current even right after the
/// login that created it).
pub async fn me(
    State(state): State<AppState>,
    MiniAppSession(user): MiniAppSession,
) -> Result<Json<Value>, ApiError> {
    let mut connection = state.pool.acquire().await?;
    let customer = customer_state::load(&state, &mut connection, &user.customer_id)
        .await
        .map_err(|error| ApiError::internal(anyhow::anyhow!("{error:?}")))?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "a session names customer {}, whose stream is empty",
                user.customer_id
            ))
        })?;
    Ok(Json(json!({
        "customer_id": customer.customer_id,
        "telegram_id": user.telegram_id,
        "phone": customer.phone,
        "name": customer.name,
        "session_expires_at": user.expires_at,
        "position": customer.position,
    })))
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    currency: Option<String>,
}

fn limit(text: Option<String>, default: i64, max: i64) -> Result<i64, ApiError> {
    match text {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|limit| (1..=max).contains(limit))
            .ok_or_else(|| ApiError::invalid("limit", format!("limit must be 1 to {max}"))),
    }
}

/// `GET /api/me/orders[?limit=N][&min_position=N]`: newest first.
pub async fn my_orders(
    State(state): State<AppState>,
    MiniAppSession(user): MiniAppSession,
    Query(query): Query<ListQuery>,
    min_position: MinPosition,
) -> Result<Json<Value>, ApiError> {
    let limit = limit(query.limit, DEFAULT_ORDERS, view::MAX_ORDER_LIST)?;
    let read = consistency::caught_up(&state, "orders", min_position).await?;
    let orders = view::customer_orders_json(&read.pool, &user.customer_id, limit).await?;
    Ok(Json(json!({ "orders": orders, "position": read.position })))
}

/// `GET /api/me/cashback[?currency=XXX][&limit=N][&min_position=N]`.
pub async fn my_cashback(
    State(state): State<AppState>,
    MiniAppSession(user): MiniAppSession,
    Query(query): Query<ListQuery>,
    min_position: MinPosition,
) -> Result<Json<Value>, ApiError> {
    let currency = match query.currency {
        None => state.config.cashback_currency.clone(),
        Some(code) => Currency::new(code.trim())
            .map_err(|error| ApiError::invalid("currency", error.to_string()))?,
    };
    let limit = limit(query.limit, DEFAULT_HISTORY, MAX_HISTORY)?;
    let read = consistency::caught_up(&state, "cashback_history", min_position).await?;
    Ok(Json(
        cashback_json(
            &read.pool,
            &user.customer_id,
            &currency,
            limit,
            read.position,
        )
        .await?,
    ))
}

/// `GET /api/me/orders/{order_id}/payment-status[?min_position=N]`: what a Mini App asks when
/// it is opened again by a `startapp` link after a payment. Answered from the server's own
/// state only — a `startapp` payload or a client's "paid" is never proof of payment.
pub async fn payment_status(
    State(state): State<AppState>,
    caller: ShopOrMiniApp<OrdersRead>,
    Path(order_id): Path<String>,
    min_position: MinPosition,
) -> Result<Json<Value>, ApiError> {
    let read = consistency::caught_up(&state, "orders", min_position).await?;
    let not_found =
        || ApiError::not_found("order_not_found", format!("order {order_id:?} not found"));
    let order = view::order_json(&read.pool, &order_id)
        .await?
        .ok_or_else(not_found)?;
    if !caller.may_act_for(order["customer_id"].as_str()) {
        return Err(not_found());
    }
    let status = order["status"].as_str().unwrap_or_default().to_owned();
    Ok(Json(json!({
        "order_id": order["order_id"],
        "status": status,
        "paid": matches!(status.as_str(), "paid" | "completed"),
        "final": status != "awaiting_payment",
        "amount": order["amount"],
        "currency": order["currency"],
        "payments": order["payments"],
        "flags": order["flags"],
        "position": read.position,
    })))
}
