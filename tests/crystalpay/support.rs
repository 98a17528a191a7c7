//! The shop's side of the CrystalPay tests: an app opened to the fake CrystalPay, orders,
//! invoices, and bounded waits for the re-check worker and the projections.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::common::crystalpay::{configure, FakeCrystalPay};
use crate::common::{spawn_app_with, Answer, TestApp, ADMIN_TOKEN};

pub const BOT: &str = "shop_bot";
pub const APP: &str = "store";

/// An app with CrystalPay configured against a fresh fake, test mode on, and the Mini App's
/// names set (for `context: "telegram"`).
pub async fn crystalpay_app(pool: PgPool) -> (TestApp, FakeCrystalPay) {
    crystalpay_app_with(pool, |_| {}).await
}

pub async fn crystalpay_app_with(
    pool: PgPool,
    adjust: impl FnOnce(&mut ledger::config::Config),
) -> (TestApp, FakeCrystalPay) {
    let fake = FakeCrystalPay::start().await;
    let app = app_against(pool, &fake, adjust).await;
    (app, fake)
}

/// A (new) app against an existing fake: the same server restarted.
pub async fn app_against(
    pool: PgPool,
    fake: &FakeCrystalPay,
    adjust: impl FnOnce(&mut ledger::config::Config),
) -> TestApp {
    spawn_app_with(pool, |config| {
        configure(config, fake);
        config.test_mode = true;
        config.public_url = "https://shop.example".into();
        config.telegram.bot_username = Some(BOT.into());
        config.telegram.app_name = Some(APP.into());
        adjust(config);
    })
    .await
}

/// Places an order of one item at `price` (RUB); `phone: None` makes a guest order.
/// Returns (order id, customer id).
pub async fn order(
    app: &TestApp,
    external_id: &str,
    phone: Option<&str>,
    price: &str,
) -> (String, Option<String>) {
    let mut body = json!({"external_id": external_id, "currency": "RUB",
        "items": [{"sku": "tea", "title": "Green tea", "qty": 2, "price": price}]});
    if let Some(phone) = phone {
        body["customer_phone"] = json!(phone);
    }
    let answer = app.post("/api/orders", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    (
        answer.body["order_id"].as_str().unwrap().to_owned(),
        answer.body["customer_id"].as_str().map(str::to_owned),
    )
}

pub async fn ask_invoice(app: &TestApp, token: &str, order_id: &str, context: &str) -> Answer {
    app.post(
        "/api/crystalpay/invoice",
        Some(token),
        &json!({"order_id": order_id, "context": context}),
    )
    .await
}

/// A web invoice for the order, asked by the shop; returns its id.
pub async fn invoice(app: &TestApp, order_id: &str) -> String {
    let answer = ask_invoice(app, ADMIN_TOKEN, order_id, "web").await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.body["invoice_id"].as_str().unwrap().to_owned()
}

/// The order as the shop reads it, once the projection has caught up (`order_at_head`).
pub async fn order_view(app: &TestApp, order_id: &str) -> Value {
    app.order_at_head(order_id).await
}

/// The order's CrystalPay entry in `payments`.
pub fn crystalpay_payment(order: &Value) -> Value {
    order["payments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|payment| payment["provider"] == "crystalpay")
        .cloned()
        .unwrap_or_else(|| panic!("no CrystalPay payment in {order}"))
}

/// Events of one type on an invoice's stream.
pub async fn invoice_events(app: &TestApp, invoice_id: &str, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = $2")
        .bind(format!("crystalpay_invoice-{invoice_id}"))
        .bind(event_type)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Waits (bounded) until the invoice has `count` re-checks recorded and none pending.
pub async fn wait_for_checks(app: &TestApp, invoice_id: &str, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let checked = invoice_events(app, invoice_id, "CrystalPayInvoiceChecked").await;
        let pending: bool = sqlx::query_scalar(
            "SELECT check_pending FROM crystalpay_invoices WHERE invoice_id = $1",
        )
        .bind(invoice_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if checked >= count && !pending {
            assert_eq!(checked, count, "exactly {count} re-checks of {invoice_id}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{invoice_id}: {checked} re-checks (pending: {pending}) within 15 s, expected {count}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last re-check's payload.
pub async fn last_check(app: &TestApp, invoice_id: &str) -> Value {
    sqlx::query_scalar(
        "SELECT payload FROM events WHERE stream_id = $1 AND event_type = 'CrystalPayInvoiceChecked' \
         ORDER BY stream_version DESC LIMIT 1",
    )
    .bind(format!("crystalpay_invoice-{invoice_id}"))
    .fetch_one(&app.pool)
    .await
    .unwrap()
}
