//! initData validation as a library: the bot-token HMAC check on data we sign and on real
//! Telegram data (whose check string must keep `signature`), the Ed25519 third-party check on
//! Telegram's published vectors (`tests/data/telegram_ed25519_vectors.json`, each vector naming
//! the repository it was published in), and a property test that the parser never panics.

use proptest::prelude::*;
use serde_json::Value;

use ledger::telegram::init_data::{self, InitDataError, InitDataFields};
use ledger::telegram::third_party;

const TOKEN: &str = "123456:test-token";
const NOW: i64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn vectors() -> Value {
    let text = include_str!("../data/telegram_ed25519_vectors.json");
    serde_json::from_str(text).unwrap()
}

fn user_json(first_name: &str) -> String {
    serde_json::json!({"id": 279058397, "first_name": first_name, "username": "aziz"}).to_string()
}

fn signed(fields: &[(&str, &str)]) -> String {
    init_data::sign(fields, TOKEN)
}

fn genuine() -> String {
    let user = user_json("Aziz");
    let auth_date = NOW.to_string();
    signed(&[
        ("auth_date", auth_date.as_str()),
        ("chat_instance", "8134722200314281151"),
        ("chat_type", "private"),
        ("query_id", "AAHdF6IQAAAAAN0XohDhrOrc"),
        ("start_param", "order_abc"),
        ("user", user.as_str()),
    ])
}

#[test]
fn genuine_data_is_accepted_with_its_user_and_start_param() {
    let valid = init_data::validate(&genuine(), TOKEN, NOW + 5, DAY).unwrap();
    assert_eq!(valid.user.id, 279058397);
    assert_eq!(valid.user.username.as_deref(), Some("aziz"));
    assert_eq!(valid.auth_date, NOW);
    assert_eq!(valid.start_param.as_deref(), Some("order_abc"));
}

#[test]
fn every_field_tampered_is_refused() {
    let raw = genuine();
    let pairs: Vec<&str> = raw.split('&').collect();
    for (index, pair) in pairs.iter().enumerate() {
        let (key, value) = pair.split_once('=').unwrap();
        let tampered_value = if key == "hash" {
            // Flip the first hex digit.
            let first = if value.starts_with('0') { "1" } else { "0" };
            format!("{first}{}", &value[1..])
        } else {
            format!("{value}0")
        };
        let mut tampered = pairs.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        tampered[index] = format!("{key}={tampered_value}");
        let error = init_data::validate(&tampered.join("&"), TOKEN, NOW, DAY).unwrap_err();
        assert_eq!(error, InitDataError::SignatureMismatch, "{key} tampered");
        assert_eq!(error.code(), "invalid_init_data");
    }
    let error = init_data::validate(&raw, "123456:another-token", NOW, DAY).unwrap_err();
    assert_eq!(
        error,
        InitDataError::SignatureMismatch,
        "another bot's token"
    );
    let added = format!("{raw}&extra=1");
    assert_eq!(
        init_data::validate(&added, TOKEN, NOW, DAY).unwrap_err(),
        InitDataError::SignatureMismatch,
        "a field added after signing"
    );
}

#[test]
fn a_missing_hash_is_refused() {
    let raw = genuine();
    let without: Vec<&str> = raw.split('&').filter(|p| !p.starts_with("hash=")).collect();
    let error = init_data::validate(&without.join("&"), TOKEN, NOW, DAY).unwrap_err();
    assert_eq!(error, InitDataError::MissingHash);
    assert_eq!(error.code(), "invalid_init_data");
}

#[test]
fn duplicate_keys_are_refused_even_when_one_reading_would_verify() {
    let raw = genuine();
    for duplicate in ["chat_type=group", "hash=00", "user=%7B%7D", "auth_date=1"] {
        let doubled = format!("{raw}&{duplicate}");
        let error = init_data::validate(&doubled, TOKEN, NOW, DAY).unwrap_err();
        assert!(
            matches!(error, InitDataError::DuplicateKey(_)),
            "{duplicate}: {error:?}"
        );
        assert_eq!(error.code(), "invalid_init_data");
    }
}

#[test]
fn malformed_strings_are_refused() {
    for raw in [
        "",
        "a",
        "a=1&&hash=00",
        "=1&hash=00",
        "a=%zz&hash=00",
        "a=%E0%A4&hash=00",
    ] {
        let error = init_data::validate(raw, TOKEN, NOW, DAY).unwrap_err();
        assert_eq!(error.code(), "invalid_init_data", "{raw:?}: {error:?}");
    }
}

#[test]
fn stale_and_future_auth_dates_are_expired_both_ways() {
    let raw = genuine();
    let old = init_data::validate(&raw, TOKEN, NOW + DAY as i64 + 1, DAY).unwrap_err();
    assert!(matches!(old, InitDataError::Expired { .. }), "{old:?}");
    assert_eq!(old.code(), "init_data_expired");
    assert!(
        init_data::validate(&raw, TOKEN, NOW + DAY as i64, DAY).is_ok(),
        "the edge is in"
    );
    let future = init_data::validate(&raw, TOKEN, NOW - 61, DAY).unwrap_err();
    assert!(
        matches!(future, InitDataError::FromTheFuture { .. }),
        "{future:?}"
    );
    assert_eq!(future.code(), "init_data_expired");
    assert!(
        init_data::validate(&raw, TOKEN, NOW - 60, DAY).is_ok(),
        "a minute of skew is fine"
    );
}

