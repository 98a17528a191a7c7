//! Completing and cancelling orders (`POST /api/orders/{id}/complete|cancel`, and expiry).

use ledger_events::domain::{CashbackHoldVoided, OrderCancelled, OrderCompleted};
use ledger_events::{AppendRequest, EventMetadata, ExpectedVersion, StreamId};
use sqlx::PgConnection;

use super::state::{self, OrderState, OrderStatus};
use crate::command::{self, Command, CommandError, CommandFailure};
use crate::rejection::Rejection;
use crate::state::AppState;

/// The state an order was left in by a command, with the write's position.
#[derive(Clone, Debug)]
pub struct Transition {
    pub order_id: String,
    pub status: OrderStatus,
    pub position: i64,
}

/// Goods delivered: only a paid order. A completed order's payment can no longer be cancelled
/// (Payme answers -31007).
pub async fn complete(
    state: &AppState,
    order_id: &str,
    metadata: &EventMetadata,
) -> Result<Transition, CommandFailure> {
    command::execute(state, &Complete { order_id, metadata }).await
}

struct Complete<'a> {
    order_id: &'a str,
    metadata: &'a EventMetadata,
}

impl Command for Complete<'_> {
    type Output = Transition;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Transition, CommandError> {
        let (order_id, metadata) = (self.order_id, self.metadata);
        let order = load_existing(state, connection, order_id).await?;
        if order.status != OrderStatus::Paid {
            return Err(wrong_state(&order, "only a paid order can be completed").into());
        }
        let request = AppendRequest::new(metadata.clone())
            .expect(&order.stream(), ExpectedVersion::Exact(order.version))
            .event(
                &order.stream(),
                OrderCompleted {
                    order_id: order_id.to_owned(),
                },
            );
        let outcome = command::append(state, connection, &request).await?;
        Ok(Transition {
            order_id: order_id.to_owned(),
            status: OrderStatus::Completed,
            position: outcome.position(),
        })
    }
}

/// Why an order is being cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// A client asked.
    Api,
    /// Unpaid past `LEDGER_ORDER_TTL_HOURS`.
    Expired,
}

impl CancelReason {
    fn as_str(self) -> &'static str {
        match self {
            CancelReason::Api => "api",
            CancelReason::Expired => "expired",
        }
    }
}

/// Cancels an unpaid order with no active gateway transaction; voids its cashback hold.
pub async fn cancel(
    state: &AppState,
    order_id: &str,
    reason: CancelReason,
    metadata: &EventMetadata,
) -> Result<Transition, CommandFailure> {
    command::execute(
        state,
        &Cancel {
            order_id,
            reason,
            metadata,
        },
    )
    .await
}

struct Cancel<'a> {
    order_id: &'a str,
    reason: CancelReason,
    metadata: &'a EventMetadata,
}

impl Command for Cancel<'_> {
    type Output = Transition;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Transition, CommandError> {
        let (order_id, reason, metadata) = (self.order_id, self.reason, self.metadata);
        let order = load_existing(state, connection, order_id).await?;
        if order.status != OrderStatus::AwaitingPayment {
            return Err(
                wrong_state(&order, "only an order awaiting payment can be cancelled").into(),
            );
        }
        if let Some(active) = &order.active_payment {
            return Err(wrong_state(
                &order,
                &format!(
                    "the order has an active {} transaction ({}); it must end first",
                    active.provider.as_str(),
                    active.provider_id
                ),
            )
            .into());
        }
        claim_streams_of(state, connection, &order).await?;
        let request = cancellation(&order, reason, metadata);
        let outcome = command::append(state, connection, &request).await?;
        Ok(Transition {
            order_id: order_id.to_owned(),
            status: OrderStatus::Cancelled,
            position: outcome.position(),
        })
    }
}

/// A cancellation that voids a hold writes the customer's cashback stream too: claim both
/// streams the way every cashback writer does (before this transaction's first write), so a
/// concurrent 1C chunk and this command take the streams in one order and neither is refused.
/// The order read before the claim may have moved on meanwhile: then run again.
async fn claim_streams_of(
    state: &AppState,
    connection: &mut PgConnection,
    order: &OrderState,
) -> Result<(), CommandError> {
    let (Some(customer_id), Some(_)) = (&order.placed.customer_id, &order.placed.hold_id) else {
        return Ok(());
    };
    let streams = [StreamId::cashback(customer_id), order.stream()];
    let versions = state.store.lock_streams(connection, &streams).await?;
    if versions[1] != order.version {
        return Err(CommandError::Retry(
            format!(
                "order {} moved on while its streams were claimed",
                order.order_id()
            )
            .into(),
        ));
    }
    Ok(())
}

fn cancellation(
    order: &OrderState,
    reason: CancelReason,
    metadata: &EventMetadata,
) -> AppendRequest {
    let placed = &order.placed;
    let mut request = AppendRequest::new(metadata.clone())
        .expect(&order.stream(), ExpectedVersion::Exact(order.version));
    if let (Some(customer_id), Some(hold_id)) = (&placed.customer_id, &placed.hold_id) {
        request.push_event(
            &StreamId::cashback(customer_id),
            CashbackHoldVoided {
                customer_id: customer_id.clone(),
                hold_id: hold_id.clone(),
                order_id: placed.order_id.clone(),
                currency: placed.currency.clone(),
                amount_minor: placed.cashback_redeemed_minor,
                reason: reason.as_str().to_owned(),
            },
        );
    }
    request.push_event(
        &order.stream(),
        OrderCancelled {
            order_id: placed.order_id.clone(),
            reason: reason.as_str().to_owned(),
            postings: Some(placed.postings.reversed()),
        },
    );
    request
}

pub async fn load_existing(
    state: &AppState,
    connection: &mut PgConnection,
    order_id: &str,
) -> Result<OrderState, CommandError> {
    state::load(state, connection, order_id)
        .await?
        .ok_or_else(|| {
            Rejection::OrderNotFound {
                order_id: order_id.to_owned(),
            }
            .into()
        })
}

pub fn wrong_state(order: &OrderState, message: &str) -> Rejection {
    Rejection::InvalidState {
        status: order.status.as_str().to_owned(),
        message: format!("{message} (the order is {})", order.status.as_str()),
    }
}
