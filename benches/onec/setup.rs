//! What the phases start from: a store with its key and 10,000 registered customers; and, before
//! the backlog, projections that have caught up with the load.

use std::time::{Duration, Instant};

use ledger::app::RunningServer;
use ledger::onec::stores::{self, NewStore};
use sqlx::PgPool;

use crate::shop::register_customers;
use crate::{ADMIN, CUSTOMERS};

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
    let started = Instant::now();
    register_customers(
        &reqwest::Client::new(),
        &server.base_url(),
        ADMIN,
        CUSTOMERS,
    )
    .await?;
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
