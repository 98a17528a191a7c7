//! The lifetime sweep: live invoices past their lifetime that no callback brought back are
//! re-checked with `invoice/info`, exactly as a callback's re-check would be.
//!
//! Why: CrystalPay may send no callback when an invoice's lifetime simply runs out (its test
//! mode sends none at all), and a live invoice holds its order — no other gateway takes it and
//! the order expiry leaves it alone. Without the sweep such an order stayed held for good.
//!
//! Started with the re-check worker ([`super::recheck::spawn`]) as a task of its own — a pass
//! waiting on a slow CrystalPay never delays a callback's re-check — at start, then every
//! `CrystalPaySweep::every`. One pass reads at most `CrystalPaySweep::per_pass` (100) due
//! invoices — live (`notpayed`, `processing`), no callback pending, created at least
//! `CrystalPaySweep::after` ago — from the `crystalpay_invoices` projection, after a cursor
//! kept between passes, so invoices CrystalPay still calls `notpayed` never
//! stand in front of the others: the cursor goes round all of them, a page per pass.
//!
//! Nothing is decided here: each invoice goes through `recheck::check_as` with
//! `Trigger::LifetimeSweep`, which re-reads the invoice's stream and acts only on CrystalPay's
//! answer, keyed as every applied state is (`crystalpay:<invoice id>:<state>`), so a sweep
//! racing a late callback applies a state once. A failed `invoice/info` call is logged and
//! the invoice waits for the cursor to come round again; it never stops the pass.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::recheck::{self, Trigger};
use crate::config::CrystalPaySweep;
use crate::state::AppState;

/// `invoice/info` calls of one pass running at once.
const CONCURRENCY: usize = 8;

/// The sweep's loop: a pass at start (invoices left over from before a restart), then one
/// every `CrystalPaySweep::every`. Shutdown cancels a pass in flight: an append not committed
/// is rolled back, and the next start asks again.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut sweep = Sweep::new(&state);
    loop {
        tokio::select! {
            report = sweep.pass(&state) => {
                if report.failed > 0 {
                    tracing::info!(checked = report.checked, failed = report.failed,
                        "CrystalPay lifetime sweep pass done with failures");
                }
            }
            _ = shutdown.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(sweep.settings.every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// The sweep's settings and where the last pass stopped.
pub struct Sweep {
    settings: CrystalPaySweep,
    cursor: Option<(DateTime<Utc>, String)>,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Invoices asked about.
    pub checked: usize,
    /// Invoices whose `invoice/info` call or append failed (logged; retried on a later pass).
    pub failed: usize,
}

impl Sweep {
    pub fn new(state: &AppState) -> Sweep {
        let settings = state
            .config
            .crystalpay
            .as_ref()
            .map(|config| config.sweep)
            .unwrap_or_default();
        Sweep {
            settings,
            cursor: None,
        }
    }

    /// One pass over the next page. Errors are logged, never returned: one invoice's failure
    /// is passed over, and the next pass goes on.
    pub async fn pass(&mut self, state: &AppState) -> PassReport {
        let mut report = PassReport::default();
        let due = match self.due(state).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "CrystalPay lifetime sweep could not read invoices");
                return report;
            }
        };
        // A short page is the end of the round: the next pass starts from the oldest again.
        self.cursor = if due.len() < self.settings.per_pass.max(1) as usize {
            None
        } else {
            due.last().cloned()
        };
        let results: Vec<(String, anyhow::Result<()>)> = futures::stream::iter(due)
            .map(|(_, invoice_id)| async move {
                let result = recheck::check_as(state, &invoice_id, Trigger::LifetimeSweep).await;
                (invoice_id, result)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (invoice_id, result) in results {
            report.checked += 1;
            if let Err(error) = result {
                report.failed += 1;
                tracing::warn!(
                    invoice_id,
                    error = format!("{error:#}"),
                    "CrystalPay lifetime re-check failed; the next round asks again"
                );
            }
        }
        report
    }

    /// The next page of due invoices after the cursor, in (creation, id) order.
    async fn due(&self, state: &AppState) -> Result<Vec<(DateTime<Utc>, String)>, sqlx::Error> {
        let after = chrono::Duration::from_std(self.settings.after)
            .unwrap_or_else(|_| chrono::Duration::minutes(60));
        let (after_time, after_id) = match &self.cursor {
            Some((time, id)) => (Some(*time), id.as_str()),
            None => (None, ""),
        };
        let rows = sqlx::query(
            "SELECT created_at, invoice_id FROM crystalpay_invoices \
             WHERE state IN ('notpayed', 'processing') AND NOT check_pending \
               AND created_at <= $1 \
               AND ($2::timestamptz IS NULL OR (created_at, invoice_id) > ($2, $3)) \
             ORDER BY created_at, invoice_id LIMIT $4",
        )
        .bind(Utc::now() - after)
        .bind(after_time)
        .bind(after_id)
        .bind(i64::from(self.settings.per_pass.max(1)))
        .fetch_all(&state.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("created_at")?, row.try_get("invoice_id")?)))
            .collect()
    }
}
