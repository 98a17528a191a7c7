//! `ledger-replay`: inspect, rebuild and verify projections from the event log (docs/api.md,
//! "Commands").
//!
//! - [`cli`]: the command line; `status` works, the other commands are listed as planned.
//! - [`database`]: which database to open — `DATABASE_URL`, or the running embedded cluster of a
//!   data folder (`LEDGER_DATA_DIR`, default `./.ledger`).
//! - [`status`]: projections, positions and lag, gathered once and rendered as a table.
//!
//! The binary (`src/main.rs`) only parses, dispatches and maps outcomes to exit codes, so every
//! piece here can be tested without spawning it.

pub mod cli;
pub mod database;
pub mod status;
