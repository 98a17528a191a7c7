//! `?min_position` reads: beyond the log's head they are refused at once; those that must wait
//! are capped, and waiting holds no pool connection, so writes go on while reads wait.
//!
//! The `orders` projection is held back by holding its runner's advisory lock (taken before the
//! app starts), so reads of it must wait until the test lets go.

use std::time::Duration;

use ledger_projections::runner::RUNNER_LOCK_NAMESPACE;
use serde_json::json;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};
use tokio::time::Instant;

use crate::common::raw_http::wait_for;
use crate::common::{spawn_app, spawn_app_with, Answer, TestApp, ADMIN_TOKEN};

/// Holds the `orders` runner's lock on a connection of its own until released.
async fn hold_orders_projection(pool: &PgPool) -> PoolConnection<Postgres> {
    let mut connection = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1, hashtext('orders'))")
        .bind(RUNNER_LOCK_NAMESPACE)
        .execute(&mut *connection)
        .await
        .unwrap();
    connection
}

async fn release_orders_projection(mut connection: PoolConnection<Postgres>) {
    sqlx::query("SELECT pg_advisory_unlock($1, hashtext('orders'))")
        .bind(RUNNER_LOCK_NAMESPACE)
        .execute(&mut *connection)
        .await
        .unwrap();
}

/// A write; its position.
async fn register(app: &TestApp, phone: &str) -> i64 {
    let answer = app
        .post(
            "/api/customers",
            Some(ADMIN_TOKEN),
            &json!({ "phone": phone }),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.body["position"].as_i64().expect("a position")
}

async fn read_order(app: &TestApp, min_position: i64) -> Answer {
    app.get(
        &format!("/api/orders/no-such-order?min_position={min_position}"),
        Some(ADMIN_TOKEN),
    )
    .await
}

#[sqlx::test]
async fn a_position_beyond_the_head_is_refused_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let position = register(&app, "998901234567").await;
    let started = Instant::now();
    let answer = read_order(&app, position + 1_000).await;
    assert_eq!(answer.status, 409, "{:?}", answer.body);
    assert_eq!(answer.error(), "not_caught_up");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once, not after the wait: {:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[sqlx::test]
async fn waiting_reads_beyond_the_cap_are_shed_and_caught_up_reads_need_no_slot(pool: PgPool) {
    let held = hold_orders_projection(&pool).await;
    let app = spawn_app_with(pool, |config| config.limits.max_waiting_reads = 1).await;
    let state = app.server.state.clone();
    let position = register(&app, "998901234567").await;

    let base = app.server.base_url();
    let waiting = tokio::spawn(async move {
        let response = reqwest::Client::new()
            .get(format!(
                "{base}/api/orders/no-such-order?min_position={position}"
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        response.status()
    });
    wait_for(Duration::from_secs(5), "one read waits", || {
        state.admission.waiting_reads() == 1
    })
    .await;

    let shed = app
        .http
        .get(app.url(&format!(
            "/api/orders/no-such-order?min_position={position}"
        )))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), 503);
    assert!(shed.headers().contains_key("retry-after"));
    let shed: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(shed["error"], "overloaded");

    release_orders_projection(held).await;
    assert_eq!(
        waiting.await.unwrap(),
        404,
        "the waiting read is answered once the projection catches up"
    );

    // Caught up: a read takes no waiting slot, even when none is free.
    let _all_slots = state
        .admission
        .try_waiting_read()
        .expect("the slot is free");
    let answer = read_order(&app, position).await;
    assert_eq!(answer.status, 404, "{:?}", answer.body);
    assert_eq!(answer.error(), "order_not_found");
    app.stop().await;
}

#[sqlx::test]
async fn waiting_reads_hold_no_pool_connection(pool: PgPool) {
    const WAITERS: usize = 12;
    let held = hold_orders_projection(&pool).await;
    // Far fewer connections than waiting reads: if a waiter kept one, writes would starve.
    let small_pool = PgPoolOptions::new()
        .max_connections(3)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let app = spawn_app_with(small_pool, |config| {
        config.limits.max_waiting_reads = WAITERS
    })
    .await;
    let state = app.server.state.clone();
    let position = register(&app, "998901234567").await;

    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..WAITERS {
        let url = app.url(&format!(
            "/api/orders/no-such-order?min_position={position}"
        ));
        readers.spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    wait_for(Duration::from_secs(5), "every read waits", || {
        state.admission.waiting_reads() == WAITERS
    })
    .await;

    let write = tokio::time::timeout(Duration::from_secs(2), register(&app, "998907654321"))
        .await
        .expect("a write goes through while reads wait");
    assert!(write > position);
    assert_eq!(
        state.admission.waiting_reads(),
        WAITERS,
        "the reads were still waiting"
    );

    release_orders_projection(held).await;
    while let Some(status) = readers.join_next().await {
        assert_eq!(status.unwrap(), 404);
    }
    app.stop().await;
}
