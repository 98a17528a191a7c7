//! `POST /api/crystalpay/invoice`: what CrystalPay is asked for, one live invoice per order,
//! who may ask, the way back (`redirect_url`), and CrystalPay refusing, down or slow.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::crystalpay::{Scripted, SECRET};
use crate::common::telegram::{configure as open_telegram, FakeBotApi};
use crate::common::{spawn_app, ADMIN_TOKEN};
use crate::support::{
    ask_invoice, crystalpay_app, crystalpay_app_with, crystalpay_payment, order, order_view, APP,
    BOT,
};

#[sqlx::test]
async fn an_invoice_is_made_from_the_order_and_answered_again_while_live(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "A-1", Some("79001234567"), "150.00").await;
    let first = ask_invoice(&app, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let invoice_id = first.body["invoice_id"].as_str().unwrap().to_owned();
    assert_eq!(first.body["amount"], "300.00");
    assert_eq!(first.body["currency"], "RUB");
    assert!(first.body["url"].as_str().unwrap().contains(&invoice_id));
    let return_page = format!("https://shop.example/pay/return?order={order_id}");
    assert_eq!(first.body["redirect_url"], return_page.as_str());

    let call = &fake.calls("create")[0].body;
    assert_eq!(call["amount"], "300.00");
    assert_eq!(call["amount_currency"], "RUB");
    assert_eq!(call["type"], "purchase");
    assert_eq!(call["lifetime"], 60);
    assert_eq!(call["redirect_url"], return_page.as_str());
    assert_eq!(
        call["callback_url"],
        "https://shop.example/api/crystalpay/callback"
    );
    let extra: serde_json::Value = serde_json::from_str(call["extra"].as_str().unwrap()).unwrap();
    assert_eq!(extra["order_id"], order_id.as_str());
    assert!(extra["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));

    let again = ask_invoice(&app, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["invoice_id"], invoice_id.as_str());
    assert_eq!(again.body["state"], "notpayed");
    assert_eq!(
        fake.calls("create").len(),
        1,
        "no second invoice while live"
    );

    let view = order_view(&app, &order_id).await;
    let payment = crystalpay_payment(&view);
    assert_eq!(payment["provider_id"], invoice_id.as_str());
    assert_eq!(payment["state"], "notpayed");
    assert_eq!(payment["amount"], "300.00");
    app.stop().await;
}

#[sqlx::test]
async fn concurrent_asks_for_one_order_make_one_invoice(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "A-2", None, "10.00").await;
    let asks = (0..6).map(|_| ask_invoice(&app, ADMIN_TOKEN, &order_id, "web"));
    let answers = futures::future::join_all(asks).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|answer| {
            assert!(answer.status.is_success(), "{:?}", answer.body);
            answer.body["invoice_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every ask got the same invoice: {ids:?}");
    assert_eq!(fake.calls("create").len(), 1);
    assert_eq!(app.count_events("CrystalPayInvoiceCreated").await, 1);
    app.stop().await;
}

#[sqlx::test]
async fn the_telegram_context_returns_through_the_mini_apps_direct_link(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "A-3", None, "10.00").await;
    let answer = ask_invoice(&app, ADMIN_TOKEN, &order_id, "telegram").await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let link = answer.body["redirect_url"].as_str().unwrap();
    let prefix = format!("https://t.me/{BOT}/{APP}?startapp=");
    let payload = link
        .strip_prefix(&prefix)
        .expect("the Mini App direct link");
    assert_eq!(payload, format!("order_{order_id}"));
    assert!(payload.len() <= 512);
    assert!(payload
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    assert_eq!(fake.calls("create")[0].body["redirect_url"], link);
    assert_eq!(
        ledger::crystalpay::links::order_in_payload(payload).as_deref(),
        Some(order_id.as_str())
    );
    app.stop().await;
}

#[sqlx::test]
async fn guest_orders_are_invoiced_and_a_session_acts_only_on_its_own_orders(pool: PgPool) {
    let bot = FakeBotApi::start().await;
    let (app, _fake) = crystalpay_app_with(pool, |config| open_telegram(config, &bot)).await;
    let (guest, customer) = order(&app, "G-1", None, "10.00").await;
    assert!(customer.is_none(), "a guest order");
    let answer = ask_invoice(&app, ADMIN_TOKEN, &guest, "web").await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);

    let (session, customer_id) = app.telegram_login(7001).await;
    let own = app
        .post(
            "/api/orders",
            Some(ADMIN_TOKEN),
            &json!({"external_id": "S-1", "customer_id": customer_id, "currency": "RUB",
                    "items": [{"sku": "x", "title": "Thing", "qty": 1, "price": "5.00"}]}),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{:?}", own.body);
    let own_id = own.body["order_id"].as_str().unwrap();
    let mine = ask_invoice(&app, &session, own_id, "telegram").await;
    assert_eq!(mine.status, StatusCode::CREATED, "{:?}", mine.body);
    // What the Mini App asks when the buyer comes back through the `startapp` link.
    let head = app.head_position().await;
    let status = app
        .get(
            &format!("/api/me/orders/{own_id}/payment-status?min_position={head}"),
            Some(&session),
        )
        .await;
    assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
    assert_eq!(status.body["paid"], false);
    assert_eq!(status.body["payments"][0]["provider"], "crystalpay");
    assert_eq!(
        status.body["payments"][0]["provider_id"],
        mine.body["invoice_id"]
    );
    assert_eq!(status.body["payments"][0]["state"], "notpayed");
    let (someone_elses, _) = order(&app, "O-1", Some("79001112233"), "10.00").await;
    for other in [&someone_elses, &guest] {
        let refused = ask_invoice(&app, &session, other, "web").await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{:?}", refused.body);
        assert_eq!(refused.error(), "order_not_found");
    }
    app.stop().await;
}

#[sqlx::test]
async fn bad_requests_are_refused_before_crystalpay_is_called(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "B-1", None, "10.00").await;
    let unauthenticated = ask_invoice(&app, "nope", &order_id, "web").await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    let bad_context = ask_invoice(&app, ADMIN_TOKEN, &order_id, "email").await;
    assert_eq!(bad_context.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_context.body["field"], "context");
    let unknown = ask_invoice(&app, ADMIN_TOKEN, "no-such-order", "web").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error(), "order_not_found");
    let cancelled = app
        .post(
            &format!("/api/orders/{order_id}/cancel"),
            Some(ADMIN_TOKEN),
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    let not_payable = ask_invoice(&app, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(not_payable.status, StatusCode::CONFLICT);
    assert_eq!(not_payable.error(), "invalid_state");
    assert!(fake.calls("create").is_empty());
    let pool = app.pool.clone();
    app.stop().await;

    let closed = spawn_app(pool).await;
    let answer = ask_invoice(&closed, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.error(), "crystalpay_closed");
    closed.stop().await;
}

#[sqlx::test]
async fn a_refused_create_answers_crystalpays_own_text_and_records_nothing(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "R-1", None, "10.00").await;
    fake.then(
        "create",
        Scripted::Answer(
            200,
            json!({"error": true, "errors": ["Amount is too small"]}),
        ),
    );
    let refused = ask_invoice(&app, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY);
    assert_eq!(refused.error(), "crystalpay_api_error");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("Amount is too small"),
        "{:?}",
        refused.body
    );
    assert!(
        !refused.body.to_string().contains(SECRET),
        "no secret in errors"
    );
    assert_eq!(fake.calls("create").len(), 1, "a refusal is not retried");
    assert_eq!(app.count_events("CrystalPayInvoiceCreated").await, 0);
    assert_eq!(app.count_events("OrderPaymentStarted").await, 0);
    app.stop().await;
}

