//! 1C cashback exchange (`/api/cashback/v1`; protocol in `docs/onec.md`).
//!
//! Shape: `routes` (HTTP) → `operation` (parse and validate one register operation) → `engine`
//! (decide a chunk of operations under the customers' stream locks and append them at once) →
//! cashback events → inline projections (`cashback_balances`, `onec_operations`). Around it:
//! `auth` (per-store `X-API-Key`), `stores` (keys at rest), `sync_log` and `monitoring`.

pub mod auth;
pub mod engine;
pub mod monitoring;
pub mod operation;
pub mod routes;
pub mod stores;
pub mod sync_log;
