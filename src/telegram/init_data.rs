//! Mini App `initData`: parsing and validation with the bot token, exactly as Telegram
//! specifies it. Pure functions: no clock (the caller gives "now"), no I/O.
//!
//! 1. The string is `application/x-www-form-urlencoded`: pairs split at `&`, key and value at
//!    the first `=`, both percent-decoded (`+` is a space). Anything malformed — an empty pair,
//!    a pair without `=`, an empty key, a broken `%` escape, bytes that are not UTF-8 —, a
//!    repeated key or a missing `hash` is refused: a genuine string has none of these, and a
//!    lenient parser would let two readings of one string disagree about what was signed.
//! 2. The data-check-string is every field but `hash`, as `key=value` with decoded values,
//!    sorted by key (byte order), joined with `\n`. A `signature` field (Telegram's Ed25519
//!    signature for third parties) stays in it.
//! 3. `secret_key = HMAC_SHA256(key = "WebAppData", message = bot_token)`, and `hash` must be
//!    `hex(HMAC_SHA256(key = secret_key, message = data_check_string))`, compared in constant time.
//! 4. Only then is `auth_date` looked at: older than the allowed age, or more than a minute in
//!    the future, is `init_data_expired`.
//!
//! Third-party validation (Ed25519, no bot token) is in [`super::third_party`].

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Longest `initData` accepted (genuine ones are well under 2 KiB).
pub const MAX_INIT_DATA_BYTES: usize = 16 * 1024;
/// How far in the future `auth_date` may lie (clock skew between Telegram and us).
pub const MAX_FUTURE_SKEW_S: i64 = 60;

/// Why `initData` was refused. [`InitDataError::code`] is the stable code answered (401).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InitDataError {
    #[error("initData is malformed: {0}")]
    Malformed(String),
    #[error("initData repeats the key {0:?}")]
    DuplicateKey(String),
    #[error("initData has no hash")]
    MissingHash,
    #[error("initData's signature does not match")]
    SignatureMismatch,
    #[error("initData has no valid auth_date")]
    MissingAuthDate,
    #[error("initData is too old (auth_date {auth_date}, {age_s} s ago)")]
    Expired { auth_date: i64, age_s: i64 },
    #[error("initData's auth_date {auth_date} lies in the future")]
    FromTheFuture { auth_date: i64 },
    #[error("initData has no valid user: {0}")]
    BadUser(String),
}

impl InitDataError {
    /// `init_data_expired` for a genuine but stale (or future) `auth_date`, otherwise
    /// `invalid_init_data`.
    pub fn code(&self) -> &'static str {
        match self {
            InitDataError::Expired { .. } | InitDataError::FromTheFuture { .. } => {
                "init_data_expired"
            }
            _ => "invalid_init_data",
        }
    }
}

/// The fields of an `initData` string, decoded, with its `hash` kept apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitDataFields {
    /// Every field but `hash`, by key (byte order, which is `BTreeMap<String, _>`'s order).
    fields: BTreeMap<String, String>,
    hash: String,
}

/// The Telegram user of a validated `initData` (`user` field). Other fields Telegram adds are
/// ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelegramUser {
    pub id: i64,
    pub first_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_premium: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
}

impl TelegramUser {
    /// "First Last", for a new customer's name.
    pub fn full_name(&self) -> String {
        match &self.last_name {
            Some(last) if !last.trim().is_empty() => {
                format!("{} {}", self.first_name.trim(), last.trim())
            }
            _ => self.first_name.trim().to_owned(),
        }
    }
}

/// `initData` that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedInitData {
    pub user: TelegramUser,
    pub auth_date: i64,
    /// The `startapp` parameter: signed, but still only a hint (never proof of anything).
    pub start_param: Option<String>,
    pub fields: InitDataFields,
}

impl InitDataFields {
    /// Parses the raw string (step 1 above).
    pub fn parse(raw: &str) -> Result<Self, InitDataError> {
        if raw.len() > MAX_INIT_DATA_BYTES {
            return Err(InitDataError::Malformed(format!(
                "longer than {MAX_INIT_DATA_BYTES} bytes"
            )));
        }
        if raw.is_empty() {
            return Err(InitDataError::Malformed("empty".into()));
        }
        let mut fields = BTreeMap::new();
        let mut hash = None;
        for pair in raw.split('&') {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| InitDataError::Malformed("a pair without '='".into()))?;
            let key = decode_component(key)?;
            let value = decode_component(value)?;
            if key.is_empty() {
                return Err(InitDataError::Malformed("an empty key".into()));
            }
            let repeated = if key == "hash" {
                hash.replace(value).is_some()
            } else {
                fields.insert(key.clone(), value).is_some()
            };
            if repeated {
                return Err(InitDataError::DuplicateKey(key));
            }
        }
        let hash = hash.ok_or(InitDataError::MissingHash)?;
        Ok(InitDataFields { fields, hash })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Every field but `hash` (`signature` included), sorted, `key=value` lines.
    pub fn data_check_string(&self) -> String {
        self.check_string_without(&[])
    }

    /// The same without `signature`: what Telegram's Ed25519 signature covers.
    pub fn data_check_string_without_signature(&self) -> String {
        self.check_string_without(&["signature"])
    }

    fn check_string_without(&self, left_out: &[&str]) -> String {
        self.fields
            .iter()
            .filter(|(key, _)| !left_out.contains(&key.as_str()))
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `auth_date` as Unix seconds.
    pub fn auth_date(&self) -> Result<i64, InitDataError> {
        self.get("auth_date")
            .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|text| text.parse().ok())
            .ok_or(InitDataError::MissingAuthDate)
    }

