//! Operators' API (`admin` scope): the raw log, streams, projection status.

pub mod routes;
