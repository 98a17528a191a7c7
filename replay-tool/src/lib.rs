//! `ledger-replay`: inspect, rebuild and verify projections from the event log (docs/api.md,
//! "ledger-replay").
//!
//! - [`cli`]: the command line.
//! - [`database`]: which database to open — `DATABASE_URL`, or the running embedded cluster of a
//!   data folder (`LEDGER_DATA_DIR`, default `./.ledger`).
//! - [`status`]: projections, positions and lag, gathered once and rendered as a table.
//! - [`scratch`]: the session's scratch copies of a projector's tables.
//! - [`fold`]: the streaming fold of a window of the log into them.
//! - [`fence`]: holding a projection's live writers back for a swap or a comparison.
//! - [`rebuild`]: fold, fence, catch up, swap; or keep a point-in-time copy.
//! - [`swap`]: the rebuilt rows merged into the live tables by primary key.
//! - [`verify`]: fold up to where the live projection stands and list every differing row.
//! - [`balances`]: point-in-time cashback balances.
//! - [`progress`]: a progress bar on a terminal, plain lines otherwise.
//!
//! The binary (`src/main.rs`) only parses, dispatches and maps outcomes to exit codes, so every
//! piece here can be tested without spawning it.

pub mod balances;
pub mod cli;
pub mod database;
pub mod fence;
pub mod fold;
pub mod moment;
pub mod progress;
pub mod rebuild;
pub mod scratch;
pub mod status;
pub mod swap;
pub mod verify;

use std::sync::Arc;

use ledger_projections::{read_models, Projector};

/// The projectors a command names: one by name, or every one.
pub fn projectors(name: Option<&str>, all: bool) -> anyhow::Result<Vec<Arc<dyn Projector>>> {
    if all {
        return Ok(read_models::inline()
            .into_iter()
            .chain(read_models::asynchronous())
            .collect());
    }
    let name = name.unwrap_or_default();
    match read_models::by_name(name) {
        Some(projector) => Ok(vec![projector]),
        None => {
            let known: Vec<&str> = read_models::inline()
                .iter()
                .chain(read_models::asynchronous().iter())
                .map(|projector| projector.name())
                .collect();
            anyhow::bail!("no projection named {name:?}; known: {}", known.join(", "))
        }
    }
}
