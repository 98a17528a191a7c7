//! Positions, lag and health of the projections (admin API, /metrics, `ledger-replay status`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};

/// Lag counts stop here: beyond it the exact number matters less than the alarm.
pub const LAG_COUNT_CAP: i64 = 1_000_000;

#[derive(Clone, Debug, Serialize)]
pub struct ProjectionStatus {
    pub name: String,
    /// Highest global position applied.
    pub position: i64,
    pub checkpoint_tx_id: i64,
    pub checkpoint_position: i64,
    pub events_applied: i64,
    /// Committed events not yet consumed (capped at 1,000,000).
    pub lag_events: i64,
    /// Age of the oldest event not yet consumed (0 when caught up).
    pub lag_seconds: f64,
    pub updated_at: DateTime<Utc>,
    pub runner: Option<String>,
    pub last_error: Option<String>,
    /// `caught_up`, `catching_up` or `failing`.
    pub state: &'static str,
}

pub async fn projection_statuses(pool: &PgPool) -> Result<Vec<ProjectionStatus>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT projection, last_tx_id, last_position, max_applied_position, events_applied, \
                updated_at, runner, last_error \
         FROM projection_checkpoints ORDER BY projection",
    )
    .fetch_all(pool)
    .await?;
    let mut statuses = Vec::with_capacity(rows.len());
    for row in rows {
        let checkpoint_tx_id: i64 = row.try_get("last_tx_id")?;
        let checkpoint_position: i64 = row.try_get("last_position")?;
        let (lag_events, lag_seconds) = lag(pool, checkpoint_tx_id, checkpoint_position).await?;
        let last_error: Option<String> = row.try_get("last_error")?;
        let state = match (&last_error, lag_events) {
            (Some(_), _) => "failing",
            (None, 0) => "caught_up",
            (None, _) => "catching_up",
        };
        statuses.push(ProjectionStatus {
            name: row.try_get("projection")?,
            position: row.try_get("max_applied_position")?,
            checkpoint_tx_id,
            checkpoint_position,
            events_applied: row.try_get("events_applied")?,
            lag_events,
            lag_seconds,
            updated_at: row.try_get("updated_at")?,
            runner: row.try_get("runner")?,
            last_error,
            state,
        });
    }
    Ok(statuses)
}

async fn lag(pool: &PgPool, tx_id: i64, position: i64) -> Result<(i64, f64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT \
           (SELECT count(*) FROM (SELECT 1 FROM events \
              WHERE (tx_id, global_position) > ($1::text::xid8, $2) LIMIT $3) pending) AS lag_events, \
           (SELECT extract(epoch FROM now() - recorded_at)::float8 FROM events \
              WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
              ORDER BY tx_id, global_position LIMIT 1) AS lag_seconds",
    )
    .bind(tx_id.to_string())
    .bind(position)
    .bind(LAG_COUNT_CAP)
    .fetch_one(pool)
    .await?;
    let seconds: Option<f64> = row.try_get("lag_seconds")?;
    Ok((row.try_get("lag_events")?, seconds.unwrap_or(0.0).max(0.0)))
}

/// Seconds the oldest open write transaction on the whole cluster has been running. Such a
/// transaction — in any database of the cluster, since transaction ids are cluster-wide —
/// holds the feed's horizon back, so projections stall behind it.
pub async fn xmin_horizon_age_seconds(pool: &PgPool) -> Result<f64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(extract(epoch FROM now() - min(xact_start))::float8, 0) \
         FROM pg_stat_activity WHERE backend_xid IS NOT NULL",
    )
    .fetch_one(pool)
    .await
}
