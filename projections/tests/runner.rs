//! The projection runner against a real PostgreSQL: crash and restart, and two runners at once.
//!
//! Every wait below is for a condition, with a deadline. The crash test's random choices come
//! from a printed seed; `LEDGER_TEST_SEED=<seed>` replays them (the timing of the runner's own
//! work is not replayed).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ledger_events::accounts::{
    customer_cashback, order_receivable, shop_cashback_issued, shop_sales,
};
use ledger_events::domain::*;
use ledger_events::postings::Side;
use ledger_events::{
    AppendRequest, Currency, EventMetadata, EventStore, ExpectedVersion, FeedPosition, Postings,
    Source, StreamId,
};
use ledger_projections::read_models::{account_balances::AccountBalances, customers::Customers};
use ledger_projections::{
    checkpoint, Cursor, ProgressBoard, ProjectionRunner, Projector, RunnerConfig,
};
use rand::{Rng, SeedableRng};
use sqlx::{PgPool, Row};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long any wait for the runner or the feed may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// The seed of this run's random choices: `LEDGER_TEST_SEED` to replay a failure, else a fresh
/// one. Printed either way (a failing test's output is shown).
fn seeded_rng() -> rand::rngs::StdRng {
    let seed = match std::env::var("LEDGER_TEST_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .expect("LEDGER_TEST_SEED is an unsigned 64-bit number"),
        Err(_) => rand::thread_rng().gen(),
    };
    println!("random seed {seed} (replay with LEDGER_TEST_SEED={seed})");
    rand::rngs::StdRng::seed_from_u64(seed)
}

fn fast_config(batch_size: i64) -> RunnerConfig {
    RunnerConfig {
        batch_size,
        idle_poll: Duration::from_millis(20),
        standby_poll: Duration::from_millis(50),
        ..RunnerConfig::default()
    }
}

/// Appends an order (placement postings), sometimes its cancellation, and a cashback accrual.
async fn write_order(store: &EventStore, n: usize) {
    let uzs = Currency::uzs();
    let order_id = format!("o{n}");
    let customer_id = format!("c{}", n % 7);
    let amount = 1_000 + (n as i64 % 13) * 100;
    let order = StreamId::order(&order_id);
    let mut request = AppendRequest::new(EventMetadata::new(Source::Api, "test"))
        .expect(&order, ExpectedVersion::NoStream)
        .event(
            &order,
            OrderPlaced {
                order_id: order_id.clone(),
                external_id: format!("ext-{n}"),
                customer_id: Some(customer_id.clone()),
                currency: uzs.clone(),
                items: vec![],
                items_total_minor: amount,
                cashback_redeemed_minor: 0,
                amount_minor: amount,
                hold_id: None,
                fx: None,
                expires_at: Utc::now(),
                postings: Postings::transfer(
                    order_receivable(&order_id),
                    shop_sales(),
                    amount,
                    &uzs,
                ),
            },
        );
    if n.is_multiple_of(3) {
        request.push_event(
            &order,
            OrderCancelled {
                order_id: order_id.clone(),
                reason: "api".into(),
                postings: Some(Postings::transfer(
                    shop_sales(),
                    order_receivable(&order_id),
                    amount,
                    &uzs,
                )),
            },
        );
    }
    store.append(&request).await.unwrap();

    // Accruals go through the cashback stream; balance_after must be right for the inline
    // projector, but this test only runs the asynchronous ones, so any value is fine here.
    let accrual = CashbackAccrued {
        customer_id: customer_id.clone(),
        currency: uzs.clone(),
        amount_minor: 10,
        origin: CashbackOrigin::Online { order_id },
        balance_after_minor: 0,
        postings: Postings::transfer(
            shop_cashback_issued(),
            customer_cashback(&customer_id, &uzs),
            10,
            &uzs,
        ),
    };
    store
        .append(
            &AppendRequest::new(EventMetadata::new(Source::Api, "test"))
                .event(&StreamId::cashback(&customer_id), accrual),
        )
        .await
        .unwrap();
}

