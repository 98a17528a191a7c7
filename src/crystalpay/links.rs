//! Where the buyer goes back to after paying: the invoice's `redirect_url`.
//!
//! Inside Telegram the payment page opens outside the Mini App (Safari, a custom tab), so for
//! `context: "telegram"` the way back is the Mini App's direct link
//! `https://t.me/<bot>/<app>?startapp=<payload>`, which opens the Mini App again; for `"web"` it
//! is our return page under `LEDGER_PUBLIC_URL`. The payload names the order only as a hint:
//! the Mini App asks `GET /api/me/orders/{id}/payment-status`, which answers from our own state.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ledger_events::domain::CrystalPayContext;

use crate::config::Config;
use crate::http::error::ApiError;

/// Telegram's limit on a `startapp` payload.
pub const MAX_PAYLOAD_CHARS: usize = 512;
const PAYLOAD_PREFIX: &str = "order_";

/// Only `A-Z a-z 0-9 _ -` may appear in a `startapp` payload.
fn payload_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `order_<order id>` when the id fits Telegram's alphabet (ours do: UUIDs); otherwise the
/// base64url encoding (no padding) of that text. None when even that is too long.
pub fn startapp_payload(order_id: &str) -> Option<String> {
    let plain = format!("{PAYLOAD_PREFIX}{order_id}");
    let payload = if plain.chars().all(payload_char) {
        plain
    } else {
        URL_SAFE_NO_PAD.encode(plain.as_bytes())
    };
    (payload.len() <= MAX_PAYLOAD_CHARS).then_some(payload)
}

/// The order id a payload names, in either form (what the Mini App reads at start).
pub fn order_in_payload(payload: &str) -> Option<String> {
    if payload.is_empty() || payload.len() > MAX_PAYLOAD_CHARS || !payload.chars().all(payload_char)
    {
        return None;
    }
    if let Some(order_id) = payload.strip_prefix(PAYLOAD_PREFIX) {
        return (!order_id.is_empty()).then(|| order_id.to_owned());
    }
    let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    decoded
        .strip_prefix(PAYLOAD_PREFIX)
        .filter(|order_id| !order_id.is_empty())
        .map(str::to_owned)
}

/// Our web return page for an order.
pub fn return_page_url(public_url: &str, order_id: &str) -> Result<String, ApiError> {
    reqwest::Url::parse_with_params(&format!("{public_url}/pay/return"), [("order", order_id)])
        .map(String::from)
        .map_err(|error| ApiError::internal(anyhow::anyhow!("LEDGER_PUBLIC_URL: {error}")))
}

/// The Mini App's direct link for an order, when the bot and app names are configured.
pub fn mini_app_link(config: &Config, order_id: &str) -> Option<String> {
    let bot = config.telegram.bot_username.as_deref()?;
    let app = config.telegram.app_name.as_deref()?;
    let payload = startapp_payload(order_id)?;
    Some(format!(
        "https://t.me/{}/{}?startapp={payload}",
        bot.trim_start_matches('@'),
        app
    ))
}

/// The invoice's `redirect_url` for this context.
pub fn redirect_url(
    config: &Config,
    context: CrystalPayContext,
    order_id: &str,
) -> Result<String, ApiError> {
    match context {
        CrystalPayContext::Web => return_page_url(&config.public_url, order_id),
        CrystalPayContext::Telegram => {
            mini_app_link(config, order_id).ok_or_else(|| ApiError::Unprocessable {
                field: "context".into(),
                message: "context \"telegram\" needs LEDGER_TELEGRAM_BOT_USERNAME and \
                          LEDGER_TELEGRAM_APP_NAME, which are not set on this server"
                    .into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_order_ids_travel_as_they_are() {
        let id = "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b";
        let payload = startapp_payload(id).unwrap();
        assert_eq!(payload, format!("order_{id}"));
        assert_eq!(order_in_payload(&payload).as_deref(), Some(id));
    }

    #[test]
    fn other_ids_are_base64url_encoded() {
        let payload = startapp_payload("A/17 é").unwrap();
        assert!(payload.chars().all(payload_char), "{payload}");
        assert_eq!(order_in_payload(&payload).as_deref(), Some("A/17 é"));
        assert_eq!(startapp_payload(&"x".repeat(600)), None);
        assert_eq!(order_in_payload("order_"), None);
        assert_eq!(order_in_payload("has space"), None);
    }
}
