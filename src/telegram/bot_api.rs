//! The calls we make to the Telegram Bot API (`LEDGER_TELEGRAM_API_URL`, `POST
//! /bot<token>/<method>`): `createInvoiceLink`, `answerPreCheckoutQuery`, `sendMessage`.
//!
//! The bot token is part of every URL, so no URL is ever logged or put in an error: transport
//! errors are reported without theirs. Every call has a time-out (the client's, or a shorter
//! one given here).

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Secret;
use crate::state::AppState;

/// What went wrong with a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BotApiError {
    /// Telegram answered `{ok: false, error_code, description, parameters?: {retry_after}}`.
    #[error("Telegram refused {method}: {error_code} {description}")]
    Refused {
        method: &'static str,
        error_code: i64,
        description: String,
        retry_after_s: Option<u64>,
    },
    /// No usable answer: connection failure, time-out, or a body that is not Telegram's.
    #[error("Telegram did not answer {method}: {reason}")]
    Unreachable {
        method: &'static str,
        reason: String,
    },
}

/// A client for one bot.
#[derive(Clone)]
pub struct BotApi {
    client: reqwest::Client,
    base_url: String,
    token: Secret,
}

/// A `createInvoiceLink` request.
#[derive(Clone, Debug, Serialize)]
pub struct InvoiceLink {
    pub title: String,
    pub description: String,
    /// Ours: the order id (1–128 bytes).
    pub payload: String,
    /// Empty for Telegram Stars.
    pub provider_token: String,
    pub currency: String,
    pub prices: Vec<LabeledPrice>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LabeledPrice {
    pub label: String,
    /// In the currency's smallest unit.
    pub amount: i64,
}

impl BotApi {
    /// The bot of this server, if `LEDGER_TELEGRAM_BOT_TOKEN` is set.
    pub fn of(state: &AppState) -> Option<BotApi> {
        let telegram = &state.config.telegram;
        telegram.bot_token.as_ref().map(|token| BotApi {
            client: state.http_client.clone(),
            base_url: telegram.api_url.trim_end_matches('/').to_owned(),
            token: token.clone(),
        })
    }

    async fn call(
        &self,
        method: &'static str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<Value, BotApiError> {
        let url = format!("{}/bot{}/{method}", self.base_url, self.token.expose());
        let mut request = self.client.post(url).json(body);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let unreachable = |reason: String| BotApiError::Unreachable { method, reason };
        let response = request
            .send()
            .await
            .map_err(|error| unreachable(error.without_url().to_string()))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .map_err(|_| unreachable(format!("HTTP {status} without a Bot API answer")))?;
        if answer["ok"] == Value::Bool(true) {
            return Ok(answer["result"].clone());
        }
        let error_code = answer["error_code"]
            .as_i64()
            .unwrap_or_else(|| i64::from(status.as_u16()));
        Err(BotApiError::Refused {
            method,
            error_code,
            description: answer["description"]
                .as_str()
                .unwrap_or("no description")
                .chars()
                .take(500)
                .collect(),
            retry_after_s: answer["parameters"]["retry_after"].as_u64(),
        })
    }

    /// `createInvoiceLink` → the link the Mini App opens with `openInvoice`.
    pub async fn create_invoice_link(&self, invoice: &InvoiceLink) -> Result<String, BotApiError> {
        let body = serde_json::to_value(invoice).expect("an invoice serialises");
        let result = self.call("createInvoiceLink", &body, None).await?;
        result
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| BotApiError::Unreachable {
                method: "createInvoiceLink",
                reason: "the answer's result is not a link".into(),
            })
    }

    /// `answerPreCheckoutQuery`; `timeout` keeps the whole answer inside Telegram's 10 s.
    pub async fn answer_pre_checkout_query(
        &self,
        query_id: &str,
        refusal: Option<&str>,
        timeout: Duration,
    ) -> Result<(), BotApiError> {
        let mut body = json!({"pre_checkout_query_id": query_id, "ok": refusal.is_none()});
        if let Some(message) = refusal {
            body["error_message"] = json!(message);
        }
        self.call("answerPreCheckoutQuery", &body, Some(timeout))
            .await
            .map(|_| ())
    }

    /// `sendMessage` → Telegram's id of the sent message.
    pub async fn send_message(&self, chat_id: i64, text: &str) -> Result<Option<i64>, BotApiError> {
        let body = json!({"chat_id": chat_id, "text": text});
        let result = self.call("sendMessage", &body, None).await?;
        Ok(result["message_id"].as_i64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_carry_a_url() {
        let error = BotApiError::Unreachable {
            method: "sendMessage",
            reason: "connection refused".into(),
        };
        assert!(!error.to_string().contains("/bot"));
    }
}
