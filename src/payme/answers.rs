//! The `result` of each method, as typed structs: their field order is their serialisation
//! order, so an answer rebuilt from stored events is byte for byte the answer given the first
//! time.

use serde::Serialize;

use super::receipt::Receipt;

/// What a successful call answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MethodResult {
    CheckPerform(CheckPerformAnswer),
    Create(CreateAnswer),
    Perform(PerformAnswer),
    Cancel(CancelAnswer),
    Check(CheckAnswer),
    Statement(StatementAnswer),
    Success(SuccessAnswer),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckPerformAnswer {
    pub allow: bool,
    /// Fiscal receipt items, when every item of the order carries its fiscal codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Receipt>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreateAnswer {
    pub create_time: i64,
    pub transaction: String,
    pub state: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PerformAnswer {
    pub transaction: String,
    pub perform_time: i64,
    pub state: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CancelAnswer {
    pub transaction: String,
    pub cancel_time: i64,
    pub state: i32,
}

/// Unset times are 0, never null; `reason` is null until cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckAnswer {
    pub create_time: i64,
    pub perform_time: i64,
    pub cancel_time: i64,
    pub transaction: String,
    pub state: i32,
    pub reason: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatementAnswer {
    pub transactions: Vec<StatementEntry>,
}

/// One GetStatement line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatementEntry {
    /// Payme's id.
    pub id: String,
    /// Payme's `time`.
    pub time: i64,
    pub amount: i64,
    pub account: serde_json::Value,
    pub create_time: i64,
    pub perform_time: i64,
    pub cancel_time: i64,
    pub transaction: String,
    pub state: i32,
    pub reason: Option<i32>,
    /// We never split payments between receivers.
    pub receivers: Option<Vec<serde_json::Value>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SuccessAnswer {
    pub success: bool,
}

impl SuccessAnswer {
    pub const YES: SuccessAnswer = SuccessAnswer { success: true };
}
