//! Orders as API clients read them (`orders_view`) with their gateway transactions
//! (`order_payments`, one row per Payme transaction / invoice / charge, in the provider's terms).

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use ledger_events::{DomainEvent, RecordedEvent};
use sqlx::PgConnection;

use super::{crystalpay_payments as crystalpay, expect_one_row, telegram_payments as telegram};
use crate::{ProjectionError, Projector};

pub struct Orders;

#[async_trait]
impl Projector for Orders {
    fn name(&self) -> &'static str {
        "orders"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &[
            "order",
            "payme_tx",
            "telegram_payment",
            "crystalpay_invoice",
        ]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["orders_view", "order_payments"]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        match &event.event {
            DomainEvent::OrderPlaced(placed) => {
                let items = serde_json::to_value(&placed.items).expect("order items serialise");
                let fx = placed
                    .fx
                    .as_ref()
                    .map(|quote| serde_json::to_value(quote).expect("fx quote serialises"));
                let result = sqlx::query(
                    "INSERT INTO orders_view (order_id, external_id, customer_id, status, currency, \
                       items_total_minor, cashback_redeemed_minor, amount_minor, items, fx, \
                       created_at, updated_at, expires_at) \
                     VALUES ($1, $2, $3, 'awaiting_payment', $4, $5, $6, $7, $8, $9, $10, $10, $11)",
                )
                .bind(&placed.order_id)
                .bind(&placed.external_id)
                .bind(&placed.customer_id)
                .bind(placed.currency.code())
                .bind(placed.items_total_minor)
                .bind(placed.cashback_redeemed_minor)
                .bind(placed.amount_minor)
                .bind(items)
                .bind(fx)
                .bind(event.recorded_at)
                .bind(placed.expires_at)
                .execute(connection)
                .await?;
                expect_one_row(result, event, "orders_view insert")
            }
            DomainEvent::OrderPaymentStarted(started) => {
                let holder = format!("{}:{}", started.provider.as_str(), started.provider_id);
                set_active_payment(connection, event, &started.order_id, Some(&holder)).await
            }
            DomainEvent::OrderPaymentEnded(ended) => {
                let holder = format!("{}:{}", ended.provider.as_str(), ended.provider_id);
                // Ending a transaction that no longer holds the order changes nothing.
                sqlx::query(
                    "UPDATE orders_view SET active_payment = NULL, updated_at = $3 \
                     WHERE order_id = $1 AND active_payment = $2",
                )
                .bind(&ended.order_id)
                .bind(&holder)
                .bind(event.recorded_at)
                .execute(connection)
                .await?;
                Ok(())
            }
            DomainEvent::OrderPaid(paid) => {
                set_status(connection, event, &paid.order_id, "paid").await
            }
            DomainEvent::OrderPaidByCashback(paid) => {
                set_status(connection, event, &paid.order_id, "paid").await
            }
            DomainEvent::OrderCompleted(done) => {
                set_status(connection, event, &done.order_id, "completed").await
            }
            DomainEvent::OrderCancelled(cancelled) => {
                set_status(connection, event, &cancelled.order_id, "cancelled").await
            }
            DomainEvent::OrderRefunded(refunded) => {
                set_status(connection, event, &refunded.order_id, "refunded").await
            }
            DomainEvent::PaymeTransactionCreated(created) => {
                let created_at = from_millis(created.create_time_ms, event);
                let result = sqlx::query(
                    "INSERT INTO order_payments (provider, provider_id, order_id, state, amount_minor, \
                       currency, created_at, updated_at) \
                     VALUES ('payme', $1, $2, '1', $3, 'UZS', $4, $4)",
                )
                .bind(&created.payme_id)
                .bind(&created.order_id)
                .bind(created.amount_tiyin)
                .bind(created_at)
                .execute(connection)
                .await?;
                expect_one_row(result, event, "order_payments insert")
            }
            DomainEvent::PaymeTransactionPerformed(performed) => {
                let at = from_millis(performed.perform_time_ms, event);
                set_payment_state(connection, event, &performed.payme_id, "2", at).await
            }
            DomainEvent::PaymeTransactionCancelled(cancelled) => {
                let at = from_millis(cancelled.cancel_time_ms, event);
                let state = cancelled.state.to_string();
                set_payment_state(connection, event, &cancelled.payme_id, &state, at).await
            }
            DomainEvent::TelegramPaymentReceived(received) => {
                telegram::received(connection, event, received).await
            }
            DomainEvent::TelegramPaymentRefunded(refunded) => {
                telegram::refunded(connection, event, refunded).await
            }
            DomainEvent::CrystalPayInvoiceCreated(created) => {
                crystalpay::created(connection, event, created).await
            }
            DomainEvent::CrystalPayInvoiceChecked(checked) => {
                crystalpay::checked(connection, event, checked).await
            }
            _ => Ok(()),
        }
    }
}

async fn set_status(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    order_id: &str,
    status: &str,
) -> Result<(), ProjectionError> {
    // Every status change ends whatever gateway transaction held the order.
    let result = sqlx::query(
        "UPDATE orders_view SET status = $2, active_payment = NULL, updated_at = $3 \
         WHERE order_id = $1",
    )
    .bind(order_id)
    .bind(status)
    .bind(event.recorded_at)
    .execute(connection)
    .await?;
    expect_one_row(result, event, "orders_view status")
}

async fn set_active_payment(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    order_id: &str,
    holder: Option<&str>,
) -> Result<(), ProjectionError> {
    let result = sqlx::query(
        "UPDATE orders_view SET active_payment = $2, updated_at = $3 WHERE order_id = $1",
    )
    .bind(order_id)
    .bind(holder)
    .bind(event.recorded_at)
    .execute(connection)
    .await?;
    expect_one_row(result, event, "orders_view active payment")
}

async fn set_payment_state(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    payme_id: &str,
    state: &str,
    at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    let result = sqlx::query(
        "UPDATE order_payments SET state = $2, updated_at = $3 \
         WHERE provider = 'payme' AND provider_id = $1",
    )
    .bind(payme_id)
    .bind(state)
    .bind(at)
    .execute(connection)
    .await?;
    expect_one_row(result, event, "order_payments state")
}

/// Payme times are epoch milliseconds; a value out of range falls back to the record time.
fn from_millis(millis: i64, event: &RecordedEvent) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(event.recorded_at)
}
