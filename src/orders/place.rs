//! Placing an order (`POST /api/orders`).
//!
//! One atomic append writes the order, a new customer if the phone was unknown, and the cashback
//! hold when cashback is redeemed. The client's `external_id` is the idempotency key: a repeat
//! with the same content gets the original answer, other content gets `idempotency_conflict`.

use chrono::{Duration, Utc};
use ledger_events::accounts::{order_receivable, shop_sales};
use ledger_events::domain::{CashbackHoldPlaced, FxQuote, OrderItem, OrderPlaced};
use ledger_events::money::MAX_AMOUNT_MINOR;
use ledger_events::{
    AppendRequest, Currency, DomainEvent, EventMetadata, ExpectedVersion, Fingerprint, Idempotency,
    Postings, RecordedEvent, StreamId,
};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::cashback::account;
use crate::command::{self, Command, CommandError, CommandFailure};
use crate::customers::register::{self, RegisterCustomer};
use crate::customers::state as customers;
use crate::rejection::Rejection;
use crate::state::AppState;

/// Who the order is for, as the client named them.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerReference {
    Id(String),
    /// Normalised phone; an unknown one creates the customer.
    Phone(String),
}

/// A validated `POST /api/orders` body. Serialised as the idempotency fingerprint: only what
/// the client sent, amounts already in minor units so `"150"` and `"150.00"` are the same.
#[derive(Clone, Debug, Serialize)]
pub struct PlaceOrder {
    pub external_id: String,
    pub customer: CustomerReference,
    pub currency: Currency,
    pub items: Vec<OrderItem>,
    pub cashback_to_redeem_minor: Option<i64>,
}

/// The answer to a placement (the same for a repeat, apart from `created`).
#[derive(Clone, Debug)]
pub struct PlacedOrder {
    pub placed: OrderPlaced,
    pub position: i64,
    pub created: bool,
}

impl PlaceOrder {
    fn idempotency(&self) -> Idempotency {
        Idempotency::new(
            format!("api:order:{}", self.external_id),
            Fingerprint::of(self),
        )
    }

    /// Σ qty·price, or None if it leaves the accepted range.
    pub fn items_total_minor(&self) -> Option<i64> {
        self.items.iter().try_fold(0_i64, |total, item| {
            let line = item.price_minor.checked_mul(i64::from(item.qty))?;
            total
                .checked_add(line)
                .filter(|sum| *sum <= MAX_AMOUNT_MINOR)
        })
    }
}

pub async fn place(
    state: &AppState,
    order: &PlaceOrder,
    fx: Option<FxQuote>,
    metadata: &EventMetadata,
) -> Result<PlacedOrder, CommandFailure> {
    let items_total = order
        .items_total_minor()
        .ok_or_else(|| Rejection::InvalidAmount {
            field: "items".into(),
            message: "the order total is too large".into(),
        })?;
    let command = Place {
        order,
        items_total_minor: items_total,
        fx,
        idempotency: order.idempotency(),
        metadata,
    };
    command::execute(state, &command).await
}

struct Place<'a> {
    order: &'a PlaceOrder,
    items_total_minor: i64,
    fx: Option<FxQuote>,
    idempotency: Idempotency,
    metadata: &'a EventMetadata,
}

impl Command for Place<'_> {
    type Output = PlacedOrder;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<PlacedOrder, CommandError> {
        if let Some(original) = state
            .store
            .find_original(connection, &self.idempotency)
            .await?
        {
            return repeat(&original);
        }
        self.place_in(state, connection).await
    }
}

/// The original answer for a repeated `external_id`.
fn repeat(original: &RecordedEvent) -> Result<PlacedOrder, CommandError> {
    match &original.event {
        DomainEvent::OrderPlaced(placed) => Ok(PlacedOrder {
            placed: placed.clone(),
            position: original.position,
            created: false,
        }),
        other => Err(CommandError::Failed(anyhow::anyhow!(
            "an order idempotency key names a {} event",
            other.event_type()
        ))),
    }
}

impl Place<'_> {
    async fn place_in(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<PlacedOrder, CommandError> {
        let (order, items_total_minor, metadata) =
            (self.order, self.items_total_minor, self.metadata);
        let order_id = Uuid::now_v7().to_string();
        let order_stream = StreamId::order(&order_id);
        let mut request = AppendRequest::new(metadata.clone());

        let customer_id = match &order.customer {
            CustomerReference::Id(id) => {
                if !customers::exists(connection, id).await? {
                    return Err(Rejection::CustomerNotFound {
                        customer_id: id.clone(),
                    }
                    .into());
                }
                id.clone()
            }
            CustomerReference::Phone(phone) => {
                match customers::find_ids(connection, Some(phone), None).await?.0 {
                    Some(id) => id,
                    None => {
                        let (stream, registered) = register::new_customer(&RegisterCustomer {
                            phone: Some(phone.clone()),
                            ..RegisterCustomer::default()
                        });
                        let id = registered.customer_id.clone();
                        request.declare(&stream, ExpectedVersion::NoStream);
                        request.push_event(&stream, registered);
                        id
                    }
                }
            }
        };

        let redeemed = order.cashback_to_redeem_minor.unwrap_or(0);
        let hold_id = (redeemed > 0).then(|| format!("hold_{order_id}"));
        if let Some(hold_id) = &hold_id {
            let cashback = account::lock(state, connection, &customer_id, &order.currency).await?;
            if redeemed > cashback.available_minor() || redeemed > items_total_minor {
                return Err(cashback.insufficient(redeemed).into());
            }
            let stream = StreamId::cashback(&customer_id);
            request.declare(&stream, ExpectedVersion::after(cashback.stream_version));
            request.push_event(
                &stream,
                CashbackHoldPlaced {
                    customer_id: customer_id.clone(),
                    hold_id: hold_id.clone(),
                    order_id: order_id.clone(),
                    currency: order.currency.clone(),
                    amount_minor: redeemed,
                },
            );
        }

        let placed = OrderPlaced {
            order_id: order_id.clone(),
            external_id: order.external_id.clone(),
            customer_id,
            currency: order.currency.clone(),
            items: order.items.clone(),
            items_total_minor,
            cashback_redeemed_minor: redeemed,
            amount_minor: items_total_minor - redeemed,
            hold_id,
            fx: self.fx.clone(),
            expires_at: Utc::now() + Duration::hours(i64::from(state.config.order_ttl_hours)),
            postings: Postings::transfer(
                order_receivable(&order_id),
                shop_sales(),
                items_total_minor,
                &order.currency,
            ),
        };
        request.declare(&order_stream, ExpectedVersion::NoStream);
        request.push_event(&order_stream, placed.clone());
        let request = request.idempotent(self.idempotency.clone());

        let outcome = command::append(state, connection, &request).await?;
        if outcome.is_duplicate() {
            return repeat(outcome.keyed_event());
        }
        Ok(PlacedOrder {
            placed,
            position: outcome.position(),
            created: true,
        })
    }
}
