//! `X-API-Key` authentication of 1C stores.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use chrono_tz::Tz;
use ledger_events::Currency;
use sqlx::Row;

use crate::http::error::ApiError;
use crate::infra::security::sha256_hex;
use crate::state::AppState;

/// The store a request comes from, with what its operations are interpreted in.
#[derive(Clone, Debug)]
pub struct StoreContext {
    pub store_id: String,
    pub currency: Currency,
    pub timezone: Tz,
}

impl<S> FromRequestParts<S> for StoreContext
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let key = parts
            .headers
            .get("x-api-key")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        // Looked up by digest: the comparison is on a hash of the secret, so its timing reveals
        // nothing about the key. A key found valid is trusted for a second (the credential
        // cache), so revoking a store is felt within a second.
        let digest = sha256_hex(key);
        if let Some(store) = state.credentials.get::<StoreContext>(CACHE_KIND, &digest) {
            tracing::Span::current().record("store", store.store_id.as_str());
            return Ok(store);
        }
        let row = sqlx::query(
            "SELECT s.store_id, s.currency, s.timezone FROM onec_store_keys k \
             JOIN onec_stores s ON s.store_id = k.store_id \
             WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL",
        )
        .bind(&digest)
        .fetch_optional(&state.pool)
        .await?
        .ok_or(ApiError::Unauthorized)?;
        let currency: String = row.try_get("currency")?;
        let timezone: String = row.try_get("timezone")?;
        let store = StoreContext {
            store_id: row.try_get("store_id")?,
            currency: Currency::recorded(&currency).map_err(ApiError::internal)?,
            timezone: timezone.parse().map_err(|_| {
                ApiError::internal(anyhow::anyhow!(
                    "store has an unknown time zone {timezone:?}"
                ))
            })?,
        };
        state.credentials.put(CACHE_KIND, &digest, store.clone());
        tracing::Span::current().record("store", store.store_id.as_str());
        Ok(store)
    }
}

/// The credential cache's name for 1C store keys.
const CACHE_KIND: &str = "onec_store";
