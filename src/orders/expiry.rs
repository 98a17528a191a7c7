//! Expiring unpaid orders after `LEDGER_ORDER_TTL_HOURS` (→ `cancelled`, holds voided).
//!
//! Candidates come from the projection; the decision is the ordinary cancel command on the
//! order's own stream, so an order that got a gateway transaction or a payment meanwhile is left
//! alone.

use std::time::Duration;

use ledger_events::{EventMetadata, Source};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::lifecycle::{self, CancelReason};
use crate::command::CommandFailure;
use crate::rejection::Rejection;
use crate::state::AppState;

const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Orders expired per sweep at most (the next sweep takes the rest).
const SWEEP_BATCH: i64 = 200;

pub fn spawn(tasks: &mut JoinSet<()>, state: AppState, shutdown: CancellationToken) {
    tasks.spawn(async move {
        loop {
            if let Err(error) = sweep(&state).await {
                tracing::warn!(%error, "order expiry sweep failed; retrying next interval");
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
}

/// Expires what is due now; returns how many orders were cancelled.
pub async fn sweep(state: &AppState) -> anyhow::Result<usize> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT order_id FROM orders_view WHERE status = 'awaiting_payment' AND expires_at < now() \
         ORDER BY expires_at LIMIT $1",
    )
    .bind(SWEEP_BATCH)
    .fetch_all(&state.pool)
    .await?;
    let mut expired = 0;
    for order_id in due {
        let metadata = EventMetadata::new(Source::System, "order-expiry");
        match lifecycle::cancel(state, &order_id, CancelReason::Expired, &metadata).await {
            Ok(_) => expired += 1,
            // Paid, held by a gateway, or already cancelled since the projection was read.
            Err(CommandFailure::Rejected(Rejection::InvalidState { .. })) => {}
            Err(error) => return Err(anyhow::anyhow!("expiring order {order_id}: {error}")),
        }
    }
    if expired > 0 {
        tracing::info!(expired, "expired unpaid orders");
    }
    Ok(expired)
}
