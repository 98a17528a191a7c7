//! Batches as a whole: the size limit refuses everything at once, and what the set-based inline
//! projections write for a batch is what a replay of the log, one event at a time, writes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::common::onec::{operation, referring};
use crate::common::spawn_app;
use crate::support::{balance, PHONE};

/// How long the replay below waits for the feed's horizon to pass the log's head (transactions
/// of other test databases on the cluster hold it back for a moment).
const FEED_DEADLINE: Duration = Duration::from_secs(10);

#[sqlx::test]
async fn a_batch_over_the_limit_applies_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    app.customer_with_phone(PHONE).await;
    let items: Vec<Value> = (0..1_001)
        .map(|n| operation(&format!("A_{n}"), "accrual", "1", PHONE))
        .collect();
    let answer = app
        .onec_post(
            "/api/cashback/v1/transactions/batch",
            Some(&key),
            &json!({"transactions": items}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["field"], "transactions");
    assert_eq!(balance(&app, &key, PHONE).await["balance"], "0.00");
    app.stop().await;
}

/// What the set-based inline projections wrote during batches equals a from-scratch fold of the
/// log applied one event at a time (what a replay does).
#[sqlx::test]
async fn batch_written_projections_equal_an_event_by_event_replay(pool: PgPool) {
    use ledger_events::{EventStore, FeedPosition};
    use ledger_projections::read_models;

    let app = spawn_app(pool).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    let phones: Vec<String> = (0..5).map(|n| format!("99893{:07}", n)).collect();
    for phone in &phones {
        app.customer_with_phone(phone).await;
    }
    let mut items = Vec::new();
    for (n, phone) in phones.iter().enumerate() {
        items.push(operation(&format!("A_{n}"), "accrual", "100.00", phone));
        items.push(operation(&format!("D_{n}"), "debit", "30.00", phone));
        items.push(referring(
            &format!("Rel_{n}"),
            "release",
            "10.00",
            phone,
            &format!("D_{n}"),
        ));
        items.push(referring(
            &format!("Rev_{n}"),
            "reversal",
            "50.00",
            phone,
            &format!("A_{n}"),
        ));
        items.push(operation(&format!("Big_{n}"), "debit", "1000.00", phone)); // refused, recorded
    }
    let answer = app
        .onec_post(
            "/api/cashback/v1/transactions/batch",
            Some(&key),
            &json!({"transactions": items}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);

    let store = EventStore::new(app.pool.clone());
    for projector in read_models::inline() {
        let tables = projector.tables();
        let snapshot = |table: &str| {
            format!("SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} t")
        };
        let mut live = Vec::new();
        for table in tables {
            live.push(
                sqlx::query_scalar::<_, Value>(&snapshot(table))
                    .fetch_one(&app.pool)
                    .await
                    .unwrap(),
            );
        }
        let mut transaction = app.pool.begin().await.unwrap();
        for table in tables {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *transaction)
                .await
                .unwrap();
        }
        let head = store.feed_head().await.unwrap();
        let mut after = FeedPosition::START;
        let deadline = Instant::now() + FEED_DEADLINE;
        while after < head {
            assert!(
                Instant::now() < deadline,
                "{}: the feed did not reach the log's head {head:?} within {FEED_DEADLINE:?} \
                 (read up to {after:?})",
                projector.name()
            );
            let batch = store.read_global_feed(after, 100).await.unwrap();
            for event in batch.events.iter().filter(|e| projector.reads_stream(e)) {
                projector.apply(&mut transaction, event).await.unwrap();
            }
            after = batch.end(after);
            if batch.events.is_empty() && after < head {
                // Poll interval while another database's transaction holds the horizon.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        for (table, live_rows) in tables.iter().zip(&live) {
            let replayed: Value = sqlx::query_scalar(&snapshot(table))
                .fetch_one(&mut *transaction)
                .await
                .unwrap();
            assert_eq!(
                &replayed, live_rows,
                "{table}: replay equals what the batch wrote"
            );
        }
        transaction.rollback().await.unwrap();
    }
    app.stop().await;
}
