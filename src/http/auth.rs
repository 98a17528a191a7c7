//! Bearer-token authentication and scope checks, and Mini App sessions, as extractors so that
//! they run before the body is read (401, then 403, then 400, then business rules).

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::infra::sessions::{self, MiniAppUser};
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
        let token = api_token(parts).ok_or(ApiError::Unauthorized)?;
        let client = tokens::authenticate(
            &state.pool,
            &state.credentials,
            state.config.admin_token.as_ref(),
            &token,
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

/// An API token as [`Authorized`] takes it: `Authorization: Bearer <token>`, or the password of
/// `Authorization: Basic` (any user name) — a browser that opened the operator page sends it
/// that way, to the page and to the report links on it. Mini App sessions stay bearer-only.
fn api_token(parts: &Parts) -> Option<String> {
    if let Some(token) = bearer_token(parts) {
        return Some(token.to_owned());
    }
    let header = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

/// An operator at a browser: the `admin` scope through [`Authorized`], but a missing or wrong
/// credential is answered with a Basic-auth challenge (`WWW-Authenticate`), so the browser asks.
pub struct OperatorLogin;

impl<S> FromRequestParts<S> for OperatorLogin
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Authorized::<Admin>::from_request_parts(parts, state).await {
            Ok(_) => Ok(OperatorLogin),
            Err(ApiError::Unauthorized) => Err(ApiError::LoginRequired),
            Err(other) => Err(other),
        }
    }
}

/// A Mini App user, from a session token (`Authorization: Bearer tgs_…`) issued by
/// `POST /api/telegram/auth`. Routes taking it act only on the session's own customer. A shop
/// or admin token is not a session (401), and a session token is never accepted by
/// [`Authorized`], which looks in another table.
pub struct MiniAppSession(pub MiniAppUser);

impl<S> FromRequestParts<S> for MiniAppSession
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        sessions::authenticate(&state.pool, token)
            .await?
            .map(MiniAppSession)
            .ok_or(ApiError::Unauthorized)
    }
}

/// Who may act on an order: the shop (a bearer token with scope `R`, any order) or a Mini App
/// user (a session, only the session customer's own orders). For routes both may call.
pub enum ShopOrMiniApp<R: RequiredScope> {
    Shop(Authorized<R>),
    MiniApp(MiniAppUser),
}

impl<R: RequiredScope> ShopOrMiniApp<R> {
    /// Whether this caller may see or act on an order of `customer_id` (`None`: a guest order).
    pub fn may_act_for(&self, customer_id: Option<&str>) -> bool {
        match self {
            ShopOrMiniApp::Shop(_) => true,
            ShopOrMiniApp::MiniApp(user) => customer_id == Some(user.customer_id.as_str()),
        }
    }

    /// The actor recorded in event metadata.
    pub fn actor(&self) -> String {
        match self {
            ShopOrMiniApp::Shop(auth) => auth.client.name.clone(),
            ShopOrMiniApp::MiniApp(user) => format!("telegram:{}", user.telegram_id),
        }
    }
}

impl<S, R> FromRequestParts<S> for ShopOrMiniApp<R>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    R: RequiredScope,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        if token.starts_with(sessions::SESSION_TOKEN_PREFIX) {
            if let Some(user) = sessions::authenticate(&app.pool, token).await? {
                return Ok(ShopOrMiniApp::MiniApp(user));
            }
        }
        Authorized::<R>::from_request_parts(parts, state)
            .await
            .map(ShopOrMiniApp::Shop)
    }
}
