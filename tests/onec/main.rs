//! The 1C cashback exchange over HTTP, against the running app and a real database: every
//! status of a single operation, store keys and phones, online holds against offline debits,
//! batches, concurrent re-sends, the customer's history and the operators' sync monitoring.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod batches;
mod concurrency;
mod history;
mod holds;
mod identity;
mod single_operation;
mod sync_monitoring;