async fn write_customer(store: &EventStore, n: usize) {
    let stream = StreamId::customer(&format!("cust{n}"));
    let registered = CustomerRegistered {
        customer_id: format!("cust{n}"),
        phone: Some(format!("99890{n:07}")),
        telegram_id: None,
        name: None,
    };
    store
        .append(
            &AppendRequest::new(EventMetadata::new(Source::Api, "test"))
                .expect(&stream, ExpectedVersion::NoStream)
                .event(&stream, registered),
        )
        .await
        .unwrap();
}

/// Whether `projection`'s checkpoint has reached `head`.
async fn reached(pool: &PgPool, projection: &str, head: FeedPosition) -> bool {
    checkpoint::ensure_exists(pool, projection).await.unwrap();
    checkpoint::load(pool, projection).await.unwrap() >= head
}

async fn wait_until_caught_up(pool: &PgPool, projection: &str) {
    let head = EventStore::new(pool.clone()).feed_head().await.unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        if reached(pool, projection, head).await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{projection} did not catch up with {head:?} within {DEADLINE:?}"
        );
        // Poll interval of the checkpoint.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Debits and credits per (account, currency), folded from scratch out of the whole log.
async fn fold_balances(store: &EventStore) -> BTreeMap<(String, String), (i64, i64)> {
    let mut totals = BTreeMap::new();
    let head = store.feed_head().await.unwrap();
    let mut after = FeedPosition::START;
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(
            Instant::now() < deadline,
            "the feed did not reach the log's head {head:?} within {DEADLINE:?} (read up to \
             {after:?})"
        );
        let batch = store.read_global_feed(after, 1_000).await.unwrap();
        for event in &batch.events {
            if let Some(postings) = event.event.postings() {
                for posting in postings.iter() {
                    let entry: &mut (i64, i64) = totals
                        .entry((posting.account.clone(), posting.currency.code().to_owned()))
                        .or_default();
                    match posting.side {
                        Side::Debit => entry.0 += posting.amount_minor,
                        Side::Credit => entry.1 += posting.amount_minor,
                    }
                }
            }
        }
        after = batch.end(after);
        if after >= head {
            return totals;
        }
        if batch.events.is_empty() {
            // Poll interval while another database's transaction holds the feed's horizon.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn projected_balances(pool: &PgPool) -> BTreeMap<(String, String), (i64, i64)> {
    sqlx::query("SELECT account, currency, debit_minor, credit_minor FROM account_balances")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                (row.get("account"), row.get("currency")),
                (row.get("debit_minor"), row.get("credit_minor")),
            )
        })
        .collect()
}

