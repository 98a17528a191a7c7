//! Projected reads from a streaming replica (`LEDGER_READ_DATABASE_URL`), against a real hot
//! standby made with `pg_basebackup -R`: a read that names `min_position` is answered by the
//! replica only once the replica has replayed that position, by the primary otherwise, and a
//! replica that goes away never costs an answer.

mod common;

use std::time::Duration;

use common::replication::ReplicatedPair;
use common::{spawn_app_with, Answer, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use tokio::time::Instant;

async fn place_order(app: &TestApp, external_id: &str) -> (String, i64) {
    let placed = app
        .post(
            "/api/orders",
            Some(ADMIN_TOKEN),
            &json!({
                "external_id": external_id,
                "currency": "UZS",
                "items": [{"sku": "tea-1", "title": "Green tea", "qty": 1, "price": "15000.00"}]
            }),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    (order_id, placed.body["position"].as_i64().unwrap())
}

async fn read_order(app: &TestApp, order_id: &str, min_position: Option<i64>) -> Answer {
    let query = min_position.map_or(String::new(), |position| {
        format!("?min_position={position}")
    });
    app.get(&format!("/api/orders/{order_id}{query}"), Some(ADMIN_TOKEN))
        .await
}

/// `ledger_projected_reads_total{target=...}` from `/metrics`.
async fn reads_answered_by(app: &TestApp, target: &str) -> u64 {
    let page = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("ledger_projected_reads_total{{target=\"{target}\"}} ");
    page.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0, |value| value.trim().parse().unwrap())
}

/// Reads `order_id` at `min_position` until the replica answers it (it replays asynchronously).
async fn read_until_the_replica_answers(app: &TestApp, order_id: &str, min_position: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let before = reads_answered_by(app, "replica").await;
        let read = read_order(app, order_id, Some(min_position)).await;
        assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
        assert_eq!(read.body["order_id"], order_id);
        if reads_answered_by(app, "replica").await > before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never caught up with position {min_position}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn reads_go_to_the_replica_only_once_it_has_replayed_the_position_asked_for() {
    let pair = ReplicatedPair::start().await;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&pair.primary_url)
        .await
        .unwrap();
    let standby_url = pair.standby_url.clone();
    let app = spawn_app_with(pool, move |config| {
        config.read_database_url = Some(ledger::config::Secret::new(standby_url));
    })
    .await;

    let (first, first_position) = place_order(&app, "R-1").await;
    read_until_the_replica_answers(&app, &first, first_position).await;

    // The standby stops replaying: a new order exists on the primary only.
    let standby = PgPoolOptions::new()
        .max_connections(1)
        .connect(&pair.standby_url)
        .await
        .unwrap();
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&standby)
        .await
        .unwrap();
    let (second, second_position) = place_order(&app, "R-2").await;
    let behind_before = reads_answered_by(&app, "primary_replica_behind").await;
    let read = read_order(&app, &second, Some(second_position)).await;
    assert_eq!(
        read.status,
        StatusCode::OK,
        "a client reads its own write although the replica is behind: {:?}",
        read.body
    );
    assert_eq!(read.body["order_id"], second.as_str());
    assert!(reads_answered_by(&app, "primary_replica_behind").await > behind_before);

    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&standby)
        .await
        .unwrap();
    standby.close().await;
    read_until_the_replica_answers(&app, &second, second_position).await;

    // The replica goes away: reads keep being answered, by the primary.
    pair.stop_standby().await;
    let unavailable_before = reads_answered_by(&app, "primary_replica_unavailable").await;
    for (order, position) in [(&first, first_position), (&second, second_position)] {
        let read = read_order(&app, order, Some(position)).await;
        assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    }
    assert!(reads_answered_by(&app, "primary_replica_unavailable").await > unavailable_before);
    app.stop().await;
}
