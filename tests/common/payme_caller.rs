//! Plays Payme's servers: JSON-RPC calls to `POST /api/payme` as Payme's Merchant API makes
//! them (`{"method", "params", "id"}`, Basic auth `Paycom:<key>`), keeping each answer's raw
//! bytes so tests can compare repeated answers byte for byte.

use std::sync::atomic::{AtomicI64, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::TestApp;

/// One answer of our endpoint.
#[derive(Debug, Clone)]
pub struct PaymeAnswer {
    pub status: StatusCode,
    pub content_type: String,
    /// The body exactly as sent.
    pub raw: String,
    pub body: Value,
}

impl PaymeAnswer {
    /// The `result`; panics (showing the body) when the answer is an error.
    pub fn result(&self) -> &Value {
        assert!(
            self.body.get("error").is_none() && self.body.get("result").is_some(),
            "expected a result, got {}",
            self.raw
        );
        &self.body["result"]
    }

    /// The error code, None for a result.
    pub fn error_code(&self) -> Option<i64> {
        self.body["error"]["code"].as_i64()
    }

    /// Asserts an error with this code and a message in every language; returns its `data`.
    pub fn expect_error(&self, code: i64) -> &Value {
        assert_eq!(self.error_code(), Some(code), "answer: {}", self.raw);
        for language in ["ru", "uz", "en"] {
            let text = self.body["error"]["message"][language]
                .as_str()
                .unwrap_or("");
            assert!(
                !text.trim().is_empty(),
                "message.{language} in {}",
                self.raw
            );
        }
        &self.body["error"]["data"]
    }
}

pub struct PaymeCaller {
    http: reqwest::Client,
    url: String,
    /// None: no Authorization header.
    key: Option<String>,
    /// The field of `account` that carries the order id.
    pub account_field: String,
    next_id: AtomicI64,
}

pub fn basic_auth(login: &str, key: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{login}:{key}")))
}

impl PaymeCaller {
    pub fn new(app: &TestApp, key: &str) -> Self {
        PaymeCaller {
            http: app.http.clone(),
            url: app.url("/api/payme"),
            key: Some(key.to_owned()),
            account_field: "order_id".into(),
            next_id: AtomicI64::new(1),
        }
    }

    /// The same caller with another key (None: no credentials at all).
    pub fn with_key(&self, key: Option<&str>) -> Self {
        PaymeCaller {
            http: self.http.clone(),
            url: self.url.clone(),
            key: key.map(str::to_owned),
            account_field: self.account_field.clone(),
            next_id: AtomicI64::new(1_000),
        }
    }

    pub fn account(&self, order_id: &str) -> Value {
        json!({ self.account_field.clone(): order_id })
    }

    /// A call with a fresh numeric id.
    pub async fn call(&self, method: &str, params: Value) -> PaymeAnswer {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.call_with_id(method, params, json!(id)).await
    }

    /// A call with the given id; checks that it is echoed.
    pub async fn call_with_id(&self, method: &str, params: Value, id: Value) -> PaymeAnswer {
        let body = json!({"method": method, "params": params, "id": id});
        let answer = self
            .send(
                Method::POST,
                serde_json::to_vec(&body).unwrap(),
                self.key.as_deref().map(|key| basic_auth("Paycom", key)),
            )
            .await;
        assert_eq!(answer.body["id"], id, "the id is echoed: {}", answer.raw);
        answer
    }

    /// Any bytes with any method and Authorization header. Payme needs HTTP 200 and a JSON body
    /// whatever happens, so that is asserted for every answer.
    pub async fn send(
        &self,
        method: Method,
        body: Vec<u8>,
        authorization: Option<String>,
    ) -> PaymeAnswer {
        let mut request = self
            .http
            .request(method, &self.url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let raw = response.text().await.expect("body read");
        let body: Value = serde_json::from_str(&raw)
            .unwrap_or_else(|error| panic!("answer is not JSON ({error}): {raw}"));
        assert_eq!(
            status,
            StatusCode::OK,
            "Payme answers are always HTTP 200: {raw}"
        );
        assert!(
            content_type.starts_with("application/json"),
            "content-type {content_type}"
        );
        PaymeAnswer {
            status,
            content_type,
            raw,
            body,
        }
    }

    pub async fn check_perform(&self, order_id: &str, amount: i64) -> PaymeAnswer {
        self.call(
            "CheckPerformTransaction",
            json!({"amount": amount, "account": self.account(order_id)}),
        )
        .await
    }

    pub async fn create(
        &self,
        payme_id: &str,
        time: i64,
        order_id: &str,
        amount: i64,
    ) -> PaymeAnswer {
        self.call_with_id(
            "CreateTransaction",
            json!({"id": payme_id, "time": time, "amount": amount, "account": self.account(order_id)}),
            json!(1),
        )
        .await
    }

    pub async fn perform(&self, payme_id: &str) -> PaymeAnswer {
        self.call_with_id("PerformTransaction", json!({"id": payme_id}), json!(2))
            .await
    }

    /// Creates `payme_id` for the order now and performs it; both must succeed.
    pub async fn pay(&self, payme_id: &str, order_id: &str, amount: i64) {
        self.create(payme_id, now_ms(), order_id, amount)
            .await
            .result();
        self.perform(payme_id).await.result();
    }

    pub async fn cancel(&self, payme_id: &str, reason: i64) -> PaymeAnswer {
        self.call_with_id(
            "CancelTransaction",
            json!({"id": payme_id, "reason": reason}),
            json!(3),
        )
        .await
    }

    pub async fn check(&self, payme_id: &str) -> PaymeAnswer {
        self.call("CheckTransaction", json!({"id": payme_id})).await
    }

    pub async fn statement(&self, from: i64, to: i64) -> PaymeAnswer {
        self.call("GetStatement", json!({"from": from, "to": to}))
            .await
    }

    pub async fn change_password(&self, password: &str) -> PaymeAnswer {
        self.call("ChangePassword", json!({"password": password}))
            .await
    }
}

/// Payme's `time` now (epoch milliseconds).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A Payme-looking transaction id (24 hex characters), unique per call.
pub fn payme_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..24].to_owned()
}
