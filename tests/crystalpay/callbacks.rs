//! `POST /api/crystalpay/callback`: signatures, the `invoice/info` re-check, idempotency under
//! concurrent redelivery, and a crash between the 200 and the re-check.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::crystalpay::{callback_body, SALT};
use crate::common::ADMIN_TOKEN;
use crate::support::{
    app_against, crystalpay_app, crystalpay_payment, invoice, invoice_events, last_check, order,
    order_view, wait_for_checks,
};

/// Every currency's postings over the whole log sum to zero.
async fn assert_trial_balance(pool: &PgPool) {
    let unbalanced: Vec<(String, i64)> = sqlx::query_as(
        "SELECT p->>'currency', sum(CASE WHEN p->>'side' = 'debit' THEN (p->>'amount_minor')::bigint \
                                         ELSE -(p->>'amount_minor')::bigint END)::bigint \
         FROM events, jsonb_array_elements(CASE jsonb_typeof(payload->'postings') \
                          WHEN 'array' THEN payload->'postings' ELSE '[]'::jsonb END) AS p \
         GROUP BY 1 HAVING sum(CASE WHEN p->>'side' = 'debit' THEN (p->>'amount_minor')::bigint \
                                    ELSE -(p->>'amount_minor')::bigint END) <> 0",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(unbalanced.is_empty(), "unbalanced: {unbalanced:?}");
}

#[sqlx::test]
async fn a_paid_invoice_pays_the_order_once_with_cashback(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, customer_id) = order(&app, "P-1", Some("79001234567"), "150.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "payed");
    let started = Instant::now();
    let answer = app.crystalpay_callback(&invoice_id, "payed").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert!(started.elapsed() < Duration::from_secs(2), "answered fast");
    assert_eq!(answer.body["recorded"], true);
    wait_for_checks(&app, &invoice_id, 1).await;
    assert_eq!(fake.calls("info").len(), 1, "re-read with invoice/info");

    let view = order_view(&app, &order_id).await;
    assert_eq!(view["status"], "paid");
    assert_eq!(crystalpay_payment(&view)["state"], "payed");
    assert_eq!(app.count_events("OrderPaid").await, 1);
    let paid: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE event_type = 'OrderPaid'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(paid["provider"], "crystalpay");
    assert_eq!(paid["amount_minor"], 30_000);
    assert_eq!(paid["cashback_accrued_minor"], 1_500, "5 % of 300.00");
    assert!(paid["postings"]
        .to_string()
        .contains("gateway:crystalpay:clearing"));
    let cashback = app
        .get(
            &format!(
                "/api/customers/{}/cashback?currency=RUB",
                customer_id.unwrap()
            ),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(cashback.body["balance"], "15.00", "{:?}", cashback.body);
    assert_trial_balance(&app.pool).await;

    let again = app.crystalpay_callback(&invoice_id, "payed").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.body["recorded"], false,
        "a redelivery changes nothing"
    );
    app.stop().await;
}

#[sqlx::test]
async fn a_forged_signature_is_refused_and_nothing_is_recorded(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "F-1", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "payed");
    let wrong_salt = ledger::crystalpay::signature::native_signature(&invoice_id, "guess");
    let other_id = ledger::crystalpay::signature::native_signature("other", SALT);
    for body in [
        json!({"id": invoice_id, "state": "payed", "signature": wrong_salt}),
        json!({"id": invoice_id, "state": "payed", "signature": other_id}),
        json!({"id": invoice_id, "state": "payed"}),
        json!({"id": invoice_id, "state": "payed", "signature": ""}),
        json!(["not", "an", "object"]),
    ] {
        let answer = app.post("/api/crystalpay/callback", None, &body).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(answer.error(), "unauthorized");
    }
    let garbage = app
        .post_raw("/api/crystalpay/callback", None, b"\xff{not json".to_vec())
        .await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        invoice_events(&app, &invoice_id, "CrystalPayCallbackReceived").await,
        0
    );
    assert!(fake.calls("info").is_empty(), "nothing asked");
    assert_eq!(
        order_view(&app, &order_id).await["status"],
        "awaiting_payment"
    );
    app.stop().await;
}

#[sqlx::test]
async fn a_callback_claiming_payed_is_not_believed_over_invoice_info(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "L-1", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    let answer = app.crystalpay_callback(&invoice_id, "payed").await;
    assert_eq!(answer.status, StatusCode::OK);
    wait_for_checks(&app, &invoice_id, 1).await;
    let check = last_check(&app, &invoice_id).await;
    assert_eq!(check["claimed_state"], "payed");
    assert_eq!(check["reported_state"], "notpayed");
    assert_eq!(check["outcome"], "unchanged");
    let view = order_view(&app, &order_id).await;
    assert_eq!(view["status"], "awaiting_payment");
    assert_eq!(crystalpay_payment(&view)["state"], "notpayed");
    assert_eq!(app.count_events("OrderPaid").await, 0);

    // The real payment later is still applied.
    fake.set_state(&invoice_id, "payed");
    app.crystalpay_callback(&invoice_id, "payed").await;
    wait_for_checks(&app, &invoice_id, 2).await;
    assert_eq!(order_view(&app, &order_id).await["status"], "paid");
    app.stop().await;
}

