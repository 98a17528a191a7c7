//! A local HTTP server playing the CrystalPay API v3 (`/v3/invoice/create/`,
//! `/v3/invoice/info/`), built from its documented behaviour: it keeps the invoices it made,
//! answers `invoice/info` with their current state (which a test moves), records every call, and
//! can be told to fail, refuse or stall. Also what a test needs to act as CrystalPay towards our
//! server: callbacks with the native signature or the raw-body HMAC.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::local_server::{serve, ServerTask};
use super::{Answer, TestApp};
use ledger::config::{Config, CrystalPayConfig, Secret};
use ledger::crystalpay::signature::{native_signature, raw_body_signature};

pub const LOGIN: &str = "shop-login";
pub const SECRET: &str = "cp-secret-never-logged";
pub const SALT: &str = "cp-salt-0123456789";
pub const WEBHOOK_SECRET: &str = "cp-hook-secret-0123";

/// One call the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub body: Value,
}

/// What the fake does with the next call of a method instead of its normal answer.
#[derive(Clone, Debug)]
pub enum Scripted {
    /// Answer this status and body.
    Answer(u16, Value),
    /// Wait this long, then answer normally.
    Stall(Duration),
}

/// An invoice the fake made.
#[derive(Clone, Debug)]
pub struct FakeInvoice {
    pub id: String,
    pub state: String,
    pub amount: String,
    pub currency: String,
    pub extra: String,
    pub redirect_url: String,
    pub callback_url: String,
    /// `amount` as CrystalPay reports it back in `invoice/info` (a test may change it).
    pub paid_amount: String,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    script: HashMap<String, VecDeque<Scripted>>,
    invoices: HashMap<String, FakeInvoice>,
    next_id: u64,
    /// Every `invoice/info` answers 503 while set.
    info_down: bool,
    /// `invoice/info` about these invoices answers 503.
    info_down_for: HashSet<String>,
}

/// The fake CrystalPay; stops when the last handle is dropped.
#[derive(Clone)]
pub struct FakeCrystalPay {
    pub address: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _task: ServerTask,
}

