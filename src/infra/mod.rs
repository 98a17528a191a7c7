//! Infrastructure with no business knowledge: the database connection and migrations, the
//! projector runtime, the metrics registry, admission limits, the exchange-rate source, API
//! tokens and security primitives.
//! Nothing here imports a business area or the application state.

pub mod admission;
pub mod credential_cache;
pub mod database;
pub mod fx_rates;
pub mod metrics;
pub mod process_metrics;
pub mod projection_runtime;
pub mod read_replica;
pub mod security;
pub mod sessions;
pub mod tokens;
