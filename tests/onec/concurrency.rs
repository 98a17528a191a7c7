//! Batches arriving at once: copies of one batch re-sent concurrently apply once, and different
//! registers' batches over shared customers all reach the customers' histories.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::onec::operation;
use crate::common::spawn_app_with;
use crate::support::{balance, customers_with_phones};

/// The same 1,000-item batch posted by 8 connections at once: the balance is as if applied once.
#[sqlx::test]
async fn eight_concurrent_copies_of_a_batch_apply_once(pool: PgPool) {
    // The engine under 8 batches of one store at once: let them all past the per-store limit.
    let app = spawn_app_with(pool, |config| config.limits.onec_batches_per_store = 8).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    let (phones, _) = customers_with_phones(&app, 1_000_000, 40).await;
    // 25 rounds over 40 customers; every fifth round is a debit of 3, the others accruals of
    // 10, so each debit depends on accruals earlier in the same batch.
    let is_debit = |n: usize| (n / phones.len()) % 5 == 4;
    let items: Vec<Value> = (0..1_000)
        .map(|n| {
            let phone = &phones[n % phones.len()];
            if is_debit(n) {
                operation(&format!("Debit_{n}"), "debit", "3.00", phone)
            } else {
                operation(&format!("Accrual_{n}"), "accrual", "10.00", phone)
            }
        })
        .collect();
    let batch = json!({ "transactions": items });
    let copies =
        (0..8).map(|_| app.onec_post("/api/cashback/v1/transactions/batch", Some(&key), &batch));
    let answers = futures::future::join_all(copies).await;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        for result in answer.body["results"].as_array().unwrap() {
            assert!(
                matches!(result["status"].as_str(), Some("ok" | "duplicate")),
                "{result}"
            );
        }
    }
    let applied: usize = answers
        .iter()
        .map(|a| {
            a.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["status"] == "ok")
                .count()
        })
        .sum();
    assert_eq!(
        applied, 1_000,
        "every item applied by exactly one of the copies"
    );

    let mut expected: Vec<i64> = vec![0; phones.len()];
    for n in 0..1_000 {
        expected[n % phones.len()] += if is_debit(n) { -300 } else { 1_000 };
    }
    for (phone, minor) in phones.iter().zip(expected) {
        let body = balance(&app, &key, phone).await;
        let expected_text = format!("{}.{:02}", minor / 100, minor % 100);
        assert_eq!(body["balance"], expected_text.as_str(), "{phone}");
    }
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE idempotency_key LIKE '1c:s1:%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(events, 1_000);
    app.stop().await;
}

/// Different registers' batches over overlapping customers, at once: chunks lock overlapping
/// sets of cashback streams. Every operation must reach the customers' histories (an
/// asynchronous projection fed in transaction order), not only the balances.
#[sqlx::test]
async fn concurrent_batches_over_shared_customers_all_reach_the_history(pool: PgPool) {
    // Room for every chunk of every batch to hold a connection at once.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(48)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    // The engine under 8 batches of one store at once: let them all past the per-store limit.
    let app = spawn_app_with(pool, |config| config.limits.onec_batches_per_store = 8).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    let (phones, customers) = customers_with_phones(&app, 2_000_000, 160).await;
    // Every other customer has a cashback stream already: chunks lock those first and then
    // create the others, which may be waiting on another chunk's creation.
    let opening: Vec<Value> = phones
        .iter()
        .step_by(2)
        .enumerate()
        .map(|(n, phone)| operation(&format!("Opening_{n}"), "accrual", "1.00", phone))
        .collect();
    let answer = app
        .onec_post(
            "/api/cashback/v1/transactions/batch",
            Some(&key),
            &json!({ "transactions": opening }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    const BATCHES: usize = 8;
    const ITEMS: usize = 480;
    // Batch b walks the customers from its own starting point, so the lanes and chunks of
    // different batches hold overlapping, different sets of customers; their cashback streams
    // do not exist yet, so the first chunks also create them.
    let batches: Vec<Value> = (0..BATCHES)
        .map(|b| {
            let items: Vec<Value> = (0..ITEMS)
                .map(|n| {
                    let phone = &phones[(b * 7 + n) % phones.len()];
                    operation(&format!("B{b}_{n}"), "accrual", "1.00", phone)
                })
                .collect();
            json!({ "transactions": items })
        })
        .collect();
    let uploads = batches
        .iter()
        .map(|batch| app.onec_post("/api/cashback/v1/transactions/batch", Some(&key), batch));
    let answers = futures::future::join_all(uploads).await;
    let mut newest = 0;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        let results = answer.body["results"].as_array().unwrap();
        assert!(results.iter().all(|r| r["status"] == "ok"), "{results:?}");
        newest = newest.max(answer.body["position"].as_i64().unwrap());
    }

    let reader = app
        .token("app", &[ledger::infra::tokens::Scope::CashbackRead])
        .await;
    let mut in_histories = 0;
    for customer in &customers {
        let history = app
            .get(
                &format!("/api/customers/{customer}/cashback?min_position={newest}&limit=1000"),
                Some(&reader),
            )
            .await;
        assert_eq!(history.status, StatusCode::OK, "{:?}", history.body);
        let entries = history.body["history"].as_array().unwrap().len();
        let balance = history.body["balance"].as_str().unwrap();
        assert_eq!(
            balance,
            format!("{entries}.00"),
            "customer {customer}: the history holds every accrual of 1.00"
        );
        in_histories += entries;
    }
    assert_eq!(
        in_histories,
        BATCHES * ITEMS + phones.len() / 2,
        "every operation in some history"
    );
    app.stop().await;
}
