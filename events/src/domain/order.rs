//! Order facts (stream `order-<id>`).
//!
//! An order owns the invariant "at most one active gateway transaction": payments start and end
//! as events here, protected by the order stream's expected version.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Currency;
use crate::postings::Postings;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentProvider {
    Payme,
    Crystalpay,
    Telegram,
}

impl PaymentProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentProvider::Payme => "payme",
            PaymentProvider::Crystalpay => "crystalpay",
            PaymentProvider::Telegram => "telegram",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub sku: String,
    pub title: String,
    pub qty: u32,
    /// Unit price in the order currency's minor units.
    pub price_minor: i64,
    #[serde(default)]
    pub vat_percent: Option<Decimal>,
    /// Uzbek fiscal product code (IKPU / MXIK), sent to Payme in receipt details.
    #[serde(default)]
    pub ikpu_code: Option<String>,
    #[serde(default)]
    pub package_code: Option<String>,
}

/// The exchange rate fixed when a USD/EUR order was placed, so a replay (and every Payme call)
/// computes the same UZS amount forever.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FxQuote {
    /// UZS per one unit of the order currency, as published.
    pub rate: Decimal,
    /// The publication date of the rate (CBU's `Date`).
    pub rate_date: String,
    pub source: String,
    /// Payable amount in UZS tiyin = order amount × rate, rounded to the tiyin.
    pub payable_amount_minor: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: String,
    pub external_id: String,
    /// None for a guest order (a checkout without an account): no cashback either way.
    #[serde(default)]
    pub customer_id: Option<String>,
    pub currency: Currency,
    pub items: Vec<OrderItem>,
    /// Σ qty·price.
    pub items_total_minor: i64,
    /// Cashback redeemed against the order (held until paid); 0 when none.
    pub cashback_redeemed_minor: i64,
    /// What the buyer pays through a gateway: items total − redeemed cashback.
    pub amount_minor: i64,
    #[serde(default)]
    pub hold_id: Option<String>,
    #[serde(default)]
    pub fx: Option<FxQuote>,
    pub expires_at: DateTime<Utc>,
    /// Debit the order's receivable, credit sales, for the items total.
    pub postings: Postings,
}

/// A gateway transaction now holds the order (Payme state 1, an open invoice, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderPaymentStarted {
    pub order_id: String,
    pub provider: PaymentProvider,
    pub provider_id: String,
    pub amount_minor: i64,
    pub currency: Currency,
}

/// A gateway transaction ended without paying; the order awaits payment again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderPaymentEnded {
    pub order_id: String,
    pub provider: PaymentProvider,
    pub provider_id: String,
    /// Why, in the provider's terms (e.g. Payme cancel reason 4 = timeout).
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderPaid {
    pub order_id: String,
    pub provider: PaymentProvider,
    pub provider_id: String,
    /// Amount received, in `currency` (UZS for an FX-priced order paid through Payme).
    pub amount_minor: i64,
    pub currency: Currency,
    /// Cashback accrued to the customer for this payment (in the order's currency); a refund
    /// takes exactly this back.
    #[serde(default)]
    pub cashback_accrued_minor: i64,
    /// Debit gateway clearing, credit the order's receivable (through an FX account when the
    /// payment currency differs from the order's).
    pub postings: Postings,
}

/// An order whose redeemed cashback covers its whole total: paid in the same append as its
/// placement, with no gateway. The money moves in the hold's posting (`CashbackHoldPosted`:
/// the customer's cashback settles the order's receivable), so this fact carries none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderPaidByCashback {
    pub order_id: String,
    pub cashback_redeemed_minor: i64,
    pub currency: Currency,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderCompleted {
    pub order_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub order_id: String,
    /// `api` (a client cancelled it) or `expired` (unpaid past its TTL).
    pub reason: String,
    /// Reverses the placement postings.
    #[serde(default)]
    pub postings: Option<Postings>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRefunded {
    pub order_id: String,
    pub provider: PaymentProvider,
    pub provider_id: String,
    /// Reverses the payment and the placement.
    pub postings: Postings,
}
