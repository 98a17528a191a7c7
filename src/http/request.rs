//! Per-request facts handlers put into event metadata.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ledger_events::{EventMetadata, Source};

/// The `x-request-id` set (or propagated) by the router's request-id layer.
#[derive(Clone, Debug, Default)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(
            parts
                .headers
                .get("x-request-id")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

impl RequestId {
    /// Metadata for events caused by this request.
    pub fn metadata(&self, source: Source, actor: impl Into<String>) -> EventMetadata {
        EventMetadata::new(source, actor).with_request_id(self.0.clone())
    }
}
