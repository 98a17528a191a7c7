//! The re-check worker: for every invoice with a recorded callback not yet checked, ask
//! CrystalPay's `invoice/info` and apply its answer ([`ApplyCheck`]).
//!
//! Driven from the log: the pending re-checks are the invoices whose last callback has no
//! check after it (the inline `crystalpay_invoices` projection lists them). The worker looks
//! at start — a callback answered just before a crash is finished here — after every recorded
//! callback (`AppState::gateway_work`), and every [`TICK`] for re-checks whose `invoice/info`
//! call failed (each waits a growing pause before its next try). Next to it the worker runs
//! the lifetime sweep ([`super::sweep`], its own task, so a pass stuck on a slow CrystalPay
//! never delays a callback's re-check): live invoices past their lifetime that no callback
//! brought back are re-checked through the same [`check_as`] and [`ApplyCheck`].
//!
//! `payed` pays the order in one atomic append with the check (`orders::payment::pay`: double
//! entry through `gateway:crystalpay:clearing`, the hold posted, cashback accrued); an ending
//! state (`wrongamount`, `failed`, `expired`) releases the order for other means of payment in
//! the same append. Applied states are keyed `crystalpay:<invoice id>:<state>`, so a state is
//! applied once whatever happens.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use ledger_events::accounts::{gateway_clearing, gateway_unapplied};
use ledger_events::domain::{
    CallbackSignature, CrystalPayCheckOutcome, CrystalPayInvoiceChecked, CrystalPayState,
    OrderPaymentEnded, PaymentProvider,
};
use ledger_events::{
    AppendRequest, EventMetadata, ExpectedVersion, Fingerprint, Idempotency, Postings, Source,
};
use serde::Serialize;
use sqlx::PgConnection;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{CrystalPayApi, InvoiceInfo};
use super::invoice::{self, Invoice};
use super::sweep;
use super::transitions;
use crate::command::{self, Command, CommandError};
use crate::orders::payment::{self, ReceivedPayment};
use crate::orders::state::{self as order_state, OrderState, OrderStatus};
use crate::state::AppState;

/// How often the worker looks for re-checks that are due again.
const TICK: Duration = Duration::from_secs(1);
/// Pending re-checks read per look.
const BATCH: i64 = 256;
/// Re-checks (each an `invoice/info` call and an append) running at once.
const CONCURRENCY: usize = 16;
/// Pause after a failed re-check, doubled per failure up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(60);

