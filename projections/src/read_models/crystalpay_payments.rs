//! CrystalPay invoices in the `orders` read model: one `order_payments` row per invoice, its
//! state in CrystalPay's own names (`notpayed`, `processing`, `payed`, `wrongamount`, `failed`,
//! `expired`), and the order's `flags` for what an operator must look at: `wrong_amount`, a
//! payment that could not pay its order (`order_not_payable`), money reported after the invoice
//! ended (`late_payment`). Part of the [`super::orders::Orders`] projector; kept apart so that
//! each gateway's rows live in their own file.

use ledger_events::domain::{
    CrystalPayCheckOutcome, CrystalPayInvoiceChecked, CrystalPayInvoiceCreated, CrystalPayState,
};
use ledger_events::RecordedEvent;
use sqlx::PgConnection;

use super::expect_one_row;
use crate::ProjectionError;

pub(super) async fn created(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    created: &CrystalPayInvoiceCreated,
) -> Result<(), ProjectionError> {
    let result = sqlx::query(
        "INSERT INTO order_payments (provider, provider_id, order_id, state, amount_minor, \
           currency, created_at, updated_at) \
         VALUES ('crystalpay', $1, $2, 'notpayed', $3, $4, $5, $5)",
    )
    .bind(&created.invoice_id)
    .bind(&created.order_id)
    .bind(created.amount_minor)
    .bind(created.currency.code())
    .bind(event.recorded_at)
    .execute(connection)
    .await?;
    expect_one_row(
        result,
        event,
        "order_payments insert of a CrystalPay invoice",
    )
}

pub(super) async fn checked(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    checked: &CrystalPayInvoiceChecked,
) -> Result<(), ProjectionError> {
    if checked.state_after != checked.state_before {
        let result = sqlx::query(
            "UPDATE order_payments SET state = $2, updated_at = $3 \
             WHERE provider = 'crystalpay' AND provider_id = $1",
        )
        .bind(&checked.invoice_id)
        .bind(checked.state_after.as_str())
        .bind(event.recorded_at)
        .execute(&mut *connection)
        .await?;
        expect_one_row(
            result,
            event,
            "order_payments state of a CrystalPay invoice",
        )?;
    }
    if let Some(flag) = flag(checked) {
        sqlx::query(
            "UPDATE orders_view SET flags = array_append(flags, $2), updated_at = $3 \
             WHERE order_id = $1 AND NOT ($2 = ANY (flags))",
        )
        .bind(&checked.order_id)
        .bind(flag)
        .bind(event.recorded_at)
        .execute(connection)
        .await?;
    }
    Ok(())
}

/// The operator flag a check raises on its order, if any.
fn flag(checked: &CrystalPayInvoiceChecked) -> Option<&'static str> {
    let reported = CrystalPayState::parse(&checked.reported_state);
    match checked.outcome {
        CrystalPayCheckOutcome::Applied if checked.state_after == CrystalPayState::Wrongamount => {
            Some("wrong_amount")
        }
        CrystalPayCheckOutcome::OrderNotPayable => Some("order_not_payable"),
        CrystalPayCheckOutcome::Anomaly
            if matches!(
                reported,
                Some(CrystalPayState::Payed | CrystalPayState::Wrongamount)
            ) =>
        {
            Some("late_payment")
        }
        _ => None,
    }
}
