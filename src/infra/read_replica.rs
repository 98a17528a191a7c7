//! Projected reads served from a streaming replica (`LEDGER_READ_DATABASE_URL`).
//!
//! A hot standby replays the primary's WAL, so its projection tables and their checkpoints are
//! exactly the primary's at some recent moment. A read that names `?min_position=N` goes to
//! the replica only when the replica's own copy of that projection's checkpoint has passed `N`
//! (read-your-writes holds); otherwise — replica behind, unreachable or failing — the primary
//! answers as if there were no replica. A replica that failed is left alone for a few seconds,
//! so an outage costs one slow read, not one per request.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use ledger_projections::wait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use super::metrics::{Family, Metrics};

/// A read gives up on the replica after this and goes to the primary.
const REPLICA_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failure the replica is not asked again for this long.
const BACK_OFF: Duration = Duration::from_secs(5);
/// Replica statements are short look-ups; a slow one means a sick replica.
const REPLICA_STATEMENT_TIMEOUT: &str = "5s";

/// Where projected reads were answered, by target and why.
pub static READ_ROUTING: Family = Family {
    name: "ledger_projected_reads_total",
    help:
        "Projected reads by the database that answered them: replica, or primary with the reason.",
};

/// Which database answers one projected read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadTarget {
    Replica,
    /// No replica configured.
    PrimaryOnly,
    /// The replica has not replayed the requested position yet.
    PrimaryReplicaBehind,
    /// The replica failed (or failed a moment ago).
    PrimaryReplicaUnavailable,
}

impl ReadTarget {
    fn label(self) -> &'static str {
        match self {
            ReadTarget::Replica => "replica",
            ReadTarget::PrimaryOnly => "primary",
            ReadTarget::PrimaryReplicaBehind => "primary_replica_behind",
            ReadTarget::PrimaryReplicaUnavailable => "primary_replica_unavailable",
        }
    }

    pub fn record(self, metrics: &Metrics) {
        metrics.increment(&READ_ROUTING, &[("target", self.label())]);
    }
}

pub struct ReadReplica {
    pool: PgPool,
    resting_until: Mutex<Option<Instant>>,
}

impl ReadReplica {
    /// Connects lazily: the server starts (and serves from the primary) while the replica is
    /// down, and uses it once it answers.
    pub fn connect_lazy(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .context("LEDGER_READ_DATABASE_URL is not a valid PostgreSQL URL")?
            .options([("statement_timeout", REPLICA_STATEMENT_TIMEOUT)]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .test_before_acquire(false)
            .acquire_timeout(REPLICA_ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(ReadReplica {
            pool,
            resting_until: Mutex::new(None),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The replica's position of `projection` when it has applied everything up to
    /// `min_position`, or why the primary must answer instead.
    pub async fn position_if_caught_up(
        &self,
        projection: &'static str,
        min_position: Option<i64>,
    ) -> Result<i64, ReadTarget> {
        if self.resting() {
            return Err(ReadTarget::PrimaryReplicaUnavailable);
        }
        match wait::position_if_applied(&self.pool, projection, min_position).await {
            Ok(Some(position)) => Ok(position),
            Ok(None) => Err(ReadTarget::PrimaryReplicaBehind),
            Err(error) => {
                tracing::warn!(%error, projection, "the read replica failed; reading from the primary");
                self.rest();
                Err(ReadTarget::PrimaryReplicaUnavailable)
            }
        }
    }

    fn resting(&self) -> bool {
        let mut until = self.resting_until.lock().expect("replica lock");
        match *until {
            Some(deadline) if Instant::now() < deadline => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    fn rest(&self) {
        *self.resting_until.lock().expect("replica lock") = Some(Instant::now() + BACK_OFF);
    }
}
