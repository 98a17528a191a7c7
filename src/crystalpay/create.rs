//! `POST /api/crystalpay/invoice {order_id, context}`: an invoice at CrystalPay for an order.
//!
//! Callers: the shop (bearer `orders:write`, any order, guest orders too) or the order's own
//! customer's Mini App session. Amount and currency are the order's own; the `redirect_url`
//! depends on the context ([`super::links`]).
//!
//! One live invoice per order: the invoice holds the order (`OrderPaymentStarted`, in the same
//! append as `CrystalPayInvoiceCreated`), so asking again while it is live answers the same
//! invoice, and no other gateway can take the order meanwhile. Concurrent asks for one order
//! are serialised by a PostgreSQL advisory lock held across the outgoing call, so they never
//! make two invoices at CrystalPay. A failed create answers CrystalPay's own error text and
//! records nothing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use ledger_events::domain::{
    CrystalPayContext, CrystalPayInvoiceCreated, OrderPaymentStarted, PaymentProvider,
};
use ledger_events::{
    AppendRequest, EventMetadata, ExpectedVersion, Fingerprint, Idempotency, Source, StreamId,
};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

use super::client::{CrystalPayApi, NewInvoice};
use super::invoice::{self, Invoice};
use super::links;
use crate::command::{self, Command, CommandError};
use crate::http::auth::{OrdersWrite, ShopOrMiniApp};
use crate::http::body::{Fields, JsonBody};
use crate::http::error::ApiError;
use crate::http::request::RequestId;
use crate::orders::state::{self as order_state, OrderState};
use crate::rejection::Rejection;
use crate::state::AppState;

/// How long a CrystalPay invoice stays payable (the lifetime sweep's default too).
pub const LIFETIME_MINUTES: u32 = crate::config::CRYSTALPAY_INVOICE_LIFETIME_MINUTES;
/// How long a request waits while another one creates the same order's invoice.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(25);

pub async fn create_invoice(
    State(state): State<AppState>,
    caller: ShopOrMiniApp<OrdersWrite>,
    request_id: RequestId,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let fields = Fields::root(&body)?;
    let order_id = fields.string("order_id")?;
    let context = match fields.string("context")?.as_str() {
        "telegram" => CrystalPayContext::Telegram,
        "web" => CrystalPayContext::Web,
        other => {
            return Err(ApiError::invalid(
                "context",
                format!("context must be \"telegram\" or \"web\", not {other:?}"),
            ))
        }
    };
    let api = CrystalPayApi::of(&state).ok_or(ApiError::CrystalPayClosed)?;
    let lock = OrderLock::acquire(&state, &order_id).await?;
    let answer = create_locked(&state, &api, &caller, &order_id, context, &request_id).await;
    lock.release().await;
    answer
}

async fn create_locked(
    state: &AppState,
    api: &CrystalPayApi<'_>,
    caller: &ShopOrMiniApp<OrdersWrite>,
    order_id: &str,
    context: CrystalPayContext,
    request_id: &RequestId,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let not_found =
        || ApiError::not_found("order_not_found", format!("order {order_id:?} not found"));
    let mut connection = state.pool.acquire().await?;
    let order = order_state::load(state, &mut connection, order_id)
        .await
        .map_err(command_error)?
        .filter(|order| caller.may_act_for(order.placed.customer_id.as_deref()))
        .ok_or_else(not_found)?;
    if let Some(live) = live_invoice(state, &mut connection, &order).await? {
        return Ok((StatusCode::OK, Json(answer(&live))));
    }
    drop(connection);
    payable(&order).map_err(ApiError::from)?;
    let placed = &order.placed;
    let redirect_url = links::redirect_url(&state.config, context, order_id)?;
    let callback_url = format!("{}/api/crystalpay/callback", state.config.public_url);
    let request = Uuid::now_v7().to_string();
    let created = api
        .create(&NewInvoice {
            amount: placed.currency.format_minor(placed.amount_minor),
            currency: placed.currency.code(),
            lifetime_minutes: LIFETIME_MINUTES,
            description: format!("Order {}", placed.external_id),
            redirect_url: &redirect_url,
            callback_url: &callback_url,
            extra: json!({"order_id": order_id, "request_id": request}).to_string(),
        })
        .await
        .map_err(|failure| {
            tracing::warn!(order_id, error = %failure, "CrystalPay invoice/create failed");
            ApiError::CrystalPayApi {
                message: failure.to_string(),
            }
        })?;
    let invoice = CrystalPayInvoiceCreated {
        invoice_id: created.id,
        order_id: order_id.to_owned(),
        url: created.url,
        redirect_url,
        context,
        amount_minor: placed.amount_minor,
        currency: placed.currency.clone(),
        request_id: request,
        lifetime_minutes: LIFETIME_MINUTES,
        expires_at: Utc::now() + chrono::Duration::minutes(i64::from(LIFETIME_MINUTES)),
    };
    let metadata = request_id.metadata(Source::Api, caller.actor());
    let record = RecordInvoice {
        invoice: &invoice,
        metadata: &metadata,
    };
    if let Err(error) = command::execute(state, &record).await {
        tracing::warn!(order_id, invoice_id = %invoice.invoice_id,
            "a CrystalPay invoice was made but could not be recorded; it will expire unpaid");
        return Err(error.into());
    }
    Ok((StatusCode::CREATED, Json(created_answer(&invoice))))
}

