//! An order's state, folded from its stream (`order-<id>`): what commands decide on.

use ledger_events::domain::{OrderPaid, OrderPlaced, PaymentProvider};
use ledger_events::{DomainEvent, RecordedEvent, StreamId};
use sqlx::PgConnection;

use crate::command::CommandError;
use crate::rejection::Rejection;
use crate::state::AppState;

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

    /// Whether a gateway may start taking payment for the order: it awaits payment and no
    /// other gateway transaction holds it. Every gateway that invoices asks this.
    pub fn check_payable(&self) -> Result<(), Rejection> {
        let refuse = |message: String| Rejection::InvalidState {
            status: self.status.as_str().to_owned(),
            message,
        };
        if self.status != OrderStatus::AwaitingPayment {
            return Err(refuse(format!(
                "only an order awaiting payment can be paid (the order is {})",
                self.status.as_str()
            )));
        }
        if let Some(active) = &self.active_payment {
            return Err(refuse(format!(
                "the order is being paid through {} ({})",
                active.provider.as_str(),
                active.provider_id
            )));
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    //! Given an order's events, then this state: what every order command decides on.

    use chrono::Utc;
    use ledger_events::accounts::{gateway_clearing, order_receivable, shop_sales};
    use ledger_events::domain::*;
    use ledger_events::{Currency, EventMetadata, Postings, Source};

    use super::*;

    const ORDER: &str = "o-1";

    fn placed() -> DomainEvent {
        let uzs = Currency::uzs();
        DomainEvent::OrderPlaced(OrderPlaced {
            order_id: ORDER.into(),
            external_id: "A-1".into(),
            customer_id: Some("c-1".into()),
            currency: uzs.clone(),
            items: vec![],
            items_total_minor: 10_000,
            cashback_redeemed_minor: 0,
            amount_minor: 10_000,
            hold_id: None,
            fx: None,
            expires_at: Utc::now(),
            postings: Postings::transfer(order_receivable(ORDER), shop_sales(), 10_000, &uzs),
        })
    }

    fn started(provider_id: &str) -> DomainEvent {
        DomainEvent::OrderPaymentStarted(OrderPaymentStarted {
            order_id: ORDER.into(),
            provider: PaymentProvider::Payme,
            provider_id: provider_id.into(),
            amount_minor: 10_000,
            currency: Currency::uzs(),
        })
    }

    fn ended(provider_id: &str) -> DomainEvent {
        DomainEvent::OrderPaymentEnded(OrderPaymentEnded {
            order_id: ORDER.into(),
            provider: PaymentProvider::Payme,
            provider_id: provider_id.into(),
            reason: "4".into(),
        })
    }

    fn paid(provider_id: &str) -> DomainEvent {
        let uzs = Currency::uzs();
        DomainEvent::OrderPaid(OrderPaid {
            order_id: ORDER.into(),
            provider: PaymentProvider::Payme,
            provider_id: provider_id.into(),
            amount_minor: 10_000,
            currency: uzs.clone(),
            cashback_accrued_minor: 500,
            postings: Postings::transfer(
                gateway_clearing("payme"),
                order_receivable(ORDER),
                10_000,
                &uzs,
            ),
        })
    }

    fn given(events: Vec<DomainEvent>) -> Option<OrderState> {
        let recorded: Vec<RecordedEvent> = events
            .into_iter()
            .enumerate()
            .map(|(index, event)| RecordedEvent {
                position: index as i64 + 1,
                tx_id: index as i64 + 1,
                stream_id: StreamId::order(ORDER),
                stream_version: index as i64 + 1,
                event_id: uuid::Uuid::now_v7(),
                event,
                metadata: EventMetadata::new(Source::Api, "test"),
                recorded_at: Utc::now(),
            })
            .collect();
        fold(&recorded)
    }

    #[test]
    fn no_events_no_order() {
        assert!(given(vec![]).is_none());
    }

    #[test]
    fn a_placed_order_awaits_payment_at_version_one() {
        let order = given(vec![placed()]).unwrap();
        assert_eq!(order.status, OrderStatus::AwaitingPayment);
        assert_eq!(order.version, 1);
        assert!(order.active_payment.is_none());
    }

    #[test]
    fn only_the_active_transaction_ending_frees_the_order() {
        let other_ended = given(vec![placed(), started("p-1"), ended("p-2")]).unwrap();
        assert_eq!(
            other_ended.active_payment.map(|active| active.provider_id),
            Some("p-1".to_owned()),
            "an unrelated transaction's end leaves the active one in place"
        );
        let freed = given(vec![placed(), started("p-1"), ended("p-1")]).unwrap();
        assert!(freed.active_payment.is_none());
        assert_eq!(freed.version, 3);
    }

    #[test]
    fn paid_then_completed_keeps_the_payment() {
        let order = given(vec![
            placed(),
            started("p-1"),
            paid("p-1"),
            DomainEvent::OrderCompleted(OrderCompleted {
                order_id: ORDER.into(),
            }),
        ])
        .unwrap();
        assert_eq!(order.status, OrderStatus::Completed);
        assert!(order.active_payment.is_none());
        assert_eq!(order.payment.unwrap().cashback_accrued_minor, 500);
    }
}
