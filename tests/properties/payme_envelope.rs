//! Payme's JSON-RPC envelope and parameter readers: whatever Payme (or anyone pretending to be
//! it) sends, the answer is a JSON-RPC error or a well-typed call, and the request's `id` comes
//! back as it was sent.

use ledger::payme::protocol::{self, Amount};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::json;

const METHODS: &[&str] = &[
    "CheckPerformTransaction",
    "CreateTransaction",
    "PerformTransaction",
    "CancelTransaction",
    "CheckTransaction",
    "GetStatement",
    "SetFiscalData",
    "ChangePassword",
    "checkTransaction",
    "",
];

const PARAMS: &[&str] = &[
    "id", "time", "amount", "account", "reason", "from", "to", "password", "type", "fiscal",
];

/// Envelopes close to real ones: a known (or nearly known) method and parameters of any type.
fn envelope() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(METHODS),
        json::object_with(PARAMS),
        json::value(),
        json::value(),
    )
        .prop_map(|(method, params, id, noise)| {
            let mut envelope = json!({ "method": method, "params": params, "id": id });
            if noise.is_object() {
                envelope["params"] = noise;
            }
            envelope
        })
}

/// Reads the envelope and every parameter with every reader, then renders the outcome: nothing
/// may panic, and the answer must be JSON that echoes `id`.
fn read_everything(body: &Value) -> Result<(), TestCaseError> {
    let id = protocol::request_id(body);
    match protocol::read_call(body) {
        Ok(call) => {
            for name in PARAMS {
                let _ = call.params.string(name, 200);
                let _ = call.params.any_string(name);
                let _ = call.params.object(name);
                let _ = call.params.integer(name);
                if let Ok(millis) = call.params.epoch_millis(name) {
                    prop_assert!(millis >= 0, "{name}: {millis}");
                }
                if let Ok(Amount::Tiyin(tiyin)) = call.params.amount(name) {
                    prop_assert!(tiyin > 0, "{name}: {tiyin}");
                }
            }
        }
        // A call's result needs the database; a refused envelope is answered right here.
        Err(error) => {
            let rendered = protocol::render(&Err(error), &id, "order_id");
            let answer: Value = serde_json::from_slice(&rendered).expect("the answer is JSON");
            prop_assert_eq!(&answer["id"], &id);
            prop_assert!(answer["error"]["code"].is_i64(), "{answer}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_200, ..ProptestConfig::default() })]

    #[test]
    fn any_json_body_is_a_call_or_a_json_rpc_error(body in json::value()) {
        read_everything(&body)?;
    }

    #[test]
    fn near_miss_envelopes_are_a_call_or_a_json_rpc_error(body in envelope()) {
        read_everything(&body)?;
    }

    /// Raw bytes as the route reads them: not JSON at all is a parse error, never a panic.
    #[test]
    fn any_bytes_are_json_or_a_parse_error(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(body) = serde_json::from_slice::<Value>(&bytes) {
            read_everything(&body)?;
        }
    }

    /// An amount is read from the number's own text: a whole number of tiyin exactly as
    /// written, or not a positive whole amount — never a rounded one.
    #[test]
    fn amounts_are_exact_whole_tiyin(text in json::number_text()) {
        let body: Value = serde_json::from_str(
            &format!(r#"{{"method": "CheckPerformTransaction", "params": {{"amount": {text}}}}}"#),
        ).expect("valid JSON");
        let call = protocol::read_call(&body).expect("a well-formed envelope");
        let amount = call.params.amount("amount").expect("a JSON number");
        if let Amount::Tiyin(tiyin) = amount {
            let exact: rust_decimal::Decimal = text
                .parse()
                .or_else(|_| rust_decimal::Decimal::from_scientific(&text))
                .expect("a number that gave tiyin has an exact value");
            prop_assert_eq!(exact, rust_decimal::Decimal::from(tiyin), "{}", text);
        }
    }
}
