//! The global feed under random interleavings of open, committed and rolled-back transactions.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use ledger_events::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, FeedPosition, Source, StreamId,
};
use rand::{seq::SliceRandom, Rng};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::support::{registered, seeded_rng, DEADLINE};

/// The feed must never hand out an event while an earlier-starting transaction that could still
/// commit before it is open, and must never skip one. 200 rounds of random interleavings of
/// open transactions, commits and rollbacks, with a reader polling in between.
#[sqlx::test(migrations = "../migrations")]
async fn the_feed_never_skips_a_late_commit(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let mut rng = seeded_rng();

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
    let deadline = Instant::now() + DEADLINE;
    while reader < head {
        assert!(
            Instant::now() < deadline,
            "the feed did not reach the log's head {head:?} within {DEADLINE:?} (read up to \
             {reader:?})"
        );
        poll(&store, &mut reader, &mut handed_out, &committed).await;
        // Poll interval while another database's transaction holds the horizon.
        tokio::time::sleep(Duration::from_millis(5)).await;
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
    // Not a wait: every full batch moves the reader on through a finite log, and the first batch
    // short of the limit ends the loop. The deadline only turns a bug into a clear failure.
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(
            Instant::now() < deadline,
            "reading up to the horizon took over {DEADLINE:?} (at {reader:?})"
        );
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
