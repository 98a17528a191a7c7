//! `?min_position=N` on projected reads (read-your-writes, `docs/api.md`, "Conventions").
//!
//! A position beyond the log's head answers 409 `not_caught_up` at once. A read that has to wait
//! takes one of `LEDGER_MAX_WAITING_READS` slots; when none is free it answers 503 `overloaded`
//! (with `Retry-After`) at once — the server is busy, the client's write is not lost — so waiting
//! reads stay bounded and cannot take the pool connections writes need.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ledger_projections::wait::{self, WaitError};
use serde::Deserialize;
use sqlx::PgPool;

use super::error::ApiError;
use super::extract::Query;
use crate::infra::read_replica::ReadTarget;
use crate::state::AppState;

/// Longest wait before answering 409 `not_caught_up`.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// The position a client wants a projection to have reached, if any.
#[derive(Clone, Copy, Debug, Default)]
pub struct MinPosition(pub Option<i64>);

#[derive(Deserialize)]
struct RawQuery {
    min_position: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for MinPosition {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) = Query::<RawQuery>::from_request_parts(parts, state).await?;
        match raw.min_position {
            None => Ok(MinPosition(None)),
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|position| *position >= 0)
                .map(|position| MinPosition(Some(position)))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "min_position",
                        "min_position must be a non-negative integer",
                    )
                }),
        }
    }
}

/// Where a projected read is answered, and the position of the projection read there.
pub struct ProjectedRead {
    /// The read replica when it has caught up with the client's position, else the primary.
    pub pool: PgPool,
    pub position: i64,
}

/// Finds a database whose `projection` has reached the client's position: the read replica
/// when one is configured and has (at once, no waiting), else the primary, waiting for it.
pub async fn caught_up(
    state: &AppState,
    projection: &'static str,
    min_position: MinPosition,
) -> Result<ProjectedRead, ApiError> {
    let fallback = match &state.replica {
        Some(replica) => match replica
            .position_if_caught_up(projection, min_position.0)
            .await
        {
            Ok(position) => {
                ReadTarget::Replica.record(&state.metrics);
                return Ok(ProjectedRead {
                    pool: replica.pool().clone(),
                    position,
                });
            }
            Err(fallback) => fallback,
        },
        None => ReadTarget::PrimaryOnly,
    };
    let position = primary_caught_up(state, projection, min_position).await?;
    fallback.record(&state.metrics);
    Ok(ProjectedRead {
        pool: state.pool.clone(),
        position,
    })
}

/// Waits for the primary's `projection` to reach the client's position; returns its position.
async fn primary_caught_up(
    state: &AppState,
    projection: &'static str,
    min_position: MinPosition,
) -> Result<i64, ApiError> {
    wait::wait_for_position(
        &state.pool,
        &state.board,
        projection,
        min_position.0,
        MAX_WAIT,
        || state.admission.try_waiting_read(),
    )
    .await
    .map_err(|error| match error {
        WaitError::NotCaughtUp { min_position, .. } => ApiError::NotCaughtUp { min_position },
        WaitError::TooManyWaiters => ApiError::Overloaded {
            what: "reads waiting for projections",
        },
        WaitError::Database(error) => error.into(),
    })
}
