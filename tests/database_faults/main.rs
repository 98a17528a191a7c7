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

/// `DATABASE_URL` (which carries the credentials) with the test database's name.
pub fn url_of(pool: &PgPool) -> String {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let without_query = server
        .split_once('?')
        .map_or(server.as_str(), |(url, _)| url);
    let slash = without_query.rfind('/').unwrap();
    format!("{}/{database}", &without_query[..slash])
}

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
