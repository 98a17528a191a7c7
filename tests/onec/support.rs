//! What every 1C test does over and over: send one operation, register a run of customers,
//! read a customer's balance as the register sees it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Answer, TestApp};

/// The customer most tests work with (an Uzbek mobile number in its canonical form).
pub const PHONE: &str = "998901234567";

/// Sends one operation to the single-operation endpoint with the store's key.
pub async fn single(app: &TestApp, key: &str, item: &Value) -> Answer {
    app.onec_post("/api/cashback/v1/transactions", Some(key), item)
        .await
}

/// Registers `count` customers with consecutive Uzbek phones from `first`; returns their phones
/// and ids.
pub async fn customers_with_phones(
    app: &TestApp,
    first: usize,
    count: usize,
) -> (Vec<String>, Vec<String>) {
    let phones: Vec<String> = (first..first + count)
        .map(|n| format!("99890{n:07}"))
        .collect();
    let mut ids = Vec::with_capacity(count);
    for phone in &phones {
        ids.push(app.customer_with_phone(phone).await);
    }
    (phones, ids)
}

/// The balance answer for `phone` (asserted to be a 200).
pub async fn balance(app: &TestApp, key: &str, phone: &str) -> Value {
    let answer = app
        .onec_get(
            &format!("/api/cashback/v1/balance?user_phone={phone}"),
            Some(key),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body
}
