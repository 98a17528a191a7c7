//! Calls to our Payme Merchant API as Payme makes them: JSON-RPC over HTTP with Basic auth.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::KEY;

pub fn basic_auth() -> String {
    format!("Basic {}", STANDARD.encode(format!("Paycom:{KEY}")))
}

/// Sends one JSON-RPC call and returns the parsed answer (a result or a Payme error).
pub async fn rpc(http: &reqwest::Client, base: &str, body: &Value) -> anyhow::Result<Value> {
    let response = http
        .post(format!("{base}/api/payme"))
        .header("authorization", basic_auth())
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
    Ok(response.json().await?)
}
