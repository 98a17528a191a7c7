//! Telegram charges in the `orders` read model: one `order_payments` row per charge (state
//! `paid`, `total_mismatch`, `order_not_payable`, `unknown_order`, then `refunded`), and the
//! order's `flags` for a charge that did not pay it. Part of the [`super::orders::Orders`]
//! projector; kept apart so that each gateway's rows live in their own file.

use ledger_events::domain::{
    TelegramPaymentOutcome, TelegramPaymentReceived, TelegramPaymentRefunded,
};
use ledger_events::RecordedEvent;
use sqlx::PgConnection;

use super::expect_one_row;
use crate::ProjectionError;

pub(super) async fn received(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    received: &TelegramPaymentReceived,
) -> Result<(), ProjectionError> {
    let result = sqlx::query(
        "INSERT INTO order_payments (provider, provider_id, order_id, state, amount_minor, \
           currency, created_at, updated_at) \
         VALUES ('telegram', $1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&received.charge_id)
    .bind(&received.order_id)
    .bind(received.outcome.as_str())
    .bind(received.total_amount_minor)
    .bind(received.currency.code())
    .bind(event.recorded_at)
    .execute(&mut *connection)
    .await?;
    expect_one_row(result, event, "order_payments insert of a Telegram charge")?;
    if matches!(
        received.outcome,
        TelegramPaymentOutcome::TotalMismatch | TelegramPaymentOutcome::OrderNotPayable
    ) {
        // An unknown order has no row to flag; the others do.
        let result = sqlx::query(
            "UPDATE orders_view SET flags = array_append(flags, $2), updated_at = $3 \
             WHERE order_id = $1 AND NOT ($2 = ANY (flags))",
        )
        .bind(&received.order_id)
        .bind(received.outcome.as_str())
        .bind(event.recorded_at)
        .execute(connection)
        .await?;
        let _already_flagged_or_flagged_now = result.rows_affected();
    }
    Ok(())
}

pub(super) async fn refunded(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    refunded: &TelegramPaymentRefunded,
) -> Result<(), ProjectionError> {
    // A refund of a charge we never heard of (its `successful_payment` never reached us) still
    // gets its row, so the order's payments show every charge Telegram told us about.
    let result = sqlx::query(
        "INSERT INTO order_payments (provider, provider_id, order_id, state, amount_minor, \
           currency, created_at, updated_at) \
         VALUES ('telegram', $1, $2, 'refunded', $3, $4, $5, $5) \
         ON CONFLICT (provider, provider_id) DO UPDATE SET state = 'refunded', updated_at = $5",
    )
    .bind(&refunded.charge_id)
    .bind(&refunded.order_id)
    .bind(refunded.total_amount_minor)
    .bind(refunded.currency.code())
    .bind(event.recorded_at)
    .execute(connection)
    .await?;
    expect_one_row(result, event, "order_payments refund of a Telegram charge")
}
