//! A backup is only as good as its restore: `pg_dump` of a ledger database after a workload,
//! `pg_restore` into an empty database, and the copy must be the same ledger — every table
//! equal row for row, the same answers to reads, and new writes continuing the log where it
//! stopped (docs/operations.md shows the same commands for operators).

mod common;

use std::process::Command;

use common::onec::operation;
use common::replication::newest_server_binaries;
use common::{database_url_named, database_url_of, spawn_app, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

const PHONE: &str = "998901234567";

/// Customers, orders and 1C operations: events, inline and asynchronous projections.
async fn workload(app: &TestApp) -> Vec<(String, i64)> {
    let key = app.store_key("backup-store", "UZS", "Asia/Tashkent").await;
    app.customer_with_phone(PHONE).await;
    for (number, amount) in ["1000.00", "2500.50", "700"].iter().enumerate() {
        let answer = app
            .onec_post(
                "/api/cashback/v1/transactions",
                Some(&key),
                &operation(&format!("B-{number}"), "accrual", amount, PHONE),
            )
            .await;
        assert!(answer.status.is_success(), "{:?}", answer.body);
    }
    let mut orders = Vec::new();
    for number in 0..3 {
        let placed = app
            .post(
                "/api/orders",
                Some(ADMIN_TOKEN),
                &json!({
                    "external_id": format!("O-{number}"),
                    "currency": "UZS",
                    "items": [{"sku": "tea", "title": "Tea", "qty": number + 1, "price": "15000.00"}]
                }),
            )
            .await;
        assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
        orders.push((
            placed.body["order_id"].as_str().unwrap().to_owned(),
            placed.body["position"].as_i64().unwrap(),
        ));
    }
    orders
}

/// Every table of the `public` schema with a digest of its rows, in name order.
async fn table_digests(pool: &PgPool) -> Vec<(String, Option<String>)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut digests = Vec::new();
    for table in tables {
        let digest: Option<String> = sqlx::query_scalar(&format!(
            "SELECT md5(string_agg(row_text, E'\\n' ORDER BY row_text)) \
             FROM (SELECT t::text AS row_text FROM public.\"{table}\" t) rows"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        digests.push((table, digest));
    }
    digests
}

fn run(command: &mut Command) {
    let status = command.status().expect("the program runs");
    assert!(status.success(), "{command:?} failed: {status}");
}

/// The order as the shop reads it once the orders projection has its placement.
async fn read_order(app: &TestApp, (order_id, position): &(String, i64)) -> Value {
    app.admin_read(&format!("/api/orders/{order_id}?min_position={position}"))
        .await
}

#[sqlx::test]
async fn a_restored_dump_is_the_same_ledger_and_takes_new_writes(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let orders = workload(&app).await;
    let answers_before = read_orders(&app, &orders).await;
    app.stop().await;

    let bin = newest_server_binaries();
    let dump = std::env::temp_dir().join(format!("ledger-backup-{}.dump", uuid::Uuid::new_v4()));
    run(Command::new(bin.join("pg_dump"))
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg("--dbname")
        .arg(database_url_of(&pool)));
    // A name of its own (the test database's name is already PostgreSQL's longest).
    let restored_name = format!("ledger_restored_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE \"{restored_name}\""))
        .execute(&pool)
        .await
        .unwrap();
    run(Command::new(bin.join("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(database_url_named(&restored_name))
        .arg(&dump));
    std::fs::remove_file(&dump).unwrap();

    let restored = PgPoolOptions::new()
        .max_connections(4)
        .connect(&database_url_named(&restored_name))
        .await
        .unwrap();
    let original = table_digests(&pool).await;
    assert!(original.iter().any(|(table, _)| table == "events"));
    assert_eq!(
        table_digests(&restored).await,
        original,
        "every table of the copy equals the original, row for row"
    );

    let app = spawn_app(restored.clone()).await;
    for (order, before) in orders.iter().zip(&answers_before) {
        let mut after = read_order(&app, order).await;
        // `position` is the projection's position at the time of the read.
        after["position"] = before["position"].clone();
        assert_eq!(&after, before);
    }
    let head: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&restored)
        .await
        .unwrap();
    let placed = app
        .post(
            "/api/orders",
            Some(ADMIN_TOKEN),
            &json!({"external_id": "after-restore", "currency": "UZS",
                    "items": [{"sku": "tea", "title": "Tea", "qty": 1, "price": "100"}]}),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    assert!(
        placed.body["position"].as_i64().unwrap() > head,
        "the log continues after the restored head"
    );
    let repeat = app
        .post(
            "/api/orders",
            Some(ADMIN_TOKEN),
            &json!({"external_id": "O-0", "currency": "UZS",
                    "items": [{"sku": "tea", "title": "Tea", "qty": 1, "price": "15000.00"}]}),
        )
        .await;
    assert_eq!(
        repeat.body["order_id"],
        orders[0].0.as_str(),
        "idempotency keys came back with the copy: a repeat is answered, not applied again"
    );
    app.stop().await;
    restored.close().await;
    sqlx::query(&format!("DROP DATABASE \"{restored_name}\" WITH (FORCE)"))
        .execute(&pool)
        .await
        .unwrap();
}

async fn read_orders(app: &TestApp, orders: &[(String, i64)]) -> Vec<Value> {
    let mut answers = Vec::new();
    for order in orders {
        answers.push(read_order(app, order).await);
    }
    answers
}
