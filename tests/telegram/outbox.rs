//! The outbox: facts become bot messages, sent once, retried as Telegram asks, given up on
//! when the user blocked the bot, and not lost when the server dies before sending.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::telegram::{
    init_data_for, successful_payment, too_many_requests, FakeBotApi, BOT_TOKEN, WEBHOOK_SECRET,
};
use crate::common::ADMIN_TOKEN;
use crate::support::{order_for, outbox, telegram_app, wait_for_message_state};

const DEADLINE: Duration = Duration::from_secs(20);

fn texts(fake: &FakeBotApi) -> Vec<String> {
    fake.calls("sendMessage")
        .iter()
        .map(|call| call.body["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[sqlx::test]
async fn a_429_is_waited_out_and_the_message_goes_once(pool: PgPool) {
    let (app, fake) = telegram_app(pool).await;
    let (_, customer_id) = app.telegram_login(701).await;
    let (order_id, amount) = order_for(&app, &customer_id, "n-1", "XTR", "15").await;
    let (status, body) = too_many_requests(1);
    fake.then_answer("sendMessage", status, body);
    let paid = app
        .send_update(&successful_payment(
            50, 701, &order_id, "XTR", amount, "c-n1",
        ))
        .await;
    assert_eq!(paid.status, StatusCode::OK);

    let message = wait_for_message_state(&app, "OrderPaid", "delivered", DEADLINE).await;
    let calls = fake.calls("sendMessage");
    assert!(
        calls[1].at.duration_since(calls[0].at) >= Duration::from_secs(1),
        "the second try waited for retry_after"
    );
    assert_eq!(message["chat_id"], 701);
    assert_eq!(message["attempts"], 1, "a 429 is not an attempt");
    assert_eq!(message["text"], "Order n-1: payment of 30 XTR received.");
    assert_eq!(app.count_events("OutboxMessageDelivered").await, 1);

    // A later fact goes out after it; the first is never sent again.
    let done = app
        .post(
            &format!("/api/orders/{order_id}/complete"),
            Some(ADMIN_TOKEN),
            &json!({}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK);
    wait_for_message_state(&app, "OrderCompleted", "delivered", DEADLINE).await;
    let sent = texts(&fake);
    assert_eq!(
        sent,
        [
            "Order n-1: payment of 30 XTR received.",
            "Order n-1: payment of 30 XTR received.",
            "Order n-1 is completed. Thank you!",
        ],
        "one refused try, one delivery, then the next fact"
    );
    assert_eq!(outbox(&app).await["summary"]["pending"], 0);
    app.stop().await;
}

#[sqlx::test]
async fn a_blocked_bot_stops_the_retries(pool: PgPool) {
    let (app, fake) = telegram_app(pool).await;
    let (_, customer_id) = app.telegram_login(702).await;
    let (order_id, amount) = order_for(&app, &customer_id, "b-1", "XTR", "5").await;
    fake.then_answer(
        "sendMessage",
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    );
    app.send_update(&successful_payment(
        60, 702, &order_id, "XTR", amount, "c-b1",
    ))
    .await;
    let failed = wait_for_message_state(&app, "OrderPaid", "failed", DEADLINE).await;
    assert_eq!(failed["failure_reason"], "blocked");
    assert_eq!(app.count_events("OutboxMessageFailed").await, 1);

    // The next fact is tried (the user may unblock), and the blocked one is not tried again.
    app.post(
        &format!("/api/orders/{order_id}/complete"),
        Some(ADMIN_TOKEN),
        &json!({}),
    )
    .await;
    wait_for_message_state(&app, "OrderCompleted", "delivered", DEADLINE).await;
    assert_eq!(texts(&fake).len(), 2);
    let summary = outbox(&app).await["summary"].clone();
    assert_eq!(summary["failed"]["blocked"], 1);
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ledger_outbox_failed{reason=\"blocked\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ledger_outbox_pending 0"), "{metrics}");
    app.stop().await;
}

/// The test database's URL (with the cluster's password, from `DATABASE_URL`).
fn database_url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests");
    let name = pool.connect_options().get_database().unwrap().to_owned();
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

/// The real `ledger` binary, killed (by its PID) when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(database_url: &str, fake: &FakeBotApi) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("LEDGER_LISTEN", format!("127.0.0.1:{port}"))
            .env("LEDGER_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("LEDGER_TELEGRAM_BOT_TOKEN", BOT_TOKEN)
            .env("LEDGER_TELEGRAM_API_URL", fake.url())
            .env("LEDGER_TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the ledger binary starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = reqwest::get(format!("{}/readyz", server.base)).await {
                if response.status() == StatusCode::OK {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not become ready");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn post(&self, path: &str, token: Option<&str>, secret: bool, body: &Value) -> Value {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", WEBHOOK_SECRET);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits (bounded) until the outbox row of this fact type satisfies `done`.
async fn wait_for_row(pool: &PgPool, fact_type: &str, condition: &str) {
    let deadline = Instant::now() + DEADLINE;
    let query = format!("SELECT count(*) FROM outbox WHERE fact_type = $1 AND {condition}");
    loop {
        let found: i64 = sqlx::query_scalar(&query)
            .bind(fact_type)
            .fetch_one(pool)
            .await
            .unwrap();
        if found > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {fact_type} row with {condition}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test]
async fn a_server_killed_between_the_fact_and_the_send_still_sends_once(pool: PgPool) {
    let fake = FakeBotApi::start().await;
    let url = database_url_of(&pool);
    let mut server = Server::start(&url, &fake).await;
    let login = server
        .post(
            "/api/telegram/auth",
            None,
            false,
            &json!({"init_data": init_data_for(703, "Aziz")}),
        )
        .await;
    let customer_id = login["customer_id"].as_str().unwrap().to_owned();
    let placed = server
        .post(
            "/api/orders",
            Some(ADMIN_TOKEN),
            false,
            &json!({"external_id": "k-1", "customer_id": customer_id, "currency": "XTR",
                    "items": [{"sku": "tea", "title": "Tea", "qty": 1, "price": "20"}]}),
        )
        .await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();

    // The first send fails (Telegram down); the server is killed once that try is recorded and
    // the message waits for its next attempt: the fact is committed, the message not sent.
    fake.then_answer(
        "sendMessage",
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
    );
    server
        .post(
            "/api/telegram/webhook",
            None,
            true,
            &successful_payment(70, 703, &order_id, "XTR", 20, "c-k1"),
        )
        .await;
    wait_for_row(
        &pool,
        "OrderPaid",
        "attempts = 1 AND claimed_until IS NULL AND last_error IS NOT NULL",
    )
    .await;
    server.kill();
    assert_eq!(fake.calls("sendMessage").len(), 1);

    let server = Server::start(&url, &fake).await;
    wait_for_row(&pool, "OrderPaid", "state = 'delivered'").await;
    let delivered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'OutboxMessageDelivered'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(delivered, 1);
    assert_eq!(texts(&fake), ["Order k-1: payment of 20 XTR received."; 2]);
    drop(server);
}
