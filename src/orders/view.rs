//! Reading an order from the `orders` projection (`GET /api/orders/{id}`).

use chrono::{DateTime, Utc};
use ledger_events::domain::OrderItem;
use ledger_events::Currency;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

use crate::http::error::ApiError;

/// The order as API clients see it, or None when the projection does not know it.
pub async fn order_json(pool: &PgPool, order_id: &str) -> Result<Option<Value>, ApiError> {
    let Some(row) = sqlx::query(
        "SELECT order_id, external_id, customer_id, status, currency, items_total_minor, \
                cashback_redeemed_minor, amount_minor, items, fx, flags, created_at, updated_at, expires_at \
         FROM orders_view WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let currency = Currency::recorded(row.try_get::<String, _>("currency")?.as_str())
        .map_err(ApiError::internal)?;
    let items: Vec<OrderItem> =
        serde_json::from_value(row.try_get("items")?).map_err(ApiError::internal)?;
    let money = |column: &str| -> Result<String, ApiError> {
        Ok(currency.format_minor(row.try_get::<i64, _>(column)?))
    };
    Ok(Some(json!({
        "order_id": row.try_get::<String, _>("order_id")?,
        "external_id": row.try_get::<String, _>("external_id")?,
        "status": row.try_get::<String, _>("status")?,
        "amount": money("amount_minor")?,
        "items_total": money("items_total_minor")?,
        "cashback_redeemed": money("cashback_redeemed_minor")?,
        "currency": currency.code(),
        "customer_id": row.try_get::<Option<String>, _>("customer_id")?,
        "items": items.iter().map(|item| item_json(item, &currency)).collect::<Vec<_>>(),
        "fx": row.try_get::<Option<Value>, _>("fx")?,
        "payments": payments_json(pool, order_id).await?,
        "flags": row.try_get::<Vec<String>, _>("flags")?,
        "created_at": row.try_get::<DateTime<Utc>, _>("created_at")?,
        "updated_at": row.try_get::<DateTime<Utc>, _>("updated_at")?,
        "expires_at": row.try_get::<DateTime<Utc>, _>("expires_at")?,
    })))
}

pub fn item_json(item: &OrderItem, currency: &Currency) -> Value {
    json!({
        "sku": item.sku,
        "title": item.title,
        "qty": item.qty,
        "price": currency.format_minor(item.price_minor),
        "vat_percent": item.vat_percent.map(|vat| vat.normalize().to_string()),
        "ikpu_code": item.ikpu_code,
        "package_code": item.package_code,
    })
}

async fn payments_json(pool: &PgPool, order_id: &str) -> Result<Vec<Value>, ApiError> {
    let rows = sqlx::query(
        "SELECT provider, provider_id, state, amount_minor, currency, created_at, updated_at \
         FROM order_payments WHERE order_id = $1 ORDER BY created_at, provider_id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let currency = Currency::recorded(row.try_get::<String, _>("currency")?.as_str())
                .map_err(ApiError::internal)?;
            Ok(json!({
                "provider": row.try_get::<String, _>("provider")?,
                "provider_id": row.try_get::<String, _>("provider_id")?,
                "state": row.try_get::<String, _>("state")?,
                "amount": currency.format_minor(row.try_get("amount_minor")?),
                "currency": currency.code(),
                "created_at": row.try_get::<DateTime<Utc>, _>("created_at")?,
                "updated_at": row.try_get::<DateTime<Utc>, _>("updated_at")?,
            }))
        })
        .collect()
}

/// Most orders one list answers.
pub const MAX_ORDER_LIST: i64 = 200;

/// A customer's orders, newest first, as summaries (without items and payments; the order's
/// own route has them): what a Mini App user sees of their orders.
pub async fn customer_orders_json(
    pool: &PgPool,
    customer_id: &str,
    limit: i64,
) -> Result<Vec<Value>, ApiError> {
    let rows = sqlx::query(
        "SELECT order_id, external_id, status, currency, items_total_minor, \
                cashback_redeemed_minor, amount_minor, flags, created_at, updated_at, expires_at \
         FROM orders_view WHERE customer_id = $1 ORDER BY created_at DESC, order_id LIMIT $2",
    )
    .bind(customer_id)
    .bind(limit.clamp(1, MAX_ORDER_LIST))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let currency = Currency::recorded(row.try_get::<String, _>("currency")?.as_str())
                .map_err(ApiError::internal)?;
            let money = |column: &str| -> Result<String, ApiError> {
                Ok(currency.format_minor(row.try_get::<i64, _>(column)?))
            };
            Ok(json!({
                "order_id": row.try_get::<String, _>("order_id")?,
                "external_id": row.try_get::<String, _>("external_id")?,
                "status": row.try_get::<String, _>("status")?,
                "amount": money("amount_minor")?,
                "items_total": money("items_total_minor")?,
                "cashback_redeemed": money("cashback_redeemed_minor")?,
                "currency": currency.code(),
                "flags": row.try_get::<Vec<String>, _>("flags")?,
                "created_at": row.try_get::<DateTime<Utc>, _>("created_at")?,
                "updated_at": row.try_get::<DateTime<Utc>, _>("updated_at")?,
                "expires_at": row.try_get::<DateTime<Utc>, _>("expires_at")?,
            }))
        })
        .collect()
}
