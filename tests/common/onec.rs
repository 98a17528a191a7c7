//! Playing a 1C:Retail register: store keys and requests with `X-API-Key`.

use ledger::onec::stores::{self, NewStore};
use serde_json::{json, Value};

use super::{answer, Answer, TestApp};

impl TestApp {
    /// Creates a store (currency and zone as given) and returns its key.
    pub async fn store_key(&self, store_id: &str, currency: &str, timezone: &str) -> String {
        let store = NewStore {
            store_id: store_id.into(),
            name: Some(format!("Store {store_id}")),
            currency: Some(currency.into()),
            timezone: Some(timezone.into()),
        };
        stores::create_store(&self.pool, "UZS", &store)
            .await
            .unwrap()
    }

    pub async fn onec_post(&self, path: &str, key: Option<&str>, body: &Value) -> Answer {
        let mut request = self.http.post(self.url(path)).json(body);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        answer(request.send().await.expect("request sent")).await
    }

    pub async fn onec_get(&self, path: &str, key: Option<&str>) -> Answer {
        let mut request = self.http.get(self.url(path));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        answer(request.send().await.expect("request sent")).await
    }

    /// Registers a customer through the shop API; returns the customer id.
    pub async fn customer_with_phone(&self, phone: &str) -> String {
        let answer = self
            .post(
                "/api/customers",
                Some(super::ADMIN_TOKEN),
                &json!({ "phone": phone }),
            )
            .await;
        assert!(answer.status.is_success(), "{:?}", answer.body);
        answer.body["customer_id"].as_str().unwrap().to_owned()
    }
}

/// One register operation as 1C sends it.
pub fn operation(external_id: &str, kind: &str, amount: &str, phone: &str) -> Value {
    json!({
        "external_id": external_id,
        "type": kind,
        "amount": amount,
        "user_phone": phone,
        "created_at": "2026-11-20T15:04:05",
        "register_id": "R-1",
    })
}

/// A release or reversal of `reference`.
pub fn referring(
    external_id: &str,
    kind: &str,
    amount: &str,
    phone: &str,
    reference: &str,
) -> Value {
    let mut item = operation(external_id, kind, amount, phone);
    item["ref_external_id"] = json!(reference);
    item
}
