//! Start-up and graceful shutdown of the whole application.

mod common;

use std::time::Duration;

use common::raw_http::{request_head, wait_for, RawConnection};
use common::{spawn_app, ADMIN_TOKEN};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
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

/// Once stopped and dropped, the application holds no database connection: nothing it built
/// (metrics, caches, workers) keeps the pool alive. A process that starts and stops the server
/// more than once (tests, an embedding host) would otherwise run out of connections.
#[sqlx::test]
async fn a_stopped_server_gives_back_every_database_connection(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .connect_with(options.clone())
        .await
        .unwrap();
    let app = spawn_app(pool).await;
    // Exercise the parts that hold the pool: a command, a projected read and the gauges.
    let created = app
        .post(
            "/api/customers",
            Some(ADMIN_TOKEN),
            &serde_json::json!({"phone": "998901234567"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await;
    assert!(metrics.unwrap().status().is_success());
    app.stop().await;

    let mut observer = PgConnection::connect_with(&options).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (open,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut observer)
        .await
        .unwrap();
        if open == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{open} connection(s) of the stopped server are still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
