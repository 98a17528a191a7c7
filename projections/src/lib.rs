//! The read side: projectors fold the event log into read models.
//!
//! - [`projector`]: the [`Projector`] trait every read model implements.
//! - [`runner`]: runs an asynchronous projector over the commit-ordered global feed — checkpoint
//!   in the same transaction as the read model, one active runner per projector across
//!   processes, idempotent and order-checked apply.
//! - [`inline`]: projectors applied inside the append transaction, where a write must read its
//!   own result (lookup indexes, cashback balances).
//! - [`wait`]: read-your-writes — wait until a projection has applied a given position.
//! - [`status`]: positions and lag, for `/metrics`, the admin API and `ledger-replay status`.
//! - [`read_models`]: the projectors themselves, one file each.

pub mod checkpoint;
pub mod inline;
pub mod projector;
pub mod read_models;
pub mod runner;
pub mod status;
pub mod wait;

pub use inline::InlineProjections;
pub use projector::{ProjectionError, Projector};
pub use runner::{Cursor, ProgressBoard, ProjectionRunner, RunnerConfig, RunnerStats};
