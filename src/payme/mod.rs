//! Payme Merchant API (`POST /api/payme`; protocol and decisions in `docs/payme.md`).
//!
//! Shape: routes (JSON-RPC) → `methods` → commands (`create`, `perform`, `cancel`, `fiscal`) →
//! events on `payme_tx-<payme id>` and the order's stream → projection `payme_transactions`
//! (inline, read by `statement` and `report`).
//!
//! Payme calls us: its JSON-RPC methods create, perform and cancel a transaction that pays one of
//! our orders. Each transaction is its own stream (`payme_tx-<payme id>`); every transition is an
//! event with an idempotency key, appended atomically with the order's (and the customer's
//! cashback) events; repeated calls are answered from the stored events.
//!
//! - [`routes`]: the HTTP entry points, in the order Payme's errors must be checked.
//! - [`protocol`], [`error`], [`answers`]: the JSON-RPC envelope, Payme's errors (ru/uz/en), the
//!   typed results.
//! - [`keys`]: merchant keys kept as digests in the log; authentication; ChangePassword.
//! - [`methods`]: one function per method, dispatching to the commands:
//!   [`create`], [`perform`], [`cancel`], [`fiscal`] (writes), sharing [`transitions`];
//!   [`transaction`] folds a transaction's stream; [`order_check`] and [`receipt`] answer
//!   CheckPerformTransaction; [`statement`] and [`report`] read the inline
//!   `payme_transactions` projection.

pub mod answers;
pub mod cancel;
pub mod create;
pub mod error;
pub mod fiscal;
pub mod keys;
pub mod methods;
pub mod order_check;
pub mod perform;
pub mod protocol;
pub mod receipt;
pub mod report;
pub mod routes;
pub mod statement;
pub mod transaction;
pub mod transitions;
