//! The shop's side of the Payme tests: customers and orders through our REST API, and looks at
//! the event log through the admin API.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::payme_caller::PaymeCaller;
use crate::common::{spawn_app_with, TestApp, ADMIN_TOKEN};
use ledger::config::Secret;

/// The merchant key every test app is started with.
pub const KEY: &str = "payme-test-key-7f3a9c1e5b2d4f6a8c0e";

/// An app with the Payme key configured, and a caller using it.
pub async fn payme_app(pool: PgPool) -> (TestApp, PaymeCaller) {
    payme_app_with(pool, |_| {}).await
}

pub async fn payme_app_with(
    pool: PgPool,
    adjust: impl FnOnce(&mut ledger::config::Config),
) -> (TestApp, PaymeCaller) {
    let app = spawn_app_with(pool, |config| {
        config.payme_keys = vec![Secret::new(KEY)];
        adjust(config);
    })
    .await;
    let caller = PaymeCaller::new(&app, KEY);
    (app, caller)
}

/// Items with every fiscal code: 2 × 15 000.00 + 1 × 5 000.00 = 35 000.00 UZS.
pub fn fiscal_items() -> Value {
    json!([
        {"sku": "tea-1", "title": "Green tea", "qty": 2, "price": "15000.00", "vat_percent": 12,
         "ikpu_code": "10901001001000000", "package_code": "1234"},
        {"sku": "cup-1", "title": "Cup", "qty": 1, "price": "5000", "vat_percent": 12,
         "ikpu_code": "10902002002000000", "package_code": "5678"}
    ])
}

/// `"150.00"` → 15 000 (minor units; tests only use two-digit currencies).
pub fn minor_units(text: &str) -> i64 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "00"));
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    let whole: i64 = whole.trim_start_matches('-').parse().unwrap();
    let fraction: i64 = format!("{fraction:0<2}")[..2].parse().unwrap();
    sign * (whole * 100 + fraction)
}

/// A placed order as the API answered it.
#[derive(Clone, Debug)]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    /// In the order currency's minor units.
    pub amount_minor: i64,
}

pub async fn place_order(app: &TestApp, body: Value) -> Order {
    let answer = app.post("/api/orders", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    Order {
        order_id: answer.body["order_id"].as_str().unwrap().to_owned(),
        customer_id: answer.body["customer_id"].as_str().unwrap().to_owned(),
        amount_minor: minor_units(answer.body["amount"].as_str().unwrap()),
    }
}

/// A UZS order of `fiscal_items()` for the customer with this phone.
pub async fn uzs_order(app: &TestApp, external_id: &str, phone: &str) -> Order {
    place_order(
        app,
        json!({"external_id": external_id, "customer_phone": phone, "currency": "UZS",
               "items": fiscal_items()}),
    )
    .await
}

/// A UZS order of one item at `price` (decimal text).
pub async fn simple_order(app: &TestApp, external_id: &str, phone: &str, price: &str) -> Order {
    place_order(
        app,
        json!({"external_id": external_id, "customer_phone": phone, "currency": "UZS",
               "items": [{"sku": "x", "title": "Thing", "qty": 1, "price": price}]}),
    )
    .await
}

/// The raw events of a stream (empty when it has none).
pub async fn stream_events(app: &TestApp, stream_id: &str) -> Vec<Value> {
    let answer = app
        .get(
            &format!("/api/admin/streams/{stream_id}"),
            Some(ADMIN_TOKEN),
        )
        .await;
    match answer.status {
        StatusCode::OK => answer.body["events"].as_array().unwrap().clone(),
        StatusCode::NOT_FOUND => Vec::new(),
        other => panic!("reading {stream_id}: {other} {:?}", answer.body),
    }
}

pub async fn event_types(app: &TestApp, stream_id: &str) -> Vec<String> {
    stream_events(app, stream_id)
        .await
        .iter()
        .map(|event| event["event_type"].as_str().unwrap().to_owned())
        .collect()
}

/// Net signed amount (debits − credits) posted on `account` in `currency`, summed over the
/// whole log — the double-entry truth, independent of any projection.
pub async fn posted_net(pool: &PgPool, account: &str, currency: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(CASE WHEN p->>'side' = 'debit' THEN (p->>'amount_minor')::bigint \
                                  ELSE -(p->>'amount_minor')::bigint END), 0)::bigint \
         FROM events, jsonb_array_elements(coalesce(payload->'postings', '[]'::jsonb)) AS p \
         WHERE p->>'account' = $1 AND p->>'currency' = $2",
    )
    .bind(account)
    .bind(currency)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Every currency's postings over the whole log sum to zero.
pub async fn assert_trial_balance(pool: &PgPool) {
    let unbalanced: Vec<(String, i64)> = sqlx::query_as(
        "SELECT p->>'currency', sum(CASE WHEN p->>'side' = 'debit' THEN (p->>'amount_minor')::bigint \
                                         ELSE -(p->>'amount_minor')::bigint END)::bigint AS net \
         FROM events, jsonb_array_elements(coalesce(payload->'postings', '[]'::jsonb)) AS p \
         GROUP BY 1 HAVING sum(CASE WHEN p->>'side' = 'debit' THEN (p->>'amount_minor')::bigint \
                                    ELSE -(p->>'amount_minor')::bigint END) <> 0",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        unbalanced.is_empty(),
        "unbalanced currencies: {unbalanced:?}"
    );
}

/// The customer's cashback as the API shows it (balance may be negative: a debt).
pub async fn cashback(app: &TestApp, customer_id: &str, currency: &str) -> Value {
    app.admin_read(&format!(
        "/api/customers/{customer_id}/cashback?currency={currency}"
    ))
    .await
}

/// Polls the orders projection until the order shows `status` (it is asynchronous).
pub async fn wait_for_order_status(app: &TestApp, order_id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = app
            .get(&format!("/api/orders/{order_id}"), Some(ADMIN_TOKEN))
            .await;
        if answer.status == StatusCode::OK && answer.body["status"] == status {
            return answer.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order {order_id} never became {status}: {:?}",
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
