//! Start-up and graceful shutdown of the whole application.

mod common;

use std::time::Duration;

use common::raw_http::{request_head, wait_for, RawConnection};
use common::{spawn_app, ADMIN_TOKEN};
use sqlx::PgPool;
use tokio::net::TcpStream;

/// A request in flight when shutdown starts is answered; new connections are refused after.
#[sqlx::test]
async fn shutdown_lets_in_flight_requests_finish(pool: PgPool) {
    let app = spawn_app(pool).await;
    let address = app.server.address;
    let state = app.server.state.clone();
    // A registration whose body is only half sent: the handler is under way, reading it.
    let body = br#"{"phone": "998901234567"}"#;
    let mut in_flight = RawConnection::open(address).await;
    in_flight
        .send(request_head("POST", "/api/customers", Some(ADMIN_TOKEN), body.len()).as_bytes())
        .await;
    in_flight.send(&body[..5]).await;
    wait_for(Duration::from_secs(5), "the request is in flight", || {
        state.admission.requests_in_flight() == 1
    })
    .await;

    let stopping = tokio::spawn(async move { app.stop().await });
    // Shutdown has begun once the listener refuses connections.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(address).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener still accepts connections"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !stopping.is_finished(),
        "stop waits for the request in flight"
    );

    in_flight.send(&body[5..]).await;
    let response = in_flight.read_response(Duration::from_secs(5)).await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    assert!(
        response.body["customer_id"].is_string(),
        "{:?}",
        response.body
    );
    stopping.await.unwrap();

    let after = reqwest::Client::new()
        .get(format!("http://{address}/healthz"))
        .send()
        .await;
    assert!(after.is_err(), "the server no longer accepts connections");
}
