//! Appends: expected versions, idempotency keys, several streams at once, an append-only log.

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::join_all;
use ledger_events::{
    AppendError, AppendOutcome, AppendRequest, EventMetadata, EventStore, ExpectedVersion,
    Fingerprint, Idempotency, Source, StreamId,
};
use sqlx::PgPool;
use tokio::sync::Barrier;

use crate::support::{registered, request};

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
