//! A moment of the log that can be read completely.
//!
//! An event's `recorded_at` is the start of the transaction that wrote it, and the transaction
//! may commit much later. A read "as of T" that only takes what is committed now can therefore
//! miss events recorded at or before T by a transaction still open — and the runners' horizon
//! (transactions below the snapshot's xmin) does not help either: any unrelated open
//! transaction holds it back, and events behind it are silently left out. Once no transaction
//! that started at or before T is open, every event recorded at or before T is committed (or
//! never will be), and the log up to T can be read without a horizon.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

/// Longest wait for the transactions that started at or before the moment to end.
pub const SETTLE_DEADLINE: Duration = Duration::from_secs(30);

/// Waits until no transaction on this database that started at or before `at` is still open.
pub async fn wait_until_settled(pool: &PgPool, at: DateTime<Utc>) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let oldest = sqlx::query(
            "SELECT pid, xact_start FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND xact_start <= $1 \
             ORDER BY xact_start LIMIT 1",
        )
        .bind(at)
        .fetch_optional(pool)
        .await?;
        let Some(oldest) = oldest else {
            return Ok(());
        };
        if started.elapsed() >= SETTLE_DEADLINE {
            let pid: i32 = oldest.try_get("pid")?;
            let since: DateTime<Utc> = oldest.try_get("xact_start")?;
            anyhow::bail!(
                "a transaction open since {since} (backend pid {pid}) started before {at}: what it \
                 commits may be recorded at or before that moment, so the log up to it cannot be \
                 read completely yet; try again when it has ended"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
