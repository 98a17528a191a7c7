//! Telegram Payments: invoice links, the webhook's secret, pre-checkout answers, charges paid
//! once whatever Telegram redelivers, mismatching totals flagged, refunds reversing everything.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::telegram::{
    pre_checkout, refunded_payment, successful_payment, PROVIDER_TOKEN, WEBHOOK_SECRET,
};
use crate::common::ADMIN_TOKEN;
use crate::support::{order, order_for, telegram_app};

#[sqlx::test]
async fn invoice_links_are_made_in_stars_or_with_the_provider_token(pool: PgPool) {
    let (app, fake) = telegram_app(pool).await;
    let (session, customer_id) = app.telegram_login(601).await;
    let (stars, _) = order_for(&app, &customer_id, "stars-1", "XTR", "25").await;
    let answer = app
        .post(
            "/api/telegram/payment/invoice",
            Some(&session),
            &json!({"order_id": stars}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(
        answer.body["invoice_url"],
        "https://t.me/$fake-invoice-link"
    );
    let call = &fake.calls("createInvoiceLink")[0];
    assert_eq!(call.token, crate::common::telegram::BOT_TOKEN);
    assert_eq!(call.body["currency"], "XTR");
    assert_eq!(call.body["provider_token"], "");
    assert_eq!(call.body["payload"], stars);
    assert_eq!(call.body["prices"][0]["amount"], 50, "2 × 25 stars");
    assert_eq!(call.body["title"], "Order stars-1");

    let (sums, _) = order_for(&app, &customer_id, "uzs-1", "UZS", "1500.50").await;
    let answer = app
        .post(
            "/api/telegram/payment/invoice",
            Some(&session),
            &json!({"order_id": sums}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let call = &fake.calls("createInvoiceLink")[1];
    assert_eq!(call.body["currency"], "UZS");
    assert_eq!(call.body["provider_token"], PROVIDER_TOKEN);
    assert_eq!(call.body["prices"][0]["amount"], 300_100, "in tiyin");

    fake.then_answer(
        "createInvoiceLink",
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: CURRENCY_INVALID"}),
    );
    let refused = app
        .post(
            "/api/telegram/payment/invoice",
            Some(&session),
            &json!({"order_id": sums}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY);
    assert_eq!(refused.error(), "telegram_api_error");
    assert!(refused.body["message"]
        .as_str()
        .unwrap()
        .contains("CURRENCY_INVALID"));
    assert!(
        !refused.body.to_string().contains("AAtest-bot-token"),
        "no token in errors"
    );
    app.stop().await;
}

#[sqlx::test]
async fn the_webhook_refuses_a_missing_or_wrong_secret_and_records_nothing(pool: PgPool) {
    let (app, _fake) = telegram_app(pool).await;
    let (_, customer_id) = app.telegram_login(602).await;
    let (order_id, amount) = order_for(&app, &customer_id, "w-1", "XTR", "10").await;
    let update = successful_payment(1, 602, &order_id, "XTR", amount, "charge-w");
    let before = app.head_position().await;
    for secret in [None, Some("wrong-secret"), Some("")] {
        let answer = app.send_update_with_secret(&update, secret).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{secret:?}");
    }
    assert_eq!(app.head_position().await, before, "nothing recorded");
    let updates: i64 = sqlx::query_scalar("SELECT count(*) FROM telegram_updates")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(updates, 0);
    let accepted = app
        .send_update_with_secret(&update, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(accepted.status, StatusCode::OK);
    app.stop().await;
}

#[sqlx::test]
async fn pre_checkout_says_yes_only_for_a_payable_order_of_the_payer(pool: PgPool) {
    let (app, fake) = telegram_app(pool).await;
    let (_, customer_id) = app.telegram_login(603).await;
    let (order_id, amount) = order_for(&app, &customer_id, "pc-1", "XTR", "30").await;

    let ok = app
        .send_update(&pre_checkout(10, 603, &order_id, "XTR", amount))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let wrong_total = app
        .send_update(&pre_checkout(11, 603, &order_id, "XTR", amount - 1))
        .await;
    assert_eq!(wrong_total.status, StatusCode::OK);
    let wrong_payer = app
        .send_update(&pre_checkout(12, 999, &order_id, "XTR", amount))
        .await;
    assert_eq!(wrong_payer.status, StatusCode::OK);
    let unknown = app
        .send_update(&pre_checkout(13, 603, "no-such-order", "XTR", amount))
        .await;
    assert_eq!(unknown.status, StatusCode::OK);

    let answers = fake.calls("answerPreCheckoutQuery");
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0].body["pre_checkout_query_id"], "q-10");
    assert_eq!(answers[0].body["ok"], true);
    assert!(answers[0].body.get("error_message").is_none());
    for refused in &answers[1..] {
        assert_eq!(refused.body["ok"], false, "{}", refused.body);
        let message = refused.body["error_message"].as_str().unwrap();
        assert!(
            message.len() > 10 && message.ends_with('.'),
            "a sentence: {message}"
        );
    }
    // A redelivered query is not answered twice.
    app.send_update(&pre_checkout(10, 603, &order_id, "XTR", amount))
        .await;
    assert_eq!(fake.calls("answerPreCheckoutQuery").len(), 4);

    // Once paid, the same order is refused.
    let paid = app
        .send_update(&successful_payment(
            14, 603, &order_id, "XTR", amount, "c-pc",
        ))
        .await;
    assert_eq!(paid.status, StatusCode::OK);
    app.send_update(&pre_checkout(15, 603, &order_id, "XTR", amount))
        .await;
    let last = fake.calls("answerPreCheckoutQuery").pop().unwrap();
    assert_eq!(last.body["ok"], false);
    assert_eq!(
        last.body["error_message"],
        "This order has already been paid."
    );
    app.stop().await;
}

#[sqlx::test]
async fn a_charge_pays_once_however_often_it_is_delivered(pool: PgPool) {
    let (app, _fake) = telegram_app(pool).await;
    let (_, customer_id) = app.telegram_login(604).await;
    let (order_id, amount) = order_for(&app, &customer_id, "once-1", "UZS", "10000.00").await;
    let update = successful_payment(20, 604, &order_id, "UZS", amount, "charge-once");
    let deliveries = (0..8).map(|_| app.send_update(&update));
    for answer in futures::future::join_all(deliveries).await {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }
    // The same charge in another update (Telegram never does this, but the charge id decides).
    let again = successful_payment(21, 604, &order_id, "UZS", amount, "charge-once");
    assert_eq!(app.send_update(&again).await.body["duplicate"], true);

    assert_eq!(app.count_events("TelegramPaymentReceived").await, 1);
    assert_eq!(app.count_events("OrderPaid").await, 1);
    assert_eq!(app.count_events("CashbackAccrued").await, 1);
    let order = order(&app, &order_id).await;
    assert_eq!(order["status"], "paid");
    let payments = order["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["provider"], "telegram");
    assert_eq!(payments[0]["provider_id"], "charge-once");
    assert_eq!(payments[0]["state"], "paid");
    assert_eq!(order["flags"], json!([]));
    let cashback = app
        .get(
            &format!("/api/customers/{customer_id}/cashback"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(
        cashback.body["balance"], "1000.00",
        "5 % of 20 000.00 UZS, once"
    );
    app.stop().await;
}

#[sqlx::test]
async fn a_mismatching_total_is_recorded_and_flagged_not_applied(pool: PgPool) {
    let (app, _fake) = telegram_app(pool).await;
    let (_, customer_id) = app.telegram_login(605).await;
    let (order_id, amount) = order_for(&app, &customer_id, "mm-1", "XTR", "40").await;
    let update = successful_payment(30, 605, &order_id, "XTR", amount - 5, "charge-short");
    assert_eq!(app.send_update(&update).await.status, StatusCode::OK);
    let order = order(&app, &order_id).await;
    assert_eq!(order["status"], "awaiting_payment", "never applied");
    assert_eq!(order["flags"], json!(["total_mismatch"]));
    assert_eq!(order["payments"][0]["state"], "total_mismatch");
    assert_eq!(order["payments"][0]["amount"], "75");
    assert_eq!(app.count_events("OrderPaid").await, 0);
    app.stop().await;
}

#[sqlx::test]
async fn a_refund_reverses_the_payment_and_the_cashback_accrual(pool: PgPool) {
    let (app, _fake) = telegram_app(pool).await;
    let (_, customer_id) = app.telegram_login(606).await;
    let (order_id, amount) = order_for(&app, &customer_id, "rf-1", "UZS", "5000.00").await;
    let paid = successful_payment(40, 606, &order_id, "UZS", amount, "charge-rf");
    assert_eq!(app.send_update(&paid).await.status, StatusCode::OK);
    let cashback = format!("/api/customers/{customer_id}/cashback");
    assert_eq!(
        app.get(&cashback, Some(ADMIN_TOKEN)).await.body["balance"],
        "500.00"
    );

    let refund = refunded_payment(41, 606, &order_id, "UZS", amount, "charge-rf");
    for _ in 0..3 {
        assert_eq!(app.send_update(&refund).await.status, StatusCode::OK);
    }
    assert_eq!(app.count_events("TelegramPaymentRefunded").await, 1);
    assert_eq!(app.count_events("OrderRefunded").await, 1);
    assert_eq!(app.count_events("CashbackAccrualReversed").await, 1);
    let order = order(&app, &order_id).await;
    assert_eq!(order["status"], "refunded");
    assert_eq!(order["payments"][0]["state"], "refunded");
    assert_eq!(
        app.get(&cashback, Some(ADMIN_TOKEN)).await.body["balance"],
        "0.00"
    );
    // The double-entry projection is asynchronous: wait (bounded) until it has every posting.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (debits, credits): (i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(debit_minor), 0)::bigint, coalesce(sum(credit_minor), 0)::bigint \
             FROM account_balances WHERE account = 'gateway:telegram:clearing'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if debits == amount && credits == amount {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "telegram clearing: {debits} in, {credits} out; expected {amount} both ways"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.stop().await;
}
