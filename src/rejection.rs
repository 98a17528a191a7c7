//! Why a command refused to do what it was asked: the domain's answer, not HTTP's.
//!
//! Commands and decision functions return a [`Rejection`]; they never build HTTP errors. The
//! HTTP layer maps each variant to a status and body in one place (`http::error`), and a gateway
//! with its own protocol (Payme's JSON-RPC codes, a 1C item result) maps it its own way. The
//! stable `code` of each variant is part of the contract: clients branch on it, and the 1C
//! exchange records it in the log when a refusal is final.

use ledger_events::Currency;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The order named by the client does not exist.
    #[error("order {order_id:?} not found")]
    OrderNotFound { order_id: String },
    /// The customer named by id does not exist.
    #[error("customer {customer_id:?} not found")]
    CustomerNotFound { customer_id: String },
    /// No customer has this (normalised) phone.
    #[error("no customer with phone {phone}")]
    UserNotFound { phone: String },
    /// A 1C release or reversal names an operation this store never sent.
    #[error("this store has no operation {external_id:?}")]
    OperationNotFound { external_id: String },
    /// The command does not apply in the entity's current state (`status` is that state).
    #[error("{message}")]
    InvalidState { status: String, message: String },
    /// The same client key was used before with different content.
    #[error("{message}")]
    IdempotencyConflict { message: String },
    /// A phone and a Telegram id that belong to two different customers.
    #[error("{message}")]
    CustomerConflict { message: String },
    /// A reference to an operation of another customer or of the wrong kind.
    #[error("{message}")]
    InvalidReference { message: String },
    /// Spending more cashback than is available.
    #[error(
        "insufficient cashback: {} requested, {} available",
        currency.format_minor(*requested_minor),
        currency.format_minor(*available_minor)
    )]
    InsufficientBalance {
        currency: Currency,
        balance_minor: i64,
        available_minor: i64,
        requested_minor: i64,
    },
    /// A release / reversal larger than what is left of the operation it refers to.
    #[error(
        "the amount exceeds what remains of the referenced operation ({})",
        currency.format_minor(*remaining_minor)
    )]
    ExceedsRemaining {
        currency: Currency,
        remaining_minor: i64,
    },
    /// An amount that is well-formed but does not fit (a total past the ledger's limit).
    #[error("{field}: {message}")]
    InvalidAmount { field: String, message: String },
    /// A request the rules forbid although each field is well-formed on its own (HTTP 422).
    #[error("{message}")]
    InvalidRequest { field: String, message: String },
    /// The exchange-rate source needed to price the order cannot be reached.
    #[error("{message}")]
    FxUnavailable { message: String },
}

impl Rejection {
    /// The stable machine code clients see and the 1C log records.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::OrderNotFound { .. } => "order_not_found",
            Rejection::CustomerNotFound { .. } => "not_found",
            Rejection::UserNotFound { .. } => "user_not_found",
            Rejection::OperationNotFound { .. } => "operation_not_found",
            Rejection::InvalidState { .. } => "invalid_state",
            Rejection::IdempotencyConflict { .. } => "idempotency_conflict",
            Rejection::CustomerConflict { .. } => "customer_conflict",
            Rejection::InvalidReference { .. } => "invalid_reference",
            Rejection::InsufficientBalance { .. } => "insufficient_balance",
            Rejection::ExceedsRemaining { .. } => "exceeds_remaining",
            Rejection::InvalidAmount { .. } => "invalid_amount",
            Rejection::InvalidRequest { .. } => "invalid_request",
            Rejection::FxUnavailable { .. } => "fx_unavailable",
        }
    }

    pub fn insufficient(
        currency: &Currency,
        balance_minor: i64,
        available_minor: i64,
        requested_minor: i64,
    ) -> Self {
        Rejection::InsufficientBalance {
            currency: currency.clone(),
            balance_minor,
            available_minor,
            requested_minor,
        }
    }
}
