//! The requests of each operation, as the real clients send them. Each answer becomes a
//! [`Sample`]: when it was due, when it was answered, and what went wrong if anything did.
//! A request that depends on an earlier answer (Payme's Create after its Check, an order read
//! after the placement) is due when that answer arrived, or at its own time if later.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use crate::mix::{Operation, Request};
use crate::setup::{Fixture, CUSTOMERS};
use crate::shop::{accrual, order_body, phone, Order};
use crate::target::Credentials;

/// Items of a 1C batch in the mix (a register's offline queue after a short outage).
pub const BATCH_ITEMS: usize = 100;
/// Payme performs once the payer has confirmed: this long after Check and Create.
const PERFORM_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

pub struct Sample {
    pub request: Request,
    pub due: Instant,
    pub answered: Instant,
    pub error: Option<String>,
}

/// What every operation needs.
pub struct Context {
    pub http: reqwest::Client,
    pub bases: Vec<String>,
    pub credentials: Credentials,
    pub fixture: Fixture,
    /// Makes external ids and update ids unique per run.
    pub run: i64,
    pub samples: UnboundedSender<Sample>,
}

/// Operation number `index` of the plan, the `nth` of its kind, due at `due`.
pub async fn perform(
    context: Arc<Context>,
    operation: Operation,
    (index, nth): (usize, usize),
    due: Instant,
) {
    let server = index % context.bases.len();
    // The second request of a pair goes to the next server: with several servers, a client
    // writes through one and reads through another.
    let next = (index + 1) % context.bases.len();
    let customer = index.wrapping_mul(7_919) % CUSTOMERS;
    match operation {
        Operation::OnecSingle => {
            let item = accrual(format!("L{}-s{index}", context.run), customer);
            let answer = context
                .post(server, "/api/cashback/v1/transactions")
                .header("x-api-key", &context.fixture.store_key)
                .json(&item)
                .send()
                .await;
            let error = check(answer, StatusCode::CREATED, |_| None).await.err();
            context.record(Request::OnecSingle, due, error);
        }
        Operation::OnecBatch => {
            let items: Vec<Value> = (0..BATCH_ITEMS)
                .map(|n| {
                    accrual(
                        format!("L{}-b{index}-{n}", context.run),
                        (customer + n * 13) % CUSTOMERS,
                    )
                })
                .collect();
            let answer = context
                .post(server, "/api/cashback/v1/transactions/batch")
                .header("x-api-key", &context.fixture.store_key)
                .json(&json!({ "transactions": items }))
                .send()
                .await;
            let error = check(answer, StatusCode::OK, |body| {
                let results = body["results"].as_array()?;
                let failed = results.iter().find(|r| r["status"] != "ok");
                match failed {
                    None if results.len() == BATCH_ITEMS => None,
                    None => Some(format!("{} results", results.len())),
                    Some(item) => Some(item.to_string()),
                }
            })
            .await
            .err();
            context.record(Request::OnecBatch, due, error);
        }
        Operation::PaymePayment => {
            let order = &context.fixture.payme_orders[nth];
            payme(&context, order, (server, next), (index, due)).await;
        }
        Operation::OrderPlaced => {
            let body = order_body(&format!("load-{}-{index}", context.run), &phone(customer));
            let answer = context
                .post(server, "/api/orders")
                .bearer_auth(&context.credentials.admin_token)
                .json(&body)
                .send()
                .await;
            let placed = check(answer, StatusCode::CREATED, |_| None).await;
            let read_due = Instant::now();
            context.record(Request::OrderPlace, due, placed.as_ref().err().cloned());
            let Ok(placed) = placed else { return };
            let path = format!(
                "/api/orders/{}?min_position={}",
                placed["order_id"].as_str().unwrap_or_default(),
                placed["position"]
            );
            let answer = context
                .http
                .get(format!("{}{path}", context.bases[next]))
                .bearer_auth(&context.credentials.admin_token)
                .send()
                .await;
            let error = check(answer, StatusCode::OK, |_| None).await.err();
            context.record(Request::OrderRead, read_due, error);
        }
        Operation::TelegramPayment => {
            let order = &context.fixture.telegram_orders[nth];
            let update_id = context.run * 1_000_000 + nth as i64;
            let update = json!({"update_id": update_id, "message": {
                "message_id": nth, "from": {"id": 7_000_000 + customer},
                "chat": {"id": 7_000_000 + customer, "type": "private"}, "date": 1,
                "successful_payment": {"currency": "UZS", "total_amount": order.amount,
                    "invoice_payload": order.order_id,
                    "telegram_payment_charge_id": format!("load-{update_id}"),
                    "provider_payment_charge_id": format!("load-provider-{update_id}")}}});
            let answer = context
                .post(server, "/api/telegram/webhook")
                .header(
                    "X-Telegram-Bot-Api-Secret-Token",
                    &context.credentials.webhook_secret,
                )
                .json(&update)
                .send()
                .await;
            let error = check(answer, StatusCode::OK, |body| {
                (body["ok"] != true || body["duplicate"] != false).then(|| body.to_string())
            })
            .await
            .err();
            context.record(Request::TelegramWebhook, due, error);
        }
    }
}

