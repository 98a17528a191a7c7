//! CrystalPay figures for `/metrics`: callbacks recorded but not yet re-checked with
//! `invoice/info`, and the age of the oldest. A growing backlog means CrystalPay's API is down
//! or slow (payments are then late, never lost).

use sqlx::PgPool;
use sqlx::Row;

use crate::infra::metrics::{Gauge, GaugeFuture, GaugeSource};

pub struct RecheckGauges {
    pub pool: PgPool,
}

impl GaugeSource for RecheckGauges {
    fn name(&self) -> &'static str {
        "crystalpay"
    }

    fn collect(&self) -> GaugeFuture<'_> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT count(*)::bigint AS pending, \
                   coalesce(extract(epoch FROM now() - min(pending_since)), 0)::float8 AS oldest \
                 FROM crystalpay_invoices WHERE check_pending",
            )
            .fetch_one(&self.pool)
            .await?;
            Ok(vec![
                Gauge::new(
                    "ledger_crystalpay_pending_rechecks",
                    "CrystalPay callbacks recorded and not yet re-checked with invoice/info.",
                    vec![(vec![], row.try_get::<i64, _>("pending")? as f64)],
                ),
                Gauge::new(
                    "ledger_crystalpay_oldest_pending_recheck_seconds",
                    "Age of the oldest CrystalPay callback waiting for its re-check.",
                    vec![(vec![], row.try_get::<f64, _>("oldest")?)],
                ),
            ])
        })
    }
}
