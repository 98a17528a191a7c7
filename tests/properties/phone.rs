//! Phone normalisation: every phone a client sends passes through it before it is stored or
//! looked up, so it must take anything and give only canonical numbers.

use ledger::customers::phone::normalize;
use proptest::prelude::*;

/// Phone-like text: digits in the lengths that matter, among separators people type.
fn phone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[+]?[0-9 ()-]{0,24}",
        "[+]?(7|8|998|9)[0-9]{8,11}",
        "\\PC{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

    /// A normalised phone is digits only: 11 starting with 7 (Russia) or 12 starting with 998
    /// (Uzbekistan).
    #[test]
    fn a_normalised_phone_is_canonical(input in phone_like()) {
        if let Some(phone) = normalize(&input) {
            prop_assert!(phone.bytes().all(|b| b.is_ascii_digit()), "{input:?} → {phone:?}");
            let russian = phone.len() == 11 && phone.starts_with('7');
            let uzbek = phone.len() == 12 && phone.starts_with("998");
            prop_assert!(russian || uzbek, "{input:?} → {phone:?}");
        }
    }

    /// Normalising twice changes nothing: a stored phone finds itself.
    #[test]
    fn normalising_is_idempotent(input in phone_like()) {
        if let Some(phone) = normalize(&input) {
            prop_assert_eq!(normalize(&phone), Some(phone.clone()), "{:?}", input);
        }
    }

    /// Spaces, brackets, dashes and a plus between the digits do not change the customer.
    #[test]
    fn separators_do_not_change_the_number(
        digits in "[0-9]{9,12}",
        separators in proptest::collection::vec("[ ()+-]{0,2}", 13),
    ) {
        let decorated: String = digits
            .chars()
            .zip(&separators)
            .flat_map(|(digit, separator)| separator.chars().chain(std::iter::once(digit)))
            .collect();
        prop_assert_eq!(normalize(&decorated), normalize(&digits), "{:?}", decorated);
    }
}
