//! Read-your-writes: wait until a projection has applied a client's write.
//!
//! A client passes the `position` its write returned. Positions are assigned at insert and not
//! in commit order, so "applied position N" is not "checkpoint ≥ N". Instead, once event N is
//! visible we take the newest event visible at that moment (in feed order) as the target: when
//! the projection's checkpoint has reached it, it has applied N and everything committed before.
//!
//! Waiting is kept cheap because reads must never starve writes of pool connections:
//! - a position beyond the log's head cannot be a write the client saw committed: refused at once;
//! - a read whose projection is already there answers without waiting or taking a waiting slot;
//! - otherwise the caller's `admit` must grant a slot (a bounded number wait at once), and the
//!   waiter holds no pool connection while it waits: each check borrows one for a single query
//!   and returns it. Local progress arrives by notification; the database is polled only for
//!   progress made by other processes, at intervals that grow from [`FIRST_POLL`] to
//!   [`LONGEST_POLL`].

use std::time::Duration;

use ledger_events::FeedPosition;
use sqlx::{PgPool, Row};
use tokio::time::Instant;

use crate::checkpoint;
use crate::runner::ProgressBoard;

/// First pause between database checks while waiting; doubled after each check.
const FIRST_POLL: Duration = Duration::from_millis(15);
/// Longest pause between database checks while waiting.
const LONGEST_POLL: Duration = Duration::from_millis(120);

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("projection {projection} has not reached position {min_position} yet")]
    NotCaughtUp {
        projection: &'static str,
        min_position: i64,
    },
    /// The read would have to wait and `admit` granted no waiting slot.
    #[error("too many reads are waiting for projections")]
    TooManyWaiters,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Where event `min_position` stands right now.
enum Visibility {
    /// Committed: the newest visible event in feed order is the target to wait for.
    Visible(FeedPosition),
    /// Not visible, but at or below the head: a transaction that has not committed yet.
    Pending,
    /// Beyond every position assigned so far.
    BeyondHead,
}

/// Waits (at most `timeout`) until `projection` has applied `min_position` and everything
/// committed before it; returns the projection's own position (highest position applied).
///
/// `admit` is asked only if the read has to wait; the slot it returns is held until the wait
/// ends, and `None` answers [`WaitError::TooManyWaiters`].
pub async fn wait_for_position<Slot>(
    pool: &PgPool,
    board: &ProgressBoard,
    projection: &'static str,
    min_position: Option<i64>,
    timeout: Duration,
    admit: impl FnOnce() -> Option<Slot>,
) -> Result<i64, WaitError> {
    if let Some(min_position) = min_position.filter(|position| *position > 0) {
        let deadline = Instant::now() + timeout;
        let not_caught_up = || WaitError::NotCaughtUp {
            projection,
            min_position,
        };
        let visible = match visibility(pool, min_position).await? {
            Visibility::BeyondHead => return Err(not_caught_up()),
            Visibility::Visible(target) => Some(target),
            Visibility::Pending => None,
        };
        let already_applied = match visible {
            Some(target) => applied(pool, board, projection, target).await?,
            None => false,
        };
        if !already_applied {
            let _slot = admit().ok_or(WaitError::TooManyWaiters)?;
            let target = match visible {
                Some(target) => target,
                None => wait_visible(pool, min_position, deadline)
                    .await?
                    .ok_or_else(not_caught_up)?,
            };
            if !wait_applied(pool, board, projection, target, deadline).await? {
                return Err(not_caught_up());
            }
        }
    }
    // Having waited for `min_position`, the projection reflects it even if that event was of a
    // stream type it does not read.
    let position = projection_position(pool, projection).await?;
    Ok(position.max(min_position.unwrap_or(0)))
}

