//! `/api/admin/events`, `/api/admin/streams/{id}`, `/api/admin/projections`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use ledger_events::StreamId;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::auth::{Admin, Authorized};
use crate::http::error::ApiError;
use crate::http::extract::{Path, Query};
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/events", get(events))
        .route("/api/admin/streams/{stream_id}", get(stream))
        .route("/api/admin/projections", get(projections))
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
}

fn bounded_integer(
    name: &str,
    text: Option<String>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    match text {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|value| range.contains(value))
            .ok_or_else(|| {
                ApiError::invalid(
                    name,
                    format!(
                        "{name} must be an integer from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
    }
}

/// The raw log by position, a page at a time (`next_after` continues).
async fn events(
    State(state): State<AppState>,
    _auth: Authorized<Admin>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let after = bounded_integer("after", query.after, 0, 0..=i64::MAX)?;
    let limit = bounded_integer("limit", query.limit, DEFAULT_PAGE, 1..=MAX_PAGE)?;
    let events = state.store.read_raw(after, limit).await?;
    let next_after = events.last().map_or(after, |event| event.position);
    Ok(Json(json!({ "events": events, "next_after": next_after })))
}

async fn stream(
    State(state): State<AppState>,
    _auth: Authorized<Admin>,
    Path(stream_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (version, events) = state
        .store
        .read_raw_stream(&StreamId::from_raw(stream_id.clone()))
        .await?;
    if events.is_empty() {
        return Err(ApiError::not_found(
            "not_found",
            format!("stream {stream_id:?} has no events"),
        ));
    }
    Ok(Json(
        json!({ "stream_id": stream_id, "version": version, "events": events }),
    ))
}

async fn projections(
    State(state): State<AppState>,
    _auth: Authorized<Admin>,
) -> Result<Json<Value>, ApiError> {
    let statuses = ledger_projections::status::projection_statuses(&state.pool).await?;
    let horizon_age = ledger_projections::status::xmin_horizon_age_seconds(&state.pool).await?;
    let head = state.store.head_position().await?;
    Ok(Json(json!({
        "projections": statuses,
        "head_position": head,
        "xmin_horizon_age_seconds": horizon_age,
    })))
}
