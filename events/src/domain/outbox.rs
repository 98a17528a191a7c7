//! Facts about messages sent out of the system (stream `outbox-<message id>`), and operator
//! alerts (stream `operator_alert-<id>`).
//!
//! A message is derived from a fact by the outbox projection and keyed by that fact's event id;
//! its final outcome is recorded here as an event, so that rebuilding the outbox from the log
//! knows which messages already went out and sends nothing twice.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Telegram accepted the message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessageDelivered {
    /// The event id of the fact the message tells about.
    pub message_id: Uuid,
    pub chat_id: i64,
    /// Telegram's id of the sent message.
    #[serde(default)]
    pub telegram_message_id: Option<i64>,
    pub attempts: i32,
}

/// The message will never be sent: the chat refused it (`blocked`: the user blocked the bot;
/// `rejected`: any other 4xx), retries ran out (`abandoned`), it waited too long to be worth
/// sending (`expired`), or a sender died while the call was under way (`interrupted`: it may or
/// may not have arrived, and is not sent again, so that no fact is told twice).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessageFailed {
    pub message_id: Uuid,
    pub chat_id: i64,
    pub reason: String,
    /// Telegram's `description`, or our own note.
    pub description: String,
    pub attempts: i32,
}

/// Something operators must hear about, addressed to their Telegram chat
/// (`LEDGER_TELEGRAM_ADMIN_CHAT_ID`), e.g. a 1C store that stopped syncing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorAlertRaised {
    /// `onec_store_stale`, ...
    pub kind: String,
    /// What it is about (a store id, ...).
    pub subject: String,
    pub text: String,
    pub chat_id: i64,
}
