//! The calls we make to the CrystalPay API (v3): `invoice/create` and `invoice/info`.
//!
//! Every call has a time-out (`LEDGER_CRYSTALPAY_TIMEOUT_MS`). Failures that cannot have done
//! anything at CrystalPay — the connection was refused, or a 5xx — are retried a bounded
//! number of times with a growing pause. A create that timed out is **not** retried: CrystalPay
//! may have made the invoice, and a second one would be a duplicate; the caller reports it.
//! CrystalPay's own error text (`errors: [...]`) is what the caller shows; our credentials are
//! never logged nor shown.

use std::time::Duration;

use serde_json::{json, Value};

use crate::config::CrystalPayConfig;
use crate::state::AppState;

/// Attempts per call, at most.
const MAX_ATTEMPTS: u32 = 3;
/// Pause before the second attempt; doubled before each later one.
const FIRST_PAUSE: Duration = Duration::from_millis(200);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    #[error("CrystalPay refused: {0}")]
    Refused(String),
    #[error("CrystalPay did not answer within {0} ms")]
    TimedOut(u128),
    #[error("CrystalPay could not be reached ({0})")]
    Unreachable(String),
    #[error("CrystalPay answered HTTP {0}")]
    Status(u16),
    #[error("CrystalPay's answer could not be read: {0}")]
    Unreadable(String),
}

impl ApiFailure {
    /// Whether the call certainly did nothing at CrystalPay (safe to send again).
    fn did_nothing(&self) -> bool {
        matches!(self, ApiFailure::Unreachable(_))
            || matches!(self, ApiFailure::Status(status) if *status >= 500)
    }
}

/// What `invoice/create` is asked for.
pub struct NewInvoice<'a> {
    /// Major units, as a decimal string.
    pub amount: String,
    pub currency: &'a str,
    pub lifetime_minutes: u32,
    pub description: String,
    pub redirect_url: &'a str,
    pub callback_url: &'a str,
    /// Our ids, kept by CrystalPay with the invoice (`extra`).
    pub extra: String,
}

/// `invoice/create`'s answer.
#[derive(Clone, Debug)]
pub struct CreatedInvoice {
    pub id: String,
    pub url: String,
}

/// `invoice/info`'s answer: the fields we act on, amounts as CrystalPay wrote them.
#[derive(Clone, Debug, Default)]
pub struct InvoiceInfo {
    pub id: String,
    pub state: String,
    pub amount: Option<String>,
    pub initial_amount: Option<String>,
    pub remaining_amount: Option<String>,
    pub balance_amount: Option<String>,
}

pub struct CrystalPayApi<'a> {
    http: &'a reqwest::Client,
    config: &'a CrystalPayConfig,
}

impl<'a> CrystalPayApi<'a> {
    /// None when CrystalPay is not configured.
    pub fn of(state: &'a AppState) -> Option<Self> {
        let config = state.config.crystalpay.as_ref()?;
        Some(CrystalPayApi {
            http: &state.http_client,
            config,
        })
    }

    pub async fn create(&self, invoice: &NewInvoice<'_>) -> Result<CreatedInvoice, ApiFailure> {
        let body = json!({
            "auth_login": self.config.login,
            "auth_secret": self.config.secret.expose(),
            "amount": invoice.amount,
            "type": "purchase",
            "lifetime": invoice.lifetime_minutes,
            "amount_currency": invoice.currency,
            "description": invoice.description,
            "redirect_url": invoice.redirect_url,
            "callback_url": invoice.callback_url,
            "extra": invoice.extra,
        });
        let answer = self.call("/v3/invoice/create/", &body, false).await?;
        Ok(CreatedInvoice {
            id: text(&answer, "id").ok_or_else(|| unreadable("no invoice `id`"))?,
            url: text(&answer, "url").ok_or_else(|| unreadable("no invoice `url`"))?,
        })
    }

