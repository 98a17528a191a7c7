//! Alerts for operators, through the same outbox as customer messages: an `OperatorAlertRaised`
//! fact addressed to `LEDGER_TELEGRAM_ADMIN_CHAT_ID`, which the outbox projection turns into a
//! message. Without that setting no alert is raised (the log line and the metric remain).
//!
//! An alert is keyed by its episode (`alert:<kind>:<subject>:<episode>`, e.g. a stale store and
//! the time of its last operation), so every server process watching the same thing, and every
//! restart, raises it once.

use ledger_events::domain::OperatorAlertRaised;
use ledger_events::{
    AppendRequest, EventMetadata, ExpectedVersion, Fingerprint, Idempotency, Source, StreamId,
};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::command::{self, Command, CommandError, CommandFailure};
use crate::state::AppState;

/// One alert to raise.
pub struct Alert<'a> {
    /// `onec_store_stale`, ...
    pub kind: &'a str,
    pub subject: &'a str,
    /// What makes this occurrence distinct from the next one of the same kind and subject.
    pub episode: &'a str,
    pub text: String,
}

#[derive(Serialize)]
struct AlertFields<'a> {
    kind: &'a str,
    subject: &'a str,
    episode: &'a str,
}

/// Raises the alert, once per episode. Returns false when no operators' chat is configured.
pub async fn raise(state: &AppState, alert: &Alert<'_>) -> Result<bool, CommandFailure> {
    let Some(chat_id) = state.config.telegram.admin_chat_id else {
        return Ok(false);
    };
    command::execute(state, &Raise { alert, chat_id }).await?;
    Ok(true)
}

struct Raise<'a> {
    alert: &'a Alert<'a>,
    chat_id: i64,
}

impl Command for Raise<'_> {
    type Output = ();

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<(), CommandError> {
        let alert = self.alert;
        let stream = StreamId::operator_alert(&Uuid::now_v7().to_string());
        let request = AppendRequest::new(EventMetadata::new(Source::System, "monitor"))
            .expect(&stream, ExpectedVersion::NoStream)
            .event(
                &stream,
                OperatorAlertRaised {
                    kind: alert.kind.to_owned(),
                    subject: alert.subject.to_owned(),
                    text: alert.text.clone(),
                    chat_id: self.chat_id,
                },
            )
            .idempotent(Idempotency::new(
                format!("alert:{}:{}:{}", alert.kind, alert.subject, alert.episode),
                Fingerprint::of(&AlertFields {
                    kind: alert.kind,
                    subject: alert.subject,
                    episode: alert.episode,
                }),
            ));
        command::append(state, connection, &request).await?;
        Ok(())
    }
}
