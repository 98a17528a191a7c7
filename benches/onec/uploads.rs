//! Our side of each comparison: batches and single operations over HTTP, as registers send
//! them, and the 10,000-operation offline backlog of one register.

use std::time::{Duration, Instant};

use ledger::app::RunningServer;
use serde_json::{json, Value};

use crate::shop::accrual;
use crate::throughput::throughput;
use crate::{BACKLOG_ITEMS, CUSTOMERS, OUR_BATCH_ITEMS};

async fn post_batch(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    items: Vec<Value>,
) -> anyhow::Result<u64> {
    let answer = http
        .post(format!("{base}/api/cashback/v1/transactions/batch"))
        .header("x-api-key", key)
        .json(&json!({ "transactions": items }))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "batch answered {}",
        answer.status()
    );
    let body: Value = answer.json().await?;
    let ok = body["results"]
        .as_array()
        .map_or(0, |r| r.iter().filter(|i| i["status"] == "ok").count());
    Ok(ok as u64)
}

pub async fn batches(
    http: &reqwest::Client,
    server: &RunningServer,
    key: &str,
    concurrency: usize,
    phase: Duration,
) -> anyhow::Result<f64> {
    let (http, base, key) = (http.clone(), server.base_url(), key.to_owned());
    throughput(concurrency, phase, move |worker, round| {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        async move {
            let items = (0..OUR_BATCH_ITEMS)
                .map(|n| {
                    accrual(
                        format!("Batch_{worker}_{round}_{n}"),
                        (worker * 7_919 + round as usize * 1_009 + n) % CUSTOMERS,
                    )
                })
                .collect();
            post_batch(&http, &base, &key, items).await
        }
    })
    .await
}

pub async fn singles(
    http: &reqwest::Client,
    server: &RunningServer,
    key: &str,
    concurrency: usize,
    phase: Duration,
) -> anyhow::Result<f64> {
    let (http, base, key) = (http.clone(), server.base_url(), key.to_owned());
    throughput(concurrency, phase, move |worker, round| {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        async move {
            let item = accrual(
                format!("Single_{worker}_{round}"),
                (worker * 131 + round as usize) % CUSTOMERS,
            );
            let answer = http
                .post(format!("{base}/api/cashback/v1/transactions"))
                .header("x-api-key", &key)
                .json(&item)
                .send()
                .await?;
            anyhow::ensure!(
                answer.status().as_u16() == 201,
                "single answered {}",
                answer.status()
            );
            Ok(1)
        }
    })
    .await
}

/// Brings the database to a steady state before anything is timed: every customer gets a
/// cashback account (one accrual each, in batches), the projections catch up, and `ANALYZE`
/// gives the planner the tables' real sizes. Without it the timed phases would run on the
/// plans made while `cashback_accounts` was empty (sequential scans), which a production
/// database leaves behind within a minute, at its first autoanalyze.
pub async fn warm_up(
    http: &reqwest::Client,
    server: &RunningServer,
    key: &str,
    pool: &sqlx::PgPool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    for first in (0..CUSTOMERS).step_by(OUR_BATCH_ITEMS) {
        let items = (first..(first + OUR_BATCH_ITEMS).min(CUSTOMERS))
            .map(|n| accrual(format!("Warm_{n}"), n))
            .collect();
        post_batch(http, &server.base_url(), key, items).await?;
    }
    crate::setup::wait_for_projections(pool).await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    println!(
        "warm-up: one accrual per customer, projections caught up, ANALYZE: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub async fn offline_backlog(
    http: &reqwest::Client,
    server: &RunningServer,
    key: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut applied = 0;
    for batch in 0..BACKLOG_ITEMS / OUR_BATCH_ITEMS {
        let items = (0..OUR_BATCH_ITEMS)
            .map(|n| {
                accrual(
                    format!("Backlog_{batch}_{n}"),
                    (batch * OUR_BATCH_ITEMS + n) % CUSTOMERS,
                )
            })
            .collect();
        applied += post_batch(http, &server.base_url(), key, items).await?;
    }
    anyhow::ensure!(
        applied == BACKLOG_ITEMS as u64,
        "backlog applied {applied} of {BACKLOG_ITEMS}"
    );
    Ok(started.elapsed())
}
