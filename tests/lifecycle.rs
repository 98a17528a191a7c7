//! Start-up and graceful shutdown of the whole application.

mod common;

use std::time::Duration;

use common::{spawn_app, ADMIN_TOKEN};
use reqwest::StatusCode;
use sqlx::PgPool;

/// A request in flight when shutdown starts is answered; new connections are refused after.
#[sqlx::test]
async fn shutdown_lets_in_flight_requests_finish(pool: PgPool) {
    let app = spawn_app(pool).await;
    // This read waits (up to 5 s) for a position the log will never reach: it stays in flight.
    let url = app.url("/api/orders/some-order?min_position=999999");
    let http = app.http.clone();
    let in_flight =
        tokio::spawn(async move { http.get(url).bearer_auth(ADMIN_TOKEN).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let base = app.server.base_url();
    let stopping = tokio::spawn(async move { app.stop().await });
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request got an answer");
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_caught_up");
    stopping.await.unwrap();

    let after = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(after.is_err(), "the server no longer accepts connections");
}
