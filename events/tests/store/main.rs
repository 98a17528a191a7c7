//! The event store against a real PostgreSQL (each test gets its own database): appends and
//! their expected-version and idempotency rules, the global feed, and the rule that a stream's
//! versions come from transactions in id order; the planner settings of write transactions.
//!
//! Every wait is for a condition, with a deadline. The random interleavings come from a
//! printed seed; `LEDGER_TEST_SEED=<seed>` replays them.

mod support;

mod appends;
mod feed;
mod planner_settings;
mod transaction_order;
