//! Telegram charges: `successful_payment` pays the order, `refunded_payment` refunds it. Each
//! charge is its own stream, `telegram_payment-<telegram_payment_charge_id>`.
//!
//! A charge is money already taken, so it is always recorded, whatever the order's state:
//! - the order awaits payment and the currency and total match → the order is paid in the
//!   same append (`orders::payment::pay`: postings through `gateway:telegram:clearing`, the
//!   cashback hold posted, cashback accrued — none for Stars);
//! - otherwise the charge is recorded with its outcome (`total_mismatch`, `order_not_payable`,
//!   `unknown_order`), its money held on `gateway:telegram:unapplied`, and the order flagged
//!   for an operator. Never applied.
//!
//! Idempotent twice over: the charge's append is keyed `telegram:charge:<charge id>` (a refund
//! `telegram:refund:<charge id>`), and the update's `update_id` is recorded in the same
//! transaction, so a redelivered update finds it handled and does nothing.

use ledger_events::accounts::{gateway_clearing, gateway_unapplied};
use ledger_events::domain::{
    PaymentProvider, TelegramPaymentOutcome, TelegramPaymentReceived, TelegramPaymentRefunded,
};
use ledger_events::{
    AppendRequest, Currency, DomainEvent, EventMetadata, ExpectedVersion, Fingerprint, Idempotency,
    Postings, StreamId,
};
use serde::Serialize;
use sqlx::PgConnection;

use super::updates::Charge;
use crate::command::{self, Command, CommandError};
use crate::orders::payment::{self, ReceivedPayment};
use crate::orders::state::{self as order_state, OrderStatus};
use crate::state::AppState;

/// How handling an update ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Done now (`position` of the write, if it wrote anything).
    Now { position: Option<i64> },
    /// This update id (or this charge) was handled before: nothing was done again.
    Before,
}

/// Whether this update id was already handled.
pub async fn seen(connection: &mut PgConnection, update_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM telegram_updates WHERE update_id = $1)")
        .bind(update_id)
        .fetch_one(connection)
        .await
}

/// Records an update id as handled, in the transaction that did its work.
pub async fn record(
    connection: &mut PgConnection,
    update_id: i64,
    kind: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO telegram_updates (update_id, kind) VALUES ($1, $2) \
         ON CONFLICT (update_id) DO NOTHING",
    )
    .bind(update_id)
    .bind(kind)
    .execute(connection)
    .await?;
    Ok(())
}

/// The client's own fields of a charge: what its idempotency fingerprint covers.
#[derive(Serialize)]
struct ChargeFields<'a> {
    charge_id: &'a str,
    invoice_payload: &'a str,
    currency: &'a str,
    total_amount: i64,
}

fn fingerprint(charge: &Charge) -> Fingerprint {
    Fingerprint::of(&ChargeFields {
        charge_id: &charge.telegram_payment_charge_id,
        invoice_payload: &charge.invoice_payload,
        currency: &charge.currency,
        total_amount: charge.total_amount,
    })
}

/// A charge's currency as recorded (a code Telegram sent that is not three upper-case letters
/// is kept as `XXX`, ISO's "no currency", so the charge is still recorded).
fn charge_currency(charge: &Charge) -> Currency {
    Currency::recorded(&charge.currency)
        .unwrap_or_else(|_| Currency::recorded("XXX").expect("well-formed"))
}

/// `successful_payment`.
pub struct ReceiveCharge<'a> {
    pub update_id: i64,
    pub payer: i64,
    pub charge: &'a Charge,
    pub metadata: &'a EventMetadata,
}

