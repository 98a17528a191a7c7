//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and the schema is in place: the server can serve requests.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let schema_ready: Result<bool, sqlx::Error> =
        sqlx::query_scalar("SELECT to_regclass('public.events') IS NOT NULL")
            .fetch_one(&state.pool)
            .await;
    match schema_ready {
        Ok(true) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": "migrations not applied"})),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": "database unavailable"})),
            )
        }
    }
}
