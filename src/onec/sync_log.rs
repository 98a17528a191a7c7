//! The sync log: every 1C request with every item as it was answered (store, register,
//! external id, status, when, how long). Operational data for monitoring, not part of the
//! ledger. One row per request (or per chunk of a batch) with its items inside, so logging a
//! thousand-item batch costs a few rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;

use super::auth::StoreContext;

#[derive(Clone, Debug, Serialize)]
pub struct SyncEntry {
    pub external_id: Option<String>,
    pub register_id: Option<String>,
    /// `ok`, `duplicate` or `error`.
    pub status: &'static str,
    /// The error code answered, for `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// The request the entries belong to.
#[derive(Clone, Copy, Debug)]
pub struct SyncRequest {
    /// `single` or `batch`.
    pub kind: &'static str,
    pub received_at: DateTime<Utc>,
    pub latency_micros: i64,
}

/// Writes one log row holding `entries` (nothing when there are none).
pub async fn insert<'c>(
    executor: impl PgExecutor<'c>,
    store: &StoreContext,
    request: SyncRequest,
    entries: &[SyncEntry],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let count = |status: &str| entries.iter().filter(|e| e.status == status).count() as i32;
    sqlx::query(
        "INSERT INTO onec_sync_log (store_id, request_kind, received_at, latency_micros, ok_count, \
                                    duplicate_count, error_count, items) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&store.store_id)
    .bind(request.kind)
    .bind(request.received_at)
    .bind(request.latency_micros)
    .bind(count("ok"))
    .bind(count("duplicate"))
    .bind(count("error"))
    .bind(sqlx::types::Json(entries))
    .execute(executor)
    .await?;
    Ok(())
}
