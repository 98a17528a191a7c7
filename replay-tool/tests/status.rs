//! `ledger-replay status` against a real database: a log with a few events and checkpoints at
//! different places must come out as the right rows of the table.

use ledger_events::domain::CustomerRegistered;
use ledger_events::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, FeedPosition, RecordedEvent, Source,
    StreamId,
};
use ledger_projections::checkpoint::{self, Advance};
use ledger_replay::status;
use sqlx::PgPool;

async fn append_customers(store: &EventStore, count: usize) -> Vec<RecordedEvent> {
    let mut written = Vec::with_capacity(count);
    for number in 0..count {
        let customer_id = format!("c{number}");
        let stream = StreamId::customer(&customer_id);
        let request = AppendRequest::new(EventMetadata::new(Source::Api, "test"))
            .expect(&stream, ExpectedVersion::NoStream)
            .event(
                &stream,
                CustomerRegistered {
                    customer_id,
                    phone: None,
                    telegram_id: None,
                    name: None,
                },
            );
        let outcome = store.append(&request).await.unwrap();
        written.extend(outcome.appended().iter().cloned());
    }
    written
}

async fn checkpoint_after(pool: &PgPool, projection: &str, applied: &[RecordedEvent]) {
    let mut transaction = pool.begin().await.unwrap();
    checkpoint::ensure_exists(&mut *transaction, projection)
        .await
        .unwrap();
    let last = applied.last().unwrap();
    checkpoint::advance(
        &mut transaction,
        Advance {
            projection,
            to: FeedPosition {
                tx_id: last.tx_id,
                position: last.position,
            },
            max_position_in_batch: last.position,
            applied: applied.len() as i64,
            last_event: Some(last),
            runner: "test",
        },
    )
    .await
    .unwrap();
    transaction.commit().await.unwrap();
}

/// The row of `projection` in the rendered table, split into its cells (no cell in these rows
/// contains a space except the error, which comes last).
fn row<'a>(table: &'a str, projection: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(projection))
        .unwrap_or_else(|| panic!("no row for {projection} in:\n{table}"))
        .split_whitespace()
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn status_shows_each_projection_with_its_lag(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let events = append_customers(&store, 5).await;
    checkpoint_after(&pool, "customers", &events[..2]).await;
    // Behind the same events, which are not of its streams: nothing to apply, no lag.
    checkpoint_after(&pool, "orders", &events[..2]).await;
    checkpoint::ensure_exists(&pool, "cashback_history")
        .await
        .unwrap();
    checkpoint::record_error(&pool, "cashback_history", "payload did not decode")
        .await
        .unwrap();

    let report = status::gather(&pool).await.unwrap();
    let table = status::render(&report);

    let head = events.last().unwrap().position;
    assert!(
        table.contains(&format!("log head position: {head}\n")),
        "{table}"
    );
    assert!(table.contains("xmin horizon age: "), "{table}");

    let behind = &events[1];
    let checkpoint = format!("{}/{}", behind.tx_id, behind.position);
    let customers = row(&table, "customers");
    assert_eq!(
        customers[..7],
        [
            "customers",
            &behind.position.to_string(),
            &checkpoint,
            "2",
            "3",
            customers[5],
            "catching_up",
        ],
        "{table}"
    );
    let lag_seconds: f64 = customers[5].parse().unwrap();
    assert!(lag_seconds >= 0.0, "{table}");

    let orders = row(&table, "orders");
    assert_eq!(
        orders[..8],
        [
            "orders",
            &behind.position.to_string(),
            &checkpoint,
            "2",
            "0",
            "0.0",
            "caught_up",
            "-"
        ],
        "other streams' events behind a checkpoint are not lag: {table}"
    );

    let failing = row(&table, "cashback_history");
    assert_eq!(
        failing[..7],
        [
            "cashback_history",
            "0",
            "0/0",
            "0",
            "0",
            failing[5],
            "failing"
        ]
    );
    assert!(table.contains("payload did not decode"), "{table}");
}
