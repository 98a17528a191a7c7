//! Ends without payment: the test-mode expiry (through the callback's own path) and `failed`
//! leave the order payable by other means.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::ADMIN_TOKEN;
use crate::support::{
    ask_invoice, crystalpay_app, crystalpay_app_with, crystalpay_payment, invoice, invoice_events,
    last_check, order, order_view, wait_for_checks,
};

#[sqlx::test]
async fn the_test_mode_expiry_goes_through_the_callback_path(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "E-1", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    let answer = app
        .post(
            &format!("/api/test/crystalpay/{invoice_id}/expire"),
            None,
            &json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    wait_for_checks(&app, &invoice_id, 1).await;
    assert_eq!(
        invoice_events(&app, &invoice_id, "CrystalPayCallbackReceived").await,
        1
    );
    assert_eq!(
        fake.calls("info").len(),
        1,
        "re-checked like a real callback"
    );
    let check = last_check(&app, &invoice_id).await;
    assert_eq!(check["state_after"], "expired");
    let view = order_view(&app, &order_id).await;
    assert_eq!(view["status"], "awaiting_payment");
    assert_eq!(crystalpay_payment(&view)["state"], "expired");

    // The order is free again: a new invoice can be made (or it can be cancelled).
    let next = ask_invoice(&app, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(next.status, StatusCode::CREATED, "{:?}", next.body);
    assert_ne!(next.body["invoice_id"], invoice_id.as_str());

    let unknown = app
        .post(
            "/api/test/crystalpay/no-such-invoice/expire",
            None,
            &json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[sqlx::test]
async fn an_expiry_never_undoes_a_payment(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "E-2", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "payed");
    let answer = app
        .post(
            &format!("/api/test/crystalpay/{invoice_id}/expire"),
            None,
            &json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    wait_for_checks(&app, &invoice_id, 1).await;
    assert_eq!(last_check(&app, &invoice_id).await["state_after"], "payed");
    assert_eq!(order_view(&app, &order_id).await["status"], "paid");
    app.stop().await;
}

#[sqlx::test]
async fn the_expiry_route_is_404_without_test_mode(pool: PgPool) {
    let (app, _fake) = crystalpay_app_with(pool, |config| config.test_mode = false).await;
    let (order_id, _) = order(&app, "E-3", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    let answer = app
        .post(
            &format!("/api/test/crystalpay/{invoice_id}/expire"),
            None,
            &json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        invoice_events(&app, &invoice_id, "CrystalPayCallbackReceived").await,
        0
    );
    app.stop().await;
}

#[sqlx::test]
async fn a_failed_invoice_leaves_the_order_payable_by_other_means(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "N-1", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "processing");
    app.crystalpay_callback(&invoice_id, "processing").await;
    wait_for_checks(&app, &invoice_id, 1).await;
    assert_eq!(
        crystalpay_payment(&order_view(&app, &order_id).await)["state"],
        "processing"
    );
    fake.set_state(&invoice_id, "failed");
    app.crystalpay_callback(&invoice_id, "failed").await;
    wait_for_checks(&app, &invoice_id, 2).await;
    let view = order_view(&app, &order_id).await;
    assert_eq!(crystalpay_payment(&view)["state"], "failed");
    assert_eq!(view["status"], "awaiting_payment");
    assert_eq!(view["flags"], json!([]));
    let cancelled = app
        .post(
            &format!("/api/orders/{order_id}/cancel"),
            Some(ADMIN_TOKEN),
            &json!({}),
        )
        .await;
    assert_eq!(
        cancelled.status,
        StatusCode::OK,
        "no invoice holds it: {:?}",
        cancelled.body
    );
    app.stop().await;
}
