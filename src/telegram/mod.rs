//! Telegram: Mini App login and sessions, the Mini App's own routes, Telegram Payments (invoice
//! links, pre-checkout, charges and refunds through the bot's webhook), and notifications sent
//! through an outbox (`docs/telegram.md`).
//!
//! Shape: routes ([`routes`]) → commands ([`login`] registers through `customers`,
//! [`charges`] pay and refund through `orders::payment`, [`contact`] links a shared phone) →
//! events on `telegram_payment-<charge id>`, the order's and the customer's streams →
//! projections `orders` (the order's `payments` and `flags`) and `outbox` (messages, sent by
//! [`outbox::sender`]).
//!
//! - [`init_data`] and [`third_party`]: pure validation of the Mini App's `initData` (bot token
//!   HMAC; Ed25519 for third parties).
//! - [`login`], [`me`]: sessions (stored in `infra::sessions`, checked by
//!   `http::auth::MiniAppSession`) and what a session may read.
//! - [`bot_api`]: the calls we make to Telegram. [`invoice`]: `createInvoiceLink`.
//! - [`webhook`] reads [`updates`] and dispatches: [`pre_checkout`] (decide and answer within
//!   10 s), [`charges`], [`contact`].
//! - [`outbox`]: the sender, outcomes, operator alerts, the admin view and gauges.

pub mod bot_api;
pub mod charges;
pub mod contact;
pub mod init_data;
pub mod invoice;
pub mod login;
pub mod me;
pub mod outbox;
pub mod pre_checkout;
pub mod routes;
pub mod third_party;
pub mod updates;
pub mod webhook;

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::infra::sessions;
use crate::state::AppState;

/// How often ended sessions and old update ids are deleted.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(600);
/// Rows deleted per table and round, so one round stays short.
const HOUSEKEEPING_BATCH: i64 = 10_000;

/// The outbox sender and the housekeeping of sessions and update ids.
pub fn spawn(tasks: &mut JoinSet<()>, state: AppState, shutdown: CancellationToken) {
    outbox::sender::spawn(tasks, state.clone(), shutdown.clone());
    tasks.spawn(async move {
        loop {
            if let Err(error) = housekeeping(&state).await {
                tracing::warn!(%error, "Telegram housekeeping failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(HOUSEKEEPING_INTERVAL) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
}

async fn housekeeping(state: &AppState) -> Result<(), sqlx::Error> {
    sessions::delete_ended(&state.pool, HOUSEKEEPING_BATCH).await?;
    sqlx::query(
        "DELETE FROM telegram_updates WHERE update_id IN (SELECT update_id FROM telegram_updates \
         WHERE received_at < now() - interval '7 days' LIMIT $1)",
    )
    .bind(HOUSEKEEPING_BATCH)
    .execute(&state.pool)
    .await?;
    Ok(())
}
