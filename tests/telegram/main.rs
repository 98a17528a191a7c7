//! Telegram over real HTTP against the running app and a real database, with a local server
//! playing the Bot API (`tests/common/telegram.rs`): initData validation, Mini App sessions and
//! routes, invoices, the webhook (pre-checkout, charges, refunds, shared contacts) and the
//! outbox of bot messages.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod init_data;
mod login;
mod outbox;
mod payments;
