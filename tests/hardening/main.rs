//! The server against hostile or broken clients, over real HTTP against the running app: stalled
//! and idle connections, request time-outs, load shedding, panics, metrics that a client cannot
//! inflate, bounded waiting reads, per-store 1C batch limits and the admin token's rules.

#[path = "../common/mod.rs"]
mod common;

mod admin_token;
mod metrics;
mod onec_batches;
mod overload;
mod panics;
mod timeouts;
mod waiting_reads;
