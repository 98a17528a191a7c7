//! Telegram Payments facts (stream `telegram_payment-<telegram_payment_charge_id>`).
//!
//! Telegram tells us about money after the fact: a `successful_payment` means the buyer was
//! charged, a `refunded_payment` that the money went back. Both are recorded whatever the
//! order's state, so that no charge is ever lost; whether the charge paid the order is part of
//! the fact (`outcome`), and an operator sees the ones that did not in the order's `flags`.
//! Amounts are in the currency's smallest unit, as Telegram sends them (whole stars for `XTR`).

use serde::{Deserialize, Serialize};

use crate::money::Currency;
use crate::postings::Postings;

/// What a received charge did to the order it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TelegramPaymentOutcome {
    /// It paid the order (an `OrderPaid` in the same append).
    Applied,
    /// Currency or total differ from the order's: recorded and flagged, not applied.
    TotalMismatch,
    /// The order no longer awaited payment (paid another way, cancelled, expired): recorded and
    /// flagged for an operator to refund.
    OrderNotPayable,
    /// The invoice payload names no order of ours.
    UnknownOrder,
}

impl TelegramPaymentOutcome {
    /// The state shown in the order's `payments` and the flag an operator sees, if any.
    pub fn as_str(self) -> &'static str {
        match self {
            TelegramPaymentOutcome::Applied => "paid",
            TelegramPaymentOutcome::TotalMismatch => "total_mismatch",
            TelegramPaymentOutcome::OrderNotPayable => "order_not_payable",
            TelegramPaymentOutcome::UnknownOrder => "unknown_order",
        }
    }
}

/// `message.successful_payment`: Telegram charged the buyer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TelegramPaymentReceived {
    pub charge_id: String,
    /// The payment provider's own id (empty for Telegram Stars).
    #[serde(default)]
    pub provider_charge_id: String,
    /// The invoice payload: our order id.
    pub order_id: String,
    /// Who paid (`message.from.id`).
    pub telegram_user_id: i64,
    pub currency: Currency,
    pub total_amount_minor: i64,
    /// The Bot API update that carried it.
    pub update_id: i64,
    pub outcome: TelegramPaymentOutcome,
    /// For a charge that did not pay its order: the money held as unapplied (debit the
    /// gateway's clearing, credit its unapplied account) until an operator refunds it. An
    /// applied charge's money moves in the order's `OrderPaid`.
    #[serde(default)]
    pub postings: Option<Postings>,
}

/// `message.refunded_payment`: the charge was given back to the buyer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TelegramPaymentRefunded {
    pub charge_id: String,
    pub order_id: String,
    pub currency: Currency,
    pub total_amount_minor: i64,
    pub update_id: i64,
    /// True when the refund reversed the order's payment (an `OrderRefunded` in the same
    /// append); false for a charge that had never paid the order.
    pub order_refunded: bool,
    /// For a charge that never paid the order: its unapplied money given back. A refund of an
    /// applied charge moves money in the order's `OrderRefunded`.
    #[serde(default)]
    pub postings: Option<Postings>,
}