#[test]
fn a_forged_stale_string_is_invalid_not_expired() {
    let raw = genuine().replace("chat_type=private", "chat_type=group");
    let error = init_data::validate(&raw, TOKEN, NOW + 10 * DAY as i64, DAY).unwrap_err();
    assert_eq!(
        error.code(),
        "invalid_init_data",
        "the signature is checked first"
    );
}

#[test]
fn unicode_ampersands_and_equals_inside_values_survive() {
    let name = "Ёжик & Co = 100% 🍵 + «чай»";
    let user = user_json(name);
    let auth_date = NOW.to_string();
    let raw = signed(&[
        ("auth_date", auth_date.as_str()),
        ("user", user.as_str()),
        ("start_param", "a=b&c"),
    ]);
    let valid = init_data::validate(&raw, TOKEN, NOW, DAY).unwrap();
    assert_eq!(valid.user.first_name, name);
    assert_eq!(valid.start_param.as_deref(), Some("a=b&c"));
}

#[test]
fn real_telegram_data_verifies_only_with_signature_in_the_check_string() {
    let vectors = vectors();
    for vector in vectors["hmac_with_signature"].as_array().unwrap() {
        let raw = vector["init_data"].as_str().unwrap();
        let token = vector["bot_token"].as_str().unwrap();
        let fields = InitDataFields::parse(raw).unwrap();
        assert_eq!(
            fields.data_check_string(),
            vector["data_check_string"].as_str().unwrap(),
            "{}",
            vector["name"]
        );
        let auth_date = fields.auth_date().unwrap();
        let valid = init_data::validate(raw, token, auth_date, DAY);
        assert!(valid.is_ok(), "{}: {valid:?}", vector["name"]);
        assert_eq!(valid.unwrap().user.id, 279058397);
        // The same data with `signature` left out of the check cannot verify.
        let without_signature: Vec<&str> = raw
            .split('&')
            .filter(|p| !p.starts_with("signature="))
            .collect();
        assert_eq!(
            init_data::validate(&without_signature.join("&"), token, auth_date, DAY).unwrap_err(),
            InitDataError::SignatureMismatch,
            "{}",
            vector["name"]
        );
    }
}

#[test]
fn ed25519_vectors_verify_as_published() {
    let vectors = vectors();
    let list = vectors["ed25519"].as_array().unwrap();
    assert!(list.len() >= 7);
    for vector in list {
        let raw = vector["init_data"].as_str().unwrap();
        let bot_id = vector["bot_id"].as_i64().unwrap();
        let key = vector["public_key_hex"].as_str().unwrap();
        let fields = InitDataFields::parse(raw).unwrap();
        assert_eq!(
            third_party::signed_message(&fields, bot_id),
            vector["ed25519_message"].as_str().unwrap(),
            "{}",
            vector["name"]
        );
        let result = third_party::validate_third_party(raw, bot_id, key, None);
        assert_eq!(
            result.is_ok(),
            vector["expected_valid"].as_bool().unwrap(),
            "{}: {result:?}",
            vector["name"]
        );
    }
    assert_eq!(
        third_party::TelegramEnvironment::Production.public_key_hex(),
        vectors["public_keys"]["production"].as_str().unwrap()
    );
    assert_eq!(
        third_party::TelegramEnvironment::Test.public_key_hex(),
        vectors["public_keys"]["test"].as_str().unwrap()
    );
}

#[test]
fn ed25519_checks_freshness_when_asked() {
    let vectors = vectors();
    let vector = &vectors["ed25519"][0];
    let raw = vector["init_data"].as_str().unwrap();
    let bot_id = vector["bot_id"].as_i64().unwrap();
    let key = third_party::PRODUCTION_PUBLIC_KEY_HEX;
    let auth_date = InitDataFields::parse(raw).unwrap().auth_date().unwrap();
    assert!(third_party::validate_third_party(raw, bot_id, key, Some((auth_date, DAY))).is_ok());
    let stale = third_party::validate_third_party(
        raw,
        bot_id,
        key,
        Some((auth_date + 2 * DAY as i64, DAY)),
    );
    assert_eq!(stale.unwrap_err().code(), "init_data_expired");
}

proptest! {
    // Bounded: a few thousand small inputs run in well under a few seconds.
    #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_any_text(raw in "\\PC{0,300}") {
        let _ = init_data::validate(&raw, TOKEN, NOW, DAY);
        let _ = third_party::validate_third_party(&raw, 1, third_party::PRODUCTION_PUBLIC_KEY_HEX, Some((NOW, DAY)));
    }

    #[test]
    fn the_parser_never_panics_on_near_misses(
        pairs in proptest::collection::vec(("[a-z_%=&+]{0,8}", "[a-zA-Z0-9%&=+{}\":,]{0,24}"), 0..8)
    ) {
        let raw: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let raw = raw.join("&");
        if let Ok(fields) = InitDataFields::parse(&raw) {
            let _ = fields.data_check_string();
            let _ = fields.user();
            let _ = fields.check_fresh(NOW, DAY);
        }
        let _ = init_data::validate(&raw, TOKEN, NOW, DAY);
    }
}
