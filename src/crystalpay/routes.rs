//! The CrystalPay routes: invoices, callbacks, the test-mode expiry and the web return page.

use axum::routing::{get, post};
use axum::Router;

use super::{callback, create, emulation, return_page};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/crystalpay/invoice", post(create::create_invoice))
        .route("/api/crystalpay/callback", post(callback::callback))
        .route(
            "/api/test/crystalpay/{invoice_id}/expire",
            post(emulation::expire),
        )
        .route("/pay/return", get(return_page::return_page))
}
