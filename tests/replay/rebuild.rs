//! Rebuilds and verifies against the live application: after a mixed workload the rebuilt
//! tables equal the live ones (every projector, inline and asynchronous), and a rebuild while
//! the server takes writes loses none and never shows a reader a half-built table.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ledger_projections::read_models;
use ledger_replay::rebuild::{rebuild, RebuildOptions};
use ledger_replay::verify::verify;
use sqlx::PgPool;

use crate::support::{
    caught_up, full_app, mixed_round, outbox_settled, snapshot_all, unbalanced_currencies,
};

/// Replay equivalence: each projection folded again from the log equals what was built
/// incrementally (inline in the append transactions, or by the runners).
async fn every_projection_equals_the_log(pool: &PgPool) {
    for projector in every_projector() {
        let differences = verify(pool, projector.as_ref(), false).await.unwrap();
        assert!(
            differences.is_empty(),
            "{}: {differences:#?}",
            projector.name()
        );
    }
}

fn every_projector() -> Vec<std::sync::Arc<dyn ledger_projections::Projector>> {
    read_models::inline()
        .into_iter()
        .chain(read_models::asynchronous())
        .collect()
}

#[sqlx::test]
async fn rebuild_equals_live_after_a_mixed_workload(pool: PgPool) {
    let (app, payme, _fake) = full_app(pool.clone()).await;
    let store_key = app.store_key("replay-1", "UZS", "Asia/Tashkent").await;
    for round in 0..2 {
        mixed_round(&app, &payme, &store_key, round).await;
    }
    outbox_settled(&pool).await;
    let before = snapshot_all(&pool).await;
    assert!(
        before
            .iter()
            .all(|(table, rows)| !rows.is_empty() || table == "outbox_recipients"),
        "the workload reaches every table: {:?}",
        before.iter().map(|(t, r)| (t, r.len())).collect::<Vec<_>>()
    );

    every_projection_equals_the_log(&pool).await;
    for projector in every_projector() {
        let summary = rebuild(&pool, projector.as_ref(), &RebuildOptions::default(), false)
            .await
            .unwrap();
        assert!(summary.folded.events_read > 0, "{}", summary.render());
    }
    caught_up(&pool).await;
    let after = snapshot_all(&pool).await;
    for ((table, rows_before), (_, rows_after)) in before.iter().zip(&after) {
        assert_eq!(rows_before, rows_after, "{table} changed in the rebuild");
    }
    assert_eq!(unbalanced_currencies(&pool).await, vec![], "trial balance");
    app.stop().await;
}

#[sqlx::test]
async fn a_rebuild_while_the_server_takes_writes_loses_nothing_and_mixes_nothing(pool: PgPool) {
    let (app, payme, _fake) = full_app(pool.clone()).await;
    let store_key = app.store_key("replay-2", "UZS", "Asia/Tashkent").await;
    mixed_round(&app, &payme, &store_key, 100).await;
    caught_up(&pool).await;

    // A reader watches the row counts of a runner's table and an inline one: a reader that saw
    // a table emptied or half-filled would see a count go down.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let pool = pool.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut last = (0_i64, 0_i64);
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let now: (i64, i64) = sqlx::query_as(
                    "SELECT (SELECT count(*) FROM orders_view), (SELECT count(*) FROM cashback_accounts)",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                assert!(
                    now.0 >= last.0 && now.1 >= last.1,
                    "went from {last:?} to {now:?}"
                );
                last = now;
                reads += 1;
            }
            reads
        })
    };
    let writes = async {
        for round in 101..104 {
            mixed_round(&app, &payme, &store_key, round).await;
        }
    };
    let rebuilds = async {
        let mut rebuilt = 0;
        for _ in 0..2 {
            for name in [
                "orders",
                "cashback_balances",
                "account_balances",
                "cashback_history",
            ] {
                let projector = read_models::by_name(name).unwrap();
                rebuild(&pool, projector.as_ref(), &RebuildOptions::default(), false)
                    .await
                    .unwrap();
                rebuilt += 1;
            }
        }
        rebuilt
    };
    let ((), rebuilt) = tokio::join!(writes, rebuilds);
    assert_eq!(rebuilt, 8);
    caught_up(&pool).await;
    stop.store(true, Ordering::Relaxed);
    assert!(reader.await.unwrap() > 0);

    // Nothing lost: every order placed is in the view, and every projection equals the log.
    let placed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'OrderPlaced'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let viewed: i64 = sqlx::query_scalar("SELECT count(*) FROM orders_view")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(placed, viewed);
    assert_eq!(placed, 4 * 8, "eight orders a round");
    every_projection_equals_the_log(&pool).await;
    assert_eq!(unbalanced_currencies(&pool).await, vec![], "trial balance");
    app.stop().await;
}
