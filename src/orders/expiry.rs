//! Expiring unpaid orders after `LEDGER_ORDER_TTL_HOURS` (→ `cancelled`, holds voided).
//!
//! Candidates come from the projection: orders awaiting payment, past their time, and not held
//! by a gateway transaction (`orders_view.active_payment`; a CrystalPay invoice past its
//! lifetime is released by `crystalpay::sweep`, after which its order is a candidate too). The
//! decision is the ordinary cancel command on the order's own stream, so an order that got a
//! gateway transaction or a payment since the projection was read is left alone. A sweep pages through every due order with a
//! cursor, so orders it must skip never stand in front of the ones it may cancel, and one
//! order's failure is logged and passed over rather than stopping the sweep.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ledger_events::{EventMetadata, Source};
use sqlx::Row;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::lifecycle::{self, CancelReason};
use crate::command::CommandFailure;
use crate::rejection::Rejection;
use crate::state::AppState;

const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Orders read per page.
const PAGE_SIZE: i64 = 200;
/// Pages per sweep at most (the next sweep takes the rest): bounds one sweep's work.
const MAX_PAGES: usize = 50;

pub fn spawn(tasks: &mut JoinSet<()>, state: AppState, shutdown: CancellationToken) {
    tasks.spawn(async move {
        loop {
            match sweep(&state).await {
                Ok(report) if report.expired + report.failed > 0 => tracing::info!(
                    expired = report.expired,
                    failed = report.failed,
                    "expired unpaid orders"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "order expiry sweep failed; retrying next interval")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub expired: usize,
    /// Orders that could not be cancelled for a reason other than their state (logged).
    pub failed: usize,
}

/// Expires what is due now.
pub async fn sweep(state: &AppState) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut cursor: Option<(DateTime<Utc>, String)> = None;
    for _page in 0..MAX_PAGES {
        let due = due_orders(state, cursor.as_ref()).await?;
        let Some(last) = due.last() else {
            break;
        };
        cursor = Some(last.clone());
        let full_page = due.len() as i64 == PAGE_SIZE;
        for (_, order_id) in due {
            let metadata = EventMetadata::new(Source::System, "order-expiry");
            match lifecycle::cancel(state, &order_id, CancelReason::Expired, &metadata).await {
                Ok(_) => report.expired += 1,
                // Paid, held by a gateway, or already cancelled since the projection was read.
                Err(CommandFailure::Rejected(Rejection::InvalidState { .. })) => {}
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(order_id, %error, "could not expire an order; passing over it");
                }
            }
        }
        if !full_page {
            break;
        }
    }
    Ok(report)
}

/// One page of due orders after `cursor`, in (expiry, id) order.
async fn due_orders(
    state: &AppState,
    cursor: Option<&(DateTime<Utc>, String)>,
) -> Result<Vec<(DateTime<Utc>, String)>, sqlx::Error> {
    let (after_time, after_id) = match cursor {
        Some((time, id)) => (Some(*time), id.as_str()),
        None => (None, ""),
    };
    let rows = sqlx::query(
        "SELECT expires_at, order_id FROM orders_view \
         WHERE status = 'awaiting_payment' AND active_payment IS NULL AND expires_at < now() \
           AND ($1::timestamptz IS NULL OR (expires_at, order_id) > ($1, $2)) \
         ORDER BY expires_at, order_id LIMIT $3",
    )
    .bind(after_time)
    .bind(after_id)
    .bind(PAGE_SIZE)
    .fetch_all(&state.pool)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("expires_at")?, row.try_get("order_id")?)))
        .collect()
}
