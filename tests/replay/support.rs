//! A mixed workload through the HTTP API (orders, Payme, 1C, Telegram, CrystalPay, cashback
//! holds), and the
//! waits and table snapshots the replay tests compare.

use std::time::{Duration, Instant};

use ledger::config::Secret;
use ledger_events::EventStore;
use ledger_projections::{checkpoint, read_models};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::crystalpay::{self as crystalpay, FakeCrystalPay};
use crate::common::payme_caller::{now_ms, PaymeCaller};
use crate::common::telegram::{configure, refunded_payment, successful_payment, FakeBotApi};
use crate::common::{spawn_app_with, TestApp, ADMIN_TOKEN};

pub const PAYME_KEY: &str = "payme-replay-key-0a1b2c3d4e5f60718293";

/// An app with Payme, Telegram and CrystalPay (test mode on) configured; the fakes (the Bot
/// API and CrystalPay) must outlive it.
pub async fn full_app(pool: PgPool) -> (TestApp, PaymeCaller, (FakeBotApi, FakeCrystalPay)) {
    let fake = FakeBotApi::start().await;
    let gateway = FakeCrystalPay::start().await;
    let app = spawn_app_with(pool, |config| {
        config.payme_keys = vec![Secret::new(PAYME_KEY)];
        configure(config, &fake);
        crystalpay::configure(config, &gateway);
        config.test_mode = true;
    })
    .await;
    let payme = PaymeCaller::new(&app, PAYME_KEY);
    (app, payme, (fake, gateway))
}

/// Places a UZS order of one item; returns (order id, amount in tiyin).
pub async fn order(app: &TestApp, external_id: &str, phone: &str, price: &str) -> (String, i64) {
    place(
        app,
        json!({"external_id": external_id, "customer_phone": phone, "currency": "UZS",
               "items": [{"sku": "x", "title": "Thing", "qty": 1, "price": price}]}),
    )
    .await
}

