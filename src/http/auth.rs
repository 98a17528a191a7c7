//! Bearer-token authentication and scope checks, as extractors so that they run before the
//! body is read (401, then 403, then 400, then business rules).

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::infra::tokens::{self, ApiClient, Scope};
use crate::state::AppState;

/// Names the scope a route needs (`Authorized<OrdersWrite>`).
pub trait RequiredScope: Send + Sync {
    const SCOPE: Scope;
}

macro_rules! required_scopes {
    ($($marker:ident => $scope:expr),+ $(,)?) => {
        $(
            pub struct $marker;
            impl RequiredScope for $marker {
                const SCOPE: Scope = $scope;
            }
        )+
    };
}

required_scopes! {
    OrdersWrite => Scope::OrdersWrite,
    OrdersRead => Scope::OrdersRead,
    CashbackRead => Scope::CashbackRead,
    ReportsRead => Scope::ReportsRead,
    Admin => Scope::Admin,
}

/// An authenticated client holding scope `R` (or `admin`).
pub struct Authorized<R: RequiredScope> {
    pub client: ApiClient,
    required: PhantomData<R>,
}

impl<S, R> FromRequestParts<S> for Authorized<R>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    R: RequiredScope,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        let client = tokens::authenticate(
            &state.pool,
            &state.credentials,
            state.config.admin_token.as_ref(),
            token,
        )
        .await?
        .ok_or(ApiError::Unauthorized)?;
        if !client.has(R::SCOPE) {
            return Err(ApiError::Forbidden {
                scope: R::SCOPE.as_str(),
            });
        }
        Ok(Authorized {
            client,
            required: PhantomData,
        })
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let header = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
