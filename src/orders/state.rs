//! An order's state, folded from its stream (`order-<id>`): what commands decide on.

use ledger_events::domain::{OrderPaid, OrderPlaced, PaymentProvider};
use ledger_events::{DomainEvent, RecordedEvent, StreamId};
use sqlx::PgConnection;

use crate::app::AppState;
use crate::command::CommandError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    AwaitingPayment,
    Paid,
    Completed,
    Refunded,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Completed => "completed",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// The gateway transaction currently holding an unpaid order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivePayment {
    pub provider: PaymentProvider,
    pub provider_id: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderState {
    pub placed: OrderPlaced,
    pub status: OrderStatus,
    pub active_payment: Option<ActivePayment>,
    /// The payment that paid it, once paid.
    pub payment: Option<OrderPaid>,
    pub version: i64,
}

impl OrderState {
    pub fn order_id(&self) -> &str {
        &self.placed.order_id
    }

    pub fn stream(&self) -> StreamId {
        StreamId::order(&self.placed.order_id)
    }
}

pub fn fold(events: &[RecordedEvent]) -> Option<OrderState> {
    let mut order: Option<OrderState> = None;
    for event in events {
        if let DomainEvent::OrderPlaced(placed) = &event.event {
            order = Some(OrderState {
                placed: placed.clone(),
                status: OrderStatus::AwaitingPayment,
                active_payment: None,
                payment: None,
                version: 0,
            });
        }
        let Some(state) = order.as_mut() else {
            continue;
        };
        state.version = event.stream_version;
        match &event.event {
            DomainEvent::OrderPaymentStarted(started) => {
                state.active_payment = Some(ActivePayment {
                    provider: started.provider,
                    provider_id: started.provider_id.clone(),
                });
            }
            DomainEvent::OrderPaymentEnded(ended) => {
                let ends_active = state.active_payment.as_ref().is_some_and(|active| {
                    active.provider == ended.provider && active.provider_id == ended.provider_id
                });
                if ends_active {
                    state.active_payment = None;
                }
            }
            DomainEvent::OrderPaid(paid) => {
                state.status = OrderStatus::Paid;
                state.active_payment = None;
                state.payment = Some(paid.clone());
            }
            DomainEvent::OrderCompleted(_) => state.status = OrderStatus::Completed,
            DomainEvent::OrderRefunded(_) => state.status = OrderStatus::Refunded,
            DomainEvent::OrderCancelled(_) => {
                state.status = OrderStatus::Cancelled;
                state.active_payment = None;
            }
            _ => {}
        }
    }
    order
}

/// Reads and folds an order inside a command's transaction.
pub async fn load(
    state: &AppState,
    connection: &mut PgConnection,
    order_id: &str,
) -> Result<Option<OrderState>, CommandError> {
    let events = state
        .store
        .read_stream_in(connection, &StreamId::order(order_id), 0)
        .await?;
    Ok(fold(&events))
}