    pub async fn info(&self, invoice_id: &str) -> Result<InvoiceInfo, ApiFailure> {
        let body = json!({
            "auth_login": self.config.login,
            "auth_secret": self.config.secret.expose(),
            "id": invoice_id,
        });
        let answer = self.call("/v3/invoice/info/", &body, true).await?;
        Ok(InvoiceInfo {
            id: text(&answer, "id").ok_or_else(|| unreadable("no invoice `id`"))?,
            state: text(&answer, "state").ok_or_else(|| unreadable("no `state`"))?,
            amount: text(&answer, "amount"),
            initial_amount: text(&answer, "initial_amount"),
            remaining_amount: text(&answer, "remaining_amount"),
            balance_amount: text(&answer, "balance_amount"),
        })
    }

    /// One call with its retries. `timeouts_are_retried`: only for calls that change nothing.
    async fn call(
        &self,
        path: &str,
        body: &Value,
        timeouts_are_retried: bool,
    ) -> Result<Value, ApiFailure> {
        let url = format!("{}{path}", self.config.api_url.trim_end_matches('/'));
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            let failure = match self.attempt(&url, body).await {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            let retry = failure.did_nothing()
                || (timeouts_are_retried && matches!(failure, ApiFailure::TimedOut(_)));
            if !retry || attempt >= MAX_ATTEMPTS {
                return Err(failure);
            }
            tracing::info!(path, attempt, error = %failure, "CrystalPay call failed; retrying");
            tokio::time::sleep(pause).await;
            pause *= 2;
            attempt += 1;
        }
    }

    async fn attempt(&self, url: &str, body: &Value) -> Result<Value, ApiFailure> {
        let response = self
            .http
            .post(url)
            .timeout(self.config.timeout)
            .json(body)
            .send()
            .await
            .map_err(|error| self.transport_failure(&error))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.transport_failure(&error))?;
        let answer: Option<Value> = serde_json::from_slice(&bytes).ok();
        // CrystalPay reports refusals as `error: true` with `errors: [...]`, whatever the status.
        if let Some(errors) = answer.as_ref().and_then(refusal) {
            return Err(ApiFailure::Refused(errors));
        }
        if !status.is_success() {
            return Err(ApiFailure::Status(status.as_u16()));
        }
        answer.ok_or_else(|| unreadable("not JSON"))
    }

    fn transport_failure(&self, error: &reqwest::Error) -> ApiFailure {
        if error.is_timeout() {
            ApiFailure::TimedOut(self.config.timeout.as_millis())
        } else if error.is_connect() {
            ApiFailure::Unreachable("connection failed".to_owned())
        } else {
            // Never the URL with its query, nor the body: only the kind of failure.
            ApiFailure::Unreachable("the connection broke".to_owned())
        }
    }
}

/// `errors` joined, when the answer says `error: true`.
fn refusal(answer: &Value) -> Option<String> {
    if answer.get("error").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let errors: Vec<String> = answer
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|error| match error {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(if errors.is_empty() {
        "an unspecified error".to_owned()
    } else {
        errors.join("; ")
    })
}

/// A string or number field as text (CrystalPay writes amounts either way).
fn text(answer: &Value, field: &str) -> Option<String> {
    match answer.get(field)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn unreadable(what: &str) -> ApiFailure {
    ApiFailure::Unreadable(what.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn refusals_carry_crystalpays_own_text() {
        let answer = json!({"error": true, "errors": ["Invalid auth", "Amount too small"]});
        assert_eq!(
            super::refusal(&answer).as_deref(),
            Some("Invalid auth; Amount too small")
        );
        assert_eq!(super::refusal(&json!({"error": false, "errors": []})), None);
    }

    #[test]
    fn amounts_are_read_from_strings_or_numbers() {
        let answer = json!({"amount": 150.5, "rub_amount": "150.50"});
        assert_eq!(super::text(&answer, "amount").as_deref(), Some("150.5"));
        assert_eq!(
            super::text(&answer, "rub_amount").as_deref(),
            Some("150.50")
        );
        assert_eq!(super::text(&answer, "missing"), None);
    }
}
