//! Connection time-outs: a stalled request head is cut at the header time-out, an idle
//! keep-alive connection at the idle time-out, a stalled body is answered 408.

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;

use crate::common::raw_http::{request_head, RawConnection};
use crate::common::{spawn_app_with, ADMIN_TOKEN};

const SECOND: Duration = Duration::from_secs(1);
/// Generous bound on how late a time-out may fire on a busy machine.
const SLACK: Duration = Duration::from_secs(2);

#[sqlx::test]
async fn a_stalled_request_head_is_disconnected_at_the_header_time_out(pool: PgPool) {
    let app = spawn_app_with(pool, |config| {
        config.limits.header_timeout = SECOND;
        config.limits.idle_timeout = Duration::from_secs(60);
    })
    .await;
    let mut half_line = RawConnection::open(app.server.address).await;
    let mut half_headers = RawConnection::open(app.server.address).await;
    let started = Instant::now();
    half_line.send(b"GET /heal").await;
    half_headers
        .send(b"GET /healthz HTTP/1.1\r\nhost: ledger\r\nx-slow: ")
        .await;
    for connection in [&mut half_line, &mut half_headers] {
        let answered = connection
            .closed_within(SECOND + SLACK)
            .await
            .expect("the server closed the stalled connection");
        assert!(answered.is_empty(), "nothing was answered");
    }
    // Cut by the header time-out, not before it and long before the idle time-out.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= SECOND - Duration::from_millis(100),
        "{elapsed:?}"
    );
    app.stop().await;
}

#[sqlx::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_time_out(pool: PgPool) {
    let app = spawn_app_with(pool, |config| {
        config.limits.idle_timeout = SECOND;
    })
    .await;
    let mut connection = RawConnection::open(app.server.address).await;
    for _ in 0..2 {
        connection
            .send(b"GET /healthz HTTP/1.1\r\nhost: ledger\r\n\r\n")
            .await;
        let response = connection.read_response(SECOND + SLACK).await;
        assert_eq!(
            response.status, 200,
            "the connection is kept alive meanwhile"
        );
    }
    let answered = Instant::now();
    connection
        .closed_within(SECOND + SLACK)
        .await
        .expect("the idle connection was closed");
    let idle = answered.elapsed();
    assert!(idle >= SECOND - Duration::from_millis(100), "{idle:?}");
    app.stop().await;
}

#[sqlx::test]
async fn a_stalled_body_is_answered_408_request_timeout(pool: PgPool) {
    let app = spawn_app_with(pool, |config| {
        config.limits.request_timeout = SECOND;
    })
    .await;
    let mut connection = RawConnection::open(app.server.address).await;
    connection
        .send(request_head("POST", "/api/customers", Some(ADMIN_TOKEN), 100).as_bytes())
        .await;
    connection.send(br#"{"phone": "#).await;
    let started = Instant::now();
    let response = connection.read_response(SECOND + SLACK).await;
    assert_eq!(response.status, 408, "{:?}", response.body);
    assert_eq!(response.body["error"], "request_timeout");
    assert!(response.body["message"].is_string());
    assert!(started.elapsed() >= SECOND - Duration::from_millis(100));
    app.stop().await;
}

#[sqlx::test]
async fn ordinary_requests_work_under_short_time_outs(pool: PgPool) {
    let app = spawn_app_with(pool, |config| {
        config.limits.header_timeout = SECOND;
        config.limits.request_timeout = SECOND;
        config.limits.idle_timeout = SECOND;
    })
    .await;
    for _ in 0..3 {
        let health = app.get("/healthz", None).await;
        assert_eq!(health.status, 200);
    }
    let customer = app.customer_with_phone("998901234567").await;
    assert!(!customer.is_empty());
    app.stop().await;
}
