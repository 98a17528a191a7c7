//! `ledger-replay` and the reports (which read the same log) against the real application: a mixed workload of every gateway through
//! HTTP, then rebuilds and verifies through the tool's library (the binary's own exit codes are
//! tested in replay-tool/tests/).

#[path = "../common/mod.rs"]
mod common;
mod support;

mod admin;
mod balances;
mod rebuild;
mod reports;
