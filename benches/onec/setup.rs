//! What the phases start from: a store with its key and 10,000 registered customers; and, before
//! the backlog, projections that have caught up with the load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::app::RunningServer;
use ledger::onec::stores::{self, NewStore};
use serde_json::json;
use sqlx::PgPool;

use crate::{ADMIN, CUSTOMERS};

pub fn phone(n: usize) -> String {
    format!("99890{:07}", n)
}

/// A store and 10,000 customers (registered through the API, 16 at a time).
pub async fn prepare(server: &RunningServer, pool: &PgPool) -> anyhow::Result<String> {
    let key = stores::create_store(
        pool,
        "UZS",
        &NewStore {
            store_id: "bench".into(),
            name: None,
            currency: None,
            timezone: None,
        },
    )
    .await?;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (http, base, next) = (http.clone(), server.base_url(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                if n >= CUSTOMERS {
                    return anyhow::Ok(());
                }
                let answer = http
                    .post(format!("{base}/api/customers"))
                    .bearer_auth(ADMIN)
                    .json(&json!({ "phone": phone(n) }))
                    .send()
                    .await?;
                anyhow::ensure!(
                    answer.status().is_success(),
                    "customer registration failed: {}",
                    answer.status()
                );
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    println!(
        "registered {CUSTOMERS} customers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(key)
}

/// Waits until every projection has consumed the whole log; returns how long that took.
pub async fn wait_for_projections(pool: &PgPool) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let statuses = ledger_projections::status::projection_statuses(pool).await?;
        if statuses.iter().all(|status| status.lag_events == 0) {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "projections did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