impl Command for ReceiveCharge<'_> {
    type Output = Handled;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Handled, CommandError> {
        if seen(connection, self.update_id).await? {
            return Ok(Handled::Before);
        }
        let charge = self.charge;
        let charge_id = &charge.telegram_payment_charge_id;
        let currency = charge_currency(charge);
        let stream = StreamId::telegram_payment(charge_id);
        let mut request =
            AppendRequest::new(self.metadata.clone()).expect(&stream, ExpectedVersion::NoStream);
        let order = order_state::load(state, connection, &charge.invoice_payload).await?;
        let outcome = match &order {
            None => TelegramPaymentOutcome::UnknownOrder,
            Some(order) if order.status != OrderStatus::AwaitingPayment => {
                TelegramPaymentOutcome::OrderNotPayable
            }
            Some(order)
                if order.placed.currency != currency
                    || order.placed.amount_minor != charge.total_amount =>
            {
                TelegramPaymentOutcome::TotalMismatch
            }
            Some(order) => {
                request.declare(&order.stream(), ExpectedVersion::Exact(order.version));
                let received = ReceivedPayment {
                    provider: PaymentProvider::Telegram,
                    provider_id: charge_id.clone(),
                    amount_minor: charge.total_amount,
                    currency: currency.clone(),
                };
                payment::pay(state, connection, &mut request, order, &received).await?;
                TelegramPaymentOutcome::Applied
            }
        };
        let unapplied = (outcome != TelegramPaymentOutcome::Applied && charge.total_amount > 0)
            .then(|| {
                Postings::transfer(
                    gateway_clearing(PaymentProvider::Telegram.as_str()),
                    gateway_unapplied(PaymentProvider::Telegram.as_str()),
                    charge.total_amount,
                    &currency,
                )
            });
        if outcome != TelegramPaymentOutcome::Applied {
            tracing::warn!(
                charge_id = %charge_id,
                order_id = %charge.invoice_payload,
                outcome = outcome.as_str(),
                "a Telegram charge did not pay its order; recorded and flagged for an operator"
            );
        }
        request.push_event(
            &stream,
            TelegramPaymentReceived {
                charge_id: charge_id.clone(),
                provider_charge_id: charge
                    .provider_payment_charge_id
                    .clone()
                    .unwrap_or_default(),
                order_id: charge.invoice_payload.clone(),
                telegram_user_id: self.payer,
                currency,
                total_amount_minor: charge.total_amount,
                update_id: self.update_id,
                outcome,
                postings: unapplied,
            },
        );
        let request = request.idempotent(Idempotency::new(
            format!("telegram:charge:{charge_id}"),
            fingerprint(charge),
        ));
        let outcome = command::append(state, connection, &request).await?;
        record(connection, self.update_id, "successful_payment").await?;
        Ok(if outcome.is_duplicate() {
            Handled::Before
        } else {
            Handled::Now {
                position: Some(outcome.position()),
            }
        })
    }
}

/// `refunded_payment`.
pub struct RefundCharge<'a> {
    pub update_id: i64,
    pub charge: &'a Charge,
    pub metadata: &'a EventMetadata,
}

impl Command for RefundCharge<'_> {
    type Output = Handled;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Handled, CommandError> {
        if seen(connection, self.update_id).await? {
            return Ok(Handled::Before);
        }
        let charge = self.charge;
        let charge_id = &charge.telegram_payment_charge_id;
        let stream = StreamId::telegram_payment(charge_id);
        let events = state.store.read_stream_in(connection, &stream, 0).await?;
        let version = events.last().map_or(0, |event| event.stream_version);
        let received = events.iter().find_map(|event| match &event.event {
            DomainEvent::TelegramPaymentReceived(received) => Some(received.clone()),
            _ => None,
        });
        let mut request = AppendRequest::new(self.metadata.clone())
            .expect(&stream, ExpectedVersion::after(version));
        let mut order_refunded = false;
        let mut postings = None;
        match &received {
            Some(received) if received.outcome == TelegramPaymentOutcome::Applied => {
                let order = order_state::load(state, connection, &received.order_id).await?;
                if let Some(order) = order.filter(|order| {
                    matches!(order.status, OrderStatus::Paid | OrderStatus::Completed)
                        && order
                            .payment
                            .as_ref()
                            .is_some_and(|paid| &paid.provider_id == charge_id)
                }) {
                    request.declare(&order.stream(), ExpectedVersion::Exact(order.version));
                    payment::refund(state, connection, &mut request, &order).await?;
                    order_refunded = true;
                }
            }
            Some(received) => postings = received.postings.as_ref().map(Postings::reversed),
            None => tracing::warn!(
                charge_id = %charge_id,
                "Telegram refunded a charge we never recorded; recording the refund"
            ),
        }
        request.push_event(
            &stream,
            TelegramPaymentRefunded {
                charge_id: charge_id.clone(),
                order_id: received
                    .as_ref()
                    .map_or_else(|| charge.invoice_payload.clone(), |r| r.order_id.clone()),
                currency: charge_currency(charge),
                total_amount_minor: charge.total_amount,
                update_id: self.update_id,
                order_refunded,
                postings,
            },
        );
        let request = request.idempotent(Idempotency::new(
            format!("telegram:refund:{charge_id}"),
            fingerprint(charge),
        ));
        let outcome = command::append(state, connection, &request).await?;
        record(connection, self.update_id, "refunded_payment").await?;
        Ok(if outcome.is_duplicate() {
            Handled::Before
        } else {
            Handled::Now {
                position: Some(outcome.position()),
            }
        })
    }
}