pub async fn place(app: &TestApp, body: Value) -> (String, i64) {
    let answer = app.post("/api/orders", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let amount = answer.body["amount"].as_str().unwrap();
    let (whole, fraction) = amount.split_once('.').unwrap();
    let minor = whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap();
    (answer.body["order_id"].as_str().unwrap().to_owned(), minor)
}

async fn post_ok(app: &TestApp, path: &str) {
    let answer = app.post(path, Some(ADMIN_TOKEN), &json!({})).await;
    assert!(answer.status.is_success(), "{path}: {:?}", answer.body);
}

/// One round of everything that exists, with names made unique by `round`: Payme paid,
/// cancelled before and after perform; an order completed, one cancelled; 1C accruals, a
/// debit and a release; a Telegram charge and a refund; an order redeeming cashback (a hold)
/// then cancelled (the hold voided).
pub async fn mixed_round(app: &TestApp, payme: &PaymeCaller, store_key: &str, round: u32) {
    let phone = |n: u32| format!("99891{:03}{:04}", round % 1000, n);
    // Payme: paid and completed; created and cancelled; paid then cancelled (refund).
    let (paid, amount) = order(app, &format!("r{round}-paid"), &phone(1), "1500").await;
    payme.pay(&format!("p{round}-a"), &paid, amount).await;
    post_ok(app, &format!("/api/orders/{paid}/complete")).await;
    let (dropped, amount) = order(app, &format!("r{round}-dropped"), &phone(2), "700").await;
    payme
        .create(&format!("p{round}-b"), now_ms(), &dropped, amount)
        .await
        .result();
    payme.cancel(&format!("p{round}-b"), 3).await.result();
    let (refunded, amount) = order(app, &format!("r{round}-refunded"), &phone(3), "900").await;
    payme.pay(&format!("p{round}-c"), &refunded, amount).await;
    payme.cancel(&format!("p{round}-c"), 5).await.result();
    // An order cancelled by the shop.
    let (cancelled, _) = order(app, &format!("r{round}-cancelled"), &phone(4), "300").await;
    post_ok(app, &format!("/api/orders/{cancelled}/cancel")).await;

    // 1C: accruals, a debit, a debit released.
    app.customer_with_phone(&phone(5)).await;
    for (n, item) in [
        onec(round, "acc-1", "accrual", "250.00", &phone(1), None),
        onec(round, "acc-2", "accrual", "80.00", &phone(5), None),
        onec(round, "deb-1", "debit", "40.00", &phone(5), None),
        onec(round, "rel-1", "release", "40.00", &phone(5), Some("deb-1")),
    ]
    .into_iter()
    .enumerate()
    {
        let answer = app
            .onec_post("/api/cashback/v1/transactions", Some(store_key), &item)
            .await;
        assert!(answer.status.is_success(), "1C item {n}: {:?}", answer.body);
    }

    // Redeeming cashback places a hold; cancelling the order voids it.
    let (held, _) = place(
        app,
        json!({"external_id": format!("r{round}-held"), "customer_phone": phone(1),
               "currency": "UZS", "cashback_to_redeem": "100.00",
               "items": [{"sku": "x", "title": "Thing", "qty": 1, "price": "500"}]}),
    )
    .await;
    post_ok(app, &format!("/api/orders/{held}/cancel")).await;

    // Telegram: a Mini App user pays one order and is refunded another.
    let user = 7_000_000 + i64::from(round);
    let (_, customer_id) = app.telegram_login(user).await;
    for (n, refund) in [(1, false), (2, true)] {
        let answer = app
            .post(
                "/api/orders",
                Some(ADMIN_TOKEN),
                &json!({"external_id": format!("r{round}-tg{n}"), "customer_id": customer_id,
                        "currency": "UZS",
                        "items": [{"sku": "tea", "title": "Tea", "qty": 1, "price": "1200.00"}]}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        let order_id = answer.body["order_id"].as_str().unwrap().to_owned();
        let charge = format!("charge-{round}-{n}");
        let update_id = i64::from(round) * 10 + n;
        let paid = successful_payment(update_id * 2, user, &order_id, "UZS", 120_000, &charge);
        assert_eq!(app.send_update(&paid).await.status, StatusCode::OK);
        if refund {
            let back =
                refunded_payment(update_id * 2 + 1, user, &order_id, "UZS", 120_000, &charge);
            assert_eq!(app.send_update(&back).await.status, StatusCode::OK);
        }
    }

    // CrystalPay: an invoice that runs out unpaid (the test-mode expiry, re-checked with
    // invoice/info like a real callback), waited for so that the log stands still.
    let (unpaid, _) = order(app, &format!("r{round}-cp"), &phone(6), "2000").await;
    let invoice = app
        .post(
            "/api/crystalpay/invoice",
            Some(ADMIN_TOKEN),
            &json!({"order_id": unpaid, "context": "web"}),
        )
        .await;
    assert_eq!(invoice.status, StatusCode::CREATED, "{:?}", invoice.body);
    let invoice_id = invoice.body["invoice_id"].as_str().unwrap().to_owned();
    let expire = format!("/api/test/crystalpay/{invoice_id}/expire");
    assert_eq!(
        app.post(&expire, None, &json!({})).await.status,
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state: String = sqlx::query_scalar(
            "SELECT state FROM crystalpay_invoices WHERE invoice_id = $1 AND NOT check_pending",
        )
        .bind(&invoice_id)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
        .unwrap_or_default();
        if state == "expired" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{invoice_id} expired within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn onec(
    round: u32,
    id: &str,
    kind: &str,
    amount: &str,
    phone: &str,
    reference: Option<&str>,
) -> Value {
    let mut item = json!({"external_id": format!("r{round}-{id}"), "type": kind,
        "amount": amount, "user_phone": phone, "created_at": "2026-11-20T15:04:05",
        "register_id": "R-1"});
    if let Some(reference) = reference {
        item["ref_external_id"] = json!(format!("r{round}-{reference}"));
    }
    item
}

/// Waits (bounded) until every asynchronous projection has consumed the log as it stands.
pub async fn caught_up(pool: &PgPool) {
    let store = EventStore::new(pool.clone());
    let head = store.feed_head().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for projector in read_models::asynchronous() {
        loop {
            checkpoint::ensure_exists(pool, projector.name())
                .await
                .unwrap();
            let at = checkpoint::load(pool, projector.name()).await.unwrap();
            if at >= head {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} stuck at {at:?}, head {head:?}",
                projector.name()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Waits until the outbox sender has settled every message (against the fake Bot API each is
/// delivered at once) and the projections have applied the outcomes: before that, the sender
/// changes the outbox's rows between two snapshots of it.
pub async fn outbox_settled(pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'pending'")
                .fetch_one(pool)
                .await
                .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} outbox messages still pending"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    caught_up(pool).await;
}

/// Every row of a table as JSON, sorted (for before/after comparisons).
pub async fn snapshot(pool: &PgPool, table: &str) -> Vec<Value> {
    let mut rows: Vec<Value> =
        sqlx::query_scalar(&format!("SELECT to_jsonb(t) FROM public.{table} t"))
            .fetch_all(pool)
            .await
            .unwrap();
    rows.sort_by_key(|row| row.to_string());
    rows
}

/// Every table of every projector, by name.
pub async fn snapshot_all(pool: &PgPool) -> Vec<(String, Vec<Value>)> {
    let mut all = Vec::new();
    for projector in read_models::inline()
        .into_iter()
        .chain(read_models::asynchronous())
    {
        for table in projector.tables() {
            all.push(((*table).to_owned(), snapshot(pool, table).await));
        }
    }
    all
}

/// The trial balance of the double-entry projection: (currency, debits − credits) that are not
/// zero. Empty when the books balance.
pub async fn unbalanced_currencies(pool: &PgPool) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT currency, (sum(debit_minor) - sum(credit_minor))::bigint FROM account_balances \
         GROUP BY currency HAVING sum(debit_minor) <> sum(credit_minor)",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}
