//! Sync monitoring of 1C stores: staleness gauges, warnings, the admin view.

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// Background watcher that logs a warning when a store turns stale.
pub fn spawn(_tasks: &mut JoinSet<()>, _state: AppState, _shutdown: CancellationToken) {}

/// Prometheus gauges written at scrape time.
pub async fn write_gauges(_state: &AppState, _out: &mut String) -> anyhow::Result<()> {
    Ok(())
}
