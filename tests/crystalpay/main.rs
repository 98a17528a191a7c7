//! CrystalPay over real HTTP against the running app and a real database, with a local server
//! playing the CrystalPay API (`tests/common/crystalpay.rs`): invoices, signed callbacks
//! confirmed with `invoice/info`, the invoice's state machine, the test-mode expiry, and the
//! web return page (also rendered in headless Chromium).

#[path = "../common/mod.rs"]
mod common;
mod support;

mod browser;
mod callbacks;
mod invoices;
mod properties;
mod states;
mod sweep;
