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
/// the global feed's horizon back and stall every projection (README, "Architecture in one page").
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

/// How the server's pool behaves.
#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// A request waits at most this for a connection (a free one, or the database coming back)
    /// before it is answered 503: an outage gives fast answers, not hung requests.
    pub acquire_timeout: Duration,
    /// Any statement running longer is cancelled by the database.
    pub statement_timeout: Duration,
}

impl PoolSettings {
    pub fn from_config(config: &Config) -> Self {
        PoolSettings {
            max_connections: config.database_pool_size,
            acquire_timeout: config.database_acquire_timeout,
            statement_timeout: config.statement_timeout,
        }
    }

    /// The defaults with another pool size (benchmarks, tools).
    pub fn with_connections(max_connections: u32) -> Self {
        PoolSettings {
            max_connections,
            ..PoolSettings::from_config(&Config::defaults())
        }
    }
}

pub async fn connect(url: &str, settings: &PoolSettings) -> anyhow::Result<PgPool> {
    let statement_timeout = format!("{}ms", settings.statement_timeout.as_millis());
    let options = PgConnectOptions::from_str(url)
        .context("DATABASE_URL is not a valid PostgreSQL URL")?
        .options([
            (
                "idle_in_transaction_session_timeout",
                IDLE_IN_TRANSACTION_TIMEOUT,
            ),
            ("statement_timeout", statement_timeout.as_str()),
        ]);
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        // sqlx pings every connection it hands out by default: one more round trip per query.
        // A broken connection (the database restarted) surfaces as an error on first use — the
        // request gets 503 — and is replaced by the pool.
        .test_before_acquire(false)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")
}

/// Why the database cannot serve a request right now, when that is what `error` means (as
/// opposed to a bug or bad data): the answer is then 503 `database_unavailable`, with this
/// reason, and the client may retry.
pub fn unavailability(error: &sqlx::Error) -> Option<&'static str> {
    match error {
        sqlx::Error::PoolTimedOut => Some("no database connection became free in time"),
        sqlx::Error::PoolClosed => Some("the server is shutting down its database pool"),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => Some("the database connection was lost"),
        sqlx::Error::Database(database) => {
            let code = database.code()?;
            match code.as_ref() {
                "57014" => Some("a database statement took too long and was cancelled"),
                "25006" => Some("the database accepts no writes (it is read-only)"),
                "53100" => Some("the database is out of disk space"),
                "53200" => Some("the database is out of memory"),
                "53300" => Some("the database has no connection slot free"),
                "57P01" | "57P02" | "57P03" => Some("the database is restarting"),
                class if class.starts_with("08") => Some("the database connection failed"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// [`unavailability`] of the first database error in an error's chain of causes.
pub fn unavailability_in(error: &anyhow::Error) -> Option<&'static str> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .and_then(unavailability)
}

/// Migrations whose comments were reworded after they had been applied (their SQL statements are
/// unchanged): the version and the SHA-384 of the text as it was first applied.
///
/// sqlx refuses to start when an applied migration's text changed. Before migrating, a database
/// that recorded exactly one of these earlier texts has its record moved to the current text's
/// checksum; any other mismatch is still refused, as it should be.
const REWORDED_MIGRATIONS: &[(i64, &str)] = &[
    (1, "5bb2c2784433849e71e44358daf4dc79c1586a33b7647099d71d2ba2b4d6116360243533afccd0beb6d2d5baaa919524"),
    (2, "b8a588e7c10a7daa64cb6defa4e05d85591bf6a5d379dc496fcf7a1ef400e1d6f167443524509b817115c8f065f1c74b"),
    (4, "86e97b892f7589180d89a99933e7d9b51a3bd60ff1d4b03693c73ec50e028d474be019a4188ccd4bc7e07d00ec88152e"),
    (5, "7d9d86673d9b09580ee4025a61a440bef1e176c59dce2c24e6638bdcc8fbbb4c4fe7d2eaa1540958f6611ffaa22fedec"),
    (6, "23d2d9e38918c8e16ca7472e832bc99fba3f36f8221e38b234f133c65e08e1073c283b2dfc4d787c3fa2d153b1c581ef"),
    (7, "6416ea1b19ac16a0f72ecbd1b56e4a664a7b624f93744b045de96a7987d9d26bc65329e6ab5856d94c3be4132c4348ad"),
];

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    accept_reworded_comments(pool).await?;
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}

async fn accept_reworded_comments(pool: &PgPool) -> anyhow::Result<()> {
    let recorded: bool =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await
            .context("looking for applied migrations")?;
    if !recorded {
        return Ok(());
    }
    for (version, earlier_checksum) in REWORDED_MIGRATIONS {
        let current = MIGRATOR
            .iter()
            .find(|migration| migration.version == *version)
            .with_context(|| format!("reworded migration {version} is not embedded"))?;
        let earlier = hex::decode(earlier_checksum).context("a reworded migration's checksum")?;
        let moved = sqlx::query(
            "UPDATE _sqlx_migrations SET checksum = $3 WHERE version = $1 AND checksum = $2",
        )
        .bind(version)
        .bind(&earlier)
        .bind(current.checksum.as_ref())
        .execute(pool)
        .await
        .context("recording a reworded migration")?
        .rows_affected();
        if moved > 0 {
            tracing::info!(
                version,
                "migration text reworded (comments only); record updated"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha384};

    use super::*;

    /// The earlier checksums above are SHA-384s of the whole file, as sqlx computes them: the
    /// file that was never reworded proves the rule.
    #[test]
    fn checksums_are_sha384_of_the_migration_text() {
        let unchanged = MIGRATOR
            .iter()
            .find(|migration| migration.version == 3)
            .expect("migration 0003");
        let text = include_str!("../../migrations/0003_api_tokens.sql");
        assert_eq!(
            unchanged.checksum.as_ref(),
            Sha384::digest(text.as_bytes()).as_slice()
        );
        for (version, earlier) in REWORDED_MIGRATIONS {
            let current = MIGRATOR.iter().find(|m| m.version == *version).unwrap();
            assert_ne!(
                hex::encode(current.checksum.as_ref()),
                *earlier,
                "{version}"
            );
        }
    }
}
