//! Amounts: the decimal text of a price, a redemption or a 1C `amount`, as a string or a JSON
//! number, in every currency the ledger knows.

use ledger::http::body::Fields;
use ledger_events::money::{KNOWN_CURRENCIES, MAX_AMOUNT_MINOR};
use ledger_events::Currency;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::json;

fn currency() -> impl Strategy<Value = Currency> {
    proptest::sample::select(KNOWN_CURRENCIES.to_vec())
        .prop_map(|(code, _)| Currency::new(code).expect("a known currency"))
}

/// Amount text near the edges: huge, tiny, signed, padded, exponents, stray characters.
fn amount_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[ +-]{0,2}[0-9]{0,35}(\\.[0-9]{0,35})?[ ]{0,2}",
        json::number_text(),
        "[0-9.+-]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Any text is an amount in range or a refusal, never a panic.
    #[test]
    fn parsing_any_text_gives_an_amount_in_range_or_a_refusal(
        currency in currency(),
        text in amount_text(),
    ) {
        if let Ok(minor) = currency.parse_amount(&text) {
            prop_assert!((1..=MAX_AMOUNT_MINOR).contains(&minor), "{text:?} → {minor}");
        }
    }

    /// What the server prints, it reads back to the same amount.
    #[test]
    fn every_amount_in_range_reads_back_as_printed(
        currency in currency(),
        minor in 1..=MAX_AMOUNT_MINOR,
    ) {
        let printed = currency.format_minor(minor);
        prop_assert_eq!(currency.parse_amount(&printed), Ok(minor), "{}", printed);
    }

    /// A JSON number is read from its own text: the same amount as the same digits in a string,
    /// so no number passes through a float on the way.
    #[test]
    fn a_json_number_reads_like_its_text_in_a_string(
        currency in currency(),
        text in json::number_text(),
    ) {
        let body = ledger::http::body::parse_json(
            format!(r#"{{"as_number": {text}, "as_string": "{text}"}}"#).as_bytes(),
        ).expect("valid JSON");
        let fields = Fields::root(&body).expect("an object");
        let from_number = fields.optional_amount("as_number", &currency).ok().flatten();
        let from_string = fields.optional_amount("as_string", &currency).ok().flatten();
        prop_assert_eq!(from_number, from_string, "{}", text);
    }

    /// An amount field holding any JSON value: an amount or a 400 naming the field.
    #[test]
    fn an_amount_field_of_any_type_is_an_amount_or_names_the_field(
        currency in currency(),
        value in json::value(),
    ) {
        let body = json!({ "price": value });
        let fields = Fields::root(&body).expect("an object");
        match fields.amount("price", &currency) {
            Ok(minor) => prop_assert!((1..=MAX_AMOUNT_MINOR).contains(&minor)),
            Err(error) => {
                let body = error.body();
                prop_assert_eq!(body.get("field").and_then(Value::as_str), Some("price"));
            }
        }
    }
}
