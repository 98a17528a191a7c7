//! Payme Merchant API (`POST /api/payme`, `specs/payme.md`).

pub mod keys;
pub mod routes;
