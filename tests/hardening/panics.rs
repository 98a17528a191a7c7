//! A panicking handler answers JSON 500 `internal` with no detail, through the same layers
//! `http::router::build` gives every route.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use ledger::state::AppState;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::common::{init_logging, test_config};

async fn panicking_handler() -> &'static str {
    panic!("detail that must not reach the client")
}

#[sqlx::test]
async fn a_panicking_handler_answers_json_500_without_detail(pool: PgPool) {
    init_logging();
    let state = AppState::new(test_config(), pool).unwrap();
    let router = ledger::http::router::build(
        state,
        Router::new().route("/test/panics", get(panicking_handler)),
    );

    let response = router
        .clone()
        .oneshot(Request::get("/test/panics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        response.headers().contains_key("x-request-id"),
        "the answer carries the request id the log line has"
    );
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON body");
    assert_eq!(body["error"], "internal");
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("must not reach"), "no detail leaks: {text}");

    let after = router
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK, "the server keeps serving");
}
