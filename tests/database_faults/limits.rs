//! A read-only database, a statement cancelled as too long, and a pool with every connection
//! busy: each answered 503 `database_unavailable` at once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use tokio::time::Instant;

use crate::common::database_url_of as url_of;
use crate::common::onec::operation;
use crate::common::{spawn_app, TestApp, ADMIN_TOKEN};
use crate::server_pool;

const PHONE: &str = "998903334455";

fn assert_unavailable(answer: &crate::common::Answer, case: &str) {
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{case}: {:?}",
        answer.body
    );
    assert_eq!(
        answer.error(),
        "database_unavailable",
        "{case}: {:?}",
        answer.body
    );
}

async fn accrual(app: &TestApp, key: &str, id: &str) -> crate::common::Answer {
    app.onec_post(
        "/api/cashback/v1/transactions",
        Some(key),
        &operation(id, "accrual", "1.00", PHONE),
    )
    .await
}

#[sqlx::test]
async fn a_database_turned_read_only_refuses_writes_and_still_answers_reads(pool: PgPool) {
    let server = server_pool(
        &url_of(&pool),
        4,
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .await;
    let app = spawn_app(server).await;
    // The database turns read-only under the running server (as after a fail-over to a
    // standby): the setting, and every session of the server ended so that new ones see it.
    let database = pool.connect_options().get_database().unwrap().to_owned();
    sqlx::query(&format!(
        "ALTER DATABASE \"{database}\" SET default_transaction_read_only = on"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&pool)
    .await
    .unwrap();

    // The first attempts may meet a connection that was cut; every answer is the same 503.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let write = app
            .post(
                "/api/customers",
                Some(ADMIN_TOKEN),
                &json!({"phone": PHONE}),
            )
            .await;
        assert_unavailable(&write, "a write to a read-only database");
        if write.body["message"]
            .as_str()
            .unwrap()
            .contains("read-only")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never told read-only: {:?}",
            write.body
        );
    }
    let read = app.get("/api/orders/o-1", Some(ADMIN_TOKEN)).await;
    assert_eq!(
        read.status,
        StatusCode::NOT_FOUND,
        "reads still work: {:?}",
        read.body
    );
    // Undo it from a session that opens its transaction read-write explicitly.
    let mut undo = pool.acquire().await.unwrap();
    sqlx::raw_sql(&format!(
        "BEGIN READ WRITE; ALTER DATABASE \"{database}\" RESET default_transaction_read_only; COMMIT"
    ))
    .execute(&mut *undo)
    .await
    .unwrap();
}

#[sqlx::test]
async fn a_statement_that_waits_too_long_is_cancelled_and_answered(pool: PgPool) {
    let short = server_pool(
        &url_of(&pool),
        4,
        Duration::from_secs(2),
        Duration::from_millis(300),
    )
    .await;
    let app = spawn_app(short).await;
    let customer = app.customer_with_phone(PHONE).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    let first = accrual(&app, &key, "A-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);

    // Another session holds the customer's cashback stream.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT version FROM streams WHERE stream_id = $1 FOR UPDATE")
        .bind(format!("cashback-{customer}"))
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    let started = Instant::now();
    let blocked = accrual(&app, &key, "A-2").await;

    assert_unavailable(&blocked, "a statement past the statement time-out");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered, not hung: {:?}",
        started.elapsed()
    );
    holder.rollback().await.unwrap();
    let retried = accrual(&app, &key, "A-2").await;
    assert_eq!(retried.status, StatusCode::CREATED, "{:?}", retried.body);
    assert_eq!(
        retried.body["balance_after"], "2.00",
        "the refused attempt left nothing behind"
    );
}

#[sqlx::test]
async fn every_connection_busy_answers_at_once(pool: PgPool) {
    let small = server_pool(
        &url_of(&pool),
        4,
        Duration::from_millis(300),
        Duration::from_secs(10),
    )
    .await;
    let app = spawn_app(small.clone()).await;
    // Take every connection the pool will give (the projectors hold some of their own), until
    // asking for one more times out: the pool is exhausted.
    let mut held = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match small.acquire().await {
            Ok(connection) => held.push(connection),
            Err(sqlx::Error::PoolTimedOut) => break,
            Err(other) => panic!("taking a connection: {other}"),
        }
        assert!(Instant::now() < deadline, "the pool never ran out");
    }

    let started = Instant::now();
    let answer = app
        .post(
            "/api/customers",
            Some(ADMIN_TOKEN),
            &json!({"phone": PHONE}),
        )
        .await;

    assert_unavailable(&answer, "no connection free");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered, not hung: {:?}",
        started.elapsed()
    );
    drop(held);
    let after = app
        .post(
            "/api/customers",
            Some(ADMIN_TOKEN),
            &json!({"phone": PHONE}),
        )
        .await;
    assert_eq!(after.status, StatusCode::CREATED, "{:?}", after.body);
}
