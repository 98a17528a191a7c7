//! Positions, lag and health of the projections (admin API, /metrics, `ledger-replay status`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};

use crate::read_models;

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
    /// Committed events of the projection's streams not yet applied (capped at 1,000,000).
    pub lag_events: i64,
    /// Age of the oldest event of its streams not yet applied (0 when caught up).
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
        let name: String = row.try_get("projection")?;
        let streams = read_models::by_name(&name).map(|projector| projector.stream_types());
        let checkpoint = (checkpoint_tx_id, checkpoint_position);
        let (lag_events, lag_seconds) = lag(pool, checkpoint, streams).await?;
        let last_error: Option<String> = row.try_get("last_error")?;
        let state = match (&last_error, lag_events) {
            (Some(_), _) => "failing",
            (None, 0) => "caught_up",
            (None, _) => "catching_up",
        };
        statuses.push(ProjectionStatus {
            name,
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

/// What is left to apply after a checkpoint: only events of the projection's own streams
/// count (when it is known), since a runner with nothing of its own to apply moves its cursor
/// without writing its checkpoint every time — other streams' events behind the stored
/// checkpoint are not lag.
async fn lag(
    pool: &PgPool,
    (tx_id, position): (i64, i64),
    stream_types: Option<&[&str]>,
) -> Result<(i64, f64), sqlx::Error> {
    let patterns: Option<Vec<String>> =
        stream_types.map(|types| types.iter().map(|kind| format!("{kind}-%")).collect());
    let row = sqlx::query(
        "SELECT \
           (SELECT count(*) FROM (SELECT 1 FROM events \
              WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
                AND ($4::text[] IS NULL OR stream_id LIKE ANY($4::text[])) LIMIT $3) pending) \
             AS lag_events, \
           (SELECT extract(epoch FROM now() - recorded_at)::float8 FROM events \
              WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
                AND ($4::text[] IS NULL OR stream_id LIKE ANY($4::text[])) \
              ORDER BY tx_id, global_position LIMIT 1) AS lag_seconds",
    )
    .bind(tx_id.to_string())
    .bind(position)
    .bind(LAG_COUNT_CAP)
    .bind(patterns)
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
