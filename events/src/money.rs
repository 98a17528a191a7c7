//! Money: currencies and amounts in integer minor units.
//!
//! Every amount inside the system is an `i64` count of the currency's minor unit (tiyin for UZS,
//! kopecks for RUB, cents for USD, whole stars for Telegram's `XTR`). Decimal text exists only at
//! the edges: parsing a client's `"150.00"` and printing it back. Floats never appear.
//!
//! Arithmetic here is checked: a scaled or summed amount that does not fit is an error the
//! caller answers, never a panic or a wrap (clippy enforces it for this module).

#![deny(clippy::arithmetic_side_effects)]

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Largest amount we accept in one field: 10^15 minor units (10 trillion UZS). Far above any real
/// order, far below `i64::MAX`.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// Largest balance an account may reach: 100 × [`MAX_AMOUNT_MINOR`]. An operation that would
/// take a balance past it is refused, so running balances never approach `i64::MAX`.
pub const MAX_BALANCE_MINOR: i64 = 100 * MAX_AMOUNT_MINOR;

/// The currencies the ledger accepts in new orders and settings, with the digits of their minor
/// unit: ISO 4217 codes, and `XTR` (Telegram Stars, whole units only).
pub const KNOWN_CURRENCIES: [(&str, u32); 6] = [
    ("UZS", 2),
    ("RUB", 2),
    ("USD", 2),
    ("EUR", 2),
    ("KZT", 2),
    ("XTR", 0),
];

/// A currency code. New ones come from [`KNOWN_CURRENCIES`] ([`Currency::new`]); a code read
/// back from the log or a table is taken as recorded ([`Currency::recorded`]), so a currency
/// removed from the list later never makes history unreadable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("currency must be one of UZS, RUB, USD, EUR, KZT or XTR (Telegram Stars)")]
    InvalidCurrency,
    #[error(
        "amount must be a positive decimal with at most {max_fraction_digits} fractional digits"
    )]
    InvalidAmount { max_fraction_digits: u32 },
}

impl Currency {
    /// A currency the ledger knows; anything else is refused.
    pub fn new(code: &str) -> Result<Self, MoneyError> {
        if KNOWN_CURRENCIES.iter().any(|(known, _)| *known == code) {
            Ok(Currency(code.to_owned()))
        } else {
            Err(MoneyError::InvalidCurrency)
        }
    }

