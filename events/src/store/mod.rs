//! The PostgreSQL event store: `streams` and an append-only `events` log, appended to atomically
//! across several streams with expected versions and idempotency keys, and read per stream or as
//! the commit-ordered global feed (README, "Architecture in one page").
//!
//! All writes go through the SQL function `ledger_append` (migrations/0001, with the one-event
//! fast path of migrations/0006), so the
//! single-call path ([`EventStore::append`], one round trip, autocommit) and the transactional
//! path ([`EventStore::append_in`], inside a command's own transaction next to inline projections)
//! have exactly the same semantics.

mod append;
mod error;
mod feed;
mod locked_append;
mod read;
mod recorded;
mod window;

pub use append::{AppendOutcome, AppendRequest, ExpectedVersion};
pub use error::{AppendError, VersionConflict};
pub use feed::{FeedBatch, FeedPosition};
pub use locked_append::LockedEvent;
pub use read::{RawEvent, RawFilter};
pub use recorded::{ReadError, RecordedEvent};
pub use window::{read_feed_window, FeedWindow};

use sqlx::PgPool;

/// Cheap to clone: a handle on the pool.
#[derive(Clone, Debug)]
pub struct EventStore {
    pool: PgPool,
}

impl EventStore {
    pub fn new(pool: PgPool) -> Self {
        EventStore { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