async fn events_of_streams(pool: &PgPool, stream_types: &[&str]) -> i64 {
    let types: Vec<String> = stream_types.iter().map(|t| format!("{t}-%")).collect();
    sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id LIKE ANY($1)")
        .bind(&types)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_runner_killed_mid_run_resumes_without_loss_or_double_apply(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let projector: Arc<dyn Projector> = Arc::new(AccountBalances);
    let mut written = 0;
    for _ in 0..60 {
        write_order(&store, written).await;
        written += 1;
    }

    // Kill the runner at random moments, writing more between the kills.
    let mut rng = seeded_rng();
    for _ in 0..8 {
        let runner = ProjectionRunner::new(
            store.clone(),
            projector.clone(),
            fast_config(7),
            ProgressBoard::default(),
        );
        let stats = runner.stats();
        let task = tokio::spawn(runner.run(CancellationToken::new()));
        // Wait until the runner has committed that many batches, or has nothing left to do
        // (fewer batches were waiting).
        let batches_before_kill = rng.gen_range(1..=4);
        let head = store.feed_head().await.unwrap();
        let deadline = Instant::now() + DEADLINE;
        while stats.batches_committed.load(Ordering::Relaxed) < batches_before_kill
            && !reached(&pool, projector.name(), head).await
        {
            assert!(
                Instant::now() < deadline,
                "the runner neither committed {batches_before_kill} batches nor caught up \
                 within {DEADLINE:?}"
            );
            // Poll interval of the runner's counters.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // A deliberate random delay, not synchronisation: the kill lands anywhere in the
        // runner's next batch (or while it idles).
        tokio::time::sleep(Duration::from_micros(rng.gen_range(0..3_000))).await;
        task.abort();
        let _ = task.await;
        for _ in 0..rng.gen_range(0..10) {
            write_order(&store, written).await;
            written += 1;
        }
    }

    let runner = ProjectionRunner::new(
        store.clone(),
        projector.clone(),
        fast_config(7),
        ProgressBoard::default(),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    wait_until_caught_up(&pool, projector.name()).await;
    shutdown.cancel();
    task.await.unwrap();

    assert_eq!(
        projected_balances(&pool).await,
        fold_balances(&store).await,
        "read model = fold of the log"
    );
    let applied: i64 = sqlx::query_scalar(
        "SELECT events_applied FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(projector.name())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        applied,
        events_of_streams(&pool, projector.stream_types()).await,
        "each event applied exactly once"
    );

    // Trial balance: every currency sums to zero.
    let unbalanced: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT currency FROM account_balances GROUP BY currency HAVING sum(debit_minor) <> sum(credit_minor)) c",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unbalanced, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn of_two_runners_started_at_once_only_one_applies(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    for n in 0..150 {
        write_customer(&store, n).await;
    }
    let projector: Arc<dyn Projector> = Arc::new(Customers);
    let shutdown = CancellationToken::new();
    let runners: Vec<ProjectionRunner> = (0..2)
        .map(|_| {
            ProjectionRunner::new(
                store.clone(),
                projector.clone(),
                fast_config(20),
                ProgressBoard::default(),
            )
        })
        .collect();
    let stats: Vec<_> = runners.iter().map(ProjectionRunner::stats).collect();
    let tasks: Vec<_> = runners
        .into_iter()
        .map(|runner| tokio::spawn(runner.run(shutdown.clone())))
        .collect();

    wait_until_caught_up(&pool, projector.name()).await;
    for n in 150..250 {
        write_customer(&store, n).await;
    }
    wait_until_caught_up(&pool, projector.name()).await;
    shutdown.cancel();
    for task in tasks {
        task.await.unwrap();
    }

    let applied: Vec<u64> = stats
        .iter()
        .map(|s| s.events_applied.load(Ordering::Relaxed))
        .collect();
    assert!(
        applied.contains(&0),
        "one runner applied nothing: {applied:?}"
    );
    assert_eq!(
        applied.iter().sum::<u64>(),
        250,
        "the other applied everything once: {applied:?}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM customers_view")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 250);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_gap_in_a_stream_stops_the_runner_without_consuming_anything(pool: PgPool) {
    // The guard says version 1 of the stream is the next to apply only after version 0; make it
    // believe the last applied version was -1, so the real version 1 is a jump of two. The
    // runner must report the gap and consume nothing, never skip silently.
    let store = EventStore::new(pool.clone());
    write_customer(&store, 1).await;
    checkpoint::ensure_exists(&pool, "customers").await.unwrap();
    sqlx::query(
        "INSERT INTO projection_stream_versions VALUES ('customers', 'customer-cust1', -1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let runner = ProjectionRunner::new(
        store,
        Arc::new(Customers),
        fast_config(10),
        ProgressBoard::default(),
    );
    let mut cursor = Cursor::at(FeedPosition::START);
    // The feed hands the event out once no older transaction is open anywhere on the cluster
    // (other tests run beside this one), so try until the batch holds it.
    let deadline = Instant::now() + DEADLINE;
    let error = loop {
        match runner.run_batch(&mut cursor).await {
            Err(error) => break error,
            Ok(step) => assert_eq!(step.applied, 0, "the jump must never be applied"),
        }
        assert!(
            Instant::now() < deadline,
            "the event never reached the feed within {DEADLINE:?}"
        );
        // Poll interval of the feed.
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        error.to_string().contains("jumped from version -1 to 1"),
        "{error}"
    );
    assert!(cursor.read.position == 0, "nothing consumed: {cursor:?}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM customers_view")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
}
