//! CrystalPay invoice facts (stream `crystalpay_invoice-<invoice id>`).
//!
//! An invoice is created by us, then learnt about through callbacks. A callback proves only
//! that CrystalPay wants us to look (its native signature signs the id alone), so it is
//! recorded as [`CrystalPayCallbackReceived`] — a pending re-check — and the invoice's state
//! changes only in [`CrystalPayInvoiceChecked`], decided from CrystalPay's own `invoice/info`
//! answer. A re-check is therefore driven from the log: one that was recorded but not checked
//! (a crash after answering the callback) is found again and finished.
//!
//! States are CrystalPay's own names: `notpayed`, `processing`, `payed`, `wrongamount`,
//! `failed`, and `expired` (a `failed` whose lifetime ran out unpaid).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Currency;
use crate::postings::Postings;

/// The invoice's state in CrystalPay's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrystalPayState {
    /// Created, nothing paid (CrystalPay's initial state).
    Notpayed,
    /// A payment was seen, not final.
    Processing,
    /// Final: paid in full.
    Payed,
    /// Final: paid a different amount (partial or over).
    Wrongamount,
    /// Final: ended unpaid (the payment failed).
    Failed,
    /// Final: ended unpaid because its lifetime ran out.
    Expired,
}

impl CrystalPayState {
    pub const ALL: [CrystalPayState; 6] = [
        CrystalPayState::Notpayed,
        CrystalPayState::Processing,
        CrystalPayState::Payed,
        CrystalPayState::Wrongamount,
        CrystalPayState::Failed,
        CrystalPayState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CrystalPayState::Notpayed => "notpayed",
            CrystalPayState::Processing => "processing",
            CrystalPayState::Payed => "payed",
            CrystalPayState::Wrongamount => "wrongamount",
            CrystalPayState::Failed => "failed",
            CrystalPayState::Expired => "expired",
        }
    }

    /// CrystalPay's name, or None for a name it does not use.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }

    /// No transition leaves a final state.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            CrystalPayState::Notpayed | CrystalPayState::Processing
        )
    }
}

/// Where the buyer returns after paying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrystalPayContext {
    /// Back into the Mini App through its `startapp` direct link.
    Telegram,
    /// To our web return page.
    Web,
}

/// We created an invoice at CrystalPay for an order (the order's `OrderPaymentStarted` is in
/// the same append: a live invoice holds the order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrystalPayInvoiceCreated {
    pub invoice_id: String,
    pub order_id: String,
    /// The payment page the buyer is sent to.
    pub url: String,
    pub redirect_url: String,
    pub context: CrystalPayContext,
    pub amount_minor: i64,
    pub currency: Currency,
    /// Our id of the create call, sent to CrystalPay in `extra`.
    pub request_id: String,
    pub lifetime_minutes: u32,
    pub expires_at: DateTime<Utc>,
}

/// How a callback proved it came from CrystalPay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackSignature {
    /// `signature` = sha1(id:salt).
    Native,
    /// `X-Signature` = HMAC-SHA256 of the raw body.
    RawBodyHmac,
    /// The test-mode expiry emulation (`LEDGER_TEST_MODE`).
    TestExpiry,
}

/// A correctly signed callback arrived: the invoice must be re-read with `invoice/info`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrystalPayCallbackReceived {
    pub invoice_id: String,
    /// The state the callback's body claims (not trusted).
    pub claimed_state: String,
    pub signature: CallbackSignature,
}

/// What a re-check did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrystalPayCheckOutcome {
    /// CrystalPay's state was a step forward and was applied.
    Applied,
    /// CrystalPay reports the state we already had.
    Unchanged,
    /// A step that is not allowed (out of a final state, or backwards): recorded, never applied.
    Anomaly,
    /// `payed`, but the order was no longer held by this invoice or its amount differed: the
    /// invoice is recorded paid, the order is not, and an operator is told.
    OrderNotPayable,
}

/// The re-check's answer from `invoice/info`, and what it did to the invoice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrystalPayInvoiceChecked {
    pub invoice_id: String,
    pub order_id: String,
    /// What the callback claimed.
    pub claimed_state: String,
    /// The state `invoice/info` answered, verbatim.
    pub reported_state: String,
    /// The invoice's state before and after this check.
    pub state_before: CrystalPayState,
    pub state_after: CrystalPayState,
    pub outcome: CrystalPayCheckOutcome,
    /// Our amount (what the invoice asked for).
    pub expected_amount_minor: i64,
    pub currency: Currency,
    /// CrystalPay's amounts, as it wrote them (major units; absent when it sent none).
    #[serde(default)]
    pub reported_amount: Option<String>,
    #[serde(default)]
    pub reported_initial_amount: Option<String>,
    #[serde(default)]
    pub reported_remaining_amount: Option<String>,
    #[serde(default)]
    pub reported_balance_amount: Option<String>,
    /// Why an anomaly or an unpayable order, for an operator.
    #[serde(default)]
    pub note: Option<String>,
    /// Money CrystalPay took that paid no order (a payment after the order stopped waiting for
    /// it): held on `gateway:crystalpay:unapplied`. A payment that paid the order moves its
    /// money in the order's `OrderPaid`.
    #[serde(default)]
    pub postings: Option<Postings>,
}
