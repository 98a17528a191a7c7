//! Is this callback from CrystalPay? Two signatures are accepted, both compared in constant time:
//!
//! - **native**: the body's `signature` = lowercase hex `sha1(id + ":" + LEDGER_CRYSTALPAY_SALT)`.
//!   It signs the id alone, which is why nothing else in the body is believed: the state is
//!   re-read with `invoice/info`.
//! - **raw body**: with `LEDGER_CRYSTALPAY_WEBHOOK_SECRET` set, header `X-Signature` = hex
//!   HMAC-SHA256(secret, the body's exact bytes), checked before the body is parsed: a body
//!   re-serialised on the way (other key order or spacing) no longer matches, as it should.
//!
//! Pure functions of the bytes, headers and secrets, so that a property test can hammer them.

use hmac::{Hmac, Mac};
use ledger_events::domain::CallbackSignature;
use serde_json::Value;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::infra::security::constant_time_eq;

pub const SIGNATURE_HEADER: &str = "x-signature";
/// Longest invoice id we accept (CrystalPay's are short; this bounds what a stream id holds).
pub const MAX_INVOICE_ID_CHARS: usize = 128;
/// Longest state name we record from a callback.
const MAX_STATE_CHARS: usize = 32;

/// A callback whose signature checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCallback {
    pub invoice_id: String,
    /// The state the body claims: a hint of what to re-check, never acted on.
    pub claimed_state: String,
    pub signature: CallbackSignature,
}

/// Why a callback was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No valid signature of either kind (401; a security log line, nothing recorded).
    BadSignature,
    /// Signed, but not a callback we can read (400).
    Malformed(String),
}

/// The secrets a callback is checked against.
pub struct Keys<'a> {
    pub salt: &'a str,
    pub webhook_secret: Option<&'a str>,
}

/// Checks `body` (the exact received bytes) and the `X-Signature` header, then reads the
/// callback's id and claimed state.
pub fn verify(
    body: &[u8],
    x_signature: Option<&str>,
    keys: &Keys<'_>,
) -> Result<SignedCallback, Refusal> {
    let raw_body_signed = match (keys.webhook_secret, x_signature) {
        (Some(secret), Some(presented)) => hmac_matches(secret, body, presented),
        _ => false,
    };
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let object = parsed.as_ref().and_then(Value::as_object);
    if raw_body_signed {
        let object = object.ok_or_else(|| {
            Refusal::Malformed("the callback body is not a JSON object".to_owned())
        })?;
        return read_fields(object, CallbackSignature::RawBodyHmac);
    }
    let object = object.ok_or(Refusal::BadSignature)?;
    let (Some(id), Some(presented)) = (
        object.get("id").and_then(Value::as_str),
        object.get("signature").and_then(Value::as_str),
    ) else {
        return Err(Refusal::BadSignature);
    };
    if !native_matches(id, keys.salt, presented) {
        return Err(Refusal::BadSignature);
    }
    read_fields(object, CallbackSignature::Native)
}

fn read_fields(
    object: &serde_json::Map<String, Value>,
    signature: CallbackSignature,
) -> Result<SignedCallback, Refusal> {
    let invoice_id = object
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.chars().count() <= MAX_INVOICE_ID_CHARS)
        .ok_or_else(|| {
            Refusal::Malformed(format!(
                "`id` must be a non-empty string of at most {MAX_INVOICE_ID_CHARS} characters"
            ))
        })?;
    let claimed_state = object
        .get("state")
        .and_then(Value::as_str)
        .filter(|state| state.chars().count() <= MAX_STATE_CHARS)
        .ok_or_else(|| Refusal::Malformed("`state` must be a short string".to_owned()))?;
    Ok(SignedCallback {
        invoice_id: invoice_id.to_owned(),
        claimed_state: claimed_state.to_owned(),
        signature,
    })
}

/// Lowercase hex `sha1(id:salt)`: CrystalPay's native callback signature.
pub fn native_signature(invoice_id: &str, salt: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(invoice_id.as_bytes());
    hasher.update(b":");
    hasher.update(salt.as_bytes());
    hex::encode(hasher.finalize())
}

/// Lowercase hex HMAC-SHA256(secret, body).
pub fn raw_body_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn native_matches(invoice_id: &str, salt: &str, presented: &str) -> bool {
    let expected = native_signature(invoice_id, salt);
    constant_time_eq(
        expected.as_bytes(),
        presented.trim().to_ascii_lowercase().as_bytes(),
    )
}

fn hmac_matches(secret: &str, body: &[u8], presented: &str) -> bool {
    let expected = raw_body_signature(secret, body);
    constant_time_eq(
        expected.as_bytes(),
        presented.trim().to_ascii_lowercase().as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: &str = "salt-0123";
    const KEYS: Keys<'static> = Keys {
        salt: SALT,
        webhook_secret: Some("hook-secret"),
    };

    #[test]
    fn the_native_signature_is_sha1_of_id_colon_salt() {
        // `printf abc:def | sha1sum`
        assert_eq!(
            native_signature("abc", "def"),
            "0ce84d8d01f2c7b6e0882b784429c54d280ea2d9"
        );
    }

    #[test]
    fn a_native_callback_is_read() {
        let body = serde_json::json!({"id": "inv-1", "state": "payed",
            "signature": native_signature("inv-1", SALT)})
        .to_string();
        let signed = verify(body.as_bytes(), None, &KEYS).unwrap();
        assert_eq!(signed.invoice_id, "inv-1");
        assert_eq!(signed.claimed_state, "payed");
        assert_eq!(signed.signature, CallbackSignature::Native);
    }

    #[test]
    fn a_raw_body_callback_needs_no_signature_field() {
        let body = br#"{"id":"inv-2","state":"processing"}"#;
        let header = raw_body_signature("hook-secret", body);
        let signed = verify(body, Some(&header), &KEYS).unwrap();
        assert_eq!(signed.signature, CallbackSignature::RawBodyHmac);
        let respaced = br#"{"id": "inv-2", "state": "processing"}"#;
        assert_eq!(
            verify(respaced, Some(&header), &KEYS),
            Err(Refusal::BadSignature)
        );
        let closed = Keys {
            salt: SALT,
            webhook_secret: None,
        };
        assert_eq!(
            verify(body, Some(&header), &closed),
            Err(Refusal::BadSignature),
            "the variant is off without a webhook secret"
        );
    }
}
