//! Third-party validation of `initData`: Telegram also signs it with Ed25519, so a service that
//! does not hold the bot's token can still check data meant for that bot.
//!
//! The signed message is `<bot_id>:WebAppData\n` followed by the data-check-string built
//! without `hash` **and** without `signature`; `signature` is the 64-byte Ed25519 signature in
//! unpadded base64url. Telegram publishes one public key for production and one for its test
//! environment. A library function: the server itself holds its bot token and uses
//! [`super::init_data::validate`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};

use super::init_data::{InitDataError, InitDataFields};

/// Telegram's Ed25519 public key for production bots.
pub const PRODUCTION_PUBLIC_KEY_HEX: &str =
    "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d";
/// Telegram's Ed25519 public key for bots of its test environment.
pub const TEST_PUBLIC_KEY_HEX: &str =
    "40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec";

/// Which of Telegram's keys to check against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TelegramEnvironment {
    Production,
    Test,
}

impl TelegramEnvironment {
    pub fn public_key_hex(self) -> &'static str {
        match self {
            TelegramEnvironment::Production => PRODUCTION_PUBLIC_KEY_HEX,
            TelegramEnvironment::Test => TEST_PUBLIC_KEY_HEX,
        }
    }
}

/// The message Telegram signs for `bot_id`.
pub fn signed_message(fields: &InitDataFields, bot_id: i64) -> String {
    format!(
        "{bot_id}:WebAppData\n{}",
        fields.data_check_string_without_signature()
    )
}

/// Checks `raw` initData's Ed25519 `signature` for bot `bot_id` against the public key given in
/// hex. `now_unix` and `max_age_s` check `auth_date` as for the bot-token validation; pass
/// `None` to skip that (e.g. for recorded test vectors).
pub fn validate_third_party(
    raw: &str,
    bot_id: i64,
    public_key_hex: &str,
    freshness: Option<(i64, u64)>,
) -> Result<InitDataFields, InitDataError> {
    let fields = InitDataFields::parse(raw)?;
    let key_bytes: [u8; 32] = hex::decode(public_key_hex)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| InitDataError::Malformed("the public key is not 32 bytes of hex".into()))?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| InitDataError::Malformed("the public key is not an Ed25519 key".into()))?;
    let signature_bytes: [u8; 64] = fields
        .get("signature")
        .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(InitDataError::SignatureMismatch)?;
    let signature = Signature::from_bytes(&signature_bytes);
    key.verify_strict(signed_message(&fields, bot_id).as_bytes(), &signature)
        .map_err(|_| InitDataError::SignatureMismatch)?;
    if let Some((now_unix, max_age_s)) = freshness {
        fields.check_fresh(now_unix, max_age_s)?;
    }
    Ok(fields)
}
