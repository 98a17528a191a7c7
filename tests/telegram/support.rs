//! The shop's side of the Telegram tests: an app opened to the fake Bot API, orders for a
//! Mini App user, and reads of the order and the outbox.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::telegram::{configure, FakeBotApi};
use crate::common::{spawn_app_with, TestApp, ADMIN_TOKEN};

/// An app with Telegram configured against a fresh fake Bot API.
pub async fn telegram_app(pool: PgPool) -> (TestApp, FakeBotApi) {
    telegram_app_with(pool, |_| {}).await
}

pub async fn telegram_app_with(
    pool: PgPool,
    adjust: impl FnOnce(&mut ledger::config::Config),
) -> (TestApp, FakeBotApi) {
    let fake = FakeBotApi::start().await;
    let app = spawn_app_with(pool, |config| {
        configure(config, &fake);
        adjust(config);
    })
    .await;
    (app, fake)
}

/// Places an order for the customer; returns (order id, amount in minor units).
pub async fn order_for(
    app: &TestApp,
    customer_id: &str,
    external_id: &str,
    currency: &str,
    price: &str,
) -> (String, i64) {
    let answer = app
        .post(
            "/api/orders",
            Some(ADMIN_TOKEN),
            &json!({"external_id": external_id, "customer_id": customer_id, "currency": currency,
                    "items": [{"sku": "tea", "title": "Green tea", "qty": 2, "price": price}]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let amount = answer.body["amount"].as_str().unwrap();
    let minor = if currency == "XTR" {
        amount.parse().unwrap()
    } else {
        let (whole, fraction) = amount.split_once('.').unwrap();
        whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap()
    };
    (answer.body["order_id"].as_str().unwrap().to_owned(), minor)
}

/// The order as the shop reads it, once the projection has caught up (`order_at_head`).
pub async fn order(app: &TestApp, order_id: &str) -> Value {
    app.order_at_head(order_id).await
}

/// The outbox as operators see it.
pub async fn outbox(app: &TestApp) -> Value {
    let answer = app.get("/api/admin/outbox", Some(ADMIN_TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body
}

/// Waits (bounded) until the outbox message of this fact type reaches `state`.
pub async fn wait_for_message_state(
    app: &TestApp,
    fact_type: &str,
    state: &str,
    deadline: Duration,
) -> Value {
    let until = Instant::now() + deadline;
    loop {
        let body = outbox(app).await;
        let found = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|message| message["fact_type"] == fact_type && message["state"] == state)
            .cloned();
        if let Some(message) = found {
            return message;
        }
        assert!(
            Instant::now() < until,
            "no {fact_type} message reached {state} within {deadline:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
