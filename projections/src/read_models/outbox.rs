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

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_events::{DomainEvent, RecordedEvent};
use sqlx::{PgConnection, Row};

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

    /// Most facts of a busy log are cashback movements addressed to their customer: their
    /// recipients are read once for the batch and their messages written in one statement,
    /// not a look-up and an insert per event.
    async fn apply_batch(
        &self,
        connection: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        // Each fact's subject once: its customer for the look-up, then its message.
        let subjects: Vec<Option<Subject<'_>>> = events
            .iter()
            .map(|event| outbox_messages::subject_of(&event.event))
            .collect();
        let mut batch = Batch {
            recipients: recipients_of(connection, &subjects).await?,
            pending: Vec::new(),
        };
        for (event, subject) in events.iter().zip(subjects) {
            batch.apply(connection, event, subject).await?;
        }
        batch.flush(connection).await
    }
}

/// A batch being applied: the recipients known so far, the messages not yet written.
struct Batch<'e> {
    /// Chat of each customer a customer-addressed fact of the batch names (absent: no chat).
    /// Kept current as the batch links chats.
    recipients: HashMap<String, i64>,
    pending: Vec<(&'e RecordedEvent, NewMessage)>,
}

impl<'e> Batch<'e> {
    /// Applies one event; `subject` is its [`outbox_messages::subject_of`].
    async fn apply(
        &mut self,
        connection: &mut PgConnection,
        event: &'e RecordedEvent,
        subject: Option<Subject<'_>>,
    ) -> Result<(), ProjectionError> {
        match &event.event {
            DomainEvent::CustomerRegistered(registered) => match registered.telegram_id {
                Some(chat_id) => {
                    self.remember(connection, &registered.customer_id, chat_id)
                        .await
                }
                None => Ok(()),
            },
            DomainEvent::CustomerTelegramLinked(linked) => {
                self.remember(connection, &linked.customer_id, linked.telegram_id)
                    .await
            }
            DomainEvent::OperatorAlertRaised(alert) => {
                self.pending.push((
                    event,
                    NewMessage {
                        audience: AUDIENCE_OPERATORS,
                        customer_id: None,
                        chat_id: alert.chat_id,
                        text: alert.text.clone(),
                    },
                ));
                Ok(())
            }
            DomainEvent::OutboxMessageDelivered(delivered) => {
                // The message may have been derived earlier in this very batch (a rebuild).
                self.flush(connection).await?;
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
                self.flush(connection).await?;
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
            _ => match subject {
                Some(subject) => self.notify_customer(connection, event, subject).await,
                None => Ok(()),
            },
        }
    }

    async fn remember(
        &mut self,
        connection: &mut PgConnection,
        customer_id: &str,
        chat_id: i64,
    ) -> Result<(), ProjectionError> {
        remember(connection, customer_id, chat_id).await?;
        self.recipients.insert(customer_id.to_owned(), chat_id);
        Ok(())
    }

    /// A message to the customer the fact is about, if that customer has a Telegram chat.
    async fn notify_customer(
        &mut self,
        connection: &mut PgConnection,
        event: &'e RecordedEvent,
        subject: Subject<'_>,
    ) -> Result<(), ProjectionError> {
        let (customer_id, chat_id, external_id) = match subject.whom {
            outbox_messages::Whom::Customer(customer_id) => {
                match self.recipients.get(customer_id) {
                    Some(chat_id) => (customer_id.to_owned(), *chat_id, None),
                    None => return Ok(()),
                }
            }
            // An order's customer never changes, so the inline order index (always ahead of
            // this projection) gives the same answer now as when the fact was recorded. Order
            // facts are few; each is looked up on its own (chats linked earlier in the batch
            // are already written).
            outbox_messages::Whom::OrderOf(order_id) => {
                let row = sqlx::query(
                    "SELECT r.customer_id, r.chat_id, o.external_id FROM order_index o \
                     JOIN outbox_recipients r ON r.customer_id = o.customer_id \
                     WHERE o.order_id = $1",
                )
                .bind(order_id)
                .fetch_optional(&mut *connection)
                .await?;
                let Some(row) = row else {
                    return Ok(());
                };
                let external_id: Option<String> = row.try_get("external_id")?;
                (
                    row.try_get("customer_id")?,
                    row.try_get("chat_id")?,
                    external_id,
                )
            }
        };
        let text = (subject.render)(external_id.as_deref());
        self.pending.push((
            event,
            NewMessage {
                audience: AUDIENCE_CUSTOMER,
                customer_id: Some(customer_id),
                chat_id,
                text,
            },
        ));
        Ok(())
    }

    /// Writes the pending messages in one statement.
    async fn flush(&mut self, connection: &mut PgConnection) -> Result<(), ProjectionError> {
        let pending = std::mem::take(&mut self.pending);
        let Some((first_event, _)) = pending.first() else {
            return Ok(());
        };
        let ids: Vec<uuid::Uuid> = pending.iter().map(|(e, _)| e.event_id).collect();
        let positions: Vec<i64> = pending.iter().map(|(e, _)| e.position).collect();
        let types: Vec<&str> = pending.iter().map(|(e, _)| e.event.event_type()).collect();
        let audiences: Vec<&str> = pending.iter().map(|(_, m)| m.audience).collect();
        let customers: Vec<Option<&str>> = pending
            .iter()
            .map(|(_, m)| m.customer_id.as_deref())
            .collect();
        let chats: Vec<i64> = pending.iter().map(|(_, m)| m.chat_id).collect();
        let texts: Vec<&str> = pending.iter().map(|(_, m)| m.text.as_str()).collect();
        let times: Vec<DateTime<Utc>> = pending.iter().map(|(e, _)| e.recorded_at).collect();
        let result = sqlx::query(
            "INSERT INTO outbox (message_id, fact_position, fact_type, audience, customer_id, \
               chat_id, text, next_attempt_at, created_at) \
             SELECT id, position, fact_type, audience, customer_id, chat_id, text, at, at \
             FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                         $6::bigint[], $7::text[], $8::timestamptz[]) \
                  AS m(id, position, fact_type, audience, customer_id, chat_id, text, at)",
        )
        .bind(&ids)
        .bind(&positions)
        .bind(&types)
        .bind(&audiences)
        .bind(&customers)
        .bind(&chats)
        .bind(&texts)
        .bind(&times)
        .execute(connection)
        .await?;
        if result.rows_affected() != pending.len() as u64 {
            return Err(ProjectionError::invariant(
                first_event,
                format!(
                    "outbox insert: expected {} rows, wrote {}",
                    pending.len(),
                    result.rows_affected()
                ),
            ));
        }
        Ok(())
    }
}

struct NewMessage {
    audience: &'static str,
    customer_id: Option<String>,
    chat_id: i64,
    text: String,
}

/// The chats, as recorded before the batch, of the customers its customer-addressed facts name.
async fn recipients_of(
    connection: &mut PgConnection,
    subjects: &[Option<Subject<'_>>],
) -> Result<HashMap<String, i64>, ProjectionError> {
    let customers: BTreeSet<&str> = subjects
        .iter()
        .flatten()
        .filter_map(|subject| match subject.whom {
            outbox_messages::Whom::Customer(customer_id) => Some(customer_id),
            outbox_messages::Whom::OrderOf(_) => None,
        })
        .collect();
    if customers.is_empty() {
        return Ok(HashMap::new());
    }
    let customers: Vec<&str> = customers.into_iter().collect();
    let rows = sqlx::query(
        "SELECT customer_id, chat_id FROM outbox_recipients WHERE customer_id = ANY($1)",
    )
    .bind(&customers)
    .fetch_all(connection)
    .await?;
    let mut recipients = HashMap::with_capacity(rows.len());
    for row in &rows {
        recipients.insert(row.try_get("customer_id")?, row.try_get("chat_id")?);
    }
    Ok(recipients)
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
