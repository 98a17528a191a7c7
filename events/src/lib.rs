//! The write side's vocabulary and storage.
//!
//! - [`domain`]: the typed, versioned events (past-tense facts) and their upcasting.
//! - [`money`] and [`postings`]: amounts in integer minor units and double-entry postings that
//!   must sum to zero per currency.
//! - [`stream`]: stream naming (`<type>-<id>`), one stream per consistency boundary.
//! - [`store`]: the PostgreSQL event store — atomic multi-stream append with expected versions
//!   and idempotency keys, stream reads, and the commit-ordered global feed.
//!
//! This crate knows nothing of HTTP or of read models.

pub mod accounts;
pub mod domain;
pub mod idempotency;
pub mod metadata;
pub mod money;
pub mod postings;
pub mod store;
pub mod stream;

pub use domain::DomainEvent;
pub use idempotency::{Fingerprint, Idempotency};
pub use metadata::{EventMetadata, Source};
pub use money::{Currency, MoneyError};
pub use postings::{Posting, Postings, Side};
pub use store::{
    read_feed_window, AppendError, AppendOutcome, AppendRequest, EventStore, ExpectedVersion,
    FeedBatch, FeedPosition, FeedWindow, RecordedEvent,
};
pub use stream::StreamId;
