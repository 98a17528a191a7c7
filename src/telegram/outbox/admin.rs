//! What operators see of the outbox: `GET /api/admin/outbox` and the `ledger_outbox_*` gauges
//! (pending, failed by reason, age of the oldest pending message).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::http::auth::{Admin, Authorized};
use crate::http::error::ApiError;
use crate::http::extract::Query;
use crate::infra::metrics::{Gauge, GaugeFuture, GaugeSource};
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1_000;
/// Every reason a message can fail with (a closed set, for metric labels).
pub const FAILURE_REASONS: [&str; 6] = [
    "blocked",
    "rejected",
    "abandoned",
    "interrupted",
    "expired",
    "telegram_closed",
];

/// The backlog in numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub pending: i64,
    pub failed: BTreeMap<String, i64>,
    pub oldest_pending_age_seconds: f64,
}

pub async fn summary(pool: &PgPool) -> Result<Summary, sqlx::Error> {
    let pending = sqlx::query(
        "SELECT count(*) AS pending, \
                coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest \
         FROM outbox WHERE state = 'pending'",
    )
    .fetch_one(pool)
    .await?;
    let failed = sqlx::query(
        "SELECT failure_reason, count(*) AS n FROM outbox WHERE state = 'failed' \
         GROUP BY failure_reason",
    )
    .fetch_all(pool)
    .await?;
    let mut summary = Summary {
        pending: pending.try_get("pending")?,
        failed: FAILURE_REASONS
            .iter()
            .map(|r| ((*r).to_owned(), 0))
            .collect(),
        oldest_pending_age_seconds: pending.try_get::<f64, _>("oldest")?.max(0.0),
    };
    for row in failed {
        let reason: String = row.try_get("failure_reason")?;
        summary.failed.insert(reason, row.try_get("n")?);
    }
    Ok(summary)
}

#[derive(Deserialize)]
pub struct OutboxQuery {
    state: Option<String>,
    limit: Option<String>,
}

/// `GET /api/admin/outbox[?state=pending|delivered|failed][&limit=N]`: the summary and the
/// newest messages.
pub async fn outbox_route(
    State(state): State<AppState>,
    _auth: Authorized<Admin>,
    Query(query): Query<OutboxQuery>,
) -> Result<Json<Value>, ApiError> {
    let wanted = match query.state.as_deref() {
        None => None,
        Some(text @ ("pending" | "delivered" | "failed")) => Some(text.to_owned()),
        Some(_) => {
            return Err(ApiError::invalid(
                "state",
                "state must be pending, delivered or failed",
            ))
        }
    };
    let limit = match query.limit {
        None => DEFAULT_PAGE,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| ApiError::invalid("limit", format!("limit must be 1 to {MAX_PAGE}")))?,
    };
    let rows = sqlx::query(
        "SELECT message_id, fact_position, fact_type, audience, customer_id, chat_id, text, state, \
                failure_reason, attempts, next_attempt_at, last_error, created_at, settled_at, \
                telegram_message_id \
         FROM outbox WHERE ($1::text IS NULL OR state = $1) \
         ORDER BY fact_position DESC LIMIT $2",
    )
    .bind(&wanted)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    let messages = rows
        .iter()
        .map(|row| {
            Ok(json!({
                "message_id": row.try_get::<Uuid, _>("message_id")?,
                "fact_position": row.try_get::<i64, _>("fact_position")?,
                "fact_type": row.try_get::<String, _>("fact_type")?,
                "audience": row.try_get::<String, _>("audience")?,
                "customer_id": row.try_get::<Option<String>, _>("customer_id")?,
                "chat_id": row.try_get::<i64, _>("chat_id")?,
                "text": row.try_get::<String, _>("text")?,
                "state": row.try_get::<String, _>("state")?,
                "failure_reason": row.try_get::<Option<String>, _>("failure_reason")?,
                "attempts": row.try_get::<i32, _>("attempts")?,
                "next_attempt_at": row.try_get::<DateTime<Utc>, _>("next_attempt_at")?,
                "last_error": row.try_get::<Option<String>, _>("last_error")?,
                "created_at": row.try_get::<DateTime<Utc>, _>("created_at")?,
                "settled_at": row.try_get::<Option<DateTime<Utc>>, _>("settled_at")?,
                "telegram_message_id": row.try_get::<Option<i64>, _>("telegram_message_id")?,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let summary = summary(&state.pool).await?;
    Ok(Json(json!({
        "summary": {
            "pending": summary.pending,
            "failed": summary.failed,
            "oldest_pending_age_seconds": summary.oldest_pending_age_seconds,
        },
        "messages": messages,
    })))
}

/// The outbox backlog as Prometheus gauges; `app.rs` registers it.
pub struct OutboxGauges {
    pub pool: PgPool,
}

impl GaugeSource for OutboxGauges {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn collect(&self) -> GaugeFuture<'_> {
        Box::pin(async move {
            let summary = summary(&self.pool).await?;
            Ok(vec![
                Gauge::single(
                    "ledger_outbox_pending",
                    "Outbox messages not sent yet.",
                    summary.pending as f64,
                ),
                Gauge::single(
                    "ledger_outbox_oldest_pending_age_seconds",
                    "Age of the fact behind the oldest message not sent yet (0 when none).",
                    summary.oldest_pending_age_seconds,
                ),
                Gauge::new(
                    "ledger_outbox_failed",
                    "Outbox messages that will never be sent, by reason.",
                    FAILURE_REASONS
                        .iter()
                        .map(|reason| {
                            let count = summary.failed.get(*reason).copied().unwrap_or(0);
                            (vec![("reason", (*reason).to_owned())], count as f64)
                        })
                        .collect(),
                ),
            ])
        })
    }
}
