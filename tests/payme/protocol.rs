//! Transport: HTTP method, parse errors, malformed envelopes and parameters, credentials, the
//! account field, internal errors. Every answer is HTTP 200 JSON (the caller asserts it).

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::payme_caller::{basic_auth, now_ms, payme_id, PaymeCaller};
use crate::common::spawn_app;
use crate::support::{payme_app, payme_app_with, uzs_order, KEY};

#[sqlx::test]
async fn transport_errors_are_json_rpc_answers_with_http_200(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let auth = Some(basic_auth("Paycom", KEY));

    let get = payme.send(Method::GET, Vec::new(), auth.clone()).await;
    get.expect_error(-32300);
    assert_eq!(get.body["id"], Value::Null);
    let put = payme
        .send(
            Method::PUT,
            br#"{"method":"CheckTransaction","params":{},"id":1}"#.to_vec(),
            auth.clone(),
        )
        .await;
    put.expect_error(-32300);

    for not_json in [&b"{not json"[..], b"", b"   ", b"\xff\xfe"] {
        let answer = payme
            .send(Method::POST, not_json.to_vec(), auth.clone())
            .await;
        answer.expect_error(-32700);
        assert_eq!(answer.body["id"], Value::Null);
    }

    let mut oversized = br#"{"method":"CheckTransaction","params":{"id":""#.to_vec();
    oversized.extend(std::iter::repeat_n(b'x', 1024 * 1024 + 10));
    oversized.extend(br#""},"id":1}"#);
    payme
        .send(Method::POST, oversized, auth.clone())
        .await
        .expect_error(-32600);

    let envelopes: Vec<(Value, &str)> = vec![
        (json!([1, 2]), "request"),
        (json!({"params": {}, "id": 3}), "method"),
        (json!({"method": 5, "params": {}, "id": 3}), "method"),
        (json!({"method": "CheckTransaction", "id": 3}), "params"),
        (
            json!({"method": "CheckTransaction", "params": [], "id": 3}),
            "params",
        ),
        (
            json!({"method": "CheckTransaction", "params": "x", "id": 3}),
            "params",
        ),
    ];
    for (envelope, field) in envelopes {
        let answer = payme
            .send(
                Method::POST,
                serde_json::to_vec(&envelope).unwrap(),
                auth.clone(),
            )
            .await;
        assert_eq!(answer.expect_error(-32600), &json!(field), "{envelope}");
        assert_eq!(
            answer.body["id"],
            envelope.get("id").cloned().unwrap_or(Value::Null)
        );
    }

    let unknown = payme
        .call_with_id("Refund", json!({}), json!("req-9"))
        .await;
    assert_eq!(unknown.expect_error(-32601), &json!("Refund"));
    assert_eq!(unknown.body["id"], "req-9", "string ids are echoed too");

    let openapi = app.get("/openapi.json", None).await;
    assert!(openapi.body["paths"]["/api/payme"]["post"].is_object());
    assert!(openapi.body["paths"]["/api/reports/payme/statement"]["get"].is_object());
    app.stop().await;
}

#[sqlx::test]
async fn parameters_of_the_wrong_type_are_32600_naming_the_field(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "P-1", "998901000001").await;
    let account = json!({"order_id": order.order_id});
    let now = now_ms();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "CheckPerformTransaction",
            json!({"account": account}),
            "params.amount",
        ),
        (
            "CheckPerformTransaction",
            json!({"amount": "3500000", "account": account}),
            "params.amount",
        ),
        (
            "CheckPerformTransaction",
            json!({"amount": true, "account": account}),
            "params.amount",
        ),
        (
            "CreateTransaction",
            json!({"id": 7, "time": now, "amount": 3_500_000, "account": account}),
            "params.id",
        ),
        (
            "CreateTransaction",
            json!({"id": "", "time": now, "amount": 3_500_000, "account": account}),
            "params.id",
        ),
        (
            "CreateTransaction",
            json!({"id": "a".repeat(201), "time": now, "amount": 3_500_000, "account": account}),
            "params.id",
        ),
        (
            "CreateTransaction",
            json!({"id": "p1", "time": "now", "amount": 3_500_000, "account": account}),
            "params.time",
        ),
        (
            "CreateTransaction",
            json!({"id": "p1", "time": 1.5, "amount": 3_500_000, "account": account}),
            "params.time",
        ),
        (
            "CreateTransaction",
            json!({"id": "p1", "amount": 3_500_000, "account": account}),
            "params.time",
        ),
        (
            "CreateTransaction",
            json!({"id": "p1", "time": now, "amount": [1], "account": account}),
            "params.amount",
        ),
        ("PerformTransaction", json!({}), "params.id"),
        ("PerformTransaction", json!({"id": {"x": 1}}), "params.id"),
        ("CancelTransaction", json!({"id": "p1"}), "params.reason"),
        (
            "CancelTransaction",
            json!({"id": "p1", "reason": "1"}),
            "params.reason",
        ),
        (
            "CancelTransaction",
            json!({"id": "p1", "reason": 99_999_999_999_i64}),
            "params.reason",
        ),
        ("CheckTransaction", json!({"id": null}), "params.id"),
        (
            "GetStatement",
            json!({"from": "0", "to": now}),
            "params.from",
        ),
        ("GetStatement", json!({"from": 0}), "params.to"),
        (
            "SetFiscalData",
            json!({"id": "p1", "type": "REFUND", "fiscal_data": {}}),
            "params.type",
        ),
        (
            "SetFiscalData",
            json!({"id": "p1", "type": "PERFORM", "fiscal_data": "x"}),
            "params.fiscal_data",
        ),
        (
            "ChangePassword",
            json!({"password": 12345}),
            "params.password",
        ),
        ("ChangePassword", json!({"password": ""}), "params.password"),
    ];
    for (method, params, field) in cases {
        let answer = payme.call(method, params.clone()).await;
        assert_eq!(
            answer.expect_error(-32600),
            &json!(field),
            "{method} {params}"
        );
    }
    // None of it recorded anything.
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE stream_id LIKE 'payme_tx-%' OR stream_id = 'settings-payme' AND stream_version > 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(events, 0);
    app.stop().await;
}