impl FakeCrystalPay {
    pub async fn start() -> FakeCrystalPay {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let router = Router::new().fallback(handle).with_state(inner.clone());
        let (address, task) = serve(router).await;
        FakeCrystalPay {
            address,
            inner,
            _task: task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The next call of `method` (`create` or `info`) does this.
    pub fn then(&self, method: &str, scripted: Scripted) {
        self.inner
            .lock()
            .unwrap()
            .script
            .entry(method.to_owned())
            .or_default()
            .push_back(scripted);
    }

    pub fn set_info_down(&self, down: bool) {
        self.inner.lock().unwrap().info_down = down;
    }

    /// `invoice/info` about this one invoice answers 503 while `down` (others answer).
    pub fn set_info_down_for(&self, invoice_id: &str, down: bool) {
        let mut inner = self.inner.lock().unwrap();
        if down {
            inner.info_down_for.insert(invoice_id.to_owned());
        } else {
            inner.info_down_for.remove(invoice_id);
        }
    }

    /// `invoice/info` calls about this invoice so far.
    pub fn info_calls_for(&self, invoice_id: &str) -> usize {
        self.calls("info")
            .iter()
            .filter(|call| call.body["id"] == invoice_id)
            .count()
    }

    /// CrystalPay's view of the invoice changes (the buyer paid, it failed, ...).
    pub fn set_state(&self, invoice_id: &str, state: &str) {
        let mut inner = self.inner.lock().unwrap();
        let invoice = inner.invoices.get_mut(invoice_id).expect("a known invoice");
        invoice.state = state.to_owned();
    }

    pub fn set_paid_amount(&self, invoice_id: &str, amount: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner.invoices.get_mut(invoice_id).unwrap().paid_amount = amount.to_owned();
    }

    pub fn invoice(&self, invoice_id: &str) -> FakeInvoice {
        self.inner.lock().unwrap().invoices[invoice_id].clone()
    }

    pub fn invoice_count(&self) -> usize {
        self.inner.lock().unwrap().invoices.len()
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        let inner = self.inner.lock().unwrap();
        inner
            .calls
            .iter()
            .filter(|call| call.method == method)
            .cloned()
            .collect()
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    body: Bytes,
) -> impl IntoResponse {
    let method = match uri.path() {
        "/v3/invoice/create/" => "create",
        "/v3/invoice/info/" => "info",
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": true, "errors": ["no such method"]})),
            )
        }
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let scripted = {
        let mut inner = inner.lock().unwrap();
        inner.calls.push(Call {
            method: method.to_owned(),
            body: body.clone(),
        });
        inner.script.get_mut(method).and_then(VecDeque::pop_front)
    };
    match scripted {
        Some(Scripted::Answer(status, answer)) => {
            return (StatusCode::from_u16(status).unwrap(), Json(answer))
        }
        Some(Scripted::Stall(pause)) => tokio::time::sleep(pause).await,
        None => {}
    }
    if body["auth_login"] != LOGIN || body["auth_secret"] != SECRET {
        return (
            StatusCode::OK,
            Json(json!({"error": true, "errors": ["Invalid auth credentials"]})),
        );
    }
    let mut inner = inner.lock().unwrap();
    match method {
        "create" => {
            inner.next_id += 1;
            let id = format!("cp{:06}_{}", inner.next_id, std::process::id());
            let amount = body["amount"].as_str().unwrap_or_default().to_owned();
            let invoice = FakeInvoice {
                id: id.clone(),
                state: "notpayed".into(),
                amount: amount.clone(),
                currency: body["amount_currency"].as_str().unwrap_or_default().into(),
                extra: body["extra"].as_str().unwrap_or_default().into(),
                redirect_url: body["redirect_url"].as_str().unwrap_or_default().into(),
                callback_url: body["callback_url"].as_str().unwrap_or_default().into(),
                paid_amount: amount,
            };
            inner.invoices.insert(id.clone(), invoice);
            (
                StatusCode::OK,
                Json(json!({"error": false, "errors": [], "id": id,
                    "url": format!("https://pay.crystalpay.test/?i={id}"),
                    "type": "purchase", "rub_amount": "0"})),
            )
        }
        _ => {
            if inner.info_down {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": true, "errors": ["maintenance"]})),
                );
            }
            let id = body["id"].as_str().unwrap_or_default();
            if inner.info_down_for.contains(id) {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": true, "errors": ["maintenance"]})),
                );
            }
            match inner.invoices.get(id) {
                None => (
                    StatusCode::OK,
                    Json(json!({"error": true, "errors": ["Invoice not found"]})),
                ),
                Some(invoice) => (
                    StatusCode::OK,
                    Json(json!({"error": false, "errors": [], "id": invoice.id,
                        "url": format!("https://pay.crystalpay.test/?i={}", invoice.id),
                        "state": invoice.state, "type": "purchase", "method": "card",
                        "currency": invoice.currency, "amount": invoice.paid_amount,
                        "initial_amount": invoice.amount, "remaining_amount": "0",
                        "balance_amount": invoice.paid_amount, "extra": invoice.extra,
                        "created_at": "2026-01-01 00:00:00", "expired_at": "2026-01-01 01:00:00",
                        "final_at": null})),
                ),
            }
        }
    }
}

/// Settings that open CrystalPay against the fake.
pub fn configure(config: &mut Config, fake: &FakeCrystalPay) {
    config.crystalpay = Some(CrystalPayConfig {
        login: LOGIN.into(),
        secret: Secret::new(SECRET),
        salt: Secret::new(SALT),
        api_url: fake.url(),
        webhook_secret: Some(Secret::new(WEBHOOK_SECRET)),
        timeout: Duration::from_millis(500),
        sweep: Default::default(),
    });
}

/// A callback body as CrystalPay sends it, natively signed.
pub fn callback_body(invoice_id: &str, state: &str) -> Value {
    json!({"id": invoice_id, "signature": native_signature(invoice_id, SALT), "state": state,
           "type": "purchase", "method": "card", "currency": "RUB", "amount": "300.00",
           "initial_amount": "300.00", "remaining_amount": "0", "extra": ""})
}

impl TestApp {
    /// Posts a natively signed callback.
    pub async fn crystalpay_callback(&self, invoice_id: &str, state: &str) -> Answer {
        self.post(
            "/api/crystalpay/callback",
            None,
            &callback_body(invoice_id, state),
        )
        .await
    }

    /// Posts `body` with an `X-Signature` over `signed` (the same bytes unless a test says not).
    pub async fn crystalpay_hmac_callback(&self, body: &[u8], signed: &[u8]) -> Answer {
        let response = self
            .http
            .post(self.url("/api/crystalpay/callback"))
            .header("content-type", "application/json")
            .header("x-signature", raw_body_signature(WEBHOOK_SECRET, signed))
            .body(body.to_vec())
            .send()
            .await
            .expect("request sent");
        super::answer(response).await
    }
}
