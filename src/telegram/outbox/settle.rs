//! Recording a message's final outcome: an `OutboxMessageDelivered` / `OutboxMessageFailed`
//! event on `outbox-<message id>` and the row's new state, in one transaction.
//!
//! The event is what makes a replay safe: the outbox projection rebuilds every row from the
//! facts and then applies these outcomes, so a rebuilt outbox sends nothing that went out
//! before. The row is updated here too, at once, so the sender never picks the message up
//! again while the projection has yet to apply the event. Keyed `outbox:<message id>`: two
//! senders settling the same message record one outcome.

use ledger_events::domain::{OutboxMessageDelivered, OutboxMessageFailed};
use ledger_events::{
    AppendRequest, EventMetadata, ExpectedVersion, Fingerprint, Idempotency, Source, StreamId,
};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::command::{self, Command, CommandError, CommandFailure};
use crate::state::AppState;

/// How a message ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        telegram_message_id: Option<i64>,
    },
    /// `blocked`, `rejected`, `abandoned` or `interrupted`, with Telegram's description or ours.
    Failed {
        reason: &'static str,
        description: String,
    },
}

pub struct Settle {
    pub message_id: Uuid,
    pub chat_id: i64,
    pub attempts: i32,
    pub outcome: Outcome,
}

#[derive(Serialize)]
struct SettleFields {
    message_id: Uuid,
}

pub async fn settle(state: &AppState, settle: &Settle) -> Result<(), CommandFailure> {
    command::execute(state, settle).await
}

impl Command for Settle {
    type Output = ();

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<(), CommandError> {
        let stream = StreamId::outbox(&self.message_id.to_string());
        let metadata = EventMetadata::new(Source::System, "outbox");
        let mut request = AppendRequest::new(metadata).expect(&stream, ExpectedVersion::NoStream);
        let (row_state, reason, telegram_message_id) = match &self.outcome {
            Outcome::Delivered {
                telegram_message_id,
            } => {
                request.push_event(
                    &stream,
                    OutboxMessageDelivered {
                        message_id: self.message_id,
                        chat_id: self.chat_id,
                        telegram_message_id: *telegram_message_id,
                        attempts: self.attempts,
                    },
                );
                ("delivered", None, *telegram_message_id)
            }
            Outcome::Failed {
                reason,
                description,
            } => {
                request.push_event(
                    &stream,
                    OutboxMessageFailed {
                        message_id: self.message_id,
                        chat_id: self.chat_id,
                        reason: (*reason).to_owned(),
                        description: description.clone(),
                        attempts: self.attempts,
                    },
                );
                ("failed", Some(*reason), None)
            }
        };
        let request = request.idempotent(Idempotency::new(
            format!("outbox:{}", self.message_id),
            Fingerprint::of(&SettleFields {
                message_id: self.message_id,
            }),
        ));
        let outcome = command::append(state, connection, &request).await?;
        if outcome.is_duplicate() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET state = $2, failure_reason = $3, telegram_message_id = $4, \
               attempts = $5, settled_at = now(), claimed_until = NULL \
             WHERE message_id = $1",
        )
        .bind(self.message_id)
        .bind(row_state)
        .bind(reason)
        .bind(telegram_message_id)
        .bind(self.attempts)
        .execute(connection)
        .await?;
        Ok(())
    }
}
