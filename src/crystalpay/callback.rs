//! `POST /api/crystalpay/callback`: CrystalPay says "look at this invoice".
//!
//! The signature is checked over the exact received bytes (`signature`; 401 and a security log
//! line, nothing recorded, when neither kind matches). A valid callback is recorded on the
//! invoice's stream as `CrystalPayCallbackReceived` — a pending re-check — and answered 200 at
//! once; the re-check worker ([`super::recheck`]) asks `invoice/info` and applies what
//! CrystalPay answers. Because the pending re-check is in the log before the 200, a crash after
//! answering loses nothing: the worker finds it again at start.
//!
//! Idempotent under concurrent redelivery: the record is decided on the invoice stream's
//! version, and a callback is recorded only when it can change something — no re-check already
//! pending, and a claimed state other than the one the invoice is in. Ten copies of one
//! callback record one re-check; a copy after the state was applied records nothing.

use axum::extract::{Request, State};
use axum::Json;
use ledger_events::domain::CrystalPayCallbackReceived;
use ledger_events::{AppendRequest, EventMetadata, ExpectedVersion, Source};
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::invoice;
use super::signature::{self, Keys, Refusal, SignedCallback, SIGNATURE_HEADER};
use crate::command::{self, Command, CommandError};
use crate::http::error::ApiError;
use crate::http::request::RequestId;
use crate::http::router::BODY_LIMIT_BYTES;
use crate::state::AppState;

pub async fn callback(
    State(state): State<AppState>,
    request_id: RequestId,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let config = state
        .config
        .crystalpay
        .as_ref()
        .ok_or(ApiError::CrystalPayClosed)?;
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let header = parts
        .headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok());
    let keys = Keys {
        salt: config.salt.expose(),
        webhook_secret: config.webhook_secret.as_ref().map(|secret| secret.expose()),
    };
    let signed = match signature::verify(&bytes, header, &keys) {
        Ok(signed) => signed,
        Err(Refusal::BadSignature) => {
            tracing::warn!(
                body_bytes = bytes.len(),
                x_signature = header.is_some(),
                "security: CrystalPay callback without a valid signature; refused"
            );
            return Err(ApiError::Unauthorized);
        }
        Err(Refusal::Malformed(message)) => {
            return Err(ApiError::InvalidRequest {
                field: None,
                message,
            })
        }
    };
    let metadata = request_id
        .metadata(Source::Crystalpay, "crystalpay")
        .with_raw_body(&bytes);
    let recorded = record(&state, &signed, &metadata).await?;
    Ok(Json(json!({
        "ok": true,
        "invoice_id": signed.invoice_id,
        "recorded": recorded.is_recorded(),
    })))
}

/// Records a signed callback (or the test-mode expiry) and pokes the re-check worker. 404 for
/// an invoice we never created.
pub async fn record(
    state: &AppState,
    signed: &SignedCallback,
    metadata: &EventMetadata,
) -> Result<Recorded, ApiError> {
    let command = RecordCallback { signed, metadata };
    let recorded = command::execute(state, &command).await?;
    match recorded {
        Recorded::UnknownInvoice => {
            tracing::warn!(
                invoice_id = %signed.invoice_id,
                "a signed CrystalPay callback names an invoice we never created"
            );
            Err(ApiError::not_found(
                "not_found",
                format!("invoice {:?} not found", signed.invoice_id),
            ))
        }
        Recorded::Now { .. } => {
            state.gateway_work.notify_one();
            Ok(recorded)
        }
        other => Ok(other),
    }
}

/// How recording a callback ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A re-check is now pending.
    Now {
        position: i64,
    },
    /// A re-check was already pending: it will read CrystalPay's current state anyway.
    AlreadyPending,
    /// The invoice is already in the claimed state (a redelivery).
    AlreadyInState,
    UnknownInvoice,
}

impl Recorded {
    pub fn is_recorded(self) -> bool {
        matches!(self, Recorded::Now { .. })
    }
}

struct RecordCallback<'a> {
    signed: &'a SignedCallback,
    metadata: &'a EventMetadata,
}

impl Command for RecordCallback<'_> {
    type Output = Recorded;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Recorded, CommandError> {
        let signed = self.signed;
        let Some(invoice) = invoice::load(state, connection, &signed.invoice_id).await? else {
            return Ok(Recorded::UnknownInvoice);
        };
        if invoice.pending.is_some() {
            return Ok(Recorded::AlreadyPending);
        }
        if invoice.state.as_str() == signed.claimed_state {
            return Ok(Recorded::AlreadyInState);
        }
        let request = AppendRequest::new(self.metadata.clone())
            .expect(&invoice.stream(), ExpectedVersion::Exact(invoice.version))
            .event(
                &invoice.stream(),
                CrystalPayCallbackReceived {
                    invoice_id: signed.invoice_id.clone(),
                    claimed_state: signed.claimed_state.clone(),
                    signature: signed.signature,
                },
            );
        let outcome = command::append(state, connection, &request).await?;
        Ok(Recorded::Now {
            position: outcome.position(),
        })
    }
}