/// `projection`'s position as read through `pool` when it has already applied every event up
/// to `min_position`, else `None` — at once, without waiting and without this process's
/// progress board (which follows the primary). For a streaming replica: its tables and
/// checkpoints are the primary's as of the WAL it has replayed, so its own checkpoint tells
/// what its own tables hold.
pub async fn position_if_applied(
    pool: &PgPool,
    projection: &'static str,
    min_position: Option<i64>,
) -> Result<Option<i64>, WaitError> {
    if let Some(min_position) = min_position.filter(|position| *position > 0) {
        let Visibility::Visible(target) = visibility(pool, min_position).await? else {
            return Ok(None);
        };
        if checkpoint_position(pool, projection).await? < target {
            return Ok(None);
        }
    }
    let position = projection_position(pool, projection).await?;
    Ok(Some(position.max(min_position.unwrap_or(0))))
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

/// Whether the projection has reached `target`, by local progress or by its checkpoint row.
async fn applied(
    pool: &PgPool,
    board: &ProgressBoard,
    projection: &'static str,
    target: FeedPosition,
) -> Result<bool, WaitError> {
    if board.subscribe(projection).borrow().position >= target {
        return Ok(true);
    }
    Ok(checkpoint_position(pool, projection).await? >= target)
}

/// The projection's checkpoint; the start of the log if its runner has never run.
async fn checkpoint_position(
    pool: &PgPool,
    projection: &'static str,
) -> Result<FeedPosition, WaitError> {
    match checkpoint::load(pool, projection).await {
        Err(sqlx::Error::RowNotFound) => Ok(FeedPosition::START),
        loaded => Ok(loaded?),
    }
}

/// Waits until the projection reaches `target`; false when `deadline` passed first.
async fn wait_applied(
    pool: &PgPool,
    board: &ProgressBoard,
    projection: &'static str,
    target: FeedPosition,
    deadline: Instant,
) -> Result<bool, WaitError> {
    let mut local = board.subscribe(projection);
    let mut pause = FIRST_POLL;
    loop {
        if local.borrow_and_update().position >= target
            || checkpoint_position(pool, projection).await? >= target
        {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        // Local progress wakes us at once; otherwise look at the database again after `pause`.
        let _ =
            tokio::time::timeout_at(deadline.min(Instant::now() + pause), local.changed()).await;
        pause = (pause * 2).min(LONGEST_POLL);
    }
}

/// Waits until event `min_position` is visible; its target, or None when `deadline` passed.
async fn wait_visible(
    pool: &PgPool,
    min_position: i64,
    deadline: Instant,
) -> Result<Option<FeedPosition>, WaitError> {
    let mut pause = FIRST_POLL;
    loop {
        if let Visibility::Visible(target) = visibility(pool, min_position).await? {
            return Ok(Some(target));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep_until(deadline.min(Instant::now() + pause)).await;
        pause = (pause * 2).min(LONGEST_POLL);
    }
}

/// One query: is event `min_position` visible, and if so the newest visible event in feed order.
async fn visibility(pool: &PgPool, min_position: i64) -> Result<Visibility, WaitError> {
    let row = sqlx::query(
        r#"
        SELECT EXISTS (SELECT 1 FROM events WHERE global_position = $1) AS present,
               (SELECT coalesce(max(global_position), 0) FROM events) AS head,
               newest.tx_id, newest.global_position
        FROM (SELECT 1) AS one LEFT JOIN LATERAL (
            SELECT tx_id::text::bigint AS tx_id, global_position FROM events
            ORDER BY events.tx_id DESC, global_position DESC LIMIT 1) newest ON true
        "#,
    )
    .bind(min_position)
    .fetch_one(pool)
    .await?;
    if row.try_get::<bool, _>("present")? {
        return Ok(Visibility::Visible(FeedPosition {
            tx_id: row.try_get("tx_id")?,
            position: row.try_get("global_position")?,
        }));
    }
    // The sequence's last value would also count uncommitted inserts, but a client only knows
    // positions of writes it saw committed, so the visible head is the right bound.
    if min_position > row.try_get::<i64, _>("head")? {
        return Ok(Visibility::BeyondHead);
    }
    Ok(Visibility::Pending)
}
