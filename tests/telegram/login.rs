//! Mini App login and sessions, the `/api/me` routes, and phones shared through the bot.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::telegram::{init_data_for, BOT_TOKEN};
use crate::common::ADMIN_TOKEN;
use crate::support::{order_for, telegram_app, telegram_app_with};
use ledger::infra::tokens::Scope;
use ledger::telegram::init_data;

#[sqlx::test]
async fn login_creates_the_customer_once_and_issues_a_session(pool: PgPool) {
    let (app, _fake) = telegram_app(pool).await;
    let first = app
        .post(
            "/api/telegram/auth",
            None,
            &json!({"init_data": init_data_for(501, "Aziz")}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["created"], true);
    assert_eq!(first.body["user"]["id"], 501);
    let token = first.body["token"].as_str().unwrap();
    assert!(token.starts_with("tgs_"));
    let customer_id = first.body["customer_id"].as_str().unwrap();

    let again = app
        .post(
            "/api/telegram/auth",
            None,
            &json!({"init_data": init_data_for(501, "Aziz")}),
        )
        .await;
    assert_eq!(
        again.body["customer_id"], customer_id,
        "found by Telegram id"
    );
    assert_eq!(again.body["created"], false);
    assert_ne!(
        again.body["token"], first.body["token"],
        "a new session each login"
    );

    let me = app.get("/api/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    assert_eq!(me.body["customer_id"], customer_id);
    assert_eq!(me.body["telegram_id"], 501);
    assert_eq!(me.body["name"], "Aziz");
    assert_eq!(me.body["phone"], serde_json::Value::Null);

    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM telegram_sessions WHERE token_sha256 = encode(sha256($1::bytea), 'hex')",
    )
    .bind(token.as_bytes())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1, "only the token's SHA-256 is stored");
    app.stop().await;
}

#[sqlx::test]
async fn bad_init_data_gets_clear_401_codes(pool: PgPool) {
    let (app, _fake) = telegram_app(pool).await;
    let forged = init_data_for(502, "Aziz").replace("Aziz", "Bobur");
    let answer = app
        .post("/api/telegram/auth", None, &json!({"init_data": forged}))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.error(), "invalid_init_data");

    let user = json!({"id": 502, "first_name": "Aziz"}).to_string();
    let old = (chrono::Utc::now().timestamp() - 2 * 86_400).to_string();
    let stale = init_data::sign(
        &[("auth_date", old.as_str()), ("user", user.as_str())],
        BOT_TOKEN,
    );
    let answer = app
        .post("/api/telegram/auth", None, &json!({"init_data": stale}))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.error(), "init_data_expired");

    let answer = app.post("/api/telegram/auth", None, &json!({})).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["field"], "init_data");
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customer_index")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(customers, 0, "no refused login creates anyone");
    app.stop().await;
}

