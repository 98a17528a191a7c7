//! What the load is sent to: app instances started in this process on a scratch database
//! (default), or `ledger serve` processes already running (`--external`) on the database
//! DATABASE_URL names. Either way the benchmark also keeps a small pool of its own on that
//! database, for the setup, the raw ceiling and the CPU accounting of PostgreSQL.

use anyhow::Context;
use ledger::app::RunningServer;
use ledger::config::Secret;
use ledger::infra::database::{self, PoolSettings};
use sqlx::PgPool;

use crate::empty_database::EmptyDatabase;
use crate::in_process_app;
use crate::settings::Settings;

/// Credentials the servers accept. In-process servers are started with these fixed values;
/// external ones are told them through the environment.
#[derive(Clone)]
pub struct Credentials {
    pub admin_token: String,
    pub payme_key: String,
    pub webhook_secret: String,
}

const ADMIN_TOKEN: &str = "load-bench-admin-token-6c1d9e2a7b";
const PAYME_KEY: &str = "load-bench-payme-key-3f8a2d7c1b9e";
const WEBHOOK_SECRET: &str = "load-bench-webhook-secret-5e4d";

pub struct Target {
    /// Base URLs of the servers; operation k goes to server k mod n.
    pub bases: Vec<String>,
    pub credentials: Credentials,
    /// The benchmark's own connections to the servers' database.
    pub pool: PgPool,
    /// The database URL (pgbench connects with it).
    pub database_url: String,
    /// PIDs of external servers (empty: the servers run in this process).
    pub server_pids: Vec<u32>,
    in_process: Vec<(RunningServer, PgPool)>,
    scratch: Option<EmptyDatabase>,
}

impl Target {
    pub async fn start(settings: &Settings, server_url: &str) -> anyhow::Result<Target> {
        if settings.external.is_empty() {
            Self::in_process(settings, server_url).await
        } else {
            Self::external(settings, server_url).await
        }
    }

    async fn in_process(settings: &Settings, server_url: &str) -> anyhow::Result<Target> {
        let name = format!("load_bench_{}", chrono::Utc::now().timestamp());
        let scratch = EmptyDatabase::create(server_url, name).await?;
        eprintln!("scratch database: {}", scratch.name());
        let url = scratch.url().to_owned();
        let mut target = Target {
            bases: Vec::new(),
            credentials: Credentials {
                admin_token: ADMIN_TOKEN.into(),
                payme_key: PAYME_KEY.into(),
                webhook_secret: WEBHOOK_SECRET.into(),
            },
            // Replaced once the first server has migrated the database.
            pool: sqlx::PgPool::connect_lazy(&url)?,
            database_url: url.clone(),
            server_pids: Vec::new(),
            in_process: Vec::new(),
            scratch: Some(scratch),
        };
        for _ in 0..settings.servers {
            let started = Self::start_one(&url, settings.pool).await;
            match started {
                Ok(server) => {
                    target.bases.push(server.0.base_url());
                    target.in_process.push(server);
                }
                Err(error) => {
                    target.stop().await?;
                    return Err(error);
                }
            }
        }
        target.pool = database::connect(&url, &PoolSettings::with_connections(8)).await?;
        Ok(target)
    }

    /// One app instance with its own pool, as a separate `ledger serve` would have.
    async fn start_one(url: &str, connections: u32) -> anyhow::Result<(RunningServer, PgPool)> {
        let pool = database::connect(url, &PoolSettings::with_connections(connections)).await?;
        let server = in_process_app::start(pool.clone(), ADMIN_TOKEN, |config| {
            config.payme_keys = vec![Secret::new(PAYME_KEY)];
            config.telegram.webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
            // Open loop: let every request in and measure what happens, as a deployment
            // sized for the load would.
            config.limits.max_concurrent_requests =
                config.limits.max_concurrent_requests.max(4_096);
            config.limits.onec_batches_per_store = config.limits.onec_batches_per_store.max(64);
        })
        .await?;
        Ok((server, pool))
    }

    async fn external(settings: &Settings, database_url: &str) -> anyhow::Result<Target> {
        let variable = |name: &str| {
            std::env::var(name)
                .with_context(|| format!("--external needs {name} (the server's setting)"))
        };
        let credentials = Credentials {
            admin_token: variable("LOAD_ADMIN_TOKEN")?,
            payme_key: variable("LOAD_PAYME_KEY")?,
            webhook_secret: variable("LOAD_TELEGRAM_WEBHOOK_SECRET")?,
        };
        let pool = database::connect(database_url, &PoolSettings::with_connections(8)).await?;
        Ok(Target {
            bases: settings
                .external
                .iter()
                .map(|url| url.trim_end_matches('/').to_owned())
                .collect(),
            credentials,
            pool,
            database_url: database_url.to_owned(),
            server_pids: settings.server_pids.clone(),
            in_process: Vec::new(),
            scratch: None,
        })
    }

    /// Stops in-process servers and drops the scratch database (external servers are left
    /// running, their database as the run left it).
    pub async fn stop(self) -> anyhow::Result<()> {
        for (server, pool) in self.in_process {
            server.stop().await?;
            pool.close().await;
        }
        self.pool.close().await;
        if let Some(scratch) = self.scratch {
            scratch.drop_database().await?;
        }
        Ok(())
    }
}
