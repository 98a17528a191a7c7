//! `POST /api/test/crystalpay/{invoice_id}/expire` (only with `LEDGER_TEST_MODE=true`; 404
//! otherwise): plays an invoice's lifetime running out, which CrystalPay's test mode may never
//! report and which a test cannot wait for.
//!
//! It goes through exactly the path of a real callback: a `CrystalPayCallbackReceived`
//! (signature `test_expiry`, claimed state `expired`) recorded on the invoice's stream, then the
//! re-check worker's `invoice/info` call and the state machine. The emulation only stands in
//! for the clock: an invoice CrystalPay still reports `notpayed` (or `failed`) becomes
//! `expired`; one it reports paid stays paid.

use axum::extract::{Path, State};
use axum::Json;
use ledger_events::domain::{CallbackSignature, CrystalPayState};
use ledger_events::Source;
use serde_json::{json, Value};

use super::callback;
use super::signature::SignedCallback;
use crate::http::error::ApiError;
use crate::http::request::RequestId;
use crate::state::AppState;

pub async fn expire(
    State(state): State<AppState>,
    request_id: RequestId,
    Path(invoice_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !state.config.test_mode {
        return Err(ApiError::not_found(
            "not_found",
            "no such route (the gateway emulation needs LEDGER_TEST_MODE=true)",
        ));
    }
    if state.config.crystalpay.is_none() {
        return Err(ApiError::CrystalPayClosed);
    }
    let signed = SignedCallback {
        invoice_id,
        claimed_state: CrystalPayState::Expired.as_str().to_owned(),
        signature: CallbackSignature::TestExpiry,
    };
    let metadata = request_id.metadata(Source::Crystalpay, "test-mode:expire");
    let recorded = callback::record(&state, &signed, &metadata).await?;
    Ok(Json(json!({
        "ok": true,
        "invoice_id": signed.invoice_id,
        "recorded": recorded.is_recorded(),
    })))
}