    /// A code as it was recorded: three upper-case letters, known today or not.
    pub fn recorded(code: &str) -> Result<Self, MoneyError> {
        let well_formed = code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase());
        if well_formed {
            Ok(Currency(code.to_owned()))
        } else {
            Err(MoneyError::InvalidCurrency)
        }
    }

    pub fn uzs() -> Self {
        Currency("UZS".to_owned())
    }

    pub fn code(&self) -> &str {
        &self.0
    }

    /// Telegram Stars: whole units only, and never accrue cashback.
    pub fn is_telegram_stars(&self) -> bool {
        self.0 == "XTR"
    }

    /// Digits after the decimal point of the minor unit (a recorded code the ledger no longer
    /// lists is read in hundredths).
    pub fn minor_unit_digits(&self) -> u32 {
        KNOWN_CURRENCIES
            .iter()
            .find(|(code, _)| *code == self.0)
            .map_or(2, |(_, digits)| *digits)
    }

    fn minor_per_unit(&self) -> Decimal {
        if self.minor_unit_digits() == 0 {
            Decimal::ONE
        } else {
            Decimal::ONE_HUNDRED
        }
    }

    /// Parses a client's amount (decimal text such as `"150.00"`) into minor units.
    /// Rejects zero, negatives, more fractional digits than the currency has, and absurd sizes.
    pub fn parse_amount(&self, text: &str) -> Result<i64, MoneyError> {
        let invalid = MoneyError::InvalidAmount {
            max_fraction_digits: self.minor_unit_digits(),
        };
        let trimmed = text.trim();
        let plain_decimal = !trimmed.is_empty()
            && trimmed
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+');
        if !plain_decimal {
            return Err(invalid);
        }
        let value = Decimal::from_str(trimmed).map_err(|_| invalid.clone())?;
        self.decimal_to_minor(value).ok_or(invalid)
    }

    /// Converts an exact decimal amount into minor units, if it is positive, within bounds
    /// and has no more fractional digits than the currency allows.
    pub fn decimal_to_minor(&self, value: Decimal) -> Option<i64> {
        if value <= Decimal::ZERO {
            return None;
        }
        let minor = value.checked_mul(self.minor_per_unit())?;
        if minor.fract() != Decimal::ZERO {
            return None;
        }
        let minor = minor.to_i64()?;
        (minor <= MAX_AMOUNT_MINOR).then_some(minor)
    }

    /// Formats minor units as decimal text with the currency's digits (`15000` UZS → `"150.00"`).
    pub fn format_minor(&self, minor: i64) -> String {
        let mut value = Decimal::from(minor);
        value
            .set_scale(self.minor_unit_digits())
            .expect("scale of 0 or 2 is valid");
        value.to_string()
    }

    /// Minor units as an exact decimal number of whole units.
    pub fn minor_to_decimal(&self, minor: i64) -> Decimal {
        let mut value = Decimal::from(minor);
        value
            .set_scale(self.minor_unit_digits())
            .expect("scale of 0 or 2 is valid");
        value
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Currency::recorded(&code)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `amount · rate`, rounded down to the currency's minor unit (cashback accrual rule); None when
/// the product does not fit.
pub fn fraction_rounded_down(amount_minor: i64, rate: Decimal) -> Option<i64> {
    let product = Decimal::from(amount_minor).checked_mul(rate)?;
    Some(product.floor().to_i64()?.max(0))
}

/// `balance + change` when the result stays within ±[`MAX_BALANCE_MINOR`].
pub fn balance_after(balance_minor: i64, change_minor: i64) -> Option<i64> {
    balance_minor.checked_add(change_minor).filter(|after| {
        after
            .checked_abs()
            .is_some_and(|size| size <= MAX_BALANCE_MINOR)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amounts_in_minor_units() {
        let uzs = Currency::uzs();
        let cases = [
            ("150.00", Ok(15_000)),
            ("150", Ok(15_000)),
            ("0.01", Ok(1)),
            ("1.5", Ok(150)),
            (" 2.10 ", Ok(210)),
        ];
        for (text, expected) in cases {
            assert_eq!(uzs.parse_amount(text), expected, "{text}");
        }
        for bad in ["abc", "0", "-1", "1.005", "", "1e3", "0.00", "NaN", "1,5"] {
            assert!(uzs.parse_amount(bad).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn stars_are_whole_units() {
        let stars = Currency::new("XTR").unwrap();
        assert_eq!(stars.parse_amount("25"), Ok(25));
        assert!(stars.parse_amount("2.5").is_err());
        assert_eq!(stars.format_minor(25), "25");
    }

    #[test]
    fn formats_with_two_digits() {
        assert_eq!(Currency::uzs().format_minor(15_000), "150.00");
        assert_eq!(Currency::uzs().format_minor(-5), "-0.05");
        assert_eq!(Currency::uzs().format_minor(0), "0.00");
    }

    #[test]
    fn only_known_currencies_are_new_ones() {
        for known in ["UZS", "RUB", "USD", "EUR", "KZT", "XTR"] {
            assert!(Currency::new(known).is_ok(), "{known}");
        }
        for bad in ["ZZZ", "JPY", "usd", "US", "USDT", "U1D", ""] {
            assert!(Currency::new(bad).is_err(), "{bad}");
        }
        assert!(Currency::recorded("JPY").is_ok(), "history stays readable");
        assert!(Currency::recorded("usd").is_err());
    }

    #[test]
    fn cashback_fraction_rounds_down() {
        let rate = Decimal::from_str("0.05").unwrap();
        assert_eq!(fraction_rounded_down(1_999, rate), Some(99));
        assert_eq!(fraction_rounded_down(2_000, rate), Some(100));
        assert_eq!(fraction_rounded_down(19, rate), Some(0));
        assert_eq!(fraction_rounded_down(i64::MAX, Decimal::MAX), None);
    }

    #[test]
    fn amounts_that_do_not_fit_are_refused_not_panics() {
        let uzs = Currency::uzs();
        for huge in [
            "1000000000000000000000000000",
            "79228162514264337593543950335",
            "99999999999999999999999999999999",
            "10000000000000.01",
        ] {
            assert!(uzs.parse_amount(huge).is_err(), "{huge}");
        }
        assert_eq!(uzs.parse_amount("10000000000000"), Ok(MAX_AMOUNT_MINOR));
    }

    #[test]
    fn balances_stay_within_bounds() {
        assert_eq!(balance_after(5, -7), Some(-2));
        assert_eq!(balance_after(MAX_BALANCE_MINOR, 1), None);
        assert_eq!(balance_after(i64::MAX, 1), None);
        assert_eq!(balance_after(-MAX_BALANCE_MINOR, -1), None);
    }
}
