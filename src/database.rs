//! Connecting to PostgreSQL: the configured server, or the embedded cluster; migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use ledger_embedded_pg::{self as embedded_pg, Durability, EmbeddedOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::config::Config;

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// An open transaction longer than this is killed by the server: such a transaction would hold
/// the global feed's horizon back and stall every projection (DESIGN §2).
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "30s";

/// The database URL to use: `DATABASE_URL`, or the embedded cluster (started if needed).
pub async fn resolve_url(config: &Config) -> anyhow::Result<String> {
    if let Some(url) = &config.database_url {
        return Ok(url.expose().to_owned());
    }
    let cluster = embedded_pg::start_or_reuse(&EmbeddedOptions {
        data_dir: config.data_dir.clone(),
        durability: Durability::Durable,
    })
    .await
    .context(
        "starting the embedded PostgreSQL cluster (set DATABASE_URL to use a server instead)",
    )?;
    Ok(cluster.database_url)
}

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .context("DATABASE_URL is not a valid PostgreSQL URL")?
        .options([(
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        )]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        // sqlx pings every connection it hands out by default: one more round trip per query.
        // A broken connection surfaces as an error on first use and is replaced by the pool.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}