fn command_error(error: CommandError) -> ApiError {
    match error {
        CommandError::Rejected(rejection) => rejection.into(),
        other => ApiError::internal(anyhow::anyhow!("{other:?}")),
    }
}

/// The CrystalPay invoice holding the order, if it is still live.
async fn live_invoice(
    state: &AppState,
    connection: &mut PgConnection,
    order: &OrderState,
) -> Result<Option<Invoice>, ApiError> {
    let Some(active) = order
        .active_payment
        .as_ref()
        .filter(|active| active.provider == PaymentProvider::Crystalpay)
    else {
        return Ok(None);
    };
    let invoice = invoice::load(state, connection, &active.provider_id)
        .await
        .map_err(command_error)?;
    Ok(invoice.filter(Invoice::is_live))
}

/// Payable through a gateway ([`OrderState::check_payable`]), with something left to pay.
fn payable(order: &OrderState) -> Result<(), Rejection> {
    order.check_payable()?;
    if order.placed.amount_minor <= 0 {
        return Err(Rejection::InvalidState {
            status: order.status.as_str().to_owned(),
            message: "the order has nothing left to pay".to_owned(),
        });
    }
    Ok(())
}

fn answer(invoice: &Invoice) -> Value {
    let mut body = created_answer(&invoice.created);
    body["state"] = json!(invoice.state.as_str());
    body
}

fn created_answer(invoice: &CrystalPayInvoiceCreated) -> Value {
    json!({
        "invoice_id": invoice.invoice_id,
        "url": invoice.url,
        "redirect_url": invoice.redirect_url,
        "order_id": invoice.order_id,
        "state": "notpayed",
        "amount": invoice.currency.format_minor(invoice.amount_minor),
        "currency": invoice.currency.code(),
        "expires_at": invoice.expires_at,
    })
}

/// The idempotency fingerprint of recording an invoice.
#[derive(Serialize)]
struct InvoiceFields<'a> {
    invoice_id: &'a str,
    order_id: &'a str,
}

/// Records the invoice CrystalPay made, holding the order — if the order is still payable.
struct RecordInvoice<'a> {
    invoice: &'a CrystalPayInvoiceCreated,
    metadata: &'a EventMetadata,
}

impl Command for RecordInvoice<'_> {
    type Output = ();

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<(), CommandError> {
        let invoice = self.invoice;
        let order = order_state::load(state, connection, &invoice.order_id)
            .await?
            .ok_or_else(|| Rejection::OrderNotFound {
                order_id: invoice.order_id.clone(),
            })?;
        payable(&order)?;
        let stream = StreamId::crystalpay_invoice(&invoice.invoice_id);
        let request = AppendRequest::new(self.metadata.clone())
            .expect(&order.stream(), ExpectedVersion::Exact(order.version))
            .expect(&stream, ExpectedVersion::NoStream)
            .event(
                &order.stream(),
                OrderPaymentStarted {
                    order_id: invoice.order_id.clone(),
                    provider: PaymentProvider::Crystalpay,
                    provider_id: invoice.invoice_id.clone(),
                    amount_minor: invoice.amount_minor,
                    currency: invoice.currency.clone(),
                },
            )
            .event(&stream, invoice.clone())
            .idempotent(Idempotency::new(
                format!("crystalpay:create:{}", invoice.invoice_id),
                Fingerprint::of(&InvoiceFields {
                    invoice_id: &invoice.invoice_id,
                    order_id: &invoice.order_id,
                }),
            ));
        command::append(state, connection, &request).await?;
        Ok(())
    }
}

/// A PostgreSQL advisory lock on "invoicing this order", held on its own connection across the
/// outgoing create call. If the request is abandoned while holding it, the connection is
/// closed rather than returned to the pool, which releases the lock.
struct OrderLock {
    connection: Option<PoolConnection<Postgres>>,
    key: String,
}

impl OrderLock {
    /// Waits for the lock without holding a connection meanwhile (a waiter holding one could
    /// starve the holder of the connections it needs), up to [`LOCK_WAIT`].
    async fn acquire(state: &AppState, order_id: &str) -> Result<Self, ApiError> {
        let key = format!("crystalpay:invoice:{order_id}");
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            let mut connection = state.pool.acquire().await?;
            let locked: bool =
                sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                    .bind(&key)
                    .fetch_one(&mut *connection)
                    .await?;
            if locked {
                return Ok(OrderLock {
                    connection: Some(connection),
                    key,
                });
            }
            drop(connection);
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::TooManyRequests {
                    message: "another request is creating this order's invoice; retry shortly"
                        .into(),
                });
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    async fn release(mut self) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(&self.key)
            .execute(&mut *connection)
            .await;
        if unlocked.is_err() {
            drop(connection.detach());
        }
    }
}

impl Drop for OrderLock {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            drop(connection.detach());
        }
    }
}
