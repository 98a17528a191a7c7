//! Cashback facts (stream `cashback-<customer_id>`).
//!
//! Every posting on a customer's cashback account is carried by an event of this stream, so the
//! inline balance (folded from this stream) and the account-balance projection (folded from all
//! postings) always agree. Amounts are minor units of `currency`; `balance_after_minor` is the
//! customer's balance in that currency once the event applied (what was answered at the time).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Currency;
use crate::postings::Postings;

/// Where a cashback operation came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum CashbackOrigin {
    /// The online shop (an order's payment, refund or redemption).
    Online { order_id: String },
    /// A 1C:Retail register.
    InStore(InStoreOperation),
}

/// A 1C register's operation as it was sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InStoreOperation {
    pub store_id: String,
    #[serde(default)]
    pub register_id: Option<String>,
    /// 1C's document id, `{OperationType}_{DocumentNumber}_{Date}`.
    pub external_id: String,
    /// When the register performed it (UTC; local times converted with the store's zone).
    pub performed_at: DateTime<Utc>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CashbackAccrued {
    pub customer_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub origin: CashbackOrigin,
    pub balance_after_minor: i64,
    pub postings: Postings,
}

/// Cashback spent at a register.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CashbackDebited {
    pub customer_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub origin: CashbackOrigin,
    pub balance_after_minor: i64,
    pub postings: Postings,
}

/// A voided receipt gave back (part of) an earlier debit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CashbackDebitReleased {
    pub customer_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub origin: CashbackOrigin,
    /// External id of the debit given back.
    pub released_external_id: String,
    pub balance_after_minor: i64,
    pub postings: Postings,
}

/// An accrual was taken back: a voided in-store receipt, or an online refund's claw-back.
/// A claw-back of cashback already spent may leave the balance negative (a debt that later
/// accruals pay off first); nothing else may.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CashbackAccrualReversed {
    pub customer_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub origin: CashbackOrigin,
    /// External id of the in-store accrual taken back (None for an online refund).
    #[serde(default)]
    pub reversed_external_id: Option<String>,
    pub balance_after_minor: i64,
    pub postings: Postings,
}

/// Cashback reserved for an online order (pending; posted when paid, voided otherwise).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CashbackHoldPlaced {
    pub customer_id: String,
    pub hold_id: String,
    pub order_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CashbackHoldPosted {
    pub customer_id: String,
    pub hold_id: String,
    pub order_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub balance_after_minor: i64,
    /// Debit the customer's cashback, credit the order's receivable.
    pub postings: Postings,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CashbackHoldVoided {
    pub customer_id: String,
    pub hold_id: String,
    pub order_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub reason: String,
}

/// A refunded order gave the customer back the cashback it had redeemed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CashbackRedemptionReturned {
    pub customer_id: String,
    pub order_id: String,
    pub currency: Currency,
    pub amount_minor: i64,
    pub balance_after_minor: i64,
    pub postings: Postings,
}

/// An in-store operation refused for good (e.g. a debit above the available balance). Recorded so
/// that a repeat of the same external id gets the same refusal, never a late success.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CashbackOperationRejected {
    pub customer_id: String,
    pub currency: Currency,
    /// `debit`, `reversal`, ... as the register sent it.
    pub operation: String,
    pub requested_minor: i64,
    pub origin: CashbackOrigin,
    /// Stable error code answered (`insufficient_balance`, `exceeds_remaining`).
    pub reason: String,
    pub balance_minor: i64,
    pub available_minor: i64,
    /// For `exceeds_remaining`: what was left of the referenced operation.
    #[serde(default)]
    pub remaining_minor: Option<i64>,
}
