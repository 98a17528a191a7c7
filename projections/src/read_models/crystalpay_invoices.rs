//! CrystalPay invoices (`crystalpay_invoices`): each invoice's state and whether a callback
//! awaits its `invoice/info` re-check.
//!
//! Inline: the pending flag is set in the same transaction that records the callback, before
//! the callback is answered 200, so the re-check worker can always find it again — after a
//! crash too. The worker decides from the invoice's stream; this table only tells it where to
//! look.

use async_trait::async_trait;
use ledger_events::{DomainEvent, RecordedEvent};
use sqlx::PgConnection;

use super::expect_one_row;
use crate::{ProjectionError, Projector};

pub struct CrystalPayInvoices;

#[async_trait]
impl Projector for CrystalPayInvoices {
    fn name(&self) -> &'static str {
        "crystalpay_invoices"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["crystalpay_invoice"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["crystalpay_invoices"]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let result =
            match &event.event {
                DomainEvent::CrystalPayInvoiceCreated(created) => sqlx::query(
                    "INSERT INTO crystalpay_invoices (invoice_id, order_id, state, created_at, \
                       updated_at) VALUES ($1, $2, 'notpayed', $3, $3)",
                )
                .bind(&created.invoice_id)
                .bind(&created.order_id)
                .bind(event.recorded_at)
                .execute(connection)
                .await?,
                DomainEvent::CrystalPayCallbackReceived(received) => {
                    sqlx::query(
                        "UPDATE crystalpay_invoices SET check_pending = true, \
                       pending_since = coalesce(pending_since, $2), updated_at = $2 \
                     WHERE invoice_id = $1",
                    )
                    .bind(&received.invoice_id)
                    .bind(event.recorded_at)
                    .execute(connection)
                    .await?
                }
                DomainEvent::CrystalPayInvoiceChecked(checked) => {
                    sqlx::query(
                        "UPDATE crystalpay_invoices SET state = $2, check_pending = false, \
                       pending_since = NULL, updated_at = $3 WHERE invoice_id = $1",
                    )
                    .bind(&checked.invoice_id)
                    .bind(checked.state_after.as_str())
                    .bind(event.recorded_at)
                    .execute(connection)
                    .await?
                }
                _ => return Ok(()),
            };
        expect_one_row(result, event, "crystalpay_invoices")
    }
}
