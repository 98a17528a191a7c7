//! Cashback held online against debits queued offline by a register: the hold counts against
//! what a late debit may take, and a refused item does not stop the rest of its batch.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::onec::operation;
use crate::common::{spawn_app, ADMIN_TOKEN};
use crate::support::{balance, single, PHONE};

/// The conflict the exchange is designed around: 500 redeemed online while the register was
/// offline; the register's queued debit of 300 arrives in a batch and gets
/// insufficient_balance; the rest of the batch applies.
#[sqlx::test]
async fn cashback_spent_online_refuses_the_offline_debit_and_the_batch_goes_on(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("s1", "UZS", "Asia/Tashkent").await;
    let customer = app.customer_with_phone(PHONE).await;
    single(
        &app,
        &key,
        &operation("Accrual_0", "accrual", "700.00", PHONE),
    )
    .await;

    // Online: an order redeems 500 (a hold; available drops to 200).
    let order = app
        .post(
            "/api/orders",
            Some(ADMIN_TOKEN),
            &json!({"external_id": "web-1", "customer_id": customer, "currency": "UZS",
                    "items": [{"sku": "x", "title": "Kettle", "qty": 1, "price": "2000.00"}],
                    "cashback_to_redeem": "500.00"}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
    let held = balance(&app, &key, PHONE).await;
    assert_eq!(
        (
            held["balance"].as_str(),
            held["held"].as_str(),
            held["available"].as_str()
        ),
        (Some("700.00"), Some("500.00"), Some("200.00"))
    );

    let batch = json!({"transactions": [
        operation("Accrual_1", "accrual", "10.00", PHONE),
        operation("Debit_2", "debit", "300.00", PHONE),
        operation("Accrual_3", "accrual", "20.00", PHONE),
        {"external_id": "Broken_4", "type": "accrual", "amount": "x", "user_phone": PHONE, "created_at": "2026-11-20T10:00:00Z"},
        operation("Debit_5", "debit", "150.00", PHONE),
    ]});
    let answer = app
        .onec_post("/api/cashback/v1/transactions/batch", Some(&key), &batch)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let results = answer.body["results"].as_array().unwrap();
    let statuses: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["external_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("Accrual_1", "ok"),
            ("Debit_2", "error"),
            ("Accrual_3", "ok"),
            ("Broken_4", "error"),
            ("Debit_5", "ok")
        ]
    );
    assert_eq!(results[1]["error"], "insufficient_balance");
    assert_eq!(results[1]["balance"], "710.00");
    assert_eq!(results[1]["requested"], "300.00");
    assert_eq!(results[3]["error"], "invalid_amount");
    assert_eq!(results[3]["field"], "amount");
    assert_eq!(results[4]["balance_after"], "580.00", "700 + 10 + 20 - 150");
    assert!(
        answer.body["position"].as_i64().unwrap() > 0,
        "the position of the last applied item"
    );

    let after = balance(&app, &key, PHONE).await;
    assert_eq!(after["balance"], "580.00");
    assert_eq!(after["available"], "80.00", "the hold still reserves 500");

    // Re-sending the batch changes nothing and repeats every answer.
    let again = app
        .onec_post("/api/cashback/v1/transactions/batch", Some(&key), &batch)
        .await;
    let repeated: Vec<&str> = again.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        repeated,
        ["duplicate", "error", "duplicate", "error", "duplicate"]
    );
    assert_eq!(again.body["results"][1]["balance"], "710.00");
    assert_eq!(balance(&app, &key, PHONE).await["balance"], "580.00");
    app.stop().await;
}
