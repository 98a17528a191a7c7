//! Messages out through the Bot API: the sender of the outbox and what operators see of it.
//!
//! The rows are written by the asynchronous `outbox` projection
//! (`projections/src/read_models/outbox.rs`) from the facts; here they are sent
//! ([`sender`]), their outcomes recorded as events ([`settle`]), shown to operators
//! ([`admin`]), and operator alerts raised as facts ([`alerts`]).

pub mod admin;
pub mod alerts;
pub mod sender;
pub mod settle;
