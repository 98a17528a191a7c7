//! The sync log: every 1C request item as it was answered (store, register, external id,
//! status, when, how long). Operational data for monitoring, not part of the ledger.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::auth::StoreContext;

#[derive(Clone, Debug)]
pub struct SyncEntry {
    pub external_id: Option<String>,
    pub register_id: Option<String>,
    /// `single` or `batch`.
    pub request_kind: &'static str,
    /// `ok`, `duplicate` or `error`.
    pub status: &'static str,
    /// The error code answered, for `error`.
    pub error: Option<&'static str>,
    pub received_at: DateTime<Utc>,
    pub latency_micros: i64,
}

/// Writes entries in one statement.
pub async fn insert<'c>(
    executor: impl PgExecutor<'c>,
    store: &StoreContext,
    entries: &[SyncEntry],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO onec_sync_log (store_id, register_id, external_id, request_kind, status, error, \
                                    received_at, latency_micros) \
         SELECT $1, r, e, k, s, err, t, l FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::timestamptz[], $8::bigint[]) AS x(r, e, k, s, err, t, l)",
    )
    .bind(&store.store_id)
    .bind(entries.iter().map(|e| e.register_id.as_deref()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.external_id.as_deref()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.request_kind).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.status).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.error).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.received_at).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.latency_micros).collect::<Vec<_>>())
    .execute(executor)
    .await?;
    Ok(())
}
