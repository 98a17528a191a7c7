//! Sync monitoring of 1C stores: the admin view (`GET /api/admin/sync/stores`), Prometheus gauges
//! of seconds since each store's last operation, and a warning in the log when a store turns
//! stale (no operation for `LEDGER_SYNC_ALERT_HOURS`) — also sent to the operators' Telegram
//! chat through the outbox when `LEDGER_TELEGRAM_ADMIN_CHAT_ID` is set. Also keeps the sync log
//! bounded.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::http::auth::{Admin, Authorized};
use crate::http::error::ApiError;
use crate::infra::metrics::{Gauge, GaugeFuture, GaugeSource};
use crate::state::AppState;
use crate::telegram::outbox::alerts::{self, Alert};

const WATCH_INTERVAL: Duration = Duration::from_secs(60);
/// Sync log rows older than this are deleted, at most `RETENTION_BATCH` per sweep.
const RETENTION_DAYS: i32 = 90;
const RETENTION_BATCH: i64 = 10_000;

#[derive(Clone, Debug, Serialize)]
pub struct StoreSync {
    pub store_id: String,
    pub name: Option<String>,
    pub currency: String,
    pub last_operation_at: Option<DateTime<Utc>>,
    pub operations_24h: i64,
    pub errors_24h: i64,
    pub stale: bool,
    /// Seconds since the last operation (since the store was created, if it never sent one).
    #[serde(skip)]
    pub silent_seconds: f64,
}

/// Every store's sync state. A store that never sent anything counts from its creation.
pub async fn store_sync(pool: &PgPool, alert_hours: u32) -> Result<Vec<StoreSync>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT s.store_id, s.name, s.currency, s.created_at, last.received_at AS last_operation_at, \
                recent.operations, recent.errors \
         FROM onec_stores s \
         LEFT JOIN LATERAL (SELECT received_at FROM onec_sync_log l WHERE l.store_id = s.store_id \
                            ORDER BY received_at DESC LIMIT 1) last ON true \
         LEFT JOIN LATERAL (SELECT coalesce(sum(ok_count + duplicate_count + error_count), 0)::bigint AS operations, \
                                   coalesce(sum(error_count), 0)::bigint AS errors \
                            FROM onec_sync_log l WHERE l.store_id = s.store_id \
                              AND l.received_at > now() - interval '24 hours') recent ON true \
         ORDER BY s.store_id",
    )
    .fetch_all(pool)
    .await?;
    let now = Utc::now();
    rows.iter()
        .map(|row| {
            let last: Option<DateTime<Utc>> = row.try_get("last_operation_at")?;
            let since: DateTime<Utc> = last.unwrap_or(row.try_get("created_at")?);
            let silent_seconds = (now - since).num_milliseconds().max(0) as f64 / 1000.0;
            Ok(StoreSync {
                store_id: row.try_get("store_id")?,
                name: row.try_get("name")?,
                currency: row.try_get("currency")?,
                last_operation_at: last,
                operations_24h: row.try_get("operations")?,
                errors_24h: row.try_get("errors")?,
                stale: silent_seconds >= f64::from(alert_hours) * 3600.0,
                silent_seconds,
            })
        })
        .collect()
}

pub async fn stores_route(
    State(state): State<AppState>,
    _auth: Authorized<Admin>,
) -> Result<Json<Value>, ApiError> {
    let stores = store_sync(&state.pool, state.config.sync_alert_hours).await?;
    Ok(Json(json!({ "stores": stores })))
}

/// Each store's silence and staleness as Prometheus gauges; `app.rs` registers it.
pub struct StoreGauges {
    pub pool: PgPool,
    pub alert_hours: u32,
}

impl GaugeSource for StoreGauges {
    fn name(&self) -> &'static str {
        "onec_stores"
    }

    fn collect(&self) -> GaugeFuture<'_> {
        Box::pin(async move {
            let stores = store_sync(&self.pool, self.alert_hours).await?;
            let per_store = |name, help, value: fn(&StoreSync) -> f64| {
                Gauge::new(
                    name,
                    help,
                    stores
                        .iter()
                        .map(|store| (vec![("store", store.store_id.clone())], value(store)))
                        .collect(),
                )
            };
            Ok(vec![
                per_store(
                    "ledger_onec_store_seconds_since_last_operation",
                    "Seconds since a 1C store's last operation.",
                    |store| store.silent_seconds,
                ),
                per_store(
                    "ledger_onec_store_stale",
                    "1 when a 1C store sent nothing for LEDGER_SYNC_ALERT_HOURS.",
                    |store| f64::from(u8::from(store.stale)),
                ),
            ])
        })
    }
}

/// Warns once when a store turns stale (and once more when it recovers); trims the sync log.
pub fn spawn(tasks: &mut JoinSet<()>, state: AppState, shutdown: CancellationToken) {
    tasks.spawn(async move {
        let mut stale: BTreeSet<String> = BTreeSet::new();
        loop {
            match store_sync(&state.pool, state.config.sync_alert_hours).await {
                Ok(stores) => {
                    alert_operators(&state, &stale, &stores).await;
                    stale = report_transitions(&stale, &stores, state.config.sync_alert_hours)
                }
                Err(error) => tracing::warn!(%error, "1C sync monitor could not read the sync log"),
            }
            if let Err(error) = trim_sync_log(&state.pool).await {
                tracing::warn!(%error, "1C sync log retention failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(WATCH_INTERVAL) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
}

/// Raises an operators' alert for each store that turned stale since the last look (once per
/// silence: the alert is keyed by the store's last operation time, so other server processes
/// and restarts do not repeat it).
async fn alert_operators(state: &AppState, previously: &BTreeSet<String>, stores: &[StoreSync]) {
    let alert_hours = state.config.sync_alert_hours;
    for store in stores
        .iter()
        .filter(|s| s.stale && !previously.contains(&s.store_id))
    {
        let last = store
            .last_operation_at
            .map_or_else(|| "never".to_owned(), |at| at.to_rfc3339());
        let name = store.name.as_deref().unwrap_or(&store.store_id);
        let alert = Alert {
            kind: "onec_store_stale",
            subject: &store.store_id,
            episode: &last,
            text: format!(
                "1C store {name} ({}) has sent no operation for {alert_hours} h or more \
                 (last operation: {last}).",
                store.store_id
            ),
        };
        if let Err(error) = alerts::raise(state, &alert).await {
            tracing::warn!(store = %store.store_id, %error, "could not raise the stale-store alert");
        }
    }
}

/// Logs stores that turned stale or recovered since the last look; returns the new stale set.
pub fn report_transitions(
    previously: &BTreeSet<String>,
    stores: &[StoreSync],
    alert_hours: u32,
) -> BTreeSet<String> {
    let now: BTreeSet<String> = stores
        .iter()
        .filter(|s| s.stale)
        .map(|s| s.store_id.clone())
        .collect();
    for store in stores
        .iter()
        .filter(|s| s.stale && !previously.contains(&s.store_id))
    {
        tracing::warn!(
            store = %store.store_id,
            last_operation_at = ?store.last_operation_at,
            alert_hours,
            "1C store is stale: no operation for {alert_hours} h or more"
        );
    }
    for recovered in previously.difference(&now) {
        tracing::info!(store = %recovered, "1C store is syncing again");
    }
    now
}

async fn trim_sync_log(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM onec_sync_log WHERE id IN (SELECT id FROM onec_sync_log \
         WHERE received_at < now() - make_interval(days => $1) LIMIT $2)",
    )
    .bind(RETENTION_DAYS)
    .bind(RETENTION_BATCH)
    .execute(pool)
    .await?
    .rows_affected())
}
