//! The order contract's edges: guest orders, known currencies, orders paid entirely with
//! cashback, repeats that always get the original answer, and expiry that is never blocked.

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
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
    let answer = app
        .get(
            &format!("/api/customers/{customer}/cashback?currency=UZS"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body
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

async fn start_rate_source(source: RateSource) -> String {
    async fn rates(State(source): State<RateSource>) -> (StatusCode, String) {
        if *source.up.lock().unwrap() {
            let body =
                json!([{"Ccy": "USD", "Rate": "12650.45", "Nominal": "1", "Date": "22.11.2026"}]);
            (StatusCode::OK, body.to_string())
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "down".into())
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = Router::new().route("/rates", get(rates)).with_state(source);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}/rates")
}

#[sqlx::test]
async fn a_repeated_dollar_order_is_answered_while_the_rate_source_is_down(pool: PgPool) {
    let source = RateSource::default();
    *source.up.lock().unwrap() = true;
    let url = start_rate_source(source.clone()).await;
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
