//! The orders the load pays: placed through the shop API before the clock starts.

use anyhow::Context;
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::ADMIN_TOKEN;

/// Customers the orders are spread over (each Perform locks its customer's cashback stream).
const CUSTOMERS: usize = 500;

/// An order to pay: its id and amount in tiyin.
pub struct Order {
    pub order_id: String,
    pub amount: i64,
}

pub async fn place_orders(
    http: &reqwest::Client,
    base: &str,
    count: usize,
) -> anyhow::Result<Vec<Order>> {
    let placed: Vec<anyhow::Result<Order>> = stream::iter(0..count)
        .map(|index| async move {
            let body = json!({
                "external_id": format!("bench-{index}"),
                "customer_phone": format!("99890{:07}", index % CUSTOMERS),
                "currency": "UZS",
                "items": [
                    {"sku": "tea", "title": "Green tea", "qty": 2, "price": "15000.00", "vat_percent": 12,
                     "ikpu_code": "10901001001000000", "package_code": "1234"},
                    {"sku": "cup", "title": "Cup", "qty": 1, "price": "5000.00", "vat_percent": 12,
                     "ikpu_code": "10902002002000000", "package_code": "5678"}
                ]
            });
            let answer: Value = http
                .post(format!("{base}/api/orders"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            Ok(Order {
                order_id: answer["order_id"].as_str().context("order_id")?.to_owned(),
                amount: 3_500_000,
            })
        })
        .buffer_unordered(16)
        .collect()
        .await;
    placed.into_iter().collect()
}