#[sqlx::test]
async fn a_session_is_never_a_shop_or_admin_token_and_the_reverse(pool: PgPool) {
    let (app, _fake) = telegram_app(pool).await;
    let (session, customer_id) = app.telegram_login(503).await;
    for (path, write) in [
        ("/api/orders/x", false),
        (
            &format!("/api/customers/{customer_id}/cashback") as &str,
            false,
        ),
        ("/api/admin/outbox", false),
        ("/api/admin/events", false),
        ("/api/customers", true),
    ] {
        let answer = if write {
            app.post(path, Some(&session), &json!({"phone": "998901234567"}))
                .await
        } else {
            app.get(path, Some(&session)).await
        };
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{path}: {:?}",
            answer.body
        );
    }
    let shop = app
        .token("shop", &[Scope::OrdersRead, Scope::OrdersWrite])
        .await;
    for token in [shop.as_str(), ADMIN_TOKEN] {
        assert_eq!(
            app.get("/api/me", Some(token)).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.get("/api/me/orders", Some(token)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    app.stop().await;
}

#[sqlx::test]
async fn logout_revokes_and_sessions_expire(pool: PgPool) {
    let (app, _fake) = telegram_app_with(pool, |config| config.telegram.session_ttl_s = 2).await;
    let (session, _) = app.telegram_login(504).await;
    assert_eq!(
        app.get("/api/me", Some(&session)).await.status,
        StatusCode::OK
    );
    let out = app
        .post("/api/telegram/logout", Some(&session), &json!({}))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/me", Some(&session)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let (session, _) = app.telegram_login(504).await;
    assert_eq!(
        app.get("/api/me", Some(&session)).await.status,
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get("/api/me", Some(&session)).await.status == StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "the session outlived its 2 s lifetime"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

#[sqlx::test]
async fn a_session_sees_only_its_own_orders(pool: PgPool) {
    let (app, _fake) = telegram_app(pool).await;
    let (mine, my_customer) = app.telegram_login(505).await;
    let (theirs, their_customer) = app.telegram_login(506).await;
    let (my_order, _) = order_for(&app, &my_customer, "mine-1", "UZS", "1000.00").await;
    let (their_order, _) = order_for(&app, &their_customer, "theirs-1", "UZS", "500.00").await;
    let head = app.head_position().await;

    let orders = app
        .get(&format!("/api/me/orders?min_position={head}"), Some(&mine))
        .await;
    assert_eq!(orders.status, StatusCode::OK, "{:?}", orders.body);
    let listed: Vec<&str> = orders.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| order["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [my_order.as_str()]);

    let status = app
        .get(
            &format!("/api/me/orders/{my_order}/payment-status?min_position={head}"),
            Some(&mine),
        )
        .await;
    assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
    assert_eq!(status.body["status"], "awaiting_payment");
    assert_eq!(status.body["paid"], false);
    assert_eq!(status.body["final"], false);
    let foreign = app
        .get(
            &format!("/api/me/orders/{their_order}/payment-status?min_position={head}"),
            Some(&mine),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign.error(), "order_not_found");
    let shop = app.token("shop", &[Scope::OrdersRead]).await;
    let by_shop = app
        .get(
            &format!("/api/me/orders/{their_order}/payment-status?min_position={head}"),
            Some(&shop),
        )
        .await;
    assert_eq!(
        by_shop.status,
        StatusCode::OK,
        "the shop's backend may ask about any order"
    );
    assert_eq!(
        app.get("/api/me/cashback", Some(&theirs)).await.body["balance"],
        "0.00"
    );

    let invoice = app
        .post(
            "/api/telegram/payment/invoice",
            Some(&mine),
            &json!({"order_id": their_order}),
        )
        .await;
    assert_eq!(
        invoice.status,
        StatusCode::NOT_FOUND,
        "no invoice for another's order"
    );
    app.stop().await;
}

#[sqlx::test]
async fn a_phone_joins_only_from_the_users_own_shared_contact(pool: PgPool) {
    let (app, _fake) = telegram_app(pool).await;
    let (session, customer_id) = app.telegram_login(507).await;
    let foreign = json!({"update_id": 9001, "message": {"message_id": 1, "from": {"id": 507},
        "chat": {"id": 507, "type": "private"}, "date": 1,
        "contact": {"phone_number": "+998 90 111 22 33", "first_name": "Friend", "user_id": 999}}});
    assert_eq!(app.send_update(&foreign).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/me", Some(&session)).await.body["phone"],
        serde_json::Value::Null
    );

    let own = json!({"update_id": 9002, "message": {"message_id": 2, "from": {"id": 507},
        "chat": {"id": 507, "type": "private"}, "date": 1,
        "contact": {"phone_number": "+998 90 765 43 21", "first_name": "Aziz", "user_id": 507}}});
    let answer = app.send_update(&own).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let me = app.get("/api/me", Some(&session)).await.body;
    assert_eq!(me["phone"], "998907654321");
    assert_eq!(me["customer_id"], customer_id);
    // The 1C side now finds the same customer by that phone.
    let by_phone = app
        .post(
            "/api/customers",
            Some(ADMIN_TOKEN),
            &json!({"phone": "998907654321"}),
        )
        .await;
    assert_eq!(by_phone.body["customer_id"], customer_id);
    app.stop().await;
}
