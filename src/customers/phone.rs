//! Phone normalisation (rules in `docs/onec.md`): the one function every phone passes through before it
//! is stored or looked up, so "8 (900) 123-45-67" and "+7 900 1234567" are the same customer.

/// Digits only, in the canonical international form, or None when the number is not a Russian
/// or Uzbek one.
///
/// - Russia: 11 digits starting with `7`; a leading `8` becomes `7`; 10 digits starting with
///   `9` get `7` in front.
/// - Uzbekistan: 12 digits starting with `998`; 9 digits get `998` in front.
pub fn normalize(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
    match (digits.len(), digits.as_bytes().first()) {
        (11, Some(b'7')) => Some(digits),
        (11, Some(b'8')) => Some(format!("7{}", &digits[1..])),
        (10, Some(b'9')) => Some(format!("7{digits}")),
        (12, _) if digits.starts_with("998") => Some(digits),
        (9, _) => Some(format!("998{digits}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalisation_table() {
        let cases: &[(&str, Option<&str>)] = &[
            // Russia
            ("79001234567", Some("79001234567")),
            ("+7 (900) 123-45-67", Some("79001234567")),
            ("89001234567", Some("79001234567")),
            ("8 900 123 45 67", Some("79001234567")),
            ("9001234567", Some("79001234567")),
            // Uzbekistan
            ("998901234567", Some("998901234567")),
            ("+998 90 123 45 67", Some("998901234567")),
            ("901234567", Some("998901234567")),
            ("(90) 123-45-67", Some("998901234567")),
            // Neither
            ("", None),
            ("abc", None),
            ("12345", None),
            ("19001234567", None),     // 11 digits, not 7/8
            ("8001234567", None),      // 10 digits not starting with 9
            ("997901234567", None),    // 12 digits, not 998
            ("7900123456789", None),   // too long
            ("+1 202 555 0143", None), // USA
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input).as_deref(), *expected, "input {input:?}");
        }
    }
}
