//! The order contract's edges: guest orders, known currencies, orders paid entirely with
//! cashback, repeats that always get the original answer, and expiry that is never blocked.

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use common::local_server::{serve, ServerTask};
use common::{spawn_app, spawn_app_with, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

const PHONE: &str = "998901112233";

fn items(price: &str) -> Value {
    json!([{"sku": "tea", "title": "Green tea", "qty": 2, "price": price}])
}

async fn order(app: &TestApp, body: Value) -> common::Answer {
    app.post("/api/orders", Some(ADMIN_TOKEN), &body).await
}

/// Gives the customer with `PHONE` `amount` of UZS cashback through a 1C accrual.
async fn customer_with_cashback(app: &TestApp, amount: &str) -> String {
    let customer = app.customer_with_phone(PHONE).await;
    let key = app.store_key("store-1", "UZS", "Asia/Tashkent").await;
    let accrual = app
        .onec_post(
            "/api/cashback/v1/transactions",
            Some(&key),
            &common::onec::operation("A-1", "accrual", amount, PHONE),
        )
        .await;
    assert_eq!(accrual.status, StatusCode::CREATED, "{:?}", accrual.body);
    customer
}

async fn cashback(app: &TestApp, customer: &str) -> Value {
    app.admin_read(&format!("/api/customers/{customer}/cashback?currency=UZS"))
        .await
}

#[sqlx::test]
async fn a_guest_order_is_placed_without_a_customer(pool: PgPool) {
    let app = spawn_app(pool).await;

    let placed = order(
        &app,
        json!({"external_id": "G-1", "currency": "UZS", "items": items("100.00")}),
    )
    .await;

    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    assert_eq!(placed.body["customer_id"], Value::Null);
    assert_eq!(placed.body["amount"], "200.00");
    let order_id = placed.body["order_id"].as_str().unwrap();
    let position = placed.body["position"].as_i64().unwrap();
    let read = app
        .get(
            &format!("/api/orders/{order_id}?min_position={position}"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(read.body["customer_id"], Value::Null);
    assert_eq!(read.body["status"], "awaiting_payment");
}

#[sqlx::test]
async fn a_guest_order_cannot_redeem_cashback(pool: PgPool) {
    let app = spawn_app(pool).await;

    let refused = order(
        &app,
        json!({"external_id": "G-2", "currency": "UZS", "items": items("100.00"),
               "cashback_to_redeem": "10.00"}),
    )
    .await;

    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.error(), "invalid_request");
    assert_eq!(refused.body["field"], "cashback_to_redeem");
}

#[sqlx::test]
async fn only_currencies_the_ledger_knows_are_accepted(pool: PgPool) {
    let app = spawn_app(pool).await;

    for (index, code) in ["ZZZ", "JPY", "usd", "US"].iter().enumerate() {
        let refused = order(
            &app,
            json!({"external_id": format!("C-{index}"), "currency": code, "items": items("1.00")}),
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{code}: {:?}",
            refused.body
        );
        assert_eq!(refused.error(), "invalid_request", "{code}");
        assert_eq!(refused.body["field"], "currency", "{code}");
    }
    for code in ["UZS", "RUB", "KZT", "XTR"] {
        let price = if code == "XTR" { "25" } else { "1.00" };
        let accepted = order(
            &app,
            json!({"external_id": format!("ok-{code}"), "currency": code, "items": items(price)}),
        )
        .await;
        assert_eq!(
            accepted.status,
            StatusCode::CREATED,
            "{code}: {:?}",
            accepted.body
        );
        assert_eq!(accepted.body["currency"], code);
    }
}

#[sqlx::test]
async fn an_order_covered_by_cashback_is_paid_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let customer = customer_with_cashback(&app, "500.00").await;

    let placed = order(
        &app,
        json!({"external_id": "Z-1", "customer_id": customer, "currency": "UZS",
               "items": items("100.00"), "cashback_to_redeem": "200.00"}),
    )
    .await;

    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    assert_eq!(placed.body["status"], "paid");
    assert_eq!(placed.body["amount"], "0.00");
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    let position = placed.body["position"].as_i64().unwrap();
    let read = app
        .get(
            &format!("/api/orders/{order_id}?min_position={position}"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(read.body["status"], "paid", "{:?}", read.body);
    let balance = cashback(&app, &customer).await;
    assert_eq!(
        balance["balance"], "300.00",
        "the hold was posted: {balance}"
    );
    assert_eq!(balance["held"], "0.00");
    assert_eq!(balance["available"], "300.00");

    let repeat = order(
        &app,
        json!({"external_id": "Z-1", "customer_id": customer, "currency": "UZS",
               "items": items("100.00"), "cashback_to_redeem": "200.00"}),
    )
    .await;
    assert_eq!(repeat.status, StatusCode::OK);
    assert_eq!(repeat.body["status"], "paid");
    assert_eq!(repeat.body["order_id"], order_id.as_str());
}

#[sqlx::test]
async fn concurrent_repeats_of_a_redeeming_order_all_get_the_original_answer(pool: PgPool) {
    let app = spawn_app(pool).await;
    let customer = customer_with_cashback(&app, "50.00").await;
    let body = json!({"external_id": "R-1", "customer_id": customer, "currency": "UZS",
                      "items": items("100.00"), "cashback_to_redeem": "50.00"});

    let answers = futures::future::join_all((0..10).map(|_| order(&app, body.clone()))).await;

    let created = answers
        .iter()
        .filter(|answer| answer.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    let first_id = &answers
        .iter()
        .find(|answer| answer.status == StatusCode::CREATED)
        .unwrap()
        .body["order_id"];
    for answer in &answers {
        assert!(
            answer.status == StatusCode::CREATED || answer.status == StatusCode::OK,
            "every repeat answers like the first: {answer:?}"
        );
        assert_eq!(&answer.body["order_id"], first_id);
        assert_eq!(answer.body["cashback_redeemed"], "50.00");
    }
    let balance = cashback(&app, &customer).await;
    assert_eq!(balance["held"], "50.00", "held once: {balance}");
}

/// A CBU-shaped rate source that can be switched off.
#[derive(Clone, Default)]
struct RateSource {
    up: Arc<Mutex<bool>>,
}

async fn start_rate_source(source: RateSource) -> (String, ServerTask) {
    async fn rates(State(source): State<RateSource>) -> (StatusCode, String) {
        if *source.up.lock().unwrap() {
            let body =
                json!([{"Ccy": "USD", "Rate": "12650.45", "Nominal": "1", "Date": "22.11.2026"}]);
            (StatusCode::OK, body.to_string())
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "down".into())
        }
    }
    let router = Router::new().route("/rates", get(rates)).with_state(source);
    let (address, task) = serve(router).await;
    (format!("http://{address}/rates"), task)
}

#[sqlx::test]
async fn a_repeated_dollar_order_is_answered_while_the_rate_source_is_down(pool: PgPool) {
    let source = RateSource::default();
    *source.up.lock().unwrap() = true;
    let (url, _rate_source) = start_rate_source(source.clone()).await;
    let body = json!({"external_id": "USD-1", "currency": "USD", "items": items("10.00")});

    let first_app = spawn_app_with(pool.clone(), |config| config.fx_rates_url = url.clone()).await;
    let first = order(&first_app, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    first_app.stop().await;

    // A fresh process (empty rate cache) while the source is down.
    *source.up.lock().unwrap() = false;
    let app = spawn_app_with(pool, |config| config.fx_rates_url = url.clone()).await;
    let repeat = order(&app, body).await;
    assert_eq!(repeat.status, StatusCode::OK, "{:?}", repeat.body);
    assert_eq!(repeat.body["order_id"], first.body["order_id"]);
    let other = order(
        &app,
        json!({"external_id": "USD-2", "currency": "USD", "items": items("10.00")}),
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        other.body
    );
    assert_eq!(other.error(), "fx_unavailable");
}

const PAYME_KEY: &str = "payme-contract-test-key-0a1b2c3d4e5f";

/// Polls an order until `done` holds for it (with a deadline).
async fn wait_for_order(app: &TestApp, order_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let read = app
            .get(&format!("/api/orders/{order_id}"), Some(ADMIN_TOKEN))
            .await;
        if read.status == StatusCode::OK && done(&read.body) {
            return read.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order {order_id} never reached the expected state: {:?}",
            read.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[sqlx::test]
async fn the_expiry_sweep_cancels_due_orders_and_passes_over_held_ones(pool: PgPool) {
    let app = spawn_app_with(pool, |config| {
        config.order_ttl_hours = 0;
        config.payme_keys = vec![ledger::config::Secret::new(PAYME_KEY)];
    })
    .await;
    let payme = common::payme_caller::PaymeCaller::new(&app, PAYME_KEY);
    let mut orders = Vec::new();
    for index in 0..3 {
        let placed = order(
            &app,
            json!({"external_id": format!("E-{index}"), "currency": "UZS", "items": items("10.00")}),
        )
        .await;
        assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
        orders.push(placed.body["order_id"].as_str().unwrap().to_owned());
    }
    // The first two are held by Payme transactions in state 1.
    for held in &orders[..2] {
        payme
            .create(
                &common::payme_caller::payme_id(),
                common::payme_caller::now_ms(),
                held,
                2_000,
            )
            .await
            .result();
        wait_for_order(&app, held, |body| body["payments"][0]["state"] == "1").await;
    }

    let report = ledger::orders::expiry::sweep(&app.server.state)
        .await
        .unwrap();

    assert_eq!(report.expired, 1, "{report:?}");
    assert_eq!(report.failed, 0);
    wait_for_order(&app, &orders[2], |body| body["status"] == "cancelled").await;
    for held in &orders[..2] {
        let body = wait_for_order(&app, held, |_| true).await;
        assert_eq!(
            body["status"], "awaiting_payment",
            "a held order stays: {body}"
        );
    }
}

#[sqlx::test]
async fn online_holds_and_1c_chunks_on_the_same_customers_never_fail(pool: PgPool) {
    let app = spawn_app_with(pool, |config| config.limits.onec_batches_per_store = 8).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    let phones: Vec<String> = (0..12).map(|n| format!("99890555{n:04}")).collect();
    let mut customers = Vec::new();
    for phone in &phones {
        customers.push(app.customer_with_phone(phone).await);
    }
    let opening: Vec<Value> = phones
        .iter()
        .map(|phone| common::onec::operation(&format!("open-{phone}"), "accrual", "100.00", phone))
        .collect();
    let opened = app
        .onec_post(
            "/api/cashback/v1/transactions/batch",
            Some(&key),
            &json!({"transactions": opening}),
        )
        .await;
    assert_eq!(opened.status, StatusCode::OK, "{:?}", opened.body);

    let batches = (0..4).map(|round| {
        let items: Vec<Value> = phones
            .iter()
            .map(|phone| {
                common::onec::operation(&format!("b{round}-{phone}"), "accrual", "1.00", phone)
            })
            .collect();
        let app = &app;
        let key = &key;
        async move {
            app.onec_post(
                "/api/cashback/v1/transactions/batch",
                Some(key),
                &json!({"transactions": items}),
            )
            .await
        }
    });
    let online = customers.iter().enumerate().map(|(index, customer)| {
        let app = &app;
        async move {
            let placed = order(
                app,
                json!({"external_id": format!("H-{index}"), "customer_id": customer,
                       "currency": "UZS", "items": items("10.00"), "cashback_to_redeem": "5.00"}),
            )
            .await;
            assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
            let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
            let cancelled = app
                .post(
                    &format!("/api/orders/{order_id}/cancel"),
                    Some(ADMIN_TOKEN),
                    &json!({}),
                )
                .await;
            assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
        }
    });

    let (batch_answers, ()) = tokio::join!(futures::future::join_all(batches), async {
        futures::future::join_all(online).await;
    });

    for answer in &batch_answers {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        for result in answer.body["results"].as_array().unwrap() {
            assert_eq!(result["status"], "ok", "{result}");
        }
    }
    for customer in &customers {
        let balance = cashback(&app, customer).await;
        assert_eq!(balance["balance"], "104.00", "{balance}");
        assert_eq!(balance["held"], "0.00", "every hold was voided: {balance}");
    }
}
