//! The shop API over HTTP: customers and orders, read-your-writes, authentication and scopes,
//! body limits and validation.

mod common;

use common::{spawn_app, ADMIN_TOKEN};
use ledger::infra::tokens::Scope;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

fn order_body(external_id: &str, customer_id: &str) -> Value {
    json!({
        "external_id": external_id,
        "customer_id": customer_id,
        "currency": "UZS",
        "items": [
            {"sku": "tea-1", "title": "Green tea", "qty": 2, "price": "15000.00", "vat_percent": 12, "ikpu_code": "10901001001000000", "package_code": "1234"},
            {"sku": "cup-1", "title": "Cup", "qty": 1, "price": 5000}
        ]
    })
}

#[sqlx::test]
async fn a_client_creates_a_customer_and_an_order_and_reads_it_back(pool: PgPool) {
    let app = spawn_app(pool).await;
    let writer = app
        .token("shop", &[Scope::OrdersWrite, Scope::OrdersRead])
        .await;

    let customer = app
        .post(
            "/api/customers",
            Some(&writer),
            &json!({"phone": "+998 90 123-45-67", "name": "Aziz"}),
        )
        .await;
    assert_eq!(customer.status, StatusCode::CREATED, "{:?}", customer.body);
    assert_eq!(
        customer.body["phone"], "998901234567",
        "shown as digits only"
    );
    let customer_id = customer.body["customer_id"].as_str().unwrap().to_owned();
    assert!(customer.body["position"].as_i64().unwrap() > 0);

    let again = app
        .post(
            "/api/customers",
            Some(&writer),
            &json!({"phone": "901234567"}),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "an existing phone answers 200"
    );
    assert_eq!(again.body["customer_id"], customer_id.as_str());

    let placed = app
        .post(
            "/api/orders",
            Some(&writer),
            &order_body("A-1", &customer_id),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    assert_eq!(placed.body["amount"], "35000.00");
    assert_eq!(placed.body["status"], "awaiting_payment");
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    let position = placed.body["position"].as_i64().unwrap();

    let read = app
        .get(
            &format!("/api/orders/{order_id}?min_position={position}"),
            Some(&writer),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(read.body["order_id"], order_id.as_str());
    assert_eq!(read.body["status"], "awaiting_payment");
    assert_eq!(read.body["amount"], "35000.00");
    assert_eq!(read.body["customer_id"], customer_id.as_str());
    assert_eq!(read.body["items"][0]["price"], "15000.00");
    assert_eq!(read.body["items"][0]["ikpu_code"], "10901001001000000");
    assert_eq!(read.body["payments"], json!([]));
    assert!(read.body["position"].as_i64().unwrap() >= position);

    app.stop().await;
}

#[sqlx::test]
async fn the_same_external_id_answers_the_original_order(pool: PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.token("shop", &[Scope::OrdersWrite]).await;
    let body = json!({
        "external_id": "B-7", "customer_phone": "89001234567", "currency": "RUB",
        "items": [{"sku": "s", "title": "Soap", "qty": 3, "price": "10"}]
    });
    let first = app.post("/api/orders", Some(&writer), &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let second = app.post("/api/orders", Some(&writer), &body).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body, first.body, "a repeat gets the original answer");

    // "10" and "10.00" are the same price: still the same request.
    let mut respelled = body.clone();
    respelled["items"][0]["price"] = json!("10.00");
    let third = app.post("/api/orders", Some(&writer), &respelled).await;
    assert_eq!(third.status, StatusCode::OK);
    assert_eq!(third.body["order_id"], first.body["order_id"]);

    let mut changed = body.clone();
    changed["items"][0]["qty"] = json!(4);
    let conflict = app.post("/api/orders", Some(&writer), &changed).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.error(), "idempotency_conflict");

    // The order's phone created exactly one customer.
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customer_index")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(customers, 1);
    app.stop().await;
}

#[sqlx::test]
async fn concurrent_identical_orders_make_one_order(pool: PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.token("shop", &[Scope::OrdersWrite]).await;
    let body = json!({
        "external_id": "C-1", "customer_phone": "998901112233", "currency": "UZS",
        "items": [{"sku": "s", "title": "Soap", "qty": 1, "price": "1000"}]
    });
    let requests = (0..20).map(|_| app.post("/api/orders", Some(&writer), &body));
    let answers = futures::future::join_all(requests).await;
    let created = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "exactly one 201");
    for answer in &answers {
        assert!(answer.status.is_success(), "{:?}", answer.body);
        assert_eq!(answer.body["order_id"], answers[0].body["order_id"]);
        assert_eq!(answer.body["position"], answers[0].body["position"]);
    }
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM order_index")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 1);
    app.stop().await;
}

