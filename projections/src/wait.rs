//! Read-your-writes: wait until a projection has applied a client's write.
//!
//! A client passes the `position` its write returned. Positions are assigned at insert and not
//! in commit order, so "applied position N" is not "checkpoint ≥ N". Instead, once event N is
//! visible we take the newest event visible at that moment (in feed order) as the target: when
//! the projection's checkpoint has reached it, it has applied N and everything committed before.

use std::time::Duration;

use ledger_events::FeedPosition;
use sqlx::{PgPool, Row};
use tokio::time::Instant;

use crate::checkpoint;
use crate::runner::ProgressBoard;

/// Between database polls while waiting (local progress notifications usually come first).
const POLL_INTERVAL: Duration = Duration::from_millis(15);

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("projection {projection} has not reached position {min_position} yet")]
    NotCaughtUp {
        projection: &'static str,
        min_position: i64,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Waits (at most `timeout`) until `projection` has applied `min_position` and everything
/// committed before it; returns the projection's own position (highest position applied).
pub async fn wait_for_position(
    pool: &PgPool,
    board: &ProgressBoard,
    projection: &'static str,
    min_position: Option<i64>,
    timeout: Duration,
) -> Result<i64, WaitError> {
    if let Some(min_position) = min_position.filter(|position| *position > 0) {
        let deadline = Instant::now() + timeout;
        let not_caught_up = WaitError::NotCaughtUp {
            projection,
            min_position,
        };
        let Some(target) = feed_target(pool, min_position, deadline).await? else {
            return Err(not_caught_up);
        };
        let mut local = board.subscribe(projection);
        loop {
            if local.borrow_and_update().position >= target
                || checkpoint::load(pool, projection).await? >= target
            {
                break;
            }
            if Instant::now() >= deadline {
                return Err(not_caught_up);
            }
            let _ = tokio::time::timeout_at(
                deadline.min(Instant::now() + POLL_INTERVAL),
                local.changed(),
            )
            .await;
        }
    }
    // Having waited for `min_position`, the projection reflects it even if that event was of a
    // stream type it does not read.
    let position = projection_position(pool, projection).await?;
    Ok(position.max(min_position.unwrap_or(0)))
}

/// Highest global position a projection has applied.
pub async fn projection_position(pool: &PgPool, projection: &str) -> Result<i64, WaitError> {
    let position: Option<i64> = sqlx::query_scalar(
        "SELECT max_applied_position FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(projection)
    .fetch_optional(pool)
    .await?;
    Ok(position.unwrap_or(0))
}

/// Once event `min_position` is visible: the newest visible event in feed order.
async fn feed_target(
    pool: &PgPool,
    min_position: i64,
    deadline: Instant,
) -> Result<Option<FeedPosition>, WaitError> {
    loop {
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM events WHERE global_position = $1) AS present, \
                    newest.tx_id, newest.global_position \
             FROM (SELECT 1) AS one LEFT JOIN LATERAL ( \
                 SELECT tx_id::text::bigint AS tx_id, global_position FROM events \
                 ORDER BY events.tx_id DESC, global_position DESC LIMIT 1) newest ON true",
        )
        .bind(min_position)
        .fetch_one(pool)
        .await?;
        if row.try_get::<bool, _>("present")? {
            return Ok(Some(FeedPosition {
                tx_id: row.try_get("tx_id")?,
                position: row.try_get("global_position")?,
            }));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