#[sqlx::test]
async fn the_same_callback_ten_times_at_once_pays_once(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "C-1", Some("79001230000"), "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "payed");
    let body = callback_body(&invoice_id, "payed");
    let calls = (0..10).map(|_| app.post("/api/crystalpay/callback", None, &body));
    for answer in futures::future::join_all(calls).await {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }
    wait_for_checks(&app, &invoice_id, 1).await;
    assert_eq!(
        invoice_events(&app, &invoice_id, "CrystalPayCallbackReceived").await,
        1
    );
    assert_eq!(app.count_events("OrderPaid").await, 1);
    assert_eq!(app.count_events("CashbackAccrued").await, 1);
    assert_eq!(order_view(&app, &order_id).await["status"], "paid");
    app.stop().await;
}

#[sqlx::test]
async fn a_wrong_amount_flags_the_order_and_never_pays_it(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "W-1", None, "150.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "wrongamount");
    fake.set_paid_amount(&invoice_id, "250.00");
    app.crystalpay_callback(&invoice_id, "wrongamount").await;
    wait_for_checks(&app, &invoice_id, 1).await;
    let check = last_check(&app, &invoice_id).await;
    assert_eq!(check["outcome"], "applied");
    assert_eq!(check["state_after"], "wrongamount");
    assert_eq!(check["expected_amount_minor"], 30_000);
    assert_eq!(check["reported_amount"], "250.00");
    let view = order_view(&app, &order_id).await;
    assert_eq!(view["status"], "awaiting_payment");
    assert_eq!(view["flags"], json!(["wrong_amount"]));
    assert_eq!(crystalpay_payment(&view)["state"], "wrongamount");
    assert_eq!(app.count_events("OrderPaid").await, 0);
    app.stop().await;
}

#[sqlx::test]
async fn a_late_processing_after_payed_changes_nothing(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "O-1", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "payed");
    app.crystalpay_callback(&invoice_id, "payed").await;
    wait_for_checks(&app, &invoice_id, 1).await;

    // The callback for `processing` arrives late; CrystalPay already says `payed`.
    let late = app.crystalpay_callback(&invoice_id, "processing").await;
    assert_eq!(late.status, StatusCode::OK);
    wait_for_checks(&app, &invoice_id, 2).await;
    assert_eq!(last_check(&app, &invoice_id).await["outcome"], "unchanged");

    // Even CrystalPay itself going back to `processing` is an anomaly, not applied.
    fake.set_state(&invoice_id, "processing");
    app.crystalpay_callback(&invoice_id, "processing").await;
    wait_for_checks(&app, &invoice_id, 3).await;
    let check = last_check(&app, &invoice_id).await;
    assert_eq!(check["outcome"], "anomaly");
    assert_eq!(check["state_after"], "payed");
    let view = order_view(&app, &order_id).await;
    assert_eq!(view["status"], "paid");
    assert_eq!(crystalpay_payment(&view)["state"], "payed");
    assert_eq!(app.count_events("OrderPaid").await, 1);
    app.stop().await;
}

#[sqlx::test]
async fn the_raw_body_hmac_is_accepted_and_a_reserialized_body_refused(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "H-1", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "payed");
    let sent = format!(r#"{{"state":"payed","id":"{invoice_id}","amount":"20.00"}}"#);
    let reserialized =
        serde_json::to_vec_pretty(&serde_json::from_str::<serde_json::Value>(&sent).unwrap())
            .unwrap();
    let refused = app
        .crystalpay_hmac_callback(&reserialized, sent.as_bytes())
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refused.body
    );
    assert_eq!(
        invoice_events(&app, &invoice_id, "CrystalPayCallbackReceived").await,
        0
    );

    let accepted = app
        .crystalpay_hmac_callback(sent.as_bytes(), sent.as_bytes())
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    wait_for_checks(&app, &invoice_id, 1).await;
    assert_eq!(order_view(&app, &order_id).await["status"], "paid");
    let signature: String = sqlx::query_scalar(
        "SELECT payload->>'signature' FROM events WHERE event_type = 'CrystalPayCallbackReceived'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(signature, "raw_body_hmac");
    app.stop().await;
}

#[sqlx::test]
async fn a_crash_after_answering_the_callback_loses_nothing(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool.clone()).await;
    let (order_id, _) = order(&app, "X-1", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "payed");
    fake.set_info_down(true);
    let answer = app.crystalpay_callback(&invoice_id, "payed").await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "answered before the re-check"
    );
    assert_eq!(
        invoice_events(&app, &invoice_id, "CrystalPayCallbackReceived").await,
        1
    );
    app.stop().await;

    fake.set_info_down(false);
    let restarted = app_against(pool, &fake, |_| {}).await;
    wait_for_checks(&restarted, &invoice_id, 1).await;
    assert_eq!(order_view(&restarted, &order_id).await["status"], "paid");
    assert_eq!(restarted.count_events("OrderPaid").await, 1);
    restarted.stop().await;
}
