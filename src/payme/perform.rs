//! PerformTransaction: the money arrived. The order is paid, the payment posted (gateway
//! clearing ↔ the order's receivable) and cashback accrued — `orders::payment::pay` decides those
//! events under the customer's cashback lock — and the transaction turns to state 2, all in one
//! atomic append with the transaction's, the order's and the cashback stream's versions checked.
//!
//! Unknown → -31003. State 1 past its 12 hours → cancelled (reason 4), -31008. State 2 → the
//! stored answer. Cancelled → -31008.

use ledger_events::domain::{PaymeTransactionPerformed, PaymentProvider};
use ledger_events::{AppendRequest, Currency, EventMetadata, ExpectedVersion};
use serde::Serialize;
use sqlx::PgConnection;

use super::answers::PerformAnswer;
use super::error::PaymeError;
use super::transaction::{self, PaymeTransaction, REASON_TIMEOUT, STATE_CREATED, STATE_PERFORMED};
use super::transitions::{self, Transition};
use crate::command::{Command, CommandError};
use crate::orders::payment::{self, ReceivedPayment};
use crate::orders::state::OrderStatus;
use crate::state::AppState;

pub struct PerformTransaction<'a> {
    pub payme_id: &'a str,
    pub metadata: &'a EventMetadata,
}

#[derive(Serialize)]
struct PerformFields<'a> {
    id: &'a str,
}

impl Command for PerformTransaction<'_> {
    type Output = Result<PerformAnswer, PaymeError>;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Self::Output, CommandError> {
        let now_ms = transaction::now_ms();
        let Some(known) = transaction::load(state, connection, self.payme_id).await? else {
            return Ok(Err(PaymeError::TransactionNotFound));
        };
        match known.state() {
            STATE_PERFORMED => Ok(Ok(known
                .perform_answer()
                .expect("a performed transaction has its perform event"))),
            STATE_CREATED if known.is_past_timeout(now_ms) => {
                let order = transitions::load_order(state, connection, &known).await?;
                let request = transitions::cancellation_before_perform(
                    &known,
                    &order,
                    REASON_TIMEOUT,
                    now_ms,
                    self.metadata,
                );
                transitions::append(state, connection, &request).await?;
                Ok(Err(PaymeError::CannotPerform))
            }
            STATE_CREATED => self.perform(state, connection, &known, now_ms).await,
            _ => Ok(Err(PaymeError::CannotPerform)),
        }
    }
}

impl PerformTransaction<'_> {
    async fn perform(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
        known: &PaymeTransaction,
        now_ms: i64,
    ) -> Result<Result<PerformAnswer, PaymeError>, CommandError> {
        let order = transitions::load_order(state, connection, known).await?;
        let held_by_this = order.status == OrderStatus::AwaitingPayment
            && order.active_payment.as_ref().is_some_and(|active| {
                active.provider == PaymentProvider::Payme && active.provider_id == self.payme_id
            });
        if !held_by_this {
            return transitions::refuse_contradicting_order(
                state,
                connection,
                known,
                &order,
                "Payme transaction in state 1 does not hold its order; refusing to perform",
            )
            .await
            .map(Err);
        }
        let mut request = AppendRequest::new(self.metadata.clone())
            .expect(&known.stream(), ExpectedVersion::Exact(known.version))
            .expect(&order.stream(), ExpectedVersion::Exact(order.version));
        let received = ReceivedPayment {
            provider: PaymentProvider::Payme,
            provider_id: self.payme_id.to_owned(),
            amount_minor: known.created.amount_tiyin,
            currency: Currency::uzs(),
        };
        payment::pay(state, connection, &mut request, &order, &received).await?;
        let performed = PaymeTransactionPerformed {
            payme_id: self.payme_id.to_owned(),
            order_id: order.order_id().to_owned(),
            perform_time_ms: now_ms,
        };
        request.push_event(&known.stream(), performed.clone());
        let request = request.idempotent(
            Transition::Perform.idempotency(self.payme_id, &PerformFields { id: self.payme_id }),
        );
        transitions::append(state, connection, &request).await?;
        Ok(Ok(PerformAnswer {
            transaction: known.created.transaction.clone(),
            perform_time: performed.perform_time_ms,
            state: STATE_PERFORMED,
        }))
    }
}
