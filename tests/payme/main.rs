//! The Payme Merchant API over real HTTP against the running app and a real database, with a
//! caller playing Payme (`tests/common/payme_caller.rs`): transport and errors, the sandbox
//! scenario, concurrency, statements, money, exchange rates and keys.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod concurrency;
mod keys;
mod money;
mod protocol;
mod sandbox;
mod statement;
