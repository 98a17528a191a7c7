//! Path and query extractors whose rejections go through the one error enum, so a client gets
//! `{error, message}` JSON for a malformed path or query string like for everything else.
//!
//! Ids are opaque: a path segment that cannot be decoded (invalid percent-encoding or UTF-8)
//! names nothing we have, so it is answered 404 like any unknown id, never 400.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `axum::extract::Path`, answering 404 `not_found` when the path cannot be read.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // No id holds NUL (PostgreSQL text cannot), and a raw NUL byte never gets past the HTTP
        // parser: `%00` is the only way one reaches a parameter.
        if parts.uri.path().contains("%00") {
            return Err(ApiError::not_found(
                "not_found",
                "no such resource (the path holds a NUL character)",
            ));
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::MissingPathParams(missing)) => Err(ApiError::internal(
                anyhow::anyhow!("a route reads a path parameter it does not have: {missing}"),
            )),
            Err(_undecodable) => Err(ApiError::not_found(
                "not_found",
                "no such resource (the path could not be decoded)",
            )),
        }
    }
}

/// `axum::extract::Query`, answering 400 `invalid_request` for a malformed query string (a
/// repeated key, a value of the wrong type).
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(|query| query.contains("%00")) {
            return Err(ApiError::InvalidRequest {
                field: None,
                message: "the query string holds a NUL character (%00), which no text may contain"
                    .into(),
            });
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection: QueryRejection| ApiError::InvalidRequest {
                field: None,
                message: format!("the query string is malformed: {}", rejection.body_text()),
            })
    }
}

/// A query value that must be an RFC 3339 moment (`from`, `to`, `at`); `name` is the field named
/// in the 400.
pub fn rfc3339(
    name: &str,
    text: &str,
) -> Result<chrono::DateTime<chrono::Utc>, crate::http::error::ApiError> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|moment| moment.with_timezone(&chrono::Utc))
        .map_err(|_| {
            crate::http::error::ApiError::invalid(
                name,
                format!("{name} must be an RFC 3339 moment, e.g. 2026-11-20T00:00:00Z"),
            )
        })
}
