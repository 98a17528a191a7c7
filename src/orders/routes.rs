//! `/api/orders`: place, read, complete, cancel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use ledger_events::domain::OrderItem;
use ledger_events::{Currency, Source};
use serde_json::{json, Value};

use super::lifecycle::{self, CancelReason, Transition};
use super::place::{self, CustomerReference, PlaceOrder, PlacedOrder};
use super::view;
use crate::customers::phone;
use crate::http::auth::{Authorized, OrdersRead, OrdersWrite};
use crate::http::body::{Fields, JsonBody};
use crate::http::consistency::{self, MinPosition};
use crate::http::error::ApiError;
use crate::http::extract::Path;
use crate::http::request::RequestId;
use crate::state::AppState;

/// Most items one order may hold.
const MAX_ITEMS: usize = 500;
/// Largest quantity of one item.
const MAX_QUANTITY: i64 = 1_000_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/orders", post(create_order))
        .route("/api/orders/{order_id}", get(read_order))
        .route("/api/orders/{order_id}/complete", post(complete_order))
        .route("/api/orders/{order_id}/cancel", post(cancel_order))
}

async fn create_order(
    State(state): State<AppState>,
    auth: Authorized<OrdersWrite>,
    request_id: RequestId,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let order = parse_order(&body)?;
    let metadata = request_id.metadata(Source::Api, &auth.client.name);
    let placed = place::place(&state, &order, &metadata).await?;
    let status = if placed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(placed_json(&placed))))
}

fn placed_json(placed: &PlacedOrder) -> Value {
    let order = &placed.placed;
    json!({
        "order_id": order.order_id,
        "external_id": order.external_id,
        "status": if placed.paid_at_placement { "paid" } else { "awaiting_payment" },
        "amount": order.currency.format_minor(order.amount_minor),
        "currency": order.currency.code(),
        "customer_id": order.customer_id,
        "cashback_redeemed": order.currency.format_minor(order.cashback_redeemed_minor),
        "expires_at": order.expires_at,
        "position": placed.position,
    })
}

async fn read_order(
    State(state): State<AppState>,
    _auth: Authorized<OrdersRead>,
    Path(order_id): Path<String>,
    min_position: MinPosition,
) -> Result<Json<Value>, ApiError> {
    let read = consistency::caught_up(&state, "orders", min_position).await?;
    let mut order = view::order_json(&read.pool, &order_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("order_not_found", format!("order {order_id:?} not found"))
        })?;
    order["position"] = json!(read.position);
    Ok(Json(order))
}

async fn complete_order(
    State(state): State<AppState>,
    auth: Authorized<OrdersWrite>,
    request_id: RequestId,
    Path(order_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let metadata = request_id.metadata(Source::Api, &auth.client.name);
    let done = lifecycle::complete(&state, &order_id, &metadata).await?;
    Ok(Json(transition_json(&done)))
}

async fn cancel_order(
    State(state): State<AppState>,
    auth: Authorized<OrdersWrite>,
    request_id: RequestId,
    Path(order_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let metadata = request_id.metadata(Source::Api, &auth.client.name);
    let done = lifecycle::cancel(&state, &order_id, CancelReason::Api, &metadata).await?;
    Ok(Json(transition_json(&done)))
}

fn transition_json(transition: &Transition) -> Value {
    json!({
        "order_id": transition.order_id,
        "status": transition.status.as_str(),
        "position": transition.position,
    })
}

fn parse_order(body: &Value) -> Result<PlaceOrder, ApiError> {
    let fields = Fields::root(body)?;
    let external_id = fields
        .optional_string_up_to("external_id", 200)?
        .ok_or_else(|| ApiError::invalid("external_id", "external_id is required"))?;
    let customer = match (
        fields.optional_string_up_to("customer_id", 200)?,
        fields.optional_string("customer_phone")?,
    ) {
        (Some(id), None) => Some(CustomerReference::Id(id)),
        (None, Some(raw)) => Some(CustomerReference::Phone(phone::normalize(&raw).ok_or(
            ApiError::InvalidPhone {
                field: "customer_phone".into(),
            },
        )?)),
        // A guest order: a checkout without an account.
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "customer_phone",
                "give customer_id or customer_phone, not both",
            ))
        }
    };
    let currency_code = fields.string("currency")?;
    let currency = Currency::new(&currency_code)
        .map_err(|error| ApiError::invalid("currency", error.to_string()))?;
    let items = fields
        .objects("items", MAX_ITEMS)?
        .iter()
        .map(|item| parse_item(item, &currency))
        .collect::<Result<Vec<_>, _>>()?;
    let cashback_to_redeem_minor = fields.optional_amount("cashback_to_redeem", &currency)?;
    Ok(PlaceOrder {
        external_id,
        customer,
        currency,
        items,
        cashback_to_redeem_minor,
    })
}

fn parse_item(item: &Fields<'_>, currency: &Currency) -> Result<OrderItem, ApiError> {
    let vat_percent = item.optional_decimal("vat_percent")?;
    if vat_percent
        .is_some_and(|vat| vat.is_sign_negative() || vat > rust_decimal::Decimal::ONE_HUNDRED)
    {
        return Err(ApiError::invalid(
            item.path("vat_percent"),
            "vat_percent must be between 0 and 100",
        ));
    }
    Ok(OrderItem {
        sku: item.optional_string_up_to("sku", 100)?.ok_or_else(|| {
            ApiError::invalid(
                item.path("sku"),
                format!("{} is required", item.path("sku")),
            )
        })?,
        title: item.optional_string_up_to("title", 500)?.ok_or_else(|| {
            ApiError::invalid(
                item.path("title"),
                format!("{} is required", item.path("title")),
            )
        })?,
        qty: u32::try_from(item.positive_integer("qty", MAX_QUANTITY)?)
            .expect("bounded by MAX_QUANTITY"),
        price_minor: item.amount("price", currency)?,
        vat_percent,
        ikpu_code: item.optional_string_up_to("ikpu_code", 32)?,
        package_code: item.optional_string_up_to("package_code", 32)?,
    })
}
