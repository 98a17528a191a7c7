//! `/api/admin/events`, `/api/admin/streams/{id}`, `/api/admin/projections`, and `/admin`
//! (the operator page, in `page.rs`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use ledger_events::store::RawFilter;
use ledger_events::StreamId;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::auth::{Admin, Authorized};
use crate::http::error::ApiError;
use crate::http::extract::{rfc3339, Path, Query};
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/events", get(events))
        .route("/api/admin/streams/{stream_id}", get(stream))
        .route("/api/admin/projections", get(projections))
        .route("/admin", get(super::page::operator_page))
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
    stream_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    source: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Where events come from (the metadata's `source`).
const SOURCES: &[&str] = &[
    "payme",
    "crystalpay",
    "telegram",
    "1c",
    "api",
    "operator",
    "system",
];

/// A filter value: blank counts as not given.
fn given(text: Option<String>) -> Option<String> {
    text.map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// A value of a closed set or a fixed format: when the parameter is there, it must hold one.
fn required_value(name: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    match text {
        Some(text) if text.trim().is_empty() => Err(ApiError::invalid(
            name,
            format!("{name} is empty; leave it out or give a value"),
        )),
        text => Ok(given(text)),
    }
}

impl EventsQuery {
    fn filter(&mut self) -> Result<RawFilter, ApiError> {
        let source = required_value("source", self.source.take())?;
        if let Some(source) = &source {
            if !SOURCES.contains(&source.as_str()) {
                return Err(ApiError::invalid(
                    "source",
                    format!("source must be one of {}", SOURCES.join(", ")),
                ));
            }
        }
        let moment = |name: &str, text: Option<String>| {
            required_value(name, text)?
                .map(|text| rfc3339(name, &text))
                .transpose()
        };
        Ok(RawFilter {
            stream_id: given(self.stream_id.take()),
            event_type: given(self.event_type.take()),
            source,
            from: moment("from", self.from.take())?,
            to: moment("to", self.to.take())?,
        })
    }
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

/// The raw log by position, a page at a time (`next_after` continues), narrowed by stream,
/// event type, source and recording time (`from` inclusive, `to` exclusive) when given.
async fn events(
    State(state): State<AppState>,
    _auth: Authorized<Admin>,
    Query(mut query): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = query.filter()?;
    let after = bounded_integer("after", query.after, 0, 0..=i64::MAX)?;
    let limit = bounded_integer("limit", query.limit, DEFAULT_PAGE, 1..=MAX_PAGE)?;
    let events = state.store.read_raw(after, limit, &filter).await?;
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
