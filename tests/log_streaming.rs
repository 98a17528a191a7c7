//! The event log streamed out through logical replication: the `ledger_events` publication,
//! read with a `pgoutput` replication slot (what a PostgreSQL subscriber or Debezium uses),
//! carries every event exactly once, each transaction whole and in commit order, so each
//! stream's versions arrive in order.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::onec::operation;
use common::private_cluster::PrivateCluster;
use common::{spawn_app_with, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::json;

/// One event as the slot delivered it.
#[derive(Debug)]
struct StreamedEvent {
    position: i64,
    stream_id: String,
    stream_version: i64,
    transaction: u32,
}

/// A big-endian reader over one `pgoutput` message.
struct Message<'a> {
    bytes: &'a [u8],
}

impl<'a> Message<'a> {
    fn take(&mut self, count: usize) -> &'a [u8] {
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        taken
    }
    fn byte(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn text(&mut self) -> String {
        let end = self.bytes.iter().position(|b| *b == 0).unwrap();
        let text = String::from_utf8(self.take(end).to_vec()).unwrap();
        self.take(1);
        text
    }
}

/// Decodes the inserts of `pgoutput` protocol 1 messages (Begin, Relation, Insert, Commit).
fn decode(messages: &[Vec<u8>]) -> (Vec<StreamedEvent>, Vec<u32>) {
    let mut columns: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let (mut events, mut transactions, mut current) = (Vec::new(), Vec::new(), 0_u32);
    for raw in messages {
        let mut message = Message { bytes: raw };
        match message.byte() {
            b'B' => {
                message.take(16); // final LSN, commit time
                current = message.u32();
                transactions.push(current);
            }
            b'R' => {
                let relation = message.u32();
                let (_namespace, _name) = (message.text(), message.text());
                message.byte(); // replica identity
                let count = message.u16();
                let names = (0..count)
                    .map(|_| {
                        message.byte();
                        let name = message.text();
                        message.take(8); // type oid, modifier
                        name
                    })
                    .collect();
                columns.insert(relation, names);
            }
            b'I' => {
                let relation = message.u32();
                assert_eq!(message.byte(), b'N');
                let count = message.u16();
                let mut row = BTreeMap::new();
                for name in columns[&relation].iter().take(usize::from(count)) {
                    match message.byte() {
                        b't' => {
                            let length = message.u32() as usize;
                            let value = String::from_utf8(message.take(length).to_vec()).unwrap();
                            row.insert(name.clone(), value);
                        }
                        b'n' | b'u' => {}
                        other => panic!("unexpected column kind {other}"),
                    }
                }
                events.push(StreamedEvent {
                    position: row["global_position"].parse().unwrap(),
                    stream_id: row["stream_id"].clone(),
                    stream_version: row["stream_version"].parse().unwrap(),
                    transaction: current,
                });
            }
            _ => {} // Commit, Origin, Type, Truncate: nothing to check here
        }
    }
    (events, transactions)
}

#[tokio::test]
async fn the_publication_streams_every_event_once_in_commit_order() {
    let (cluster, url) = PrivateCluster::start().await;
    let url = cluster.reconfigure(&url, &[("wal_level", "logical")]).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    ledger::infra::database::migrate(&pool).await.unwrap();
    sqlx::query("SELECT pg_create_logical_replication_slot('ledger_test_slot', 'pgoutput')")
        .execute(&pool)
        .await
        .unwrap();
    let app = spawn_app_with(pool.clone(), |config| {
        config.limits.onec_batches_per_store = 3
    })
    .await;

    // A mixed, concurrent workload: customers, orders with holds, 1C batches.
    let key = app.store_key("s1", "UZS", "UTC").await;
    let phones: Vec<String> = (0..6).map(|n| format!("99890700{n:04}")).collect();
    for phone in &phones {
        app.customer_with_phone(phone).await;
    }
    let batches = (0..3).map(|round| {
        let items: Vec<_> = phones
            .iter()
            .map(|phone| operation(&format!("b{round}-{phone}"), "accrual", "10.00", phone))
            .collect();
        let (app, key) = (&app, &key);
        async move {
            app.onec_post(
                "/api/cashback/v1/transactions/batch",
                Some(key),
                &json!({"transactions": items}),
            )
            .await
        }
    });
    let orders = phones.iter().enumerate().map(|(index, phone)| {
        let app = &app;
        async move {
            app.post(
                "/api/orders",
                Some(ADMIN_TOKEN),
                &json!({"external_id": format!("O-{index}"), "customer_phone": phone, "currency": "UZS",
                        "items": [{"sku": "a", "title": "A", "qty": 1, "price": "5.00"}]}),
            )
            .await
        }
    });
    let (batch_answers, order_answers) = tokio::join!(
        futures::future::join_all(batches),
        futures::future::join_all(orders)
    );
    for answer in &batch_answers {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }
    for answer in &order_answers {
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    }
    app.stop().await;

    let logged: Vec<i64> = sqlx::query_scalar("SELECT global_position FROM events ORDER BY 1")
        .fetch_all(&pool)
        .await
        .unwrap();
    // The test cluster commits without waiting for the WAL flush; the slot decodes only what is
    // flushed (the WAL writer does it within a fraction of a second): read until all arrived.
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let (streamed, transactions) = loop {
        let more: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT data FROM pg_logical_slot_get_binary_changes('ledger_test_slot', NULL, NULL, \
             'proto_version', '1', 'publication_names', 'ledger_events')",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        messages.extend(more);
        let decoded = decode(&messages);
        if decoded.0.len() >= logged.len() || tokio::time::Instant::now() >= deadline {
            break decoded;
        }
        // Poll interval while the WAL writer flushes.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };

    let mut positions: Vec<i64> = streamed.iter().map(|event| event.position).collect();
    positions.sort_unstable();
    assert_eq!(
        positions, logged,
        "every event once, none missing, none twice"
    );
    let distinct: BTreeSet<u32> = transactions.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        transactions.len(),
        "each transaction streamed whole, once"
    );
    let mut last_version: BTreeMap<&str, i64> = BTreeMap::new();
    for event in &streamed {
        let last = last_version.entry(event.stream_id.as_str()).or_insert(0);
        assert_eq!(
            event.stream_version,
            *last + 1,
            "{} arrives in version order (transaction {})",
            event.stream_id,
            event.transaction
        );
        *last = event.stream_version;
    }
    sqlx::query("SELECT pg_drop_replication_slot('ledger_test_slot')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    drop(cluster);
}
