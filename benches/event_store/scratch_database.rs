//! A database of the benchmark's own on the server named by DATABASE_URL: created and migrated
//! at the start, dropped at the end, so a run never sees (or leaves) anyone else's rows.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::empty_database::EmptyDatabase;

pub struct ScratchDatabase {
    database: EmptyDatabase,
    pool: PgPool,
}

impl ScratchDatabase {
    /// Creates `ledger_bench_<pid>`, applies the migrations, and opens a pool with one
    /// connection per task (all opened now, so no phase pays for connecting).
    pub async fn create(url: &str, connections: u32) -> anyhow::Result<Self> {
        let name = format!("ledger_bench_{}", std::process::id());
        let database = EmptyDatabase::create(url, name).await?;
        let options = PgConnectOptions::from_str(database.url())?
            .options([("idle_in_transaction_session_timeout", "30s")]);
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .min_connections(connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to {}", database.name()))?;
        ledger::infra::database::MIGRATOR
            .run(&pool)
            .await
            .context("migrating the scratch database")?;
        open_every_connection(&pool, connections).await?;
        Ok(ScratchDatabase { database, pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn name(&self) -> &str {
        self.database.name()
    }

    /// Closes the pool and drops the database (even if other sessions linger).
    pub async fn drop_database(self) -> anyhow::Result<()> {
        self.pool.close().await;
        self.database.drop_database().await
    }

    /// Closes the pool and leaves the database in place.
    pub async fn keep(self) {
        self.pool.close().await;
    }
}

/// Holds every connection at once, which forces the pool to open them all.
async fn open_every_connection(pool: &PgPool, connections: u32) -> anyhow::Result<()> {
    let mut held = Vec::with_capacity(connections as usize);
    for _ in 0..connections {
        held.push(pool.acquire().await?);
    }
    Ok(())
}
