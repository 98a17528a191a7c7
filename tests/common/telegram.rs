//! A local HTTP server playing the Telegram Bot API (`POST /bot<token>/<method>`): it records
//! every call and answers from a script (a queue of answers per method, then a default `ok`).
//! Also what a test needs to act as Telegram towards our server: signed `initData`, webhook
//! updates with the secret header.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::local_server::{serve, ServerTask};
use super::{answer, Answer, TestApp};
use ledger::config::{Config, Secret};
use ledger::telegram::init_data;

pub const BOT_TOKEN: &str = "7000000001:AAtest-bot-token-never-logged";
pub const WEBHOOK_SECRET: &str = "webhook-secret-0123456789";
pub const PROVIDER_TOKEN: &str = "provider-token:TEST";

/// One call the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub token: String,
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    script: HashMap<String, VecDeque<(u16, Value)>>,
    next_message_id: i64,
}

/// The fake Bot API; stops when the last handle is dropped.
#[derive(Clone)]
pub struct FakeBotApi {
    pub address: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _task: ServerTask,
}

impl FakeBotApi {
    pub async fn start() -> FakeBotApi {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let router = Router::new().fallback(handle).with_state(inner.clone());
        let (address, task) = serve(router).await;
        FakeBotApi {
            address,
            inner,
            _task: task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The next call of `method` is answered with this HTTP status and body.
    pub fn then_answer(&self, method: &str, status: u16, body: Value) {
        self.inner
            .lock()
            .unwrap()
            .script
            .entry(method.to_owned())
            .or_default()
            .push_back((status, body));
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|call| call.method == method)
            .cloned()
            .collect()
    }

    /// Waits (bounded) until `method` has been called at least `count` times.
    pub async fn wait_for_calls(
        &self,
        method: &str,
        count: usize,
        deadline: Duration,
    ) -> Vec<Call> {
        let until = Instant::now() + deadline;
        loop {
            let calls = self.calls(method);
            if calls.len() >= count {
                return calls;
            }
            assert!(
                Instant::now() < until,
                "{method} was called {} times within {deadline:?}, expected {count}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    body: Bytes,
) -> impl IntoResponse {
    let path = uri.path().trim_start_matches('/');
    let (bot, method) = path.split_once('/').unwrap_or((path, ""));
    let token = bot.strip_prefix("bot").unwrap_or("").to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = inner.lock().unwrap();
    inner.calls.push(Call {
        method: method.to_owned(),
        token,
        body,
        at: Instant::now(),
    });
    if let Some((status, answer)) = inner
        .script
        .get_mut(method)
        .and_then(|queue| queue.pop_front())
    {
        return (StatusCode::from_u16(status).unwrap(), Json(answer));
    }
    let result = match method {
        "createInvoiceLink" => json!("https://t.me/$fake-invoice-link"),
        "sendMessage" => {
            inner.next_message_id += 1;
            json!({"message_id": inner.next_message_id})
        }
        _ => json!(true),
    };
    (StatusCode::OK, Json(json!({"ok": true, "result": result})))
}

/// A 429 answer asking to wait `seconds`.
pub fn too_many_requests(seconds: u64) -> (u16, Value) {
    (
        429,
        json!({"ok": false, "error_code": 429,
               "description": format!("Too Many Requests: retry after {seconds}"),
               "parameters": {"retry_after": seconds}}),
    )
}

/// Settings that open Telegram against the fake.
pub fn configure(config: &mut Config, fake: &FakeBotApi) {
    config.telegram.bot_token = Some(Secret::new(BOT_TOKEN));
    config.telegram.api_url = fake.url();
    config.telegram.webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
    config.telegram.payment_provider_token = Secret::new(PROVIDER_TOKEN);
}

/// `initData` for this user, signed with [`BOT_TOKEN`], dated now.
pub fn init_data_for(user_id: i64, first_name: &str) -> String {
    let user = json!({"id": user_id, "first_name": first_name, "language_code": "ru"}).to_string();
    let now = chrono::Utc::now().timestamp().to_string();
    init_data::sign(
        &[
            ("auth_date", now.as_str()),
            ("query_id", "AAH-test"),
            ("user", user.as_str()),
        ],
        BOT_TOKEN,
    )
}

impl TestApp {
    /// Logs a Telegram user in through the Mini App route; returns (session token, customer id).
    pub async fn telegram_login(&self, user_id: i64) -> (String, String) {
        let answer = self
            .post(
                "/api/telegram/auth",
                None,
                &json!({"init_data": init_data_for(user_id, "Aziz")}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        (
            answer.body["token"].as_str().unwrap().to_owned(),
            answer.body["customer_id"].as_str().unwrap().to_owned(),
        )
    }

    /// Delivers a Bot API update to our webhook with the right secret.
    pub async fn send_update(&self, update: &Value) -> Answer {
        self.send_update_with_secret(update, Some(WEBHOOK_SECRET))
            .await
    }

    pub async fn send_update_with_secret(&self, update: &Value, secret: Option<&str>) -> Answer {
        let mut request = self
            .http
            .post(self.url("/api/telegram/webhook"))
            .json(update);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        answer(request.send().await.expect("request sent")).await
    }
}

/// `message.successful_payment` from `payer`.
pub fn successful_payment(
    update_id: i64,
    payer: i64,
    order_id: &str,
    currency: &str,
    total: i64,
    charge_id: &str,
) -> Value {
    json!({"update_id": update_id, "message": {"message_id": update_id, "from": {"id": payer},
        "chat": {"id": payer, "type": "private"}, "date": 1,
        "successful_payment": {"currency": currency, "total_amount": total,
            "invoice_payload": order_id, "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": format!("prov-{charge_id}")}}})
}

/// `message.refunded_payment`.
pub fn refunded_payment(
    update_id: i64,
    payer: i64,
    order_id: &str,
    currency: &str,
    total: i64,
    charge_id: &str,
) -> Value {
    json!({"update_id": update_id, "message": {"message_id": update_id, "from": {"id": payer},
        "chat": {"id": payer, "type": "private"}, "date": 1,
        "refunded_payment": {"currency": currency, "total_amount": total,
            "invoice_payload": order_id, "telegram_payment_charge_id": charge_id}}})
}

/// A `pre_checkout_query` from `payer`.
pub fn pre_checkout(
    update_id: i64,
    payer: i64,
    order_id: &str,
    currency: &str,
    total: i64,
) -> Value {
    json!({"update_id": update_id, "pre_checkout_query": {"id": format!("q-{update_id}"),
        "from": {"id": payer, "first_name": "Aziz"}, "currency": currency,
        "total_amount": total, "invoice_payload": order_id}})
}