    /// Step 4: `auth_date` no older than `max_age_s` and at most a minute ahead of `now`.
    pub fn check_fresh(&self, now_unix: i64, max_age_s: u64) -> Result<i64, InitDataError> {
        let auth_date = self.auth_date()?;
        let age_s = now_unix.saturating_sub(auth_date);
        if age_s < -MAX_FUTURE_SKEW_S {
            return Err(InitDataError::FromTheFuture { auth_date });
        }
        if age_s > i64::try_from(max_age_s).unwrap_or(i64::MAX) {
            return Err(InitDataError::Expired { auth_date, age_s });
        }
        Ok(auth_date)
    }

    /// The `user` field.
    pub fn user(&self) -> Result<TelegramUser, InitDataError> {
        let text = self
            .get("user")
            .ok_or_else(|| InitDataError::BadUser("no user field".into()))?;
        let user: TelegramUser = serde_json::from_str(text)
            .map_err(|error| InitDataError::BadUser(error.to_string()))?;
        if user.id <= 0 {
            return Err(InitDataError::BadUser("the user id is not positive".into()));
        }
        Ok(user)
    }
}

/// Percent-decodes one key or value of a form-urlencoded string (`+` is a space).
fn decode_component(text: &str) -> Result<String, InitDataError> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            b'%' => {
                let high = bytes.get(index + 1).and_then(|b| (*b as char).to_digit(16));
                let low = bytes.get(index + 2).and_then(|b| (*b as char).to_digit(16));
                match (high, low) {
                    (Some(high), Some(low)) => {
                        decoded.push(u8::try_from(high * 16 + low).expect("two hex digits"));
                        index += 3;
                    }
                    _ => return Err(InitDataError::Malformed("a broken %-escape".into())),
                }
            }
            other => {
                decoded.push(other);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded)
        .map_err(|_| InitDataError::Malformed("a value that is not UTF-8".into()))
}

type HmacSha256 = Hmac<Sha256>;

/// `HMAC_SHA256(key = "WebAppData", message = bot_token)`.
fn secret_key(bot_token: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(b"WebAppData").expect("HMAC takes any key length");
    mac.update(bot_token.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Whether `hash` is the HMAC of the data-check-string under the bot token (step 3), compared
/// in constant time.
pub fn hash_matches(fields: &InitDataFields, bot_token: &str) -> bool {
    let Ok(presented) = hex::decode(fields.hash()) else {
        return false;
    };
    let mut mac =
        HmacSha256::new_from_slice(&secret_key(bot_token)).expect("HMAC takes any key length");
    mac.update(fields.data_check_string().as_bytes());
    mac.verify_slice(&presented).is_ok()
}

/// The whole check of `POST /api/telegram/auth`: parse, signature, freshness, user.
pub fn validate(
    raw: &str,
    bot_token: &str,
    now_unix: i64,
    max_age_s: u64,
) -> Result<ValidatedInitData, InitDataError> {
    let fields = InitDataFields::parse(raw)?;
    if !hash_matches(&fields, bot_token) {
        return Err(InitDataError::SignatureMismatch);
    }
    let auth_date = fields.check_fresh(now_unix, max_age_s)?;
    let user = fields.user()?;
    Ok(ValidatedInitData {
        user,
        auth_date,
        start_param: fields.get("start_param").map(str::to_owned),
        fields,
    })
}

/// Signs `fields` the way Telegram does, returning a complete `initData` string (for tests and
/// for tools that play Telegram). Keys and values are percent-encoded.
pub fn sign(fields: &[(&str, &str)], bot_token: &str) -> String {
    let map: BTreeMap<String, String> = fields
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    let check_string = InitDataFields {
        fields: map,
        hash: String::new(),
    }
    .data_check_string();
    let mut mac =
        HmacSha256::new_from_slice(&secret_key(bot_token)).expect("HMAC takes any key length");
    mac.update(check_string.as_bytes());
    let hash = hex::encode(mac.finalize().into_bytes());
    let mut pairs: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{}={}", encode_component(key), encode_component(value)))
        .collect();
    pairs.push(format!("hash={hash}"));
    pairs.join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_decode_plus_and_escapes() {
        assert_eq!(decode_component("a+b%20c%2B").unwrap(), "a b c+");
        assert!(decode_component("%zz").is_err());
        assert!(decode_component("%4").is_err());
        assert!(decode_component("%FF").is_err(), "not UTF-8");
    }

    #[test]
    fn the_check_string_keeps_signature_and_drops_hash() {
        let fields = InitDataFields::parse("b=2&signature=s&a=1&hash=00").unwrap();
        assert_eq!(fields.data_check_string(), "a=1\nb=2\nsignature=s");
        assert_eq!(fields.data_check_string_without_signature(), "a=1\nb=2");
    }

    #[test]
    fn signing_then_validating_round_trips() {
        let user = r#"{"id":42,"first_name":"Ali"}"#;
        let raw = sign(&[("auth_date", "1000"), ("user", user)], "123:abc");
        let valid = validate(&raw, "123:abc", 1_010, 60).unwrap();
        assert_eq!(valid.user.id, 42);
        assert_eq!(valid.user.full_name(), "Ali");
        assert_eq!(
            validate(&raw, "123:abd", 1_010, 60).unwrap_err(),
            InitDataError::SignatureMismatch
        );
    }
}
