//! Properties of the callback signature checks (no server needed): they never panic on any
//! input, accept exactly what was signed, and refuse every altered byte.

use ledger::crystalpay::signature::{native_signature, raw_body_signature, verify, Keys, Refusal};
use proptest::prelude::*;

const SALT: &str = "salt-for-properties";
const SECRET: &str = "hmac-secret-for-properties";

fn keys() -> Keys<'static> {
    Keys {
        salt: SALT,
        webhook_secret: Some(SECRET),
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 400,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_and_header_are_answered_without_panicking(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        header in proptest::option::of("[0-9a-fA-F]{0,70}"),
    ) {
        let verdict = verify(&body, header.as_deref(), &keys());
        // Random input never carries a valid signature of either kind.
        prop_assert_eq!(verdict, Err(Refusal::BadSignature));
    }

    #[test]
    fn a_native_signature_proves_exactly_its_own_id(
        id in "[A-Za-z0-9_-]{1,64}",
        other in "[A-Za-z0-9_-]{1,64}",
        state in "[a-z]{1,16}",
    ) {
        let signed = serde_json::json!({"id": id, "state": state,
            "signature": native_signature(&id, SALT)}).to_string();
        let verified = verify(signed.as_bytes(), None, &keys()).unwrap();
        prop_assert_eq!(&verified.invoice_id, &id);
        prop_assert_eq!(&verified.claimed_state, &state);
        prop_assume!(other != id);
        let moved = serde_json::json!({"id": other, "state": state,
            "signature": native_signature(&id, SALT)}).to_string();
        prop_assert_eq!(verify(moved.as_bytes(), None, &keys()), Err(Refusal::BadSignature));
    }

    #[test]
    fn a_raw_body_signature_covers_every_byte(
        id in "[A-Za-z0-9]{1,32}",
        state in "[a-z]{1,12}",
        amount in 0u32..1_000_000,
        flip_at in any::<prop::sample::Index>(),
        flip_bit in 0u8..8,
    ) {
        let body = format!(r#"{{"id":"{id}","state":"{state}","amount":{amount}}}"#);
        let header = raw_body_signature(SECRET, body.as_bytes());
        prop_assert!(verify(body.as_bytes(), Some(&header), &keys()).is_ok());
        let mut altered = body.clone().into_bytes();
        let at = flip_at.index(altered.len());
        altered[at] ^= 1 << flip_bit;
        prop_assert_eq!(
            verify(&altered, Some(&header), &keys()),
            Err(Refusal::BadSignature)
        );
        let respaced = body.replace(':', ": ");
        prop_assert_eq!(
            verify(respaced.as_bytes(), Some(&header), &keys()),
            Err(Refusal::BadSignature)
        );
    }
}
