//! `POST /api/customers`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use ledger_events::Source;
use serde_json::{json, Value};

use super::phone;
use super::register::{self, RegisterCustomer};
use crate::http::auth::{Authorized, OrdersWrite};
use crate::http::body::{Fields, JsonBody};
use crate::http::error::ApiError;
use crate::http::request::RequestId;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/customers", post(create_customer))
}

async fn create_customer(
    State(state): State<AppState>,
    auth: Authorized<OrdersWrite>,
    request_id: RequestId,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = parse(&body)?;
    let metadata = request_id.metadata(Source::Api, &auth.client.name);
    let registration = register::register(&state, &input, &metadata).await?;
    let customer = registration.customer;
    let status = if registration.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "customer_id": customer.customer_id,
            "phone": customer.phone,
            "telegram_id": customer.telegram_id,
            "name": customer.name,
            "position": customer.position,
        })),
    ))
}

fn parse(body: &Value) -> Result<RegisterCustomer, ApiError> {
    let fields = Fields::root(body)?;
    let phone = match fields.optional_string("phone")? {
        None => None,
        Some(raw) => Some(phone::normalize(&raw).ok_or(ApiError::InvalidPhone {
            field: "phone".into(),
        })?),
    };
    let telegram_id = fields.optional_integer("telegram_id")?;
    if telegram_id.is_some_and(|id| id <= 0) {
        return Err(ApiError::invalid(
            "telegram_id",
            "telegram_id must be a positive integer",
        ));
    }
    if phone.is_none() && telegram_id.is_none() {
        return Err(ApiError::invalid(
            "phone",
            "phone or telegram_id is required",
        ));
    }
    Ok(RegisterCustomer {
        phone,
        telegram_id,
        name: fields.optional_string_up_to("name", 200)?,
    })
}
