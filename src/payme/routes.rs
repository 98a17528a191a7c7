//! `POST /api/payme` (JSON-RPC, always HTTP 200).

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
