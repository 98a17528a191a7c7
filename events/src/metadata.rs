//! Event metadata: who caused an event, on whose behalf, and when it was received.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Payme,
    Crystalpay,
    Telegram,
    #[serde(rename = "1c")]
    OneC,
    Api,
    Operator,
    /// The server itself (timeouts, expiries).
    System,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// Shared by every event caused by one incoming request or job.
    pub correlation_id: Uuid,
    /// The event (or request) that directly caused this one, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    pub source: Source,
    /// Who acted: a token name, `store:<id>`, `payme`, `system`, ...
    pub actor: String,
    pub received_at: DateTime<Utc>,
    /// SHA-256 (hex) of the raw request body, kept for audit of gateway callbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl EventMetadata {
    pub fn new(source: Source, actor: impl Into<String>) -> Self {
        EventMetadata {
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            source,
            actor: actor.into(),
            received_at: Utc::now(),
            raw_body_sha256: None,
            request_id: None,
        }
    }

    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    pub fn with_raw_body(mut self, body: &[u8]) -> Self {
        self.raw_body_sha256 = Some(crate::idempotency::sha256_hex(body));
        self
    }
}
