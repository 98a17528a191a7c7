//! `POST /api/telegram/payment/invoice {order_id}` (Mini App session): a Telegram Payments
//! invoice link for one of the session's own orders, made with the Bot API's
//! `createInvoiceLink`. The Mini App opens it with `Telegram.WebApp.openInvoice`.
//!
//! Stars orders (`XTR`) are invoiced in whole stars with an empty provider token; other
//! currencies with `LEDGER_TELEGRAM_PAYMENT_PROVIDER_TOKEN`. The amount is the order's own, in
//! its smallest unit. Creating a link reserves nothing and records nothing: the order is paid
//! only by the `successful_payment` Telegram sends to the webhook, after our pre-checkout
//! answer said yes — never because the Mini App says it was paid.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::bot_api::{BotApi, InvoiceLink, LabeledPrice};
use crate::http::auth::MiniAppSession;
use crate::http::body::{Fields, JsonBody};
use crate::http::error::ApiError;
use crate::orders::state::{self as order_state, OrderState};
use crate::state::AppState;

/// Telegram's limits on an invoice's title and description.
const MAX_TITLE_CHARS: usize = 32;
const MAX_DESCRIPTION_CHARS: usize = 255;

pub async fn create_invoice(
    State(state): State<AppState>,
    MiniAppSession(user): MiniAppSession,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let order_id = Fields::root(&body)?.string("order_id")?;
    let bot = BotApi::of(&state).ok_or(ApiError::TelegramClosed)?;
    let not_found =
        || ApiError::not_found("order_not_found", format!("order {order_id:?} not found"));
    let mut connection = state.pool.acquire().await?;
    let order = order_state::load(&state, &mut connection, &order_id)
        .await
        .map_err(|error| ApiError::internal(anyhow::anyhow!("{error:?}")))?
        .filter(|order| order.placed.customer_id.as_deref() == Some(user.customer_id.as_str()))
        .ok_or_else(not_found)?;
    drop(connection);
    order.check_payable()?;
    let placed = &order.placed;
    let provider_token = if placed.currency.is_telegram_stars() {
        String::new()
    } else {
        let token = state.config.telegram.payment_provider_token.expose();
        if token.is_empty() {
            return Err(ApiError::Unprocessable {
                field: "order_id".into(),
                message: format!(
                    "this shop takes only Telegram Stars (XTR) in Telegram; the order is in {}",
                    placed.currency.code()
                ),
            });
        }
        token.to_owned()
    };
    let link = bot
        .create_invoice_link(&InvoiceLink {
            title: shorten(&format!("Order {}", placed.external_id), MAX_TITLE_CHARS),
            description: shorten(&describe(&order), MAX_DESCRIPTION_CHARS),
            payload: placed.order_id.clone(),
            provider_token,
            currency: placed.currency.code().to_owned(),
            prices: vec![LabeledPrice {
                label: "Total".into(),
                amount: placed.amount_minor,
            }],
        })
        .await
        .map_err(|error| {
            tracing::warn!(%error, order_id = %placed.order_id, "createInvoiceLink failed");
            ApiError::TelegramApi {
                message: error.to_string(),
            }
        })?;
    Ok(Json(json!({
        "invoice_url": link,
        "order_id": placed.order_id,
        "amount": placed.currency.format_minor(placed.amount_minor),
        "currency": placed.currency.code(),
    })))
}

/// "2 × Green tea, 1 × Cup".
fn describe(order: &OrderState) -> String {
    let items: Vec<String> = order
        .placed
        .items
        .iter()
        .map(|item| format!("{} × {}", item.qty, item.title))
        .collect();
    if items.is_empty() {
        format!("Order {}", order.placed.external_id)
    } else {
        items.join(", ")
    }
}

/// At most `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_texts_are_cut_to_telegrams_limits() {
        assert_eq!(super::shorten("Order 1", 32), "Order 1");
        let cut = super::shorten(&"x".repeat(40), 32);
        assert_eq!(cut.chars().count(), 32);
        assert!(cut.ends_with('…'));
    }
}
