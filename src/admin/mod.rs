//! Operators' API (`admin` scope): the raw log, one stream, projection status.
//!
//! Shape: routes → reads of the log and of the projections' bookkeeping. No commands: operators
//! change things through `ledger keys` and `ledger-replay`, never through this API.

pub mod routes;