#[sqlx::test]
async fn crystalpay_down_or_slow_gives_a_clear_error_and_no_duplicate_invoice(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "D-1", None, "10.00").await;
    for _ in 0..3 {
        fake.then("create", Scripted::Answer(503, json!({"message": "down"})));
    }
    let down = ask_invoice(&app, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(down.status, StatusCode::BAD_GATEWAY, "{:?}", down.body);
    assert_eq!(down.error(), "crystalpay_api_error");
    assert!(down.body["message"].as_str().unwrap().contains("503"));
    assert_eq!(fake.calls("create").len(), 3, "a 5xx is retried, bounded");
    assert_eq!(fake.invoice_count(), 0);

    fake.then("create", Scripted::Stall(std::time::Duration::from_secs(2)));
    let slow = ask_invoice(&app, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(slow.status, StatusCode::BAD_GATEWAY, "{:?}", slow.body);
    assert!(
        slow.body["message"]
            .as_str()
            .unwrap()
            .contains("did not answer within 500 ms"),
        "{:?}",
        slow.body
    );
    assert_eq!(
        fake.calls("create").len(),
        4,
        "a create that timed out is not sent again (CrystalPay may have made it)"
    );
    assert_eq!(app.count_events("CrystalPayInvoiceCreated").await, 0);

    let made = ask_invoice(&app, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let again = ask_invoice(&app, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(again.body["invoice_id"], made.body["invoice_id"]);
    assert_eq!(fake.calls("create").len(), 5);
    assert_eq!(app.count_events("CrystalPayInvoiceCreated").await, 1);
    let view = order_view(&app, &order_id).await;
    assert_eq!(view["payments"].as_array().unwrap().len(), 1);
    app.stop().await;
}