#[sqlx::test]
async fn credentials_are_checked_before_anything_else(pool: PgPool) {
    let app = spawn_app(pool).await;
    let reader = app.token("reader", &[Scope::OrdersRead]).await;
    let body = order_body("D-1", "nobody");

    let no_token = app.post("/api/orders", None, &body).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.error(), "unauthorized");

    let wrong = app
        .post("/api/orders", Some("ldg_not-a-real-token"), &body)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let missing_scope = app.post("/api/orders", Some(&reader), &body).await;
    assert_eq!(missing_scope.status, StatusCode::FORBIDDEN);
    assert_eq!(missing_scope.error(), "forbidden");

    // 401 comes before the body is even looked at.
    let garbage = app
        .post_raw("/api/orders", None, b"{not json".to_vec())
        .await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);

    let admin_routes = app.get("/api/admin/projections", Some(&reader)).await;
    assert_eq!(admin_routes.status, StatusCode::FORBIDDEN);
    let as_admin = app.get("/api/admin/projections", Some(ADMIN_TOKEN)).await;
    assert_eq!(as_admin.status, StatusCode::OK);
    app.stop().await;
}

#[sqlx::test]
async fn oversized_bodies_get_413(pool: PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.token("shop", &[Scope::OrdersWrite]).await;
    let mut big = b"{\"external_id\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 1024 * 1024 + 10));
    big.extend(b"\"}");
    let answer = app.post_raw("/api/orders", Some(&writer), big).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.error(), "payload_too_large");
    app.stop().await;
}