pub fn spawn(tasks: &mut JoinSet<()>, state: AppState, shutdown: CancellationToken) {
    if state.config.crystalpay.is_none() {
        return;
    }
    tasks.spawn(sweep::run(state.clone(), shutdown.clone()));
    tasks.spawn(async move {
        let mut backoff: HashMap<String, (Duration, Instant)> = HashMap::new();
        loop {
            if let Err(error) = round(&state, &mut backoff, &shutdown).await {
                tracing::warn!(%error, "CrystalPay re-check round failed; retrying next tick");
            }
            tokio::select! {
                _ = state.gateway_work.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
}

/// Checks every pending invoice that is not waiting out a pause after a failure.
async fn round(
    state: &AppState,
    backoff: &mut HashMap<String, (Duration, Instant)>,
    shutdown: &CancellationToken,
) -> Result<(), sqlx::Error> {
    loop {
        let pending: Vec<String> = sqlx::query_scalar(
            "SELECT invoice_id FROM crystalpay_invoices WHERE check_pending \
             ORDER BY pending_since LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&state.pool)
        .await?;
        backoff.retain(|invoice_id, _| pending.contains(invoice_id));
        let now = Instant::now();
        let due: Vec<String> = pending
            .iter()
            .filter(|id| backoff.get(*id).is_none_or(|(_, next)| *next <= now))
            .cloned()
            .collect();
        if due.is_empty() || shutdown.is_cancelled() {
            return Ok(());
        }
        let results: Vec<(String, anyhow::Result<()>)> = futures::stream::iter(due)
            .map(|invoice_id| async move {
                let result = check(state, &invoice_id).await;
                (invoice_id, result)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut all_failed = true;
        for (invoice_id, result) in results {
            match result {
                Ok(()) => {
                    backoff.remove(&invoice_id);
                    all_failed = false;
                }
                Err(error) => {
                    let pause = backoff
                        .get(&invoice_id)
                        .map_or(FIRST_PAUSE, |(pause, _)| (*pause * 2).min(MAX_PAUSE));
                    tracing::warn!(
                        invoice_id,
                        error = format!("{error:#}"),
                        retry_in_ms = pause.as_millis() as u64,
                        "CrystalPay re-check failed; the callback stays pending"
                    );
                    backoff.insert(invoice_id, (pause, Instant::now() + pause));
                }
            }
        }
        if all_failed || (pending.len() as i64) < BATCH {
            return Ok(());
        }
    }
}

/// Re-checks one invoice now, if a callback is waiting for it.
pub async fn check(state: &AppState, invoice_id: &str) -> anyhow::Result<()> {
    check_as(state, invoice_id, Trigger::Callback).await
}

/// Re-checks one invoice now if `trigger` still applies to it: a callback is waiting for it,
/// or (for the sweep) it is live with no callback waiting.
pub async fn check_as(state: &AppState, invoice_id: &str, trigger: Trigger) -> anyhow::Result<()> {
    let api = CrystalPayApi::of(state).ok_or_else(|| anyhow::anyhow!("CrystalPay is closed"))?;
    let mut connection = state.pool.acquire().await?;
    let known = invoice::load(state, &mut connection, invoice_id)
        .await
        .map_err(|error| anyhow::anyhow!("{error:?}"))?;
    drop(connection);
    let wanted = known.is_some_and(|invoice| match trigger {
        Trigger::Callback => invoice.pending.is_some(),
        Trigger::LifetimeSweep => invoice.pending.is_none() && invoice.is_live(),
    });
    if !wanted {
        return Ok(());
    }
    let info = api.info(invoice_id).await?;
    if info.id != invoice_id {
        anyhow::bail!("invoice/info answered about invoice {:?}", info.id);
    }
    let operation = match trigger {
        Trigger::Callback => "crystalpay:invoice/info",
        Trigger::LifetimeSweep => "crystalpay:lifetime-sweep",
    };
    let metadata = EventMetadata::new(Source::Crystalpay, operation);
    command::execute(
        state,
        &ApplyCheck {
            info: &info,
            metadata: &metadata,
            trigger,
        },
    )
    .await?;
    Ok(())
}

/// Applies CrystalPay's answer to the invoice with a pending re-check (nothing if none is
/// pending any more: a twin worker got there first), or, for the lifetime sweep, to a live
/// invoice with no callback pending.
pub struct ApplyCheck<'a> {
    pub info: &'a InvoiceInfo,
    pub metadata: &'a EventMetadata,
    pub trigger: Trigger,
}

/// What asked for a re-check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A recorded callback (or the test-mode expiry) is pending.
    Callback,
    /// The lifetime sweep: the invoice is past its lifetime and no callback is pending. Only a
    /// step forward is recorded — an unchanged state or an anomaly records nothing, so a pass
    /// over an invoice CrystalPay still calls `notpayed` leaves no trace and the next pass asks
    /// again.
    LifetimeSweep,
}

/// What an applied state's idempotency fingerprint covers.
#[derive(Serialize)]
struct AppliedFields<'a> {
    invoice_id: &'a str,
    state: &'a str,
}

impl Command for ApplyCheck<'_> {
    type Output = ();

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<(), CommandError> {
        let info = self.info;
        let Some(invoice) = invoice::load(state, connection, &info.id).await? else {
            return Ok(());
        };
        let claimed_state = match (self.trigger, &invoice.pending) {
            (Trigger::Callback, Some(pending)) => pending.claimed_state.clone(),
            // A callback arrived meanwhile: its own re-check will read CrystalPay's state.
            (Trigger::Callback, None) | (Trigger::LifetimeSweep, Some(_)) => return Ok(()),
            // No callback claimed anything.
            (Trigger::LifetimeSweep, None) if invoice.is_live() => String::new(),
            (Trigger::LifetimeSweep, None) => return Ok(()),
        };
        // The sweep only picks invoices past their lifetime.
        let lifetime_over =
            self.trigger == Trigger::LifetimeSweep || invoice.created.expires_at <= Utc::now();
        let emulated = invoice
            .pending
            .as_ref()
            .is_some_and(|pending| pending.signature == CallbackSignature::TestExpiry);
        let reported = transitions::reported(&info.state, lifetime_over, emulated);
        let decision = transitions::decide(invoice.state, &info.state, reported);
        if self.trigger == Trigger::LifetimeSweep
            && decision.outcome != CrystalPayCheckOutcome::Applied
        {
            if decision.outcome == CrystalPayCheckOutcome::Anomaly {
                tracing::warn!(invoice_id = invoice.id(), reported = %info.state,
                    current = invoice.state.as_str(),
                    "CrystalPay anomaly seen by the lifetime sweep; nothing recorded");
            }
            return Ok(());
        }
        let mut request = AppendRequest::new(self.metadata.clone())
            .expect(&invoice.stream(), ExpectedVersion::Exact(invoice.version));
        let mut outcome = decision.outcome;
        let mut note = decision.note;
        let mut postings = None;
        if outcome == CrystalPayCheckOutcome::Applied {
            let order = order_state::load(state, connection, &invoice.created.order_id).await?;
            let held = order.filter(|order| held_by(order, &invoice));
            match (decision.after, held) {
                (CrystalPayState::Payed, Some(order)) => {
                    request.declare(&order.stream(), ExpectedVersion::Exact(order.version));
                    let received = ReceivedPayment {
                        provider: PaymentProvider::Crystalpay,
                        provider_id: invoice.id().to_owned(),
                        amount_minor: invoice.created.amount_minor,
                        currency: invoice.created.currency.clone(),
                    };
                    payment::pay(state, connection, &mut request, &order, &received).await?;
                }
                (CrystalPayState::Payed, None) => {
                    outcome = CrystalPayCheckOutcome::OrderNotPayable;
                    note = Some("paid, but the order no longer awaited this invoice".to_owned());
                    postings = unapplied(&invoice);
                    tracing::warn!(invoice_id = invoice.id(), order_id = %invoice.created.order_id,
                        "a CrystalPay payment did not pay its order; flagged for an operator");
                }
                (after, Some(order)) if after.is_final() => {
                    request.declare(&order.stream(), ExpectedVersion::Exact(order.version));
                    request.push_event(
                        &order.stream(),
                        OrderPaymentEnded {
                            order_id: order.order_id().to_owned(),
                            provider: PaymentProvider::Crystalpay,
                            provider_id: invoice.id().to_owned(),
                            reason: after.as_str().to_owned(),
                        },
                    );
                }
                _ => {}
            }
            request = request.idempotent(Idempotency::new(
                format!("crystalpay:{}:{}", invoice.id(), decision.after.as_str()),
                Fingerprint::of(&AppliedFields {
                    invoice_id: invoice.id(),
                    state: decision.after.as_str(),
                }),
            ));
        } else if outcome == CrystalPayCheckOutcome::Anomaly {
            tracing::warn!(invoice_id = invoice.id(), reported = %info.state,
                current = invoice.state.as_str(), "CrystalPay anomaly recorded, not applied");
        }
        request.push_event(
            &invoice.stream(),
            CrystalPayInvoiceChecked {
                invoice_id: invoice.id().to_owned(),
                order_id: invoice.created.order_id.clone(),
                claimed_state,
                reported_state: info.state.clone(),
                state_before: invoice.state,
                state_after: decision.after,
                outcome,
                expected_amount_minor: invoice.created.amount_minor,
                currency: invoice.created.currency.clone(),
                reported_amount: info.amount.clone(),
                reported_initial_amount: info.initial_amount.clone(),
                reported_remaining_amount: info.remaining_amount.clone(),
                reported_balance_amount: info.balance_amount.clone(),
                note,
                postings,
            },
        );
        command::append(state, connection, &request).await?;
        Ok(())
    }
}

/// The order awaits payment and this invoice holds it.
fn held_by(order: &OrderState, invoice: &Invoice) -> bool {
    order.status == OrderStatus::AwaitingPayment
        && order.active_payment.as_ref().is_some_and(|active| {
            active.provider == PaymentProvider::Crystalpay && active.provider_id == invoice.id()
        })
}

/// A payment that paid no order: its money held on the gateway's unapplied account.
fn unapplied(invoice: &Invoice) -> Option<Postings> {
    let provider = PaymentProvider::Crystalpay.as_str();
    (invoice.created.amount_minor > 0).then(|| {
        Postings::transfer(
            gateway_clearing(provider),
            gateway_unapplied(provider),
            invoice.created.amount_minor,
            &invoice.created.currency,
        )
    })
}
