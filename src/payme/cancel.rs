//! CancelTransaction.
//!
//! - State 1 → -1: the order is released and awaits payment again.
//! - State 2 → -2, unless the order is completed (goods delivered: -31007): a refund —
//!   `orders::payment::refund` reverses the payment and the sale, returns redeemed cashback and
//!   claws back the accrued cashback, even when the customer has spent it already (the balance
//!   then goes negative: a debt that later accruals pay off; see `docs/payme.md`).
//! - Already cancelled → the stored answer. Unknown → -31003.

use ledger_events::domain::{PaymeTransactionCancelled, PaymentProvider};
use ledger_events::{AppendRequest, EventMetadata, ExpectedVersion};
use sqlx::PgConnection;

use super::answers::CancelAnswer;
use super::error::PaymeError;
use super::transaction::{
    self, PaymeTransaction, STATE_CANCELLED, STATE_CANCELLED_AFTER_PERFORM, STATE_CREATED,
    STATE_PERFORMED,
};
use super::transitions;
use crate::command::{Command, CommandError};
use crate::orders::payment;
use crate::orders::state::OrderStatus;
use crate::state::AppState;

pub struct CancelTransaction<'a> {
    pub payme_id: &'a str,
    /// Payme's reason code.
    pub reason: i32,
    pub metadata: &'a EventMetadata,
}

impl Command for CancelTransaction<'_> {
    type Output = Result<CancelAnswer, PaymeError>;

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
            STATE_CREATED => {
                let order = transitions::load_order(state, connection, &known).await?;
                let request = transitions::cancellation_before_perform(
                    &known,
                    &order,
                    self.reason,
                    now_ms,
                    self.metadata,
                );
                transitions::append(state, connection, &request).await?;
                Ok(Ok(CancelAnswer {
                    transaction: known.created.transaction.clone(),
                    cancel_time: now_ms,
                    state: STATE_CANCELLED,
                }))
            }
            STATE_PERFORMED => self.refund(state, connection, &known, now_ms).await,
            _ => Ok(Ok(known
                .cancel_answer()
                .expect("a cancelled transaction has its cancel event"))),
        }
    }
}

impl CancelTransaction<'_> {
    async fn refund(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
        known: &PaymeTransaction,
        now_ms: i64,
    ) -> Result<Result<CancelAnswer, PaymeError>, CommandError> {
        let order = transitions::load_order(state, connection, known).await?;
        if order.status == OrderStatus::Completed {
            return Ok(Err(PaymeError::OrderCompleted));
        }
        let paid_by_this = order.status == OrderStatus::Paid
            && order.payment.as_ref().is_some_and(|paid| {
                paid.provider == PaymentProvider::Payme && paid.provider_id == self.payme_id
            });
        if !paid_by_this {
            return transitions::refuse_contradicting_order(
                state,
                connection,
                known,
                &order,
                "performed Payme transaction whose order it did not pay; refusing to cancel",
            )
            .await
            .map(Err);
        }
        let mut request = AppendRequest::new(self.metadata.clone())
            .expect(&known.stream(), ExpectedVersion::Exact(known.version))
            .expect(&order.stream(), ExpectedVersion::Exact(order.version));
        payment::refund(state, connection, &mut request, &order).await?;
        request.push_event(
            &known.stream(),
            PaymeTransactionCancelled {
                payme_id: self.payme_id.to_owned(),
                order_id: order.order_id().to_owned(),
                cancel_time_ms: now_ms,
                reason: self.reason,
                state: STATE_CANCELLED_AFTER_PERFORM,
            },
        );
        let request =
            request.idempotent(transitions::cancel_idempotency(self.payme_id, self.reason));
        transitions::append(state, connection, &request).await?;
        Ok(Ok(CancelAnswer {
            transaction: known.created.transaction.clone(),
            cancel_time: now_ms,
            state: STATE_CANCELLED_AFTER_PERFORM,
        }))
    }
}
