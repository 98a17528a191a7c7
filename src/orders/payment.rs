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
    CashbackRedemptionReturned, OrderPaid, OrderPaidByCashback, OrderPlaced, OrderRefunded,
    PaymentProvider,
};
use ledger_events::money::{balance_after, fraction_rounded_down};
use ledger_events::{AppendRequest, Currency, ExpectedVersion, Postings, StreamId};
use rust_decimal::Decimal;
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
/// at `LEDGER_CASHBACK_RATE` (none for Telegram Stars or a guest order), and `OrderPaid` with
/// its postings. The caller has checked that the order awaits payment and the amount is right.
pub async fn pay(
    state: &AppState,
    connection: &mut PgConnection,
    request: &mut AppendRequest,
    order: &OrderState,
    payment: &ReceivedPayment,
) -> Result<(), CommandError> {
    let placed = &order.placed;
    let accrual = accrual_for(placed, state.config.cashback_rate)?;
    if let Some(customer_id) = &placed.customer_id {
        if placed.hold_id.is_some() || accrual > 0 {
            let cashback = account::lock(state, connection, customer_id, &placed.currency).await?;
            request.declare(
                &StreamId::cashback(customer_id),
                ExpectedVersion::after(cashback.stream_version),
            );
            let after_hold = post_hold(request, placed, customer_id, cashback.balance_minor)?;
            accrue(request, placed, customer_id, after_hold, accrual)?;
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

/// Cashback a payment of `placed` earns: the rate of what was paid, rounded down; none for
/// Telegram Stars and for a guest order.
fn accrual_for(placed: &OrderPlaced, rate: Decimal) -> Result<i64, CommandError> {
    if placed.currency.is_telegram_stars() || placed.customer_id.is_none() {
        return Ok(0);
    }
    fraction_rounded_down(placed.amount_minor, rate).ok_or_else(|| {
        CommandError::Failed(anyhow::anyhow!(
            "cashback on {} minor units does not fit",
            placed.amount_minor
        ))
    })
}

/// The running balance after `change`, or a failure: balances are bounded
/// (`MAX_BALANCE_MINOR`), and an online payment that would break the bound is a bug to report,
/// not a refusal to pay.
fn moved(balance_minor: i64, change_minor: i64) -> Result<i64, CommandError> {
    balance_after(balance_minor, change_minor).ok_or_else(|| {
        CommandError::Failed(anyhow::anyhow!(
            "a cashback balance of {balance_minor} cannot move by {change_minor}"
        ))
    })
}

/// The order's cashback hold, if any, posted: the redeemed cashback settles part of the order's
/// receivable. Returns the balance after it.
fn post_hold(
    request: &mut AppendRequest,
    placed: &OrderPlaced,
    customer_id: &str,
    balance_minor: i64,
) -> Result<i64, CommandError> {
    let Some(hold_id) = &placed.hold_id else {
        return Ok(balance_minor);
    };
    let currency = &placed.currency;
    let balance = moved(balance_minor, -placed.cashback_redeemed_minor)?;
    request.push_event(
        &StreamId::cashback(customer_id),
        CashbackHoldPosted {
            customer_id: customer_id.to_owned(),
            hold_id: hold_id.clone(),
            order_id: placed.order_id.clone(),
            currency: currency.clone(),
            amount_minor: placed.cashback_redeemed_minor,
            balance_after_minor: balance,
            postings: Postings::transfer(
                customer_cashback(customer_id, currency),
                order_receivable(&placed.order_id),
                placed.cashback_redeemed_minor,
                currency,
            ),
        },
    );
    Ok(balance)
}

fn accrue(
    request: &mut AppendRequest,
    placed: &OrderPlaced,
    customer_id: &str,
    balance_minor: i64,
    accrual: i64,
) -> Result<(), CommandError> {
    if accrual == 0 {
        return Ok(());
    }
    let currency = &placed.currency;
    request.push_event(
        &StreamId::cashback(customer_id),
        CashbackAccrued {
            customer_id: customer_id.to_owned(),
            currency: currency.clone(),
            amount_minor: accrual,
            origin: CashbackOrigin::Online {
                order_id: placed.order_id.clone(),
            },
            balance_after_minor: moved(balance_minor, accrual)?,
            postings: Postings::transfer(
                shop_cashback_issued(),
                customer_cashback(customer_id, currency),
                accrual,
                currency,
            ),
        },
    );
    Ok(())
}

/// Adds to `request` the events that pay an order whose redeemed cashback covers its whole
/// total, in the append that places it: the hold posted and `OrderPaidByCashback`. No gateway
/// is involved and no cashback is accrued (nothing was paid in money).
pub fn pay_with_cashback(
    request: &mut AppendRequest,
    placed: &OrderPlaced,
    balance_after_hold_placed: i64,
) -> Result<(), CommandError> {
    let customer_id = placed
        .customer_id
        .as_deref()
        .expect("only a customer's order redeems cashback");
    assert_eq!(
        placed.amount_minor, 0,
        "only an order with nothing left to pay"
    );
    post_hold(request, placed, customer_id, balance_after_hold_placed)?;
    request.push_event(
        &StreamId::order(&placed.order_id),
        OrderPaidByCashback {
            order_id: placed.order_id.clone(),
            cashback_redeemed_minor: placed.cashback_redeemed_minor,
            currency: placed.currency.clone(),
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
        .expect("refund is only decided for an order paid through a gateway");
    let returned = placed.cashback_redeemed_minor;
    let clawed_back = paid.cashback_accrued_minor;
    if let Some(customer_id) = &placed.customer_id {
        if returned > 0 || clawed_back > 0 {
            let cashback = account::lock(state, connection, customer_id, &placed.currency).await?;
            request.declare(
                &StreamId::cashback(customer_id),
                ExpectedVersion::after(cashback.stream_version),
            );
            let balance = return_redeemed(request, placed, customer_id, cashback.balance_minor)?;
            claw_back(request, placed, customer_id, balance, clawed_back)?;
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

fn return_redeemed(
    request: &mut AppendRequest,
    placed: &OrderPlaced,
    customer_id: &str,
    balance_minor: i64,
) -> Result<i64, CommandError> {
    let returned = placed.cashback_redeemed_minor;
    if returned == 0 {
        return Ok(balance_minor);
    }
    let currency = &placed.currency;
    let balance = moved(balance_minor, returned)?;
    request.push_event(
        &StreamId::cashback(customer_id),
        CashbackRedemptionReturned {
            customer_id: customer_id.to_owned(),
            order_id: placed.order_id.clone(),
            currency: currency.clone(),
            amount_minor: returned,
            balance_after_minor: balance,
            postings: Postings::transfer(
                order_receivable(&placed.order_id),
                customer_cashback(customer_id, currency),
                returned,
                currency,
            ),
        },
    );
    Ok(balance)
}

fn claw_back(
    request: &mut AppendRequest,
    placed: &OrderPlaced,
    customer_id: &str,
    balance_minor: i64,
    clawed_back: i64,
) -> Result<(), CommandError> {
    if clawed_back == 0 {
        return Ok(());
    }
    let currency = &placed.currency;
    request.push_event(
        &StreamId::cashback(customer_id),
        CashbackAccrualReversed {
            customer_id: customer_id.to_owned(),
            currency: currency.clone(),
            amount_minor: clawed_back,
            origin: CashbackOrigin::Online {
                order_id: placed.order_id.clone(),
            },
            reversed_external_id: None,
            balance_after_minor: moved(balance_minor, -clawed_back)?,
            postings: Postings::transfer(
                customer_cashback(customer_id, currency),
                shop_cashback_issued(),
                clawed_back,
                currency,
            ),
        },
    );
    Ok(())
}
