//! What paying and refunding an order means, for every gateway.
//!
//! A gateway command decides from its own stream (a Payme transaction, an invoice) and the
//! order's, then asks here for the events that pay or refund the order, adds its own, and
//! appends everything atomically. The cashback side (posting the hold, accruing or clawing back
//! cashback) is decided under the customer's cashback stream lock.

use ledger_events::accounts::{
    customer_cashback, fx_conversion, gateway_clearing, order_receivable, shop_cashback_issued,
};
use ledger_events::domain::{
    CashbackAccrualReversed, CashbackAccrued, CashbackHoldPosted, CashbackOrigin,
    CashbackRedemptionReturned, OrderPaid, OrderRefunded, PaymentProvider,
};
use ledger_events::money::fraction_rounded_down;
use ledger_events::{AppendRequest, Currency, ExpectedVersion, Postings, StreamId};
use sqlx::PgConnection;

use super::state::OrderState;
use crate::cashback::account;
use crate::command::CommandError;
use crate::state::AppState;

/// Money a gateway says it received for an order.
#[derive(Clone, Debug)]
pub struct ReceivedPayment {
    pub provider: PaymentProvider,
    pub provider_id: String,
    pub amount_minor: i64,
    pub currency: Currency,
}

/// Adds to `request` the events that pay `order`: the customer's hold posted, cashback accrued
/// at `LEDGER_CASHBACK_RATE` (none for Telegram Stars), and `OrderPaid` with its postings.
/// The caller has checked that the order awaits payment and the amount is right.
pub async fn pay(
    state: &AppState,
    connection: &mut PgConnection,
    request: &mut AppendRequest,
    order: &OrderState,
    payment: &ReceivedPayment,
) -> Result<(), CommandError> {
    let placed = &order.placed;
    let currency = &placed.currency;
    let accrual = if currency.is_telegram_stars() {
        0
    } else {
        fraction_rounded_down(placed.amount_minor, state.config.cashback_rate)
    };
    if placed.hold_id.is_some() || accrual > 0 {
        let cashback = account::lock(state, connection, &placed.customer_id, currency).await?;
        let stream = StreamId::cashback(&placed.customer_id);
        request.declare(&stream, ExpectedVersion::after(cashback.stream_version));
        let mut balance = cashback.balance_minor;
        if let Some(hold_id) = &placed.hold_id {
            balance -= placed.cashback_redeemed_minor;
            request.push_event(
                &stream,
                CashbackHoldPosted {
                    customer_id: placed.customer_id.clone(),
                    hold_id: hold_id.clone(),
                    order_id: placed.order_id.clone(),
                    currency: currency.clone(),
                    amount_minor: placed.cashback_redeemed_minor,
                    balance_after_minor: balance,
                    postings: Postings::transfer(
                        customer_cashback(&placed.customer_id, currency),
                        order_receivable(&placed.order_id),
                        placed.cashback_redeemed_minor,
                        currency,
                    ),
                },
            );
        }
        if accrual > 0 {
            balance += accrual;
            request.push_event(
                &stream,
                CashbackAccrued {
                    customer_id: placed.customer_id.clone(),
                    currency: currency.clone(),
                    amount_minor: accrual,
                    origin: CashbackOrigin::Online {
                        order_id: placed.order_id.clone(),
                    },
                    balance_after_minor: balance,
                    postings: Postings::transfer(
                        shop_cashback_issued(),
                        customer_cashback(&placed.customer_id, currency),
                        accrual,
                        currency,
                    ),
                },
            );
        }
    }
    request.push_event(
        &order.stream(),
        OrderPaid {
            order_id: placed.order_id.clone(),
            provider: payment.provider,
            provider_id: payment.provider_id.clone(),
            amount_minor: payment.amount_minor,
            currency: payment.currency.clone(),
            cashback_accrued_minor: accrual,
            postings: payment_postings(order, payment),
        },
    );
    Ok(())
}

/// Gateway clearing ↔ the order's receivable; through `fx:conversion` when the payment's
/// currency differs from the order's, so each currency balances on its own.
fn payment_postings(order: &OrderState, payment: &ReceivedPayment) -> Postings {
    let placed = &order.placed;
    let clearing = gateway_clearing(payment.provider.as_str());
    let receivable = order_receivable(&placed.order_id);
    if payment.currency == placed.currency {
        return Postings::transfer(
            clearing,
            receivable,
            payment.amount_minor,
            &payment.currency,
        );
    }
    Postings::combine([
        Postings::transfer(
            clearing,
            fx_conversion(),
            payment.amount_minor,
            &payment.currency,
        ),
        Postings::transfer(
            fx_conversion(),
            receivable,
            placed.amount_minor,
            &placed.currency,
        ),
    ])
    .expect("two non-empty sets")
}

/// Adds to `request` the events that refund a paid `order`: the payment and the sale reversed,
/// redeemed cashback returned, accrued cashback clawed back.
///
/// The claw-back happens even if the customer has spent that cashback meanwhile: the refund
/// must succeed, and the shortfall stays on the account as a negative balance (a debt) that
/// later accruals pay off before anything becomes available again. Nothing is lost.
pub async fn refund(
    state: &AppState,
    connection: &mut PgConnection,
    request: &mut AppendRequest,
    order: &OrderState,
) -> Result<(), CommandError> {
    let placed = &order.placed;
    let paid = order
        .payment
        .as_ref()
        .expect("refund is only decided for a paid order");
    let currency = &placed.currency;
    let returned = placed.cashback_redeemed_minor;
    let clawed_back = paid.cashback_accrued_minor;
    if returned > 0 || clawed_back > 0 {
        let cashback = account::lock(state, connection, &placed.customer_id, currency).await?;
        let stream = StreamId::cashback(&placed.customer_id);
        request.declare(&stream, ExpectedVersion::after(cashback.stream_version));
        let account = customer_cashback(&placed.customer_id, currency);
        let mut balance = cashback.balance_minor;
        if returned > 0 {
            balance += returned;
            request.push_event(
                &stream,
                CashbackRedemptionReturned {
                    customer_id: placed.customer_id.clone(),
                    order_id: placed.order_id.clone(),
                    currency: currency.clone(),
                    amount_minor: returned,
                    balance_after_minor: balance,
                    postings: Postings::transfer(
                        order_receivable(&placed.order_id),
                        account.clone(),
                        returned,
                        currency,
                    ),
                },
            );
        }
        if clawed_back > 0 {
            balance -= clawed_back;
            request.push_event(
                &stream,
                CashbackAccrualReversed {
                    customer_id: placed.customer_id.clone(),
                    currency: currency.clone(),
                    amount_minor: clawed_back,
                    origin: CashbackOrigin::Online {
                        order_id: placed.order_id.clone(),
                    },
                    reversed_external_id: None,
                    balance_after_minor: balance,
                    postings: Postings::transfer(
                        account,
                        shop_cashback_issued(),
                        clawed_back,
                        currency,
                    ),
                },
            );
        }
    }
    request.push_event(
        &order.stream(),
        OrderRefunded {
            order_id: placed.order_id.clone(),
            provider: paid.provider,
            provider_id: paid.provider_id.clone(),
            postings: Postings::combine([paid.postings.reversed(), placed.postings.reversed()])
                .expect("two non-empty sets"),
        },
    );
    Ok(())
}
