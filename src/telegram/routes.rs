//! The Telegram routes: login and logout, the Mini App's `/api/me/...`, invoices, the bot's
//! webhook, and the operators' view of the outbox.

use axum::routing::{get, post};
use axum::Router;

use super::{invoice, login, me, outbox, webhook};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/telegram/auth", post(login::login))
        .route("/api/telegram/logout", post(login::logout))
        .route("/api/telegram/webhook", post(webhook::webhook))
        .route(
            "/api/telegram/payment/invoice",
            post(invoice::create_invoice),
        )
        .route("/api/me", get(me::me))
        .route("/api/me/orders", get(me::my_orders))
        .route("/api/me/cashback", get(me::my_cashback))
        .route(
            "/api/me/orders/{order_id}/payment-status",
            get(me::payment_status),
        )
        .route("/api/admin/outbox", get(outbox::admin::outbox_route))
}
