//! The fiscal receipt Payme prints for a payment (`detail` of CheckPerformTransaction), built
//! from the order's items.
//!
//! Rules (see `docs/payme.md`):
//! - A receipt is sent only when **every** item carries its IKPU code, package code and VAT
//!   percent: the tax service refuses a receipt with an item lacking them, and a refused receipt
//!   is worse than none. Otherwise `detail` is omitted.
//! - `price` is the unit price in tiyin. For a UZS order it is the item's own price. For a
//!   USD/EUR order it is the unit price converted at the rate stored in the order and rounded
//!   **up** to the tiyin, so the receipt's gross total is never below the amount paid.
//! - `discount` (tiyin, per line) makes the lines add up to the amount exactly:
//!   Σ (price·count − discount) = amount. Its total is `gross − amount`: the redeemed cashback for
//!   a UZS order; for a USD/EUR order the redeemed cashback plus what rounding the unit prices up
//!   added (under one tiyin per unit). It is shared between lines in proportion to their totals,
//!   by the largest-remainder method, so no line gets more than its own total.

use ledger_events::domain::OrderPlaced;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

/// `receipt_type` 0: a sale.
const RECEIPT_TYPE_SALE: i32 = 0;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Receipt {
    pub receipt_type: i32,
    pub items: Vec<ReceiptItem>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReceiptItem {
    pub title: String,
    /// Unit price in tiyin.
    pub price: i64,
    pub count: u32,
    /// IKPU (MXIK) code.
    pub code: String,
    pub package_code: String,
    pub vat_percent: serde_json::Number,
    /// Tiyin taken off this line (its share of redeemed cashback and FX rounding).
    pub discount: i64,
}

/// The receipt for paying `amount_tiyin` for `placed`, or None when the order's items lack
/// fiscal codes (or, defensively, when the figures cannot be made to add up).
pub fn receipt(placed: &OrderPlaced, amount_tiyin: i64) -> Option<Receipt> {
    let mut lines = Vec::with_capacity(placed.items.len());
    for item in &placed.items {
        let (Some(code), Some(package_code), Some(vat)) =
            (&item.ikpu_code, &item.package_code, item.vat_percent)
        else {
            return None;
        };
        let price = unit_price_tiyin(placed, item.price_minor)?;
        let line_total = price.checked_mul(i64::from(item.qty))?;
        lines.push((item, code, package_code, vat, price, line_total));
    }
    let gross: i64 = lines
        .iter()
        .try_fold(0_i64, |sum, line| sum.checked_add(line.5))?;
    let discount_total = gross.checked_sub(amount_tiyin)?;
    if lines.is_empty() || discount_total < 0 || discount_total >= gross {
        tracing::error!(
            order_id = %placed.order_id,
            gross,
            amount_tiyin,
            "receipt lines cannot add up to the amount; sending no fiscal detail"
        );
        return None;
    }
    let weights: Vec<i64> = lines.iter().map(|line| line.5).collect();
    let discounts = share_by_largest_remainder(discount_total, &weights);
    let items: Vec<ReceiptItem> = lines
        .into_iter()
        .zip(discounts)
        .map(
            |((item, code, package_code, vat, price, _), discount)| ReceiptItem {
                title: item.title.clone(),
                price,
                count: item.qty,
                code: code.clone(),
                package_code: package_code.clone(),
                vat_percent: percent_number(vat),
                discount,
            },
        )
        .collect();
    let net: i64 = items
        .iter()
        .map(|item| item.price * i64::from(item.count) - item.discount)
        .sum();
    assert_eq!(net, amount_tiyin, "receipt lines add up to the amount paid");
    Some(Receipt {
        receipt_type: RECEIPT_TYPE_SALE,
        items,
    })
}

/// A unit price in tiyin: as is for UZS, converted (rounded up) at the stored rate for USD/EUR.
fn unit_price_tiyin(placed: &OrderPlaced, price_minor: i64) -> Option<i64> {
    if placed.currency.code() == "UZS" {
        return Some(price_minor);
    }
    let quote = placed.fx.as_ref()?;
    let tiyin = placed
        .currency
        .minor_to_decimal(price_minor)
        .checked_mul(quote.rate)?
        .checked_mul(Decimal::ONE_HUNDRED)?;
    tiyin
        .round_dp_with_strategy(0, RoundingStrategy::AwayFromZero)
        .to_i64()
}

/// VAT percent as a JSON number written from its decimal text (`12`, `12.5`): never through a
/// binary float.
fn percent_number(percent: Decimal) -> serde_json::Number {
    let text = percent.normalize().to_string();
    text.parse()
        .expect("a decimal's text is a valid JSON number")
}

/// Splits `total` in proportion to `weights` (all ≥ 0, summing above 0) into whole parts that
/// add up to `total` exactly: each part is rounded down, and the units left over go to the
/// largest remainders (the earlier line on a tie).
fn share_by_largest_remainder(total: i64, weights: &[i64]) -> Vec<i64> {
    let weight_sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    assert!(weight_sum > 0, "shares need a positive total weight");
    assert!(total >= 0, "only non-negative totals are shared");
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (index, weight) in weights.iter().enumerate() {
        let exact = i128::from(total) * i128::from(*weight);
        parts.push(i64::try_from(exact / weight_sum).expect("a part is at most the total"));
        remainders.push((exact % weight_sum, index));
    }
    let handed_out: i64 = parts.iter().sum();
    let left_over = usize::try_from(total - handed_out).expect("rounding down leaves ≥ 0");
    assert!(
        left_over < weights.len().max(1),
        "each line lost under one unit"
    );
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, index) in remainders.into_iter().take(left_over) {
        parts[index] += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use ledger_events::domain::{FxQuote, OrderItem};
    use ledger_events::{Currency, Postings};

    fn item(title: &str, qty: u32, price_minor: i64, fiscal: bool) -> OrderItem {
        OrderItem {
            sku: title.to_lowercase(),
            title: title.into(),
            qty,
            price_minor,
            vat_percent: fiscal.then(|| Decimal::new(12, 0)),
            ikpu_code: fiscal.then(|| "10901001001000000".into()),
            package_code: fiscal.then(|| "1234".into()),
        }
    }

    fn order(
        currency: &str,
        items: Vec<OrderItem>,
        redeemed: i64,
        fx: Option<FxQuote>,
    ) -> OrderPlaced {
        let currency = Currency::new(currency).unwrap();
        let total: i64 = items.iter().map(|i| i.price_minor * i64::from(i.qty)).sum();
        OrderPlaced {
            order_id: "o1".into(),
            external_id: "e1".into(),
            customer_id: Some("c1".into()),
            postings: Postings::transfer("a".into(), "b".into(), total, &currency),
            currency,
            items,
            items_total_minor: total,
            cashback_redeemed_minor: redeemed,
            amount_minor: total - redeemed,
            hold_id: None,
            fx,
            expires_at: Utc::now(),
        }
    }

    fn net(receipt: &Receipt) -> i64 {
        receipt
            .items
            .iter()
            .map(|i| i.price * i64::from(i.count) - i.discount)
            .sum()
    }

    #[test]
    fn a_uzs_receipt_spreads_redeemed_cashback_over_the_lines() {
        let placed = order(
            "UZS",
            vec![
                item("Tea", 2, 1_500_000, true),
                item("Cup", 1, 500_000, true),
            ],
            10_001,
            None,
        );
        let receipt = receipt(&placed, placed.amount_minor).expect("fiscal items");
        assert_eq!(receipt.receipt_type, 0);
        assert_eq!(receipt.items[0].price, 1_500_000);
        assert_eq!(receipt.items[0].count, 2);
        assert_eq!(receipt.items[0].vat_percent, serde_json::Number::from(12));
        // Lines of 3 000 000 and 500 000 share 10 001 as 6:1 → 8 572.28 and 1 428.71: rounded
        // down to 8 572 + 1 428, the unit left over goes to the larger remainder.
        assert_eq!(receipt.items[0].discount, 8_572);
        assert_eq!(receipt.items[1].discount, 1_429);
        assert_eq!(net(&receipt), placed.amount_minor);
    }

    #[test]
    fn no_receipt_when_an_item_lacks_fiscal_codes() {
        let placed = order(
            "UZS",
            vec![item("Tea", 1, 1_000, true), item("Bag", 1, 100, false)],
            0,
            None,
        );
        assert_eq!(receipt(&placed, placed.amount_minor), None);
    }

    #[test]
    fn a_dollar_receipt_adds_up_to_the_converted_amount() {
        let rate = Decimal::new(12_650_455, 3); // 12 650.455 UZS per USD
        let items = vec![item("Tea", 3, 333, true), item("Cup", 7, 101, true)];
        let amount_usd_cents = 3 * 333 + 7 * 101 - 17;
        let payable = crate::infra::fx_rates::convert_to_tiyin(
            amount_usd_cents,
            &Currency::new("USD").unwrap(),
            rate,
        )
        .unwrap();
        let quote = FxQuote {
            rate,
            rate_date: "22.11.2026".into(),
            source: "test".into(),
            payable_amount_minor: payable,
        };
        let placed = order("USD", items, 17, Some(quote));
        let receipt = receipt(&placed, payable).expect("fiscal items");
        // $3.33 × 12 650.455 = 42 126.01515 UZS → 4 212 601.515 tiyin → rounded up.
        assert_eq!(receipt.items[0].price, 4_212_602);
        assert_eq!(net(&receipt), payable);
        assert!(receipt
            .items
            .iter()
            .all(|i| i.discount >= 0 && i.discount <= i.price * i64::from(i.count)));
    }

    #[test]
    fn largest_remainders_hand_out_exactly_the_total() {
        assert_eq!(share_by_largest_remainder(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(share_by_largest_remainder(0, &[5, 7]), vec![0, 0]);
        assert_eq!(share_by_largest_remainder(99, &[100]), vec![99]);
        let parts = share_by_largest_remainder(1_000_003, &[7, 13, 1, 0, 29]);
        assert_eq!(parts.iter().sum::<i64>(), 1_000_003);
        assert_eq!(parts[3], 0, "a zero weight gets nothing");
    }

    #[test]
    fn vat_percent_is_a_plain_number() {
        assert_eq!(percent_number(Decimal::new(1200, 2)).to_string(), "12");
        assert_eq!(percent_number(Decimal::new(125, 1)).to_string(), "12.5");
    }
}
