//! The outbox: one message row per fact a person should hear about, keyed by the fact's event
//! id, for the sender in `src/telegram/outbox/` to deliver with the Bot API's `sendMessage`.
//!
//! Facts and their audience: an order paid, completed, refunded or cancelled, and cashback
//! accrued (online or in a store) or spent, released or taken back in a store, go to the
//! customer's Telegram chat — when the customer has a Telegram id at that point of the log;
//! an `OperatorAlertRaised` goes to the chat it names. Nothing here calls out: this projector
//! only writes rows, in the same transaction as its checkpoint, behind the global feed, so the
//! write path never waits for it.
//!
//! A message's final outcome is itself an event (`OutboxMessageDelivered` / `...Failed`, written
//! by the sender together with the row's new state). Rebuilding this projection from the log
//! therefore recreates every row with its outcome, and the sender finds nothing to send again.
//! The sender's own bookkeeping (attempts, next attempt, claim) lives in the same rows and is
//! not rebuilt: a rebuilt pending row simply starts its retries afresh.
//!
//! Recipients are folded from the customer streams into `outbox_recipients` rather than read
//! from the current customer index, so a rebuild addresses each fact as it was addressed then
//! and never invents messages for facts that happened before a Telegram id was linked.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_events::{DomainEvent, RecordedEvent};
use sqlx::{PgConnection, Row};

use super::expect_one_row;
use super::outbox_messages::{self, Subject};
use crate::{ProjectionError, Projector};

pub struct Outbox;

/// Who a message is for.
const AUDIENCE_CUSTOMER: &str = "customer";
const AUDIENCE_OPERATORS: &str = "operators";

#[async_trait]
impl Projector for Outbox {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["customer", "order", "cashback", "outbox", "operator_alert"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["outbox", "outbox_recipients"]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        match &event.event {
            DomainEvent::CustomerRegistered(registered) => match registered.telegram_id {
                Some(chat_id) => remember(connection, &registered.customer_id, chat_id).await,
                None => Ok(()),
            },
            DomainEvent::CustomerTelegramLinked(linked) => {
                remember(connection, &linked.customer_id, linked.telegram_id).await
            }
            DomainEvent::OperatorAlertRaised(alert) => {
                let message = NewMessage {
                    audience: AUDIENCE_OPERATORS,
                    customer_id: None,
                    chat_id: alert.chat_id,
                    text: alert.text.clone(),
                };
                insert(connection, event, &message).await
            }
            DomainEvent::OutboxMessageDelivered(delivered) => {
                settle(
                    connection,
                    event,
                    Settled {
                        message_id: delivered.message_id,
                        state: "delivered",
                        reason: None,
                        attempts: delivered.attempts,
                        telegram_message_id: delivered.telegram_message_id,
                    },
                )
                .await
            }
            DomainEvent::OutboxMessageFailed(failed) => {
                settle(
                    connection,
                    event,
                    Settled {
                        message_id: failed.message_id,
                        state: "failed",
                        reason: Some(&failed.reason),
                        attempts: failed.attempts,
                        telegram_message_id: None,
                    },
                )
                .await
            }
            other => match outbox_messages::subject_of(other) {
                Some(subject) => notify_customer(connection, event, subject).await,
                None => Ok(()),
            },
        }
    }
}

struct NewMessage<'a> {
    audience: &'static str,
    customer_id: Option<&'a str>,
    chat_id: i64,
    text: String,
}

async fn remember(
    connection: &mut PgConnection,
    customer_id: &str,
    chat_id: i64,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO outbox_recipients (customer_id, chat_id) VALUES ($1, $2) \
         ON CONFLICT (customer_id) DO UPDATE SET chat_id = EXCLUDED.chat_id",
    )
    .bind(customer_id)
    .bind(chat_id)
    .execute(connection)
    .await?;
    Ok(())
}

/// A message to the customer the fact is about, if that customer has a Telegram chat.
async fn notify_customer(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    subject: Subject<'_>,
) -> Result<(), ProjectionError> {
    let recipient =
        match subject.whom {
            outbox_messages::Whom::Customer(customer_id) => sqlx::query(
                "SELECT customer_id, chat_id, NULL::text AS external_id FROM outbox_recipients \
             WHERE customer_id = $1",
            )
            .bind(customer_id)
            .fetch_optional(&mut *connection)
            .await?,
            // An order's customer never changes, so the inline order index (always ahead of this
            // projection) gives the same answer now as when the fact was recorded.
            outbox_messages::Whom::OrderOf(order_id) => {
                sqlx::query(
                    "SELECT r.customer_id, r.chat_id, o.external_id FROM order_index o \
             JOIN outbox_recipients r ON r.customer_id = o.customer_id WHERE o.order_id = $1",
                )
                .bind(order_id)
                .fetch_optional(&mut *connection)
                .await?
            }
        };
    let Some(row) = recipient else {
        return Ok(());
    };
    let customer_id: String = row.try_get("customer_id")?;
    let external_id: Option<String> = row.try_get("external_id")?;
    let message = NewMessage {
        audience: AUDIENCE_CUSTOMER,
        customer_id: Some(&customer_id),
        chat_id: row.try_get("chat_id")?,
        text: (subject.render)(external_id.as_deref()),
    };
    insert(connection, event, &message).await
}

async fn insert(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    message: &NewMessage<'_>,
) -> Result<(), ProjectionError> {
    let result = sqlx::query(
        "INSERT INTO outbox (message_id, fact_position, fact_type, audience, customer_id, \
           chat_id, text, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(event.event_id)
    .bind(event.position)
    .bind(event.event.event_type())
    .bind(message.audience)
    .bind(message.customer_id)
    .bind(message.chat_id)
    .bind(&message.text)
    .bind(event.recorded_at)
    .execute(connection)
    .await?;
    expect_one_row(result, event, "outbox insert")
}

struct Settled<'a> {
    message_id: uuid::Uuid,
    state: &'static str,
    reason: Option<&'a str>,
    attempts: i32,
    telegram_message_id: Option<i64>,
}

/// Records a message's final outcome. The sender already wrote the same state when it appended
/// the outcome; this makes a rebuild arrive at it too. A message this build no longer derives
/// from its fact has no row, and its outcome changes nothing.
async fn settle(
    connection: &mut PgConnection,
    event: &RecordedEvent,
    settled: Settled<'_>,
) -> Result<(), ProjectionError> {
    let settled_at: DateTime<Utc> = event.recorded_at;
    sqlx::query(
        "UPDATE outbox SET state = $2, failure_reason = $3, attempts = GREATEST(attempts, $4), \
           telegram_message_id = $5, settled_at = COALESCE(settled_at, $6), claimed_until = NULL \
         WHERE message_id = $1",
    )
    .bind(settled.message_id)
    .bind(settled.state)
    .bind(settled.reason)
    .bind(settled.attempts)
    .bind(settled.telegram_message_id)
    .bind(settled_at)
    .execute(connection)
    .await?;
    Ok(())
}
