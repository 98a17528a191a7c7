//! Point-in-time cashback balances (`ledger-replay balances --until-time`) against values
//! computed by hand from what the test itself sent, at three moments; and a point-in-time copy
//! of a projection kept in its own schema.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ledger_projections::read_models;
use ledger_replay::balances::{balances_at, to_csv, Balance};
use ledger_replay::rebuild::{rebuild, RebuildOptions};
use serde_json::json;
use sqlx::PgPool;

use crate::common::spawn_app;

async fn log_time(pool: &PgPool) -> DateTime<Utc> {
    // The log's own clock: the moment after every event recorded so far.
    sqlx::query_scalar("SELECT max(recorded_at) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn balance(customer_id: &str, amount: &str) -> Balance {
    Balance {
        customer_id: customer_id.to_owned(),
        currency: "UZS".to_owned(),
        balance: amount.to_owned(),
    }
}

#[sqlx::test]
async fn balances_as_they_stood_at_each_moment(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let key = app.store_key("pit-1", "UZS", "Asia/Tashkent").await;
    let alice = app.customer_with_phone("998935550001").await;
    let bob = app.customer_with_phone("998935550002").await;
    let send = |id: &str, kind: &str, amount: &str, phone: &str, reference: Option<&str>| {
        let mut item = json!({"external_id": id, "type": kind, "amount": amount,
            "user_phone": phone, "created_at": "2026-11-20T15:04:05", "register_id": "R-1"});
        if let Some(reference) = reference {
            item["ref_external_id"] = json!(reference);
        }
        item
    };
    let before_anything = log_time(&pool).await;

    for item in [
        send("a1", "accrual", "120.50", "998935550001", None),
        send("b1", "accrual", "40.00", "998935550002", None),
    ] {
        let answer = app
            .onec_post("/api/cashback/v1/transactions", Some(&key), &item)
            .await;
        assert!(answer.status.is_success(), "{:?}", answer.body);
    }
    let first = log_time(&pool).await;
    for item in [
        send("a2", "debit", "20.25", "998935550001", None),
        send("b2", "reversal", "15.00", "998935550002", Some("b1")),
        send("a3", "accrual", "3.00", "998935550001", None),
    ] {
        let answer = app
            .onec_post("/api/cashback/v1/transactions", Some(&key), &item)
            .await;
        assert!(answer.status.is_success(), "{:?}", answer.body);
    }
    let second = log_time(&pool).await;

    assert_eq!(balances_at(&pool, before_anything).await.unwrap(), vec![]);
    let mut expected = vec![balance(&alice, "120.50"), balance(&bob, "40.00")];
    expected.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    assert_eq!(balances_at(&pool, first).await.unwrap(), expected);
    // 120.50 − 20.25 + 3.00 = 103.25; 40.00 − 15.00 = 25.00
    let mut expected = vec![balance(&alice, "103.25"), balance(&bob, "25.00")];
    expected.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    let at_second = balances_at(&pool, second).await.unwrap();
    assert_eq!(at_second, expected);
    let csv = to_csv(&at_second);
    assert!(csv.starts_with("customer_id,currency,balance\n"), "{csv}");
    assert!(csv.contains(&format!("{alice},UZS,103.25\n")), "{csv}");

    // The same moment as a point-in-time copy of the live projection, kept for querying.
    let projector = read_models::by_name("cashback_balances").unwrap();
    let options = RebuildOptions {
        until_time: Some(first),
        ..RebuildOptions::default()
    };
    let summary = rebuild(&pool, projector.as_ref(), &options, false)
        .await
        .unwrap();
    let schema = summary
        .kept_in
        .clone()
        .expect("a copy is kept, nothing swapped");
    let copied: i64 = sqlx::query_scalar(&format!(
        "SELECT balance_minor FROM \"{schema}\".cashback_accounts WHERE customer_id = $1"
    ))
    .bind(&alice)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(copied, 12_050);
    let live: i64 =
        sqlx::query_scalar("SELECT balance_minor FROM cashback_accounts WHERE customer_id = $1")
            .bind(&alice)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(live, 10_325, "the live projection is left as it is");
    app.stop().await;
}

/// A transaction of something else entirely, opened before an accrual and still open after it,
/// holds the runners' horizon below the accrual. The balances as of the accrual must still
/// count it: the tool waits for the moment to settle (here, for the other transaction to end)
/// instead of leaving out what lies beyond the horizon.
#[sqlx::test]
async fn an_unrelated_open_transaction_hides_nothing_from_a_moment(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let key = app.store_key("pit-2", "UZS", "Asia/Tashkent").await;
    let carol = app.customer_with_phone("998935550003").await;

    let mut unrelated = pool.begin().await.unwrap();
    sqlx::query("CREATE TEMPORARY TABLE held_open (n int)")
        .execute(&mut *unrelated)
        .await
        .unwrap();
    let item = json!({"external_id": "c1", "type": "accrual", "amount": "70.00",
        "user_phone": "998935550003", "created_at": "2026-11-20T15:04:05", "register_id": "R-1"});
    let answer = app
        .onec_post("/api/cashback/v1/transactions", Some(&key), &item)
        .await;
    assert!(answer.status.is_success(), "{:?}", answer.body);
    let moment = log_time(&pool).await;

    let reading = balances_at(&pool, moment);
    tokio::pin!(reading);
    // The read must not finish while the older transaction is open (it would have to guess).
    let early = tokio::time::timeout(Duration::from_millis(300), &mut reading).await;
    assert!(
        early.is_err(),
        "the read finished while the moment was not settled: {early:?}"
    );
    unrelated.rollback().await.unwrap();

    let balances = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the read ends once the moment has settled")
        .unwrap();
    assert_eq!(balances, vec![balance(&carol, "70.00")]);
    app.stop().await;
}
