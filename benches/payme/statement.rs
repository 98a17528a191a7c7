//! GetStatement over 1-hour windows of a projection bulk-loaded with 1 000 000 transactions.

use std::time::Instant;

use anyhow::Context;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::latency::summary;
use crate::merchant_api::basic_auth;

const STATEMENT_ROWS: i64 = 1_000_000;
const STATEMENT_SPAN_MS: i64 = 30 * 24 * 3_600_000;
const WINDOW_MS: i64 = 3_600_000;
const STATEMENT_WARM_UP: usize = 5;
const STATEMENT_QUERIES: usize = 50;

/// The bulk-loaded window: (first Payme time, count).
pub struct Loaded {
    first_time_ms: i64,
    rows_in_table: i64,
}

/// Writes 1 000 000 transactions straight into the projection table (not through the log: this
/// measures the read side), spread evenly over 30 days ending a day ago, in every state.
pub async fn bulk_load(pool: &PgPool) -> anyhow::Result<Loaded> {
    let started = Instant::now();
    let first_time_ms = chrono::Utc::now().timestamp_millis() - STATEMENT_SPAN_MS - 86_400_000;
    let step_ms = STATEMENT_SPAN_MS / STATEMENT_ROWS;
    sqlx::query(
        "INSERT INTO payme_transactions (payme_id, transaction_id, order_id, amount_tiyin, account, \
           payme_time_ms, create_time_ms, perform_time_ms, cancel_time_ms, state, reason) \
         SELECT 'bulk-' || g, 'bulk-tx-' || g, 'bulk-order-' || g, 100000 + (g % 5000) * 100, \
                jsonb_build_object('order_id', 'bulk-order-' || g), \
                t, t + 150, \
                CASE WHEN g % 10 < 7 OR g % 10 = 9 THEN t + 4000 ELSE 0 END, \
                CASE WHEN g % 10 IN (7, 9) THEN t + 60000 ELSE 0 END, \
                CASE WHEN g % 10 < 7 THEN 2 WHEN g % 10 = 7 THEN -1 WHEN g % 10 = 8 THEN 1 ELSE -2 END, \
                CASE WHEN g % 10 = 7 THEN 3 WHEN g % 10 = 9 THEN 5 END \
         FROM generate_series(1, $1::bigint) AS g, LATERAL (SELECT $2::bigint + g * $3::bigint AS t) AS times",
    )
    .bind(STATEMENT_ROWS)
    .bind(first_time_ms)
    .bind(step_ms)
    .execute(pool)
    .await
    .context("bulk-loading payme_transactions")?;
    sqlx::query("ANALYZE payme_transactions")
        .execute(pool)
        .await?;
    let rows_in_table: i64 = sqlx::query_scalar("SELECT count(*) FROM payme_transactions")
        .fetch_one(pool)
        .await?;
    eprintln!(
        "bulk-loaded {STATEMENT_ROWS} transactions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Loaded {
        first_time_ms,
        rows_in_table,
    })
}

pub async fn statements(
    http: &reqwest::Client,
    base: &str,
    loaded: Loaded,
) -> anyhow::Result<String> {
    let hours = STATEMENT_SPAN_MS / WINDOW_MS;
    let mut latencies = Vec::with_capacity(STATEMENT_QUERIES);
    let (mut fewest, mut most, mut bytes) = (usize::MAX, 0_usize, 0_usize);
    for call in 0..STATEMENT_WARM_UP + STATEMENT_QUERIES {
        // Windows spread over the 30 days (a fixed stride, so runs compare).
        let hour = (call as i64 * 263) % (hours - 1);
        let from = loaded.first_time_ms + hour * WINDOW_MS;
        let body = json!({"method": "GetStatement", "id": call,
                          "params": {"from": from, "to": from + WINDOW_MS}});
        let started = Instant::now();
        let response = http
            .post(format!("{base}/api/payme"))
            .header("authorization", basic_auth())
            .json(&body)
            .send()
            .await?;
        let text = response.text().await?;
        let elapsed = started.elapsed();
        let answer: Value = serde_json::from_str(&text)?;
        let rows = answer["result"]["transactions"]
            .as_array()
            .with_context(|| format!("GetStatement failed: {text}"))?
            .len();
        if call >= STATEMENT_WARM_UP {
            latencies.push(elapsed);
            fewest = fewest.min(rows);
            most = most.max(rows);
            bytes = bytes.max(text.len());
        }
    }
    Ok(format!(
        "GetStatement, 1-hour windows, {} transactions in the table, {STATEMENT_QUERIES} calls:\n\
         \x20 {}\n  rows per answer {fewest}..{most}, largest answer {} KiB",
        loaded.rows_in_table,
        summary(&mut latencies).replace("p50", "median"),
        bytes / 1024
    ))
}