/// CheckPerformTransaction, CreateTransaction, and a second later PerformTransaction.
async fn payme(
    context: &Context,
    order: &Order,
    (server, next): (usize, usize),
    (index, due): (usize, Instant),
) {
    let payme_id = format!("{:024x}", (context.run as u128) << 40 | index as u128);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let account = json!({"order_id": order.order_id});
    let calls = [
        (
            Request::PaymeCheck,
            server,
            json!({"method": "CheckPerformTransaction", "id": index,
                   "params": {"amount": order.amount, "account": account}}),
        ),
        (
            Request::PaymeCreate,
            server,
            json!({"method": "CreateTransaction", "id": index, "params": {
                   "id": payme_id, "time": now_ms, "amount": order.amount, "account": account}}),
        ),
        (
            Request::PaymePerform,
            next,
            json!({"method": "PerformTransaction", "id": index, "params": {"id": payme_id}}),
        ),
    ];
    let mut due = due;
    let perform_at = due + PERFORM_AFTER;
    for (request, server, body) in calls {
        if request == Request::PaymePerform {
            tokio::time::sleep_until(perform_at).await;
            due = due.max(perform_at);
        }
        let answer = context
            .post(server, "/api/payme")
            .header("authorization", payme_auth(&context.credentials.payme_key))
            .json(&body)
            .send()
            .await;
        let error = check(answer, StatusCode::OK, |body| {
            let result = body.get("result")?;
            let refused = request == Request::PaymeCheck && result["allow"] != true;
            refused.then(|| body.to_string())
        })
        .await;
        // Payme answers errors with HTTP 200 and an `error` member.
        let error = match error {
            Ok(body) if body.get("result").is_none() => Some(body.to_string()),
            Ok(_) => None,
            Err(error) => Some(error),
        };
        let failed = error.is_some();
        context.record(request, due, error);
        if failed {
            return; // Payme would not go on either
        }
        due = Instant::now();
    }
}

fn payme_auth(key: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("Paycom:{key}")))
}

impl Context {
    fn post(&self, server: usize, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.bases[server]))
    }

    fn record(&self, request: Request, due: Instant, error: Option<String>) {
        let sample = Sample {
            request,
            due,
            answered: Instant::now(),
            error,
        };
        // The collector outlives every operation; a send can only fail after a time-out.
        let _ = self.samples.send(sample);
    }
}

/// The answer's JSON when the status is the expected one and `refusal` finds nothing wrong in
/// it; else a short description of the failure.
async fn check(
    answer: reqwest::Result<reqwest::Response>,
    expected: StatusCode,
    refusal: impl FnOnce(&Value) -> Option<String>,
) -> Result<Value, String> {
    let response = answer.map_err(|error| format!("transport: {error}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|error| format!("reading the answer: {error}"))?;
    if status != expected {
        return Err(format!("HTTP {status}: {}", shorten(&text)));
    }
    let body: Value = serde_json::from_str(&text)
        .map_err(|_| format!("HTTP {status}, not JSON: {}", shorten(&text)))?;
    match refusal(&body) {
        None => Ok(body),
        Some(problem) => Err(shorten(&problem)),
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(200).collect()
}
