//! The event store against a real PostgreSQL (each test gets its own database).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use futures::future::join_all;
use ledger_events::domain::CustomerRegistered;
use ledger_events::{
    AppendError, AppendOutcome, AppendRequest, DomainEvent, EventMetadata, EventStore,
    ExpectedVersion, FeedPosition, Fingerprint, Idempotency, Source, StreamId,
};
use rand::{seq::SliceRandom, Rng, SeedableRng};
use sqlx::PgPool;
use tokio::sync::Barrier;

fn registered(customer_id: &str, name: &str) -> DomainEvent {
    CustomerRegistered {
        customer_id: customer_id.into(),
        phone: None,
        telegram_id: None,
        name: Some(name.into()),
    }
    .into()
}

fn request(stream: &StreamId, expected: ExpectedVersion, name: &str) -> AppendRequest {
    AppendRequest::new(EventMetadata::new(Source::Api, "test"))
        .expect(stream, expected)
        .event(stream, registered(stream.entity_id(), name))
}

#[sqlx::test(migrations = "../migrations")]
async fn two_writers_with_the_same_expected_version_exactly_one_wins(pool: PgPool) {
    let store = EventStore::new(pool);
    for round in 0..20 {
        let stream = StreamId::customer(&format!("race-{round}"));
        store
            .append(&request(&stream, ExpectedVersion::NoStream, "first"))
            .await
            .unwrap();

        let barrier = Arc::new(Barrier::new(2));
        let writers = (0..2).map(|writer| {
            let (store, barrier, stream) = (store.clone(), barrier.clone(), stream.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let name = format!("writer-{writer}");
                store
                    .append(&request(&stream, ExpectedVersion::Exact(1), &name))
                    .await
            })
        });
        let results: Vec<_> = join_all(writers)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();

        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: exactly one writer succeeds");
        let loser = results
            .into_iter()
            .find_map(Result::err)
            .expect("one writer failed");
        match loser {
            AppendError::VersionConflict(conflicts) => {
                assert_eq!(conflicts.len(), 1);
                assert_eq!(conflicts[0].stream_id, stream.as_str());
                assert_eq!((conflicts[0].expected, conflicts[0].actual), (1, 2));
            }
            other => panic!("round {round}: expected a version conflict, got {other:?}"),
        }
        assert_eq!(store.stream_version(&stream).await.unwrap(), 2);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn fifty_concurrent_appends_with_one_key_make_one_event(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let stream = StreamId::customer("idempotent");
    let key = "test:create:42";
    let fingerprint = Fingerprint::of(&("create", "42", "100.00"));
    let barrier = Arc::new(Barrier::new(50));

    let appends = (0..50).map(|_| {
        let (store, barrier, stream) = (store.clone(), barrier.clone(), stream.clone());
        let idempotency = Idempotency::new(key, fingerprint.clone());
        tokio::spawn(async move {
            let request = request(&stream, ExpectedVersion::Any, "same").idempotent(idempotency);
            barrier.wait().await;
            store.append(&request).await
        })
    });
    let outcomes: Vec<AppendOutcome> = join_all(appends)
        .await
        .into_iter()
        .map(|joined| {
            joined
                .unwrap()
                .expect("every duplicate gets the original result")
        })
        .collect();

    let appended = outcomes.iter().filter(|o| !o.is_duplicate()).count();
    assert_eq!(appended, 1, "exactly one append wrote an event");
    let original = outcomes[0].keyed_event();
    for outcome in &outcomes {
        assert_eq!(
            outcome.keyed_event(),
            original,
            "all 50 results are identical"
        );
        assert_eq!(outcome.position(), original.position);
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id = $1")
        .bind(stream.as_str())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    assert_eq!(store.stream_version(&stream).await.unwrap(), 1);

    let different = request(&stream, ExpectedVersion::Any, "other content").idempotent(
        Idempotency::new(key, Fingerprint::of(&("create", "42", "999.00"))),
    );
    match store.append(&different).await {
        Err(AppendError::IdempotencyConflict {
            key: conflicting,
            original: first,
        }) => {
            assert_eq!(conflicting, key);
            assert_eq!(first.position, original.position);
        }
        other => panic!("expected an idempotency conflict, got {other:?}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_multi_stream_append_is_all_or_nothing(pool: PgPool) {
    let store = EventStore::new(pool);
    let (a, b) = (StreamId::customer("a"), StreamId::customer("b"));
    store
        .append(&request(&b, ExpectedVersion::NoStream, "b1"))
        .await
        .unwrap();

    // b is at version 1, so expecting "no stream" fails and a must not be written either.
    let both = AppendRequest::new(EventMetadata::new(Source::Api, "test"))
        .expect(&a, ExpectedVersion::NoStream)
        .expect(&b, ExpectedVersion::NoStream)
        .event(&a, registered("a", "a1"))
        .event(&b, registered("b", "b2"));
    assert!(matches!(
        store.append(&both).await,
        Err(AppendError::VersionConflict(_))
    ));
    assert_eq!(store.stream_version(&a).await.unwrap(), 0);
    assert!(store.read_stream(&a, 0).await.unwrap().is_empty());

    let both = AppendRequest::new(EventMetadata::new(Source::Api, "test"))
        .expect(&a, ExpectedVersion::NoStream)
        .expect(&b, ExpectedVersion::Exact(1))
        .event(&a, registered("a", "a1"))
        .event(&b, registered("b", "b2"))
        .event(&a, registered("a", "a2"));
    let written = store.append(&both).await.unwrap();
    let versions: Vec<(String, i64)> = written
        .appended()
        .iter()
        .map(|e| (e.stream_id.to_string(), e.stream_version))
        .collect();
    assert_eq!(
        versions,
        [
            ("customer-a".into(), 1),
            ("customer-b".into(), 2),
            ("customer-a".into(), 2)
        ]
    );
    let tx_ids: HashSet<i64> = written.appended().iter().map(|e| e.tx_id).collect();
    assert_eq!(tx_ids.len(), 1, "one transaction");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_log_refuses_updates_and_deletes(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    store
        .append(&request(
            &StreamId::customer("x"),
            ExpectedVersion::Any,
            "x",
        ))
        .await
        .unwrap();
    for statement in [
        "UPDATE events SET payload = '{}'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let error = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
}

/// The feed must never hand out an event while an earlier-starting transaction that could still
/// commit before it is open, and must never skip one. 200 rounds of random interleavings of
/// open transactions, commits and rollbacks, with a reader polling in between.
#[sqlx::test(migrations = "../migrations")]
async fn the_feed_never_skips_a_late_commit(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let seed: u64 = rand::thread_rng().gen();
    println!("gap test seed: {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let mut reader = FeedPosition::START;
    let mut handed_out: Vec<(i64, String, i64)> = Vec::new();
    let mut committed: HashSet<i64> = HashSet::new();

    for round in 0..200 {
        let writers = rng.gen_range(2..=4);
        let mut open = Vec::new();
        for writer in 0..writers {
            let mut transaction = pool.begin().await.unwrap();
            let stream = StreamId::customer(&format!("r{round}-w{writer}"));
            let events = rng.gen_range(1..=3);
            let mut request = AppendRequest::new(EventMetadata::new(Source::Api, "gap"))
                .expect(&stream, ExpectedVersion::NoStream);
            for n in 0..events {
                request.push_event(&stream, registered(stream.entity_id(), &format!("e{n}")));
            }
            let outcome = store.append_in(&mut transaction, &request).await.unwrap();
            let positions: Vec<i64> = outcome.appended().iter().map(|e| e.position).collect();
            open.push((transaction, positions));
            poll(&store, &mut reader, &mut handed_out, &committed).await;
        }
        open.shuffle(&mut rng);
        for (transaction, positions) in open {
            if rng.gen_bool(0.15) {
                transaction.rollback().await.unwrap();
            } else {
                transaction.commit().await.unwrap();
                committed.extend(positions);
            }
            poll(&store, &mut reader, &mut handed_out, &committed).await;
        }
    }
    // Everything is committed now: reading on must drain the rest (once transactions of other
    // databases on the cluster, which hold the horizon too, have finished).
    let head = store.feed_head().await.unwrap();
    while reader < head {
        poll(&store, &mut reader, &mut handed_out, &committed).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let delivered: HashSet<i64> = handed_out
        .iter()
        .map(|(position, _, _)| *position)
        .collect();
    assert_eq!(
        delivered.len(),
        handed_out.len(),
        "no event handed out twice"
    );
    assert_eq!(
        delivered, committed,
        "every committed event handed out, nothing else"
    );
    let mut versions: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, stream, version) in &handed_out {
        let previous = versions.insert(stream, *version).unwrap_or(0);
        assert_eq!(*version, previous + 1, "stream {stream} in version order");
    }
}

async fn poll(
    store: &EventStore,
    reader: &mut FeedPosition,
    handed_out: &mut Vec<(i64, String, i64)>,
    committed: &HashSet<i64>,
) {
    loop {
        let batch = store.read_global_feed(*reader, 7).await.unwrap();
        for event in &batch.events {
            assert!(
                committed.contains(&event.position),
                "position {} handed out before its transaction committed",
                event.position
            );
            handed_out.push((
                event.position,
                event.stream_id.to_string(),
                event.stream_version,
            ));
        }
        *reader = batch.end(*reader);
        if batch.reached_horizon {
            return;
        }
    }
}

/// The one-event, one-stream case takes a shortcut inside `ledger_append` (migration 0006);
/// every expected-version rule must still hold on it, including the fallbacks to the general
/// path (a stream row left at version 0, a missing stream with an exact expectation).
#[sqlx::test(migrations = "../migrations")]
async fn single_event_appends_keep_every_expected_version_rule(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let stream = StreamId::customer("single");

    let first = store
        .append(&request(&stream, ExpectedVersion::NoStream, "v1"))
        .await
        .unwrap();
    assert_eq!(first.appended()[0].stream_version, 1);

    let conflict = |result: Result<AppendOutcome, AppendError>| match result {
        Err(AppendError::VersionConflict(conflicts)) => {
            assert_eq!(conflicts.len(), 1);
            (conflicts[0].expected, conflicts[0].actual)
        }
        other => panic!("expected a version conflict, got {other:?}"),
    };
    let again = store
        .append(&request(&stream, ExpectedVersion::NoStream, "again"))
        .await;
    assert_eq!(conflict(again), (0, 1));
    let stale = store
        .append(&request(&stream, ExpectedVersion::Exact(5), "stale"))
        .await;
    assert_eq!(conflict(stale), (5, 1));

    let second = store
        .append(&request(&stream, ExpectedVersion::Exact(1), "v2"))
        .await
        .unwrap();
    let third = store
        .append(&request(&stream, ExpectedVersion::Any, "v3"))
        .await
        .unwrap();
    assert_eq!(second.appended()[0].stream_version, 2);
    assert_eq!(third.appended()[0].stream_version, 3);
    assert_eq!(store.stream_version(&stream).await.unwrap(), 3);

    // An exact expectation on a stream that does not exist is a conflict with version 0, and
    // writes no event.
    let missing = StreamId::customer("missing");
    let on_missing = store
        .append(&request(&missing, ExpectedVersion::Exact(2), "x"))
        .await;
    assert_eq!(conflict(on_missing), (2, 0));
    assert!(store.read_stream(&missing, 0).await.unwrap().is_empty());

    // A stream row at version 0 (left by a lost race) counts as "no stream".
    let leftover = StreamId::customer("leftover");
    sqlx::query("INSERT INTO streams (stream_id, stream_type, version) VALUES ($1, 'customer', 0)")
        .bind(leftover.as_str())
        .execute(&pool)
        .await
        .unwrap();
    let created = store
        .append(&request(&leftover, ExpectedVersion::NoStream, "l1"))
        .await
        .unwrap();
    assert_eq!(created.appended()[0].stream_version, 1);

    let versions: Vec<i64> = store
        .read_stream(&stream, 0)
        .await
        .unwrap()
        .iter()
        .map(|event| event.stream_version)
        .collect();
    assert_eq!(versions, [1, 2, 3], "conflicts wrote nothing");
}

/// A repeat of a keyed request answers the original even when its expected version is stale
/// by now, or when it names another stream: the key is checked before the stream.
#[sqlx::test(migrations = "../migrations")]
async fn a_repeat_with_a_stale_expected_version_is_a_duplicate(pool: PgPool) {
    let store = EventStore::new(pool);
    let stream = StreamId::customer("repeat");
    let idempotency = Idempotency::new("test:repeat:1", Fingerprint::of(&("repeat", 1)));
    let keyed =
        || request(&stream, ExpectedVersion::NoStream, "keyed").idempotent(idempotency.clone());
    let original = store.append(&keyed()).await.unwrap();
    store
        .append(&request(&stream, ExpectedVersion::Exact(1), "later"))
        .await
        .unwrap();
    let repeat = store.append(&keyed()).await.unwrap();
    assert!(repeat.is_duplicate());
    assert_eq!(repeat.keyed_event(), original.keyed_event());
    assert_eq!(store.stream_version(&stream).await.unwrap(), 2);

    // The key names the write, whatever stream a repeat names: nothing is created elsewhere.
    let elsewhere = StreamId::customer("elsewhere");
    for expected in [ExpectedVersion::NoStream, ExpectedVersion::Any] {
        let moved = request(&elsewhere, expected, "keyed").idempotent(idempotency.clone());
        let answer = store.append(&moved).await.unwrap();
        assert!(answer.is_duplicate(), "{expected:?}");
        assert_eq!(answer.keyed_event(), original.keyed_event());
        let changed = request(&elsewhere, expected, "keyed").idempotent(Idempotency::new(
            "test:repeat:1",
            Fingerprint::of(&("repeat", 2)),
        ));
        match store.append(&changed).await {
            Err(AppendError::IdempotencyConflict {
                original: first, ..
            }) => {
                assert_eq!(first.position, original.position(), "{expected:?}");
            }
            other => panic!("{expected:?}: expected an idempotency conflict, got {other:?}"),
        }
    }
    assert_eq!(store.stream_version(&elsewhere).await.unwrap(), 0);
    assert!(store.read_stream(&elsewhere, 0).await.unwrap().is_empty());
}

/// Writers that each append one event to the same new stream with `Any` all succeed, one
/// after the other: whoever creates the stream row first makes the others wait for its commit.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_first_appends_to_a_new_stream_all_land_in_order(pool: PgPool) {
    let store = EventStore::new(pool);
    for round in 0..10 {
        let stream = StreamId::customer(&format!("fresh-{round}"));
        let writers = 8;
        let barrier = Arc::new(Barrier::new(writers));
        let appends = (0..writers).map(|writer| {
            let (store, barrier, stream) = (store.clone(), barrier.clone(), stream.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let name = format!("writer-{writer}");
                store
                    .append(&request(&stream, ExpectedVersion::Any, &name))
                    .await
            })
        });
        let mut versions: Vec<i64> = join_all(appends)
            .await
            .into_iter()
            .map(|joined| joined.unwrap().expect("every writer appends").position())
            .collect();
        versions.sort_unstable();
        let events = store.read_stream(&stream, 0).await.unwrap();
        let stream_versions: Vec<i64> = events.iter().map(|e| e.stream_version).collect();
        assert_eq!(
            stream_versions,
            (1..=8).collect::<Vec<i64>>(),
            "round {round}"
        );
        let positions: Vec<i64> = {
            let mut positions: Vec<i64> = events.iter().map(|e| e.position).collect();
            positions.sort_unstable();
            positions
        };
        assert_eq!(
            positions, versions,
            "round {round}: each writer got its own event"
        );
        assert_eq!(store.stream_version(&stream).await.unwrap(), 8);
    }
}

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
    while reader < head {
        let batch = store.read_global_feed(reader, 100).await.unwrap();
        versions.extend(
            batch
                .events
                .iter()
                .filter(|event| event.stream_id == contested)
                .map(|event| event.stream_version),
        );
        reader = batch.end(reader);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
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
    for _ in 0..500 {
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
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no backend started waiting for a lock within 5 s");
}
