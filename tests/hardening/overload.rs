//! Load shedding: beyond the concurrent-request limit, 503 `overloaded` at once.

use std::time::Duration;

use sqlx::PgPool;

use crate::common::raw_http::{request_head, wait_for, RawConnection};
use crate::common::{spawn_app_with, ADMIN_TOKEN};

#[sqlx::test]
async fn requests_beyond_the_limit_are_shed_at_once_with_retry_after(pool: PgPool) {
    let app = spawn_app_with(pool, |config| {
        config.limits.max_concurrent_requests = 1;
    })
    .await;
    let state = app.server.state.clone();
    // The one slot: a registration whose body is half sent.
    let body = br#"{"phone": "998901234567"}"#;
    let mut held = RawConnection::open(app.server.address).await;
    held.send(request_head("POST", "/api/customers", Some(ADMIN_TOKEN), body.len()).as_bytes())
        .await;
    held.send(&body[..5]).await;
    wait_for(
        Duration::from_secs(5),
        "the held request is in flight",
        || state.admission.requests_in_flight() == 1,
    )
    .await;

    let shed = tokio::time::timeout(
        Duration::from_secs(2),
        app.http.get(app.url("/healthz")).send(),
    )
    .await
    .expect("answered at once, not queued")
    .expect("answered");
    assert_eq!(shed.status(), 503);
    assert_eq!(
        shed.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let shed: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(shed["error"], "overloaded");
    assert!(shed["message"].is_string());

    held.send(&body[5..]).await;
    let finished = held.read_response(Duration::from_secs(5)).await;
    assert_eq!(
        finished.status, 201,
        "the held request completes: {:?}",
        finished.body
    );
    wait_for(Duration::from_secs(5), "the slot is free again", || {
        state.admission.requests_in_flight() == 0
    })
    .await;
    assert_eq!(app.get("/healthz", None).await.status, 200);
    app.stop().await;
}
