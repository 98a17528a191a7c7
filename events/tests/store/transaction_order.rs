//! A stream's versions come from transactions in id order, on the single and the batch path.

use std::collections::BTreeMap;
use std::time::Duration;

use ledger_events::{
    AppendError, AppendRequest, EventMetadata, EventStore, ExpectedVersion, FeedPosition, Source,
    StreamId,
};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::support::{registered, request, DEADLINE};

/// The feed orders by transaction id, so a stream's versions must come from transactions in
/// id order. A transaction that took its id early (it wrote elsewhere first) and then waited for
/// a stream a younger transaction was writing would otherwise put version 2 in the feed before
/// version 1, and every projector would stop at the gap. The store refuses such an append with
/// a retryable error; the retry runs in a new, younger transaction and lands in order.
#[sqlx::test(migrations = "../migrations")]
async fn a_stream_takes_versions_only_in_transaction_order(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let contested = StreamId::customer("contested");
    let younger_write = request(&contested, ExpectedVersion::NoStream, "v1");
    let older_write = request(&contested, ExpectedVersion::Any, "v2");
    let error = older_writes_behind_younger(&pool, &younger_write, move |store, older| {
        Box::pin(async move { store.append_in(older, &older_write).await.map(drop) })
    })
    .await;
    assert!(error.is_retryable(), "the refusal is retryable: {error}");

    let retried = store
        .append(&request(&contested, ExpectedVersion::Any, "v2"))
        .await
        .unwrap();
    assert_eq!(retried.appended()[0].stream_version, 2);
    // Read the whole feed (transactions of other test databases on the cluster hold the
    // horizon back for a moment).
    let head = store.feed_head().await.unwrap();
    let (mut reader, mut versions) = (FeedPosition::START, Vec::new());
    let deadline = Instant::now() + DEADLINE;
    while reader < head {
        assert!(
            Instant::now() < deadline,
            "the feed did not reach the log's head {head:?} within {DEADLINE:?} (read up to \
             {reader:?})"
        );
        let batch = store.read_global_feed(reader, 100).await.unwrap();
        versions.extend(
            batch
                .events
                .iter()
                .filter(|event| event.stream_id == contested)
                .map(|event| event.stream_version),
        );
        reader = batch.end(reader);
        // Poll interval while another database's transaction holds the horizon.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        versions,
        [1, 2],
        "the feed hands out the stream in version order"
    );
}

/// The same rule on the batch path: streams locked with `lock_streams` and written with
/// `append_locked` by a transaction that waited behind a younger writer.
#[sqlx::test(migrations = "../migrations")]
async fn a_locked_bulk_append_also_keeps_transaction_order(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let contested = StreamId::customer("contested");
    store
        .append(&request(&contested, ExpectedVersion::NoStream, "v1"))
        .await
        .unwrap();
    let younger_write = request(&contested, ExpectedVersion::Exact(1), "v2");
    let target = contested.clone();
    let error = older_writes_behind_younger(&pool, &younger_write, move |store, older| {
        let contested = target;
        Box::pin(async move {
            let versions = store
                .lock_streams(older, std::slice::from_ref(&contested))
                .await?;
            let locked = BTreeMap::from([(contested.clone(), versions[0])]);
            let event = ledger_events::store::LockedEvent {
                stream: contested.clone(),
                stream_version: versions[0] + 1,
                event: registered(contested.entity_id(), "v3"),
                idempotency: None,
            };
            let metadata = EventMetadata::new(Source::Api, "test");
            store
                .append_locked(older, &locked, &[event], &metadata)
                .await
                .map(drop)
        })
    })
    .await;
    assert!(error.is_retryable(), "the refusal is retryable: {error}");
    assert_eq!(store.stream_version(&contested).await.unwrap(), 2);
}

/// Plays the interleaving: an older transaction takes its id by writing elsewhere; a younger
/// one makes `younger_write` and keeps its locks; the older one starts `older_write`, which
/// waits for them; the younger one commits. Returns the error the older write must end with.
async fn older_writes_behind_younger<F>(
    pool: &PgPool,
    younger_write: &AppendRequest,
    older_write: F,
) -> AppendError
where
    F: for<'a> FnOnce(
            &'a EventStore,
            &'a mut sqlx::PgConnection,
        ) -> futures::future::BoxFuture<'a, Result<(), AppendError>>
        + Send
        + 'static,
{
    let store = EventStore::new(pool.clone());
    let mut older = pool.begin().await.unwrap();
    let elsewhere = StreamId::customer("elsewhere");
    store
        .append_in(
            &mut older,
            &request(&elsewhere, ExpectedVersion::NoStream, "first"),
        )
        .await
        .unwrap();
    let mut younger = pool.begin().await.unwrap();
    store.append_in(&mut younger, younger_write).await.unwrap();

    let waiting = {
        let store = store.clone();
        tokio::spawn(async move {
            let result = older_write(&store, &mut older).await;
            (older, result)
        })
    };
    wait_until_a_backend_waits_for_a_lock(pool).await;
    younger.commit().await.unwrap();
    let (older, result) = waiting.await.unwrap();
    older.rollback().await.unwrap();
    result.expect_err("an older transaction must not write behind a younger one")
}

/// Returns once some backend of this database is blocked on a lock.
async fn wait_until_a_backend_waits_for_a_lock(pool: &PgPool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no backend started waiting for a lock within {DEADLINE:?}"
        );
        // Poll interval of pg_stat_activity.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A single-stream locker claims the stream like a multi-stream one does, before it takes its
/// transaction id: while another transaction holds the claim (and has its id already, from a
/// row it locked first), the single locker waits on the claim, not on the row — so it cannot
/// take an id and write the stream first, which would push the older claimer into a refusal.
#[sqlx::test(migrations = "../migrations")]
async fn a_single_stream_locker_waits_for_the_streams_claim(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let contested = StreamId::customer("contested");
    let other = StreamId::customer("other");
    store
        .append(&request(&contested, ExpectedVersion::NoStream, "v1"))
        .await
        .unwrap();
    store
        .append(&request(&other, ExpectedVersion::NoStream, "v1"))
        .await
        .unwrap();

    // The claimer: both streams claimed and locked (its id taken), the transaction left open.
    let mut claimer = pool.begin().await.unwrap();
    store
        .lock_streams(&mut claimer, &[contested.clone(), other.clone()])
        .await
        .unwrap();
    let single = {
        let (pool, store, contested) = (pool.clone(), store.clone(), contested.clone());
        tokio::spawn(async move {
            let mut transaction = pool.begin().await.unwrap();
            let versions = store
                .lock_streams(&mut transaction, &[contested])
                .await
                .unwrap();
            transaction.commit().await.unwrap();
            versions[0]
        })
    };

    // The single locker is waiting on the advisory claim, with no transaction id of its own.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let waiting: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT wait_event, backend_xid::text FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
               AND pid <> pg_backend_pid()",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some((event, xid)) = waiting {
            assert_eq!(event, "advisory", "it waits on the claim, not on the row");
            assert_eq!(xid, None, "it has not taken a transaction id");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the single locker never started waiting"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!single.is_finished());

    store
        .append_in(
            &mut claimer,
            &request(&contested, ExpectedVersion::Exact(1), "v2"),
        )
        .await
        .unwrap();
    claimer.commit().await.unwrap();
    assert_eq!(
        single.await.unwrap(),
        2,
        "it locked the stream after the claimer's write"
    );
}
