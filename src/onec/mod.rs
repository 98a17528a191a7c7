//! 1C cashback exchange (`/api/cashback/v1`, `specs/onec.md`).

pub mod monitoring;
pub mod routes;
pub mod stores;
