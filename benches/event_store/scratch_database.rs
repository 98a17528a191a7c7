//! A database of the benchmark's own on the server named by DATABASE_URL: created and migrated
//! at the start, dropped at the end, so a run never sees (or leaves) anyone else's rows.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

pub struct ScratchDatabase {
    server: PgConnectOptions,
    name: String,
    pool: PgPool,
}

impl ScratchDatabase {
    /// Creates `ledger_bench_<pid>`, applies the migrations, and opens a pool with one
    /// connection per task (all opened now, so no phase pays for connecting).
    pub async fn create(url: &str, connections: u32) -> anyhow::Result<Self> {
        let server = PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid URL")?;
        let name = format!("ledger_bench_{}", std::process::id());
        let mut admin = PgConnection::connect_with(&server)
            .await
            .context("connecting to DATABASE_URL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating the scratch database {name}"))?;
        admin.close().await?;

        let options = server
            .clone()
            .database(&name)
            .options([("idle_in_transaction_session_timeout", "30s")]);
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .min_connections(connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to {name}"))?;
        ledger::infra::database::MIGRATOR
            .run(&pool)
            .await
            .context("migrating the scratch database")?;
        open_every_connection(&pool, connections).await?;
        Ok(ScratchDatabase { server, name, pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the pool and drops the database (even if other sessions linger).
    pub async fn drop_database(self) -> anyhow::Result<()> {
        self.pool.close().await;
        let mut admin = PgConnection::connect_with(&self.server).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .with_context(|| format!("dropping the scratch database {}", self.name))?;
        admin.close().await?;
        Ok(())
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
