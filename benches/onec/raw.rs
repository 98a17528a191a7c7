//! What PostgreSQL itself sustains at the same concurrency: multi-row and single-row INSERTs
//! into a scratch table shaped like a register operation.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::throughput::throughput;
use crate::RAW_BATCH_ROWS;

/// The scratch table of the raw phases.
pub async fn create_table(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TABLE bench_raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, external_id text NOT NULL, \
         customer_id text NOT NULL, amount_minor bigint NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn batch_inserts(
    pool: &PgPool,
    concurrency: usize,
    phase: Duration,
) -> anyhow::Result<f64> {
    let pool = pool.clone();
    throughput(concurrency, phase, move |worker, round| {
        let pool = pool.clone();
        async move {
            let ids: Vec<String> = (0..RAW_BATCH_ROWS)
                .map(|n| format!("raw_{worker}_{round}_{n}"))
                .collect();
            let customers: Vec<String> = (0..RAW_BATCH_ROWS)
                .map(|n| format!("c{}", n % 97))
                .collect();
            let amounts: Vec<i64> = vec![100; RAW_BATCH_ROWS];
            let payloads: Vec<Value> = ids
                .iter()
                .map(|id| json!({ "external_id": id, "type": "accrual" }))
                .collect();
            sqlx::query(
                "INSERT INTO bench_raw (external_id, customer_id, amount_minor, payload) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[])",
            )
            .bind(&ids)
            .bind(&customers)
            .bind(&amounts)
            .bind(&payloads)
            .execute(&pool)
            .await?;
            Ok(RAW_BATCH_ROWS as u64)
        }
    })
    .await
}

pub async fn single_inserts(
    pool: &PgPool,
    concurrency: usize,
    phase: Duration,
) -> anyhow::Result<f64> {
    let pool = pool.clone();
    throughput(concurrency, phase, move |worker, round| {
        let pool = pool.clone();
        async move {
            let id = format!("single_{worker}_{round}");
            sqlx::query("INSERT INTO bench_raw (external_id, customer_id, amount_minor, payload) VALUES ($1, $2, $3, $4)")
                .bind(&id)
                .bind("c1")
                .bind(100_i64)
                .bind(json!({ "external_id": id, "type": "accrual" }))
                .execute(&pool)
                .await?;
            Ok(1)
        }
    })
    .await
}
