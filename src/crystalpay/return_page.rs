//! `GET /pay/return?order=<id>`: where a web buyer lands after CrystalPay's payment page.
//!
//! Server-rendered HTML, no script and no external asset. It shows the order's state as the
//! server knows it (the `orders` projection) — never anything the query says beyond which order
//! to show (an order the projection has not caught up with yet is read from its stream) —
//! and refreshes itself every few seconds until the state is final, so a buyer who
//! arrives before CrystalPay's callback sees "waiting" turn into "paid" on their own.

use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::links;
use crate::admin::html::escape;
use crate::http::error::ApiError;
use crate::orders::state as order_state;
use crate::orders::view;
use crate::state::AppState;

/// Seconds between refreshes while the payment is not final.
pub const REFRESH_SECONDS: u32 = 3;

#[derive(Deserialize)]
pub struct ReturnQuery {
    order: Option<String>,
}

pub async fn return_page(
    State(state): State<AppState>,
    Query(query): Query<ReturnQuery>,
) -> Result<Response, ApiError> {
    let order_id = query
        .order
        .filter(|order| !order.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("order", "the order to show is missing (?order=<id>)"))?;
    let order = match view::order_json(&state.pool, &order_id).await? {
        Some(order) => order,
        None => from_log(&state, &order_id).await?.ok_or_else(|| {
            ApiError::not_found("order_not_found", format!("order {order_id:?} not found"))
        })?,
    };
    let back = links::mini_app_link(&state.config, &order_id);
    let html = render(&order, back.as_deref());
    Ok((
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

/// An order the `orders` projection has not caught up with yet (the buyer came back within
/// moments of ordering), read from its stream: still waiting, so the page refreshes.
async fn from_log(state: &AppState, order_id: &str) -> Result<Option<Value>, ApiError> {
    let mut connection = state.pool.acquire().await?;
    let order = order_state::load(state, &mut connection, order_id)
        .await
        .map_err(|error| ApiError::internal(anyhow::anyhow!("{error:?}")))?;
    Ok(order.map(|order| {
        let placed = &order.placed;
        json!({
            "external_id": placed.external_id,
            "status": order.status.as_str(),
            "amount": placed.currency.format_minor(placed.amount_minor),
            "currency": placed.currency.code(),
            "payments": [],
        })
    }))
}

/// What the buyer is told, and whether the page keeps refreshing.
fn headline(order: &Value) -> (&'static str, &'static str, bool) {
    let status = order["status"].as_str().unwrap_or_default();
    let latest = order["payments"]
        .as_array()
        .and_then(|payments| {
            payments
                .iter()
                .rev()
                .find(|payment| payment["provider"] == "crystalpay")
        })
        .and_then(|payment| payment["state"].as_str())
        .unwrap_or("notpayed");
    match status {
        "paid" | "completed" => ("Payment received", "paid", false),
        "refunded" => ("The payment was refunded", "ended", false),
        "cancelled" => ("The order was cancelled", "ended", false),
        _ => match latest {
            "wrongamount" => (
                "The amount paid differs from the order; the shop will contact you",
                "ended",
                false,
            ),
            "failed" => ("The payment failed; you can try again", "ended", false),
            "expired" => ("The invoice expired; you can try again", "ended", false),
            "processing" => ("The payment is being confirmed…", "waiting", true),
            _ => ("Waiting for the payment to be confirmed…", "waiting", true),
        },
    }
}

fn render(order: &Value, back: Option<&str>) -> String {
    let (title, class, refresh) = headline(order);
    let text = |key: &str| escape(order[key].as_str().unwrap_or_default());
    let refresh_tag = if refresh {
        format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">")
    } else {
        String::new()
    };
    let note = if refresh {
        format!("<p class=\"note\">This page refreshes every {REFRESH_SECONDS} seconds.</p>")
    } else {
        String::new()
    };
    let back_link = back.map_or(String::new(), |link| {
        format!(
            "<p><a class=\"back\" href=\"{}\">Back to the shop in Telegram</a></p>",
            escape(link)
        )
    });
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh_tag}\
<title>Order {external} — payment</title><style>\
body{{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:48px 16px;color:#1d2330}}\
main{{max-width:460px;margin:0 auto;background:#fff;border-radius:12px;padding:28px 32px;\
box-shadow:0 1px 4px rgba(0,0,0,.08)}}h1{{font-size:22px;margin:0 0 16px}}\
.paid{{color:#137333}}.waiting{{color:#a15c00}}.ended{{color:#b3261e}}\
dl{{display:grid;grid-template-columns:auto 1fr;gap:6px 16px;margin:0 0 16px}}dt{{color:#5f6675}}\
dd{{margin:0;font-weight:600}}.note{{color:#5f6675;font-size:14px}}\
a.back{{display:inline-block;background:#2481cc;color:#fff;padding:10px 16px;border-radius:8px;\
text-decoration:none}}</style></head><body><main>\
<h1 class=\"{class}\">{title}</h1><dl><dt>Order</dt><dd>{external}</dd>\
<dt>Amount</dt><dd>{amount} {currency}</dd><dt>Status</dt><dd id=\"status\">{status}</dd></dl>\
{note}{back_link}</main></body></html>\n",
        external = text("external_id"),
        amount = text("amount"),
        currency = text("currency"),
        status = text("status").replace('_', " "),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_page_refreshes_until_final_and_escapes_what_it_shows() {
        let waiting = json!({"status": "awaiting_payment", "external_id": "<A&1>",
            "amount": "10.00", "currency": "RUB", "payments": []});
        let html = super::render(&waiting, None);
        assert!(html.contains("http-equiv=\"refresh\""));
        assert!(html.contains("&lt;A&amp;1&gt;"));
        assert!(!html.contains("<A&1>"));
        let paid = json!({"status": "paid", "external_id": "A1", "amount": "10.00",
            "currency": "RUB", "payments": [{"provider": "crystalpay", "state": "payed"}]});
        let html = super::render(&paid, Some("https://t.me/shop_bot/app?startapp=order_1"));
        assert!(!html.contains("http-equiv=\"refresh\""));
        assert!(html.contains("Payment received"));
        assert!(html.contains("startapp=order_1"));
    }
}
