//! What the shop's clients send, shared by the HTTP benchmarks: customers registered and orders
//! placed before the clock starts (for the gateways' payments to pay), and 1C accruals.
#![allow(dead_code)] // each bench binary uses a different subset

use anyhow::Context;
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

/// Requests in flight while setting up: enough to be quick, few enough not to need tuning.
const SETUP_CONCURRENCY: usize = 16;

/// The phone of customer `n` (Uzbek mobile numbers, distinct for n < 10^7).
pub fn phone(n: usize) -> String {
    format!("99890{:07}", n)
}

/// An order to pay: its id and amount in tiyin.
pub struct Order {
    pub order_id: String,
    pub amount: i64,
}

/// Amount of every order placed here, in tiyin: 2 × 15,000.00 + 5,000.00 UZS.
const ORDER_TIYIN: i64 = 3_500_000;

/// Places `count` orders (`external_id` = `<prefix>-<index>`) spread over the first
/// `customers` customers' phones; an unknown phone registers its customer.
pub async fn place_orders(
    http: &reqwest::Client,
    base: &str,
    admin_token: &str,
    prefix: &str,
    (count, customers): (usize, usize),
) -> anyhow::Result<Vec<Order>> {
    let placed: Vec<anyhow::Result<Order>> = stream::iter(0..count)
        .map(|index| async move {
            let body = order_body(&format!("{prefix}-{index}"), &phone(index % customers));
            let answer: Value = http
                .post(format!("{base}/api/orders"))
                .bearer_auth(admin_token)
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            Ok(Order {
                order_id: answer["order_id"].as_str().context("order_id")?.to_owned(),
                amount: ORDER_TIYIN,
            })
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    placed.into_iter().collect()
}

/// The body of `POST /api/orders`: two lines worth [`ORDER_TIYIN`].
pub fn order_body(external_id: &str, customer_phone: &str) -> Value {
    json!({
        "external_id": external_id,
        "customer_phone": customer_phone,
        "currency": "UZS",
        "items": [
            {"sku": "tea", "title": "Green tea", "qty": 2, "price": "15000.00", "vat_percent": 12,
             "ikpu_code": "10901001001000000", "package_code": "1234"},
            {"sku": "cup", "title": "Cup", "qty": 1, "price": "5000.00", "vat_percent": 12,
             "ikpu_code": "10902002002000000", "package_code": "5678"}
        ]
    })
}

/// Registers customers `0..count` through `POST /api/customers`.
pub async fn register_customers(
    http: &reqwest::Client,
    base: &str,
    admin_token: &str,
    count: usize,
) -> anyhow::Result<()> {
    let registered: Vec<anyhow::Result<()>> = stream::iter(0..count)
        .map(|n| async move {
            let answer = http
                .post(format!("{base}/api/customers"))
                .bearer_auth(admin_token)
                .json(&json!({ "phone": phone(n) }))
                .send()
                .await?;
            anyhow::ensure!(
                answer.status().is_success(),
                "customer registration failed: {}",
                answer.status()
            );
            Ok(())
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    registered.into_iter().collect()
}

/// A register's accrual of 1.00 for customer `customer`, as 1C sends it.
pub fn accrual(external_id: String, customer: usize) -> Value {
    json!({
        "external_id": external_id,
        "type": "accrual",
        "amount": "1.00",
        "user_phone": phone(customer),
        "created_at": "2026-11-20T10:00:00Z",
        "register_id": "R-1",
    })
}
