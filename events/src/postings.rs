//! Double-entry postings: lines of (account, debit or credit, amount, currency); an account's
//! balance is the sum of its postings.
//!
//! Every event that moves money carries a [`Postings`] set. Its invariant — debits equal credits
//! in every currency, every amount positive and at most [`MAX_AMOUNT_MINOR`] — is checked when the
//! set is built *and* when it is read back from the log (deserialisation goes through the same
//! check), so an unbalanced or oversized set can neither be written nor silently folded into a
//! balance. Sums are checked arithmetic (clippy enforces it for this module).

#![deny(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::money::{Currency, MAX_AMOUNT_MINOR};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Debit,
    Credit,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account: String,
    pub side: Side,
    /// Positive, in the currency's minor units.
    pub amount_minor: i64,
    pub currency: Currency,
}

impl Posting {
    /// Debits count positive, credits negative: the form in which a set sums to zero.
    /// Amounts are positive and bounded (checked when the set is built), so the negation fits.
    pub fn signed_amount(&self) -> i64 {
        match self.side {
            Side::Debit => self.amount_minor,
            Side::Credit => self.amount_minor.saturating_neg(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PostingsError {
    #[error("a postings set must not be empty")]
    Empty,
    #[error("posting amounts must be positive (account {account})")]
    NonPositiveAmount { account: String },
    #[error("posting amount {amount_minor} on {account} exceeds the largest accepted amount")]
    TooLarge { account: String, amount_minor: i64 },
    #[error("the postings' sum does not fit in 64 bits")]
    SumOverflow,
    #[error("postings do not balance in {currency}: debits minus credits = {difference}")]
    Unbalanced { currency: String, difference: i64 },
}

/// A non-empty set of postings that balances per currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Posting>", into = "Vec<Posting>")]
pub struct Postings(Vec<Posting>);

impl Postings {
    pub fn new(postings: Vec<Posting>) -> Result<Self, PostingsError> {
        if postings.is_empty() {
            return Err(PostingsError::Empty);
        }
        let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
        for posting in &postings {
            if posting.amount_minor <= 0 {
                return Err(PostingsError::NonPositiveAmount {
                    account: posting.account.clone(),
                });
            }
            if posting.amount_minor > MAX_AMOUNT_MINOR {
                return Err(PostingsError::TooLarge {
                    account: posting.account.clone(),
                    amount_minor: posting.amount_minor,
                });
            }
            let sum = sums.entry(posting.currency.code()).or_default();
            *sum = sum
                .checked_add(posting.signed_amount())
                .ok_or(PostingsError::SumOverflow)?;
        }
        if let Some((currency, difference)) = sums.into_iter().find(|(_, sum)| *sum != 0) {
            return Err(PostingsError::Unbalanced {
                currency: currency.to_owned(),
                difference,
            });
        }
        Ok(Postings(postings))
    }

    /// The simplest balanced set: one account debited, another credited, same amount.
    ///
    /// Panics when `amount_minor` is not positive or above [`MAX_AMOUNT_MINOR`]: callers decide
    /// amounts (validated at the edge) before building postings, so such an amount here is a
    /// programming error.
    pub fn transfer(debit: String, credit: String, amount_minor: i64, currency: &Currency) -> Self {
        assert!(
            amount_minor > 0 && amount_minor <= MAX_AMOUNT_MINOR,
            "transfer amount must be in 1..={MAX_AMOUNT_MINOR}, got {amount_minor}"
        );
        Postings(vec![
            Posting {
                account: debit,
                side: Side::Debit,
                amount_minor,
                currency: currency.clone(),
            },
            Posting {
                account: credit,
                side: Side::Credit,
                amount_minor,
                currency: currency.clone(),
            },
        ])
    }

    /// The set that undoes this one (every side swapped); still balanced.
    pub fn reversed(&self) -> Self {
        let swapped = self
            .0
            .iter()
            .map(|posting| Posting {
                side: match posting.side {
                    Side::Debit => Side::Credit,
                    Side::Credit => Side::Debit,
                },
                ..posting.clone()
            })
            .collect();
        Postings(swapped)
    }

    /// Joins balanced sets into one (each part balanced ⇒ the whole is).
    pub fn combine(parts: impl IntoIterator<Item = Postings>) -> Option<Self> {
        let joined: Vec<Posting> = parts.into_iter().flat_map(|part| part.0).collect();
        (!joined.is_empty()).then_some(Postings(joined))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Posting> {
        self.0.iter()
    }

    /// Net signed amount this set moves on one account in one currency.
    pub fn net_for(&self, account: &str) -> i64 {
        self.0
            .iter()
            .filter(|posting| posting.account == account)
            .map(Posting::signed_amount)
            .fold(0_i64, i64::saturating_add)
    }
}

impl TryFrom<Vec<Posting>> for Postings {
    type Error = PostingsError;
    fn try_from(postings: Vec<Posting>) -> Result<Self, Self::Error> {
        Postings::new(postings)
    }
}

impl From<Postings> for Vec<Posting> {
    fn from(postings: Postings) -> Self {
        postings.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(account: &str, side: Side, amount_minor: i64, currency: &str) -> Posting {
        Posting {
            account: account.into(),
            side,
            amount_minor,
            currency: Currency::new(currency).unwrap(),
        }
    }

    #[test]
    fn balanced_sets_are_accepted_per_currency() {
        let set = Postings::new(vec![
            posting("a", Side::Debit, 100, "UZS"),
            posting("b", Side::Credit, 100, "UZS"),
            posting("c", Side::Debit, 7, "USD"),
            posting("d", Side::Credit, 7, "USD"),
        ]);
        assert!(set.is_ok());
    }

    #[test]
    fn sums_must_balance_in_each_currency_separately() {
        let set = Postings::new(vec![
            posting("a", Side::Debit, 100, "UZS"),
            posting("b", Side::Credit, 100, "USD"),
        ]);
        assert_eq!(
            set,
            Err(PostingsError::Unbalanced {
                currency: "USD".into(),
                difference: -100
            })
        );
    }

    #[test]
    fn deserialising_rechecks_the_invariant() {
        let unbalanced = r#"[{"account":"a","side":"debit","amount_minor":5,"currency":"UZS"}]"#;
        assert!(serde_json::from_str::<Postings>(unbalanced).is_err());
        let zero = r#"[{"account":"a","side":"debit","amount_minor":0,"currency":"UZS"},
                       {"account":"b","side":"credit","amount_minor":0,"currency":"UZS"}]"#;
        assert!(serde_json::from_str::<Postings>(zero).is_err());
    }

    #[test]
    fn oversized_amounts_are_refused_when_built_and_when_read() {
        let huge = MAX_AMOUNT_MINOR + 1;
        let set = Postings::new(vec![
            posting("a", Side::Debit, huge, "UZS"),
            posting("b", Side::Credit, huge, "UZS"),
        ]);
        assert!(
            matches!(set, Err(PostingsError::TooLarge { .. })),
            "{set:?}"
        );
        let text = format!(
            r#"[{{"account":"a","side":"debit","amount_minor":{m},"currency":"UZS"}},
                {{"account":"b","side":"credit","amount_minor":{m},"currency":"UZS"}}]"#,
            m = i64::MAX
        );
        assert!(serde_json::from_str::<Postings>(&text).is_err());
    }

    #[test]
    fn reversal_undoes_the_effect_on_every_account() {
        let set = Postings::transfer("a".into(), "b".into(), 42, &Currency::uzs());
        let undone = set.reversed();
        assert_eq!(set.net_for("a") + undone.net_for("a"), 0);
        assert_eq!(set.net_for("b") + undone.net_for("b"), 0);
    }
}
