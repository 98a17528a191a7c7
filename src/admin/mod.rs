//! Operators' API (`admin` scope): the raw log, one stream, projection status; and the
//! operator page (`GET /admin`, HTML for a browser).
//!
//! Shape: routes → reads of the log and of the projections' bookkeeping. No commands: operators
//! change things through `ledger keys` and `ledger-replay`, never through this API.

pub mod html;
pub mod page;
pub mod routes;
