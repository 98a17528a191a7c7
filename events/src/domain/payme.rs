//! Payme facts (stream `payme_tx-<payme id>`, and `settings-payme` for the merchant keys).
//! Times are Payme's: milliseconds since the epoch. Amounts are tiyin.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymeTransactionCreated {
    pub payme_id: String,
    /// Our own id for it (`transaction` in Payme answers).
    pub transaction: String,
    pub order_id: String,
    pub amount_tiyin: i64,
    /// The `account` object as Payme sent it.
    pub account: serde_json::Value,
    /// Payme's `time` (the 12-hour timeout counts from it).
    pub payme_time_ms: i64,
    /// Our clock when we created it, answered as `create_time`.
    pub create_time_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymeTransactionPerformed {
    pub payme_id: String,
    pub order_id: String,
    pub perform_time_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymeTransactionCancelled {
    pub payme_id: String,
    pub order_id: String,
    pub cancel_time_ms: i64,
    /// Payme's reason code (4 = timeout, 5 = refund, ...).
    pub reason: i32,
    /// -1 (cancelled before perform) or -2 (after perform).
    pub state: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymeFiscalDataRecorded {
    pub payme_id: String,
    /// `PERFORM` or `CANCEL`.
    pub kind: String,
    pub fiscal_data: serde_json::Value,
}

/// The set of accepted merchant keys was replaced. Keys are never stored in clear: only their
/// SHA-256 digests (Payme keys are long random strings, so a plain digest is not guessable).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymeKeysReplaced {
    pub key_sha256: Vec<String>,
    /// `change_password` (Payme's call), `operator` (ledger keys set-payme) or `environment`.
    pub origin: String,
}