#[sqlx::test]
async fn credentials_are_checked_after_parsing_and_the_answer_echoes_the_id(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "P-2", "998901000002").await;
    let methods = [
        (
            "CheckPerformTransaction",
            json!({"amount": order.amount_minor, "account": {"order_id": order.order_id}}),
        ),
        (
            "CreateTransaction",
            json!({"id": payme_id(), "time": now_ms(), "amount": order.amount_minor, "account": {"order_id": order.order_id}}),
        ),
        ("PerformTransaction", json!({"id": "p"})),
        ("CancelTransaction", json!({"id": "p", "reason": 1})),
        ("CheckTransaction", json!({"id": "p"})),
        ("GetStatement", json!({"from": 0, "to": now_ms()})),
        (
            "SetFiscalData",
            json!({"id": "p", "type": "PERFORM", "fiscal_data": {}}),
        ),
        ("ChangePassword", json!({"password": "attacker-key"})),
    ];
    let body = |method: &str, params: &Value, id: i64| {
        serde_json::to_vec(&json!({"method": method, "params": params, "id": id})).unwrap()
    };
    let wrong_credentials = [
        None,
        Some(basic_auth("Paycom", "not-the-key")),
        Some(basic_auth("Paycom", &format!("{KEY}x"))),
        Some(basic_auth("Payme", KEY)),
        Some(basic_auth("Paycom", "")),
        Some(format!("Bearer {KEY}")),
        Some("Basic %%%not-base64%%%".into()),
    ];
    for (index, (method, params)) in methods.iter().enumerate() {
        for (attempt, credentials) in wrong_credentials.iter().enumerate() {
            let id = (index * 100 + attempt) as i64;
            let answer = payme
                .send(Method::POST, body(method, params, id), credentials.clone())
                .await;
            answer.expect_error(-32504);
            assert_eq!(answer.body["id"], id, "{method}: the id is echoed");
        }
    }
    // The body is parsed first (so its id can be echoed): bad JSON is -32700 even without a key;
    // a malformed envelope or unknown method without a key is still -32504.
    let no_auth = payme.with_key(None);
    no_auth
        .send(Method::POST, b"{".to_vec(), None)
        .await
        .expect_error(-32700);
    no_auth
        .call("NoSuchMethod", json!({}))
        .await
        .expect_error(-32504);
    // Nothing was recorded by unauthenticated calls, and the right key still works.
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id LIKE 'payme_tx-%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(recorded, 0);
    let keys_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id = 'settings-payme'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(keys_events, 1, "only the seed from LEDGER_PAYME_KEY");
    payme
        .check_perform(&order.order_id, order.amount_minor)
        .await
        .result();
    app.stop().await;
}

#[sqlx::test]
async fn without_a_configured_key_the_endpoint_is_closed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let payme = PaymeCaller::new(&app, KEY);
    let answer = payme.call("CheckTransaction", json!({"id": "x"})).await;
    answer.expect_error(-32504);
    app.stop().await;
}

#[sqlx::test]
async fn account_errors_name_the_configured_account_field(pool: PgPool) {
    let (app, mut payme) = payme_app_with(pool, |config| {
        config.payme_account_field = "order".into();
    })
    .await;
    payme.account_field = "order".into();
    let order = uzs_order(&app, "P-3", "998901000003").await;
    let wrong_field = payme
        .call(
            "CheckPerformTransaction",
            json!({"amount": order.amount_minor, "account": {"order_id": order.order_id}}),
        )
        .await;
    assert_eq!(wrong_field.expect_error(-31050), &json!("order"));
    let allowed = payme
        .check_perform(&order.order_id, order.amount_minor)
        .await;
    assert_eq!(allowed.result()["allow"], true);
    app.stop().await;
}

#[sqlx::test]
async fn internal_errors_answer_32400_and_leak_nothing(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "P-4", "998901000004").await;
    // Break the inline statement projection: every write of a transaction now fails inside.
    sqlx::query("ALTER TABLE payme_transactions RENAME TO payme_transactions_moved")
        .execute(&app.pool)
        .await
        .unwrap();
    let id = payme_id();
    let answer = payme
        .create(&id, now_ms(), &order.order_id, order.amount_minor)
        .await;
    assert_eq!(answer.expect_error(-32400), &Value::Null, "no data");
    for leak in ["payme_transactions", "relation", "sqlx", "SQL", "database"] {
        assert!(!answer.raw.contains(leak), "{leak} leaked: {}", answer.raw);
    }
    payme.statement(0, now_ms()).await.expect_error(-32400);
    // The failed write left nothing behind.
    payme.check(&id).await.expect_error(-31003);
    app.stop().await;
}
