//! A bounded slice of the global feed, for tools that fold the whole log again (the replay
//! tool's rebuild and verify) rather than follow its head like a runner.
//!
//! A runner only ever reads below the snapshot's xmin (see the feed module). A rebuild needs
//! three more shapes of the same read, which is why they live next to it rather than in the tool:
//! - **up to a position a runner already consumed** (`up_to`): everything at or below a
//!   committed checkpoint has finished, so no horizon is needed to read it completely;
//! - **everything committed** (`horizon: false`): while a tool holds every writer of an inline
//!   projection's tables back, what is visible is all there will be below that point;
//! - **as of a moment** (`until_position`, `until_time`): a point-in-time copy skips what came
//!   later; the caller stops each stream at its first skipped event.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::feed::{batch_from_rows, FeedBatch, FeedPosition};
use super::recorded::{ReadError, EVENT_COLUMNS};

/// Which part of the feed to read, after a cursor, in (tx_id, position) order.
#[derive(Clone, Debug, Default)]
pub struct FeedWindow {
    /// Stream types to read (`order`, `cashback`, ...); empty reads every stream.
    pub stream_types: Vec<String>,
    /// Read nothing beyond this feed position (inclusive).
    pub up_to: Option<FeedPosition>,
    /// Only transactions below the snapshot's xmin (the runner's rule). Off only where the
    /// caller has made sure nothing it cares about can still commit.
    pub horizon: bool,
    /// Leave out events at a higher global position.
    pub until_position: Option<i64>,
    /// Leave out events recorded after this moment.
    pub until_time: Option<DateTime<Utc>>,
}

impl FeedWindow {
    /// The runner's view of the given stream types: below the horizon, no bound.
    pub fn of(stream_types: &[&str]) -> Self {
        FeedWindow {
            stream_types: stream_types.iter().map(|t| (*t).to_owned()).collect(),
            horizon: true,
            ..FeedWindow::default()
        }
    }
}

/// Up to `limit` events of `window` after `after`. `reached_horizon` says the window holds
/// nothing more right now (not cut by the limit).
pub async fn read_feed_window<'c>(
    executor: impl PgExecutor<'c>,
    window: &FeedWindow,
    after: FeedPosition,
    limit: i64,
) -> Result<FeedBatch, ReadError> {
    assert!(limit > 0, "feed batches have a positive size");
    let prefixes: Option<Vec<String>> = (!window.stream_types.is_empty()).then(|| {
        window
            .stream_types
            .iter()
            .map(|t| format!("{t}-%"))
            .collect()
    });
    let up_to = window.up_to.unwrap_or(FeedPosition {
        tx_id: i64::MAX,
        position: i64::MAX,
    });
    let query = format!(
        "WITH horizon AS (SELECT CASE WHEN $5 THEN pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
                                  ELSE {max} END AS xmin) \
         SELECT horizon.xmin AS snapshot_xmin, batch.* FROM horizon \
         LEFT JOIN LATERAL ( \
             SELECT {EVENT_COLUMNS} FROM events \
             WHERE (events.tx_id, events.global_position) > ($1::text::xid8, $2) \
               AND (events.tx_id, events.global_position) <= ($6::text::xid8, $7) \
               AND events.tx_id < horizon.xmin::text::xid8 \
               AND ($4::text[] IS NULL OR events.stream_id LIKE ANY($4::text[])) \
               AND ($8::bigint IS NULL OR events.global_position <= $8) \
               AND ($9::timestamptz IS NULL OR events.recorded_at <= $9) \
             ORDER BY events.tx_id, events.global_position \
             LIMIT $3 \
         ) batch ON true",
        max = i64::MAX
    );
    let rows = sqlx::query(&query)
        .bind(after.tx_id.to_string())
        .bind(after.position)
        .bind(limit)
        .bind(prefixes)
        .bind(window.horizon)
        .bind(up_to.tx_id.to_string())
        .bind(up_to.position)
        .bind(window.until_position)
        .bind(window.until_time)
        .fetch_all(executor)
        .await?;
    let mut batch = batch_from_rows(&rows, limit)?;
    if !window.horizon {
        // Without a horizon there is no xmin to move to: the reader stays at its last event.
        batch.snapshot_xmin = 0;
    }
    Ok(batch)
}
