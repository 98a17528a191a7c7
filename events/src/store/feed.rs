//! The global feed in commit order — what projectors read.
//!
//! A position is assigned at INSERT but becomes visible at COMMIT, so reading
//! `WHERE global_position > checkpoint` skips events of transactions that commit late. We order
//! by the appending transaction's id instead and only hand out transactions below the current
//! snapshot's xmin: every transaction with a smaller id has then finished, so nothing can later
//! appear *behind* a checkpoint. Requirements that keep this fast: append transactions are short,
//! and a long-open transaction (which holds xmin back) is visible as a metric.

use sqlx::{PgExecutor, Row};

use super::recorded::{ReadError, RecordedEvent, EVENT_COLUMNS};
use super::EventStore;

/// A point in the feed: everything up to and including this (tx_id, position) is behind it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    pub tx_id: i64,
    pub position: i64,
}

impl FeedPosition {
    pub const START: FeedPosition = FeedPosition {
        tx_id: 0,
        position: 0,
    };
}

#[derive(Clone, Debug)]
pub struct FeedBatch {
    pub events: Vec<RecordedEvent>,
    /// The snapshot's xmin at read time: every transaction below it had finished.
    pub snapshot_xmin: i64,
    /// Whether the batch holds everything below `snapshot_xmin` (it was not cut by the limit).
    pub reached_horizon: bool,
}

impl FeedBatch {
    /// Where a reader stands after consuming this batch.
    pub fn end(&self, start: FeedPosition) -> FeedPosition {
        self.events.last().map_or(start, |event| FeedPosition {
            tx_id: event.tx_id,
            position: event.position,
        })
    }

    /// After consuming this batch, every transaction with an id below the returned value has
    /// been fully consumed. Read-your-writes waits compare against it.
    pub fn complete_below(&self, previous: i64) -> i64 {
        let bound = if self.reached_horizon {
            self.snapshot_xmin
        } else {
            self.events.last().map_or(previous, |event| event.tx_id)
        };
        bound.max(previous)
    }
}

impl EventStore {
    /// Up to `limit` events after `after`, in commit-safe order (tx_id, position).
    pub async fn read_global_feed(
        &self,
        after: FeedPosition,
        limit: i64,
    ) -> Result<FeedBatch, ReadError> {
        read_global_feed(&self.pool, after, limit).await
    }
}

pub async fn read_global_feed<'c>(
    executor: impl PgExecutor<'c>,
    after: FeedPosition,
    limit: i64,
) -> Result<FeedBatch, ReadError> {
    assert!(limit > 0, "feed batches have a positive size");
    // One statement, so the horizon and the rows come from the same snapshot. The LEFT JOIN
    // keeps one row (with NULL event columns) when there is nothing to read.
    let query = format!(
        "WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) \
         SELECT horizon.xmin::text::bigint AS snapshot_xmin, batch.* FROM horizon \
         LEFT JOIN LATERAL ( \
             SELECT {EVENT_COLUMNS} FROM events \
             WHERE (events.tx_id, events.global_position) > ($1::text::xid8, $2) \
               AND events.tx_id < horizon.xmin \
             ORDER BY events.tx_id, events.global_position \
             LIMIT $3 \
         ) batch ON true"
    );
    let rows = sqlx::query(&query)
        .bind(after.tx_id.to_string())
        .bind(after.position)
        .bind(limit)
        .fetch_all(executor)
        .await?;
    let snapshot_xmin: i64 = rows
        .first()
        .expect("the horizon row is always present")
        .try_get("snapshot_xmin")?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>, _>("global_position")?.is_some() {
            events.push(RecordedEvent::from_row(row)?);
        }
    }
    let reached_horizon = (events.len() as i64) < limit;
    Ok(FeedBatch {
        events,
        snapshot_xmin,
        reached_horizon,
    })
}
