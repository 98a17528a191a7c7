//! The global feed in commit order — what projectors read.
//!
//! A position is assigned at INSERT but becomes visible at COMMIT, so reading
//! `WHERE global_position > checkpoint` skips events of transactions that commit late. We order
//! by the appending transaction's id instead and only hand out transactions below the current
//! snapshot's xmin: every transaction with a smaller id has then finished, so nothing can later
//! appear *behind* a checkpoint. Requirements that keep this fast: append transactions are short,
//! and a long-open transaction (which holds xmin back) is visible as a metric.

use sqlx::postgres::PgRow;
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
    /// Where a reader stands after consuming this batch. When the batch reached the horizon,
    /// every transaction below the snapshot's xmin has been consumed (all of them had finished),
    /// so the reader moves to `(xmin, 0)`: what was skipped by a stream filter is never scanned
    /// again, and nothing that can still commit is behind it.
    pub fn end(&self, start: FeedPosition) -> FeedPosition {
        let last = self.events.last().map_or(start, |event| FeedPosition {
            tx_id: event.tx_id,
            position: event.position,
        });
        if self.reached_horizon {
            last.max(FeedPosition {
                tx_id: self.snapshot_xmin,
                position: 0,
            })
        } else {
            last
        }
    }
}

impl EventStore {
    /// Up to `limit` events after `after`, in commit-safe order (tx_id, position).
    pub async fn read_global_feed(
        &self,
        after: FeedPosition,
        limit: i64,
    ) -> Result<FeedBatch, ReadError> {
        read_global_feed(&self.pool, after, limit, None).await
    }

    /// The newest committed event in feed order: a reader has consumed the whole log as it
    /// stands now once its position reaches this. (A batch that "reached the horizon" is not
    /// enough: an open transaction elsewhere can hold the horizon below the newest events.)
    pub async fn feed_head(&self) -> Result<FeedPosition, ReadError> {
        let row = sqlx::query(
            "SELECT tx_id::text::bigint AS tx_id, global_position FROM events \
             ORDER BY tx_id DESC, global_position DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => FeedPosition {
                tx_id: row.try_get("tx_id")?,
                position: row.try_get("global_position")?,
            },
            None => FeedPosition::START,
        })
    }

    /// The feed restricted to streams of the given types (`order`, `cashback`, ...): a
    /// projector reads and decodes only what it applies. The filter runs in the database.
    pub async fn read_global_feed_of(
        &self,
        after: FeedPosition,
        limit: i64,
        stream_types: &[&str],
    ) -> Result<FeedBatch, ReadError> {
        read_global_feed(&self.pool, after, limit, Some(stream_types)).await
    }
}

pub async fn read_global_feed<'c>(
    executor: impl PgExecutor<'c>,
    after: FeedPosition,
    limit: i64,
    stream_types: Option<&[&str]>,
) -> Result<FeedBatch, ReadError> {
    assert!(limit > 0, "feed batches have a positive size");
    // Stream ids are `<type>-<id>`: a prefix match selects the types.
    let prefixes: Option<Vec<String>> =
        stream_types.map(|types| types.iter().map(|t| format!("{t}-%")).collect());
    // One statement, so the horizon and the rows come from the same snapshot. The LEFT JOIN
    // keeps one row (with NULL event columns) when there is nothing to read.
    let query = format!(
        "WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) \
         SELECT horizon.xmin::text::bigint AS snapshot_xmin, batch.* FROM horizon \
         LEFT JOIN LATERAL ( \
             SELECT {EVENT_COLUMNS} FROM events \
             WHERE (events.tx_id, events.global_position) > ($1::text::xid8, $2) \
               AND events.tx_id < horizon.xmin \
               AND ($4::text[] IS NULL OR events.stream_id LIKE ANY($4::text[])) \
             ORDER BY events.tx_id, events.global_position \
             LIMIT $3 \
         ) batch ON true"
    );
    let rows = sqlx::query(&query)
        .bind(after.tx_id.to_string())
        .bind(after.position)
        .bind(limit)
        .bind(prefixes)
        .fetch_all(executor)
        .await?;
    batch_from_rows(&rows, limit)
}

/// A batch from the rows of a feed query: one row per event, or a single row of NULL event
/// columns when there is none; every row carries `snapshot_xmin`.
pub(super) fn batch_from_rows(rows: &[PgRow], limit: i64) -> Result<FeedBatch, ReadError> {
    let snapshot_xmin: i64 = rows
        .first()
        .expect("the horizon row is always present")
        .try_get("snapshot_xmin")?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
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
