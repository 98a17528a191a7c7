//! Business figures of the payment channels for `/metrics`: gateway transactions, invoices and
//! charges by provider and by the provider's own state, read from the orders read model.

use sqlx::{PgPool, Row};

use crate::infra::metrics::{Gauge, GaugeFuture, GaugeSource};

pub struct PaymentGauges {
    pub pool: PgPool,
}

impl GaugeSource for PaymentGauges {
    fn name(&self) -> &'static str {
        "payments"
    }

    fn collect(&self) -> GaugeFuture<'_> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT provider, state, count(*)::bigint AS payments FROM order_payments \
                 GROUP BY provider, state ORDER BY provider, state",
            )
            .fetch_all(&self.pool)
            .await?;
            let samples = rows
                .iter()
                .map(|row| {
                    let labels = vec![
                        ("provider", row.try_get::<String, _>("provider")?),
                        ("state", row.try_get::<String, _>("state")?),
                    ];
                    Ok((labels, row.try_get::<i64, _>("payments")? as f64))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            Ok(vec![Gauge::new(
                "ledger_payments",
                "Gateway transactions, invoices and charges by provider and the provider's state.",
                samples,
            )])
        })
    }
}
