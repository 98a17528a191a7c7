//! CrystalPay: invoices for orders, signed callbacks confirmed with `invoice/info`, the
//! invoice's state machine, and the buyer's way back (`docs/crystalpay.md`).
//!
//! Shape: routes ([`routes`]) → commands ([`create`] records an invoice holding its order,
//! [`callback`] records a pending re-check, [`recheck`] applies CrystalPay's answer and pays
//! through `orders::payment`) → events on `crystalpay_invoice-<invoice id>` and the order's
//! (and customer's cashback) streams → projections `crystalpay_invoices` (inline: pending
//! re-checks) and `orders` (the invoice in the order's `payments`, operator `flags`).
//!
//! - [`signature`]: pure checks of the native `sha1(id:salt)` and the raw-body HMAC-SHA256.
//! - [`client`]: the calls we make (time-outs, bounded retries, CrystalPay's error text).
//! - [`invoice`]: an invoice folded from its stream; [`transitions`]: the state machine.
//! - [`links`]: `redirect_url` (Mini App direct link or our return page), `startapp` payloads.
//! - [`sweep`]: the lifetime sweep, run by the re-check worker: live invoices past their
//!   lifetime that no callback brought back are re-checked with `invoice/info`.
//! - [`return_page`]: `GET /pay/return`; [`emulation`]: the test-mode expiry; [`metrics`]: the
//!   re-check backlog for `/metrics`.

pub mod callback;
pub mod client;
pub mod create;
pub mod emulation;
pub mod invoice;
pub mod links;
pub mod metrics;
pub mod recheck;
pub mod return_page;
pub mod routes;
pub mod signature;
pub mod sweep;
pub mod transitions;

pub use recheck::spawn;