#[sqlx::test]
async fn bad_input_names_the_field(pool: PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.token("shop", &[Scope::OrdersWrite]).await;
    let customer = app
        .post("/api/customers", Some(&writer), &json!({"telegram_id": 42}))
        .await;
    let customer_id = customer.body["customer_id"].as_str().unwrap().to_owned();

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "missing external_id",
            json!({"customer_id": customer_id, "currency": "UZS", "items": []}),
            "invalid_request",
            "external_id",
        ),
        (
            "bad currency",
            json!({"external_id": "x", "customer_id": customer_id, "currency": "sum", "items": [{"sku": "a", "title": "b", "qty": 1, "price": "1"}]}),
            "invalid_request",
            "currency",
        ),
        (
            "no items",
            json!({"external_id": "x", "customer_id": customer_id, "currency": "UZS", "items": []}),
            "invalid_request",
            "items",
        ),
        (
            "zero qty",
            json!({"external_id": "x", "customer_id": customer_id, "currency": "UZS", "items": [{"sku": "a", "title": "b", "qty": 0, "price": "1"}]}),
            "invalid_request",
            "items[0].qty",
        ),
        (
            "three decimals",
            json!({"external_id": "x", "customer_id": customer_id, "currency": "UZS", "items": [{"sku": "a", "title": "b", "qty": 1, "price": "1.005"}]}),
            "invalid_amount",
            "items[0].price",
        ),
        (
            "text price",
            json!({"external_id": "x", "customer_id": customer_id, "currency": "UZS", "items": [{"sku": "a", "title": "b", "qty": 1, "price": "abc"}]}),
            "invalid_amount",
            "items[0].price",
        ),
        (
            "negative price",
            json!({"external_id": "x", "customer_id": customer_id, "currency": "UZS", "items": [{"sku": "a", "title": "b", "qty": 1, "price": -1}]}),
            "invalid_amount",
            "items[0].price",
        ),
        (
            "zero price",
            json!({"external_id": "x", "customer_id": customer_id, "currency": "UZS", "items": [{"sku": "a", "title": "b", "qty": 1, "price": 0}]}),
            "invalid_amount",
            "items[0].price",
        ),
        (
            "bad phone",
            json!({"external_id": "x", "customer_phone": "12345", "currency": "UZS", "items": [{"sku": "a", "title": "b", "qty": 1, "price": "1"}]}),
            "invalid_phone",
            "customer_phone",
        ),
        (
            "stars need whole units",
            json!({"external_id": "x", "customer_id": customer_id, "currency": "XTR", "items": [{"sku": "a", "title": "b", "qty": 1, "price": "1.5"}]}),
            "invalid_amount",
            "items[0].price",
        ),
    ];
    for (name, body, code, field) in cases {
        let answer = app.post("/api/orders", Some(&writer), &body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{name}: {:?}",
            answer.body
        );
        assert_eq!(answer.error(), code, "{name}");
        assert_eq!(answer.body["field"], field, "{name}");
        assert!(
            !answer.body["message"].as_str().unwrap_or("").is_empty(),
            "{name}: a human message"
        );
    }

    let not_json = app
        .post_raw("/api/orders", Some(&writer), b"{nope".to_vec())
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.error(), "invalid_request");

    let unknown_customer = app
        .post(
            "/api/orders",
            Some(&writer),
            &order_body("E-1", "no-such-customer"),
        )
        .await;
    assert_eq!(unknown_customer.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[sqlx::test]
async fn orders_follow_their_lifecycle(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = app
        .token("shop", &[Scope::OrdersWrite, Scope::OrdersRead])
        .await;
    let customer = app
        .post(
            "/api/customers",
            Some(&token),
            &json!({"phone": "79001234567"}),
        )
        .await;
    let customer_id = customer.body["customer_id"].as_str().unwrap().to_owned();
    let placed = app
        .post(
            "/api/orders",
            Some(&token),
            &order_body("F-1", &customer_id),
        )
        .await;
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();

    let complete = app
        .post(
            &format!("/api/orders/{order_id}/complete"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(complete.status, StatusCode::CONFLICT);
    assert_eq!(complete.error(), "invalid_state");
    assert_eq!(complete.body["status"], "awaiting_payment");

    let cancel = app
        .post(
            &format!("/api/orders/{order_id}/cancel"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{:?}", cancel.body);
    assert_eq!(cancel.body["status"], "cancelled");
    let position = cancel.body["position"].as_i64().unwrap();

    let read = app
        .get(
            &format!("/api/orders/{order_id}?min_position={position}"),
            Some(&token),
        )
        .await;
    assert_eq!(read.body["status"], "cancelled");

    let again = app
        .post(
            &format!("/api/orders/{order_id}/cancel"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["status"], "cancelled");

    let unknown = app
        .post(
            "/api/orders/does-not-exist/cancel",
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error(), "order_not_found");
    let unknown_read = app.get("/api/orders/%2e%2e%2fweird", Some(&token)).await;
    assert_eq!(unknown_read.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[sqlx::test]
async fn redeeming_more_cashback_than_available_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = app.token("shop", &[Scope::OrdersWrite]).await;
    let mut body = order_body("G-1", "placeholder");
    body.as_object_mut().unwrap().remove("customer_id");
    body["customer_phone"] = json!("998907654321");
    body["cashback_to_redeem"] = json!("100.00");
    let answer = app.post("/api/orders", Some(&token), &body).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        answer.body
    );
    assert_eq!(answer.error(), "insufficient_balance");
    assert_eq!(answer.body["balance"], "0.00");
    assert_eq!(answer.body["requested"], "100.00");
    app.stop().await;
}

#[sqlx::test]
async fn operators_see_health_metrics_the_log_and_projections(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = app.token("shop", &[Scope::OrdersWrite]).await;
    let customer = app
        .post(
            "/api/customers",
            Some(&token),
            &json!({"phone": "79005554433"}),
        )
        .await;
    let customer_id = customer.body["customer_id"].as_str().unwrap().to_owned();

    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);
    let openapi = app.get("/openapi.json", None).await;
    assert_eq!(openapi.status, StatusCode::OK);
    assert!(openapi.body["paths"]["/api/orders"].is_object());

    let events = app
        .get("/api/admin/events?after=0&limit=10", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(events.status, StatusCode::OK);
    let first = &events.body["events"][0];
    assert_eq!(first["event_type"], "CustomerRegistered");
    assert_eq!(first["stream_id"], format!("customer-{customer_id}"));
    assert_eq!(first["payload"]["phone"], "79005554433");

    let stream = app
        .get(
            &format!("/api/admin/streams/customer-{customer_id}"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(stream.body["version"], 1);
    let missing = app
        .get("/api/admin/streams/order-nope", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ledger_projection_lag_events{projection=\"orders\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("ledger_xmin_horizon_age_seconds"));
    assert!(metrics.contains("ledger_http_requests_total"));
    app.stop().await;
}

/// Every documented route exists (no "no such route" answer for any of them).
#[sqlx::test]
async fn every_documented_route_is_served(pool: PgPool) {
    let app = spawn_app(pool).await;
    let document = app.get("/openapi.json", None).await.body;
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 15, "{} paths documented", paths.len());
    for (path, methods) in paths {
        let concrete = path
            .replace("{order_id}", "some-order")
            .replace("{customer_id}", "some-customer")
            .replace("{stream_id}", "order-x");
        for method in methods.as_object().unwrap().keys() {
            let request = app
                .http
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete));
            let response = request.send().await.unwrap();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(
                body["message"], "no such route",
                "{method} {path} is documented but not served"
            );
        }
    }
    app.stop().await;
}
