//! The ledger when PostgreSQL itself fails: restarted under load, read-only, a statement that
//! runs too long, every connection busy. Each gives a clear, fast answer (503
//! `database_unavailable` with `Retry-After`) and a log line, never a hang; nothing
//! acknowledged is lost, and the server recovers by itself.

#[path = "../common/mod.rs"]
mod common;

mod limits;
mod restart;

use std::time::Duration;

use ledger::infra::database::{self, PoolSettings};
use sqlx::PgPool;

/// A pool like the server's own, with the given size and time-outs.
pub async fn server_pool(
    url: &str,
    connections: u32,
    acquire: Duration,
    statement: Duration,
) -> PgPool {
    database::connect(
        url,
        &PoolSettings {
            max_connections: connections,
            acquire_timeout: acquire,
            statement_timeout: statement,
        },
    )
    .await
    .expect("the test database accepts connections")
}
