//! The application started inside the benchmark's process, on 127.0.0.1 with a random port, as
//! the HTTP benchmarks drive it: the load only ever targets this machine.

use ledger::app::{self, RunningServer};
use ledger::config::{Config, Secret};
use sqlx::PgPool;

/// Starts the app on `pool` with `admin_token`; `adjust` sets anything else a benchmark needs.
pub async fn start(
    pool: PgPool,
    admin_token: &str,
    adjust: impl FnOnce(&mut Config),
) -> anyhow::Result<RunningServer> {
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".parse()?;
    config.admin_token = Some(Secret::new(admin_token));
    adjust(&mut config);
    app::start(config, pool).await
}
