//! CreateTransaction: a new Payme id holds the order; a known one is answered from its stream.
//!
//! - Unknown id: the CheckPerformTransaction checks; then, if another transaction holds the
//!   order, -31099 — unless it is a Payme transaction past its 12 hours, which is cancelled
//!   (reason 4) first. The new transaction (state 1, `create_time` = our clock) and the order's
//!   `OrderPaymentStarted` are one atomic append, protected by the order stream's version: of two
//!   concurrent Creates for one order, one wins and the other re-runs and gets -31099.
//! - Known id in state 1: past its 12 hours → cancelled (reason 4) and -31008; otherwise the
//!   stored answer. Known id in any other state: -31008.

use ledger_events::domain::{OrderPaymentStarted, PaymeTransactionCreated, PaymentProvider};
use ledger_events::{AppendRequest, Currency, EventMetadata, ExpectedVersion, StreamId};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::answers::CreateAnswer;
use super::error::PaymeError;
use super::order_check::{self, PayableOrder};
use super::protocol::Amount;
use super::transaction::{self, PaymeTransaction, REASON_TIMEOUT, STATE_CREATED};
use super::transitions::{self, Transition};
use crate::command::{Command, CommandError};
use crate::orders::state::OrderState;
use crate::state::AppState;

pub struct CreateTransaction<'a> {
    pub payme_id: &'a str,
    /// Payme's `time`.
    pub payme_time_ms: i64,
    pub amount: Amount,
    /// `account` as Payme sent it (any shape).
    pub account: Option<&'a Value>,
    pub metadata: &'a EventMetadata,
}

/// Payme's own fields of the request: the idempotency fingerprint.
#[derive(Serialize)]
struct CreateFields<'a> {
    id: &'a str,
    time: i64,
    amount: i64,
    account: &'a Value,
}

impl Command for CreateTransaction<'_> {
    type Output = Result<CreateAnswer, PaymeError>;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Self::Output, CommandError> {
        let now_ms = transaction::now_ms();
        match transaction::load(state, connection, self.payme_id).await? {
            Some(known) => self.repeat(state, connection, known, now_ms).await,
            None => self.create(state, connection, now_ms).await,
        }
    }
}

impl CreateTransaction<'_> {
    async fn repeat(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
        known: PaymeTransaction,
        now_ms: i64,
    ) -> Result<Result<CreateAnswer, PaymeError>, CommandError> {
        if known.state() != STATE_CREATED {
            return Ok(Err(PaymeError::CannotPerform));
        }
        if known.is_past_timeout(now_ms) {
            let order = transitions::load_order(state, connection, &known).await?;
            let request = transitions::cancellation_before_perform(
                &known,
                &order,
                REASON_TIMEOUT,
                now_ms,
                self.metadata,
            );
            transitions::append(state, connection, &request).await?;
            return Ok(Err(PaymeError::CannotPerform));
        }
        let created = &known.created;
        let same_request = self.amount.tiyin() == Some(created.amount_tiyin)
            && self.payme_time_ms == created.payme_time_ms
            && self.account == Some(&created.account);
        if !same_request {
            tracing::warn!(
                payme_id = self.payme_id,
                "CreateTransaction repeated with other fields; answering the stored transaction"
            );
        }
        Ok(Ok(known.create_answer()))
    }

    /// A refusal read after a twin request created this very transaction (between our read of
    /// its empty stream and our read of the order, which the twin now holds) is not an answer:
    /// the command runs again and answers the twin's transaction as a repeat.
    async fn create(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
        now_ms: i64,
    ) -> Result<Result<CreateAnswer, PaymeError>, CommandError> {
        let decided = self.create_or_refuse(state, connection, now_ms).await?;
        if decided.is_err()
            && transitions::moved_on_since(state, connection, self.payme_id, 0).await?
        {
            return Err(transitions::lost_race(self.payme_id));
        }
        Ok(decided)
    }

    async fn create_or_refuse(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
        now_ms: i64,
    ) -> Result<Result<CreateAnswer, PaymeError>, CommandError> {
        let payable =
            match order_check::payable_order(state, connection, self.account, self.amount).await? {
                Ok(payable) => payable,
                Err(refusal) => return Ok(Err(refusal)),
            };
        let PayableOrder {
            order,
            amount_tiyin,
        } = payable;
        let order = match self
            .release_if_stale(state, connection, order, now_ms)
            .await?
        {
            Ok(order) => order,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let account = self
            .account
            .cloned()
            .expect("an account that names an order is present");
        let created = PaymeTransactionCreated {
            payme_id: self.payme_id.to_owned(),
            transaction: Uuid::now_v7().to_string(),
            order_id: order.order_id().to_owned(),
            amount_tiyin,
            account,
            payme_time_ms: self.payme_time_ms,
            create_time_ms: now_ms,
        };
        let transaction_stream = StreamId::payme_transaction(self.payme_id);
        let idempotency = Transition::Create.idempotency(
            self.payme_id,
            &CreateFields {
                id: self.payme_id,
                time: self.payme_time_ms,
                amount: amount_tiyin,
                account: &created.account,
            },
        );
        let request = AppendRequest::new(self.metadata.clone())
            .expect(&order.stream(), ExpectedVersion::Exact(order.version))
            .expect(&transaction_stream, ExpectedVersion::NoStream)
            .event(
                &order.stream(),
                OrderPaymentStarted {
                    order_id: order.order_id().to_owned(),
                    provider: PaymentProvider::Payme,
                    provider_id: self.payme_id.to_owned(),
                    amount_minor: amount_tiyin,
                    currency: Currency::uzs(),
                },
            )
            .event(&transaction_stream, created.clone())
            .idempotent(idempotency);
        transitions::append(state, connection, &request).await?;
        Ok(Ok(CreateAnswer {
            create_time: created.create_time_ms,
            transaction: created.transaction,
            state: STATE_CREATED,
        }))
    }

    /// An order held by another transaction is refused (-31099), unless the holder is a Payme
    /// transaction past its 12 hours: that one is cancelled (reason 4) in this same database
    /// transaction, and the order, read again, is free.
    async fn release_if_stale(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
        order: OrderState,
        now_ms: i64,
    ) -> Result<Result<OrderState, PaymeError>, CommandError> {
        let Some(active) = &order.active_payment else {
            return Ok(Ok(order));
        };
        if active.provider != PaymentProvider::Payme {
            return Ok(Err(PaymeError::AnotherActiveTransaction));
        }
        let holder = transaction::load(state, connection, &active.provider_id).await?;
        let Some(holder) = holder
            .filter(|holder| holder.state() == STATE_CREATED && holder.is_past_timeout(now_ms))
        else {
            return Ok(Err(PaymeError::AnotherActiveTransaction));
        };
        let request = transitions::cancellation_before_perform(
            &holder,
            &order,
            REASON_TIMEOUT,
            now_ms,
            self.metadata,
        );
        transitions::append(state, connection, &request).await?;
        let released = transitions::load_order(state, connection, &holder).await?;
        assert!(
            released.active_payment.is_none(),
            "cancelling the stale holder released the order"
        );
        Ok(Ok(released))
    }
}
