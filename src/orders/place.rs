//! Placing an order (`POST /api/orders`).
//!
//! One atomic append writes the order, a new customer if the phone was unknown, and the cashback
//! hold when cashback is redeemed — and, when the redeemed cashback covers the whole total, the
//! payment too (nothing is left for a gateway to take). The client's `external_id` is the
//! idempotency key: a repeat with the same content gets the original answer — looked up before
//! any business rule or outside call, and again once the customer's cashback is locked, so
//! concurrent repeats all answer like the first — and other content gets `idempotency_conflict`.

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

use super::fx_quote;
use super::payment;
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
    /// None: a guest order (no account; no cashback either way).
    pub customer: Option<CustomerReference>,
    pub currency: Currency,
    pub items: Vec<OrderItem>,
    pub cashback_to_redeem_minor: Option<i64>,
}

/// The answer to a placement (the same for a repeat, apart from `created`).
#[derive(Clone, Debug)]
pub struct PlacedOrder {
    pub placed: OrderPlaced,
    /// `awaiting_payment`, or `paid` when redeemed cashback covered the whole total.
    pub paid_at_placement: bool,
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

    /// The rules a placement checks before anything is read: a total that fits, and cashback
    /// redeemed only by a customer and at most the total.
    fn checked_total(&self) -> Result<i64, Rejection> {
        let items_total = self
            .items_total_minor()
            .ok_or_else(|| Rejection::InvalidAmount {
                field: "items".into(),
                message: format!(
                    "the order total must not exceed {}",
                    self.currency.format_minor(MAX_AMOUNT_MINOR)
                ),
            })?;
        if self.cashback_to_redeem_minor.is_some() && self.customer.is_none() {
            return Err(Rejection::InvalidRequest {
                field: "cashback_to_redeem".into(),
                message: "a guest order (no customer_id or customer_phone) cannot redeem cashback"
                    .into(),
            });
        }
        Ok(items_total)
    }
}

pub async fn place(
    state: &AppState,
    order: &PlaceOrder,
    metadata: &EventMetadata,
) -> Result<PlacedOrder, CommandFailure> {
    let idempotency = order.idempotency();
    if let Some(original) = find_original(state, &idempotency).await? {
        return Ok(original);
    }
    let items_total_minor = order.checked_total()?;
    let fx = fx_quote::quote_for_order(state, order).await?;
    let command = Place {
        order,
        items_total_minor,
        fx,
        idempotency,
        metadata,
    };
    command::execute(state, &command).await
}

/// The original answer of a repeated `external_id`, outside any transaction.
async fn find_original(
    state: &AppState,
    idempotency: &Idempotency,
) -> Result<Option<PlacedOrder>, CommandFailure> {
    let mut connection = state.pool.acquire().await?;
    match state
        .store
        .find_original(&mut connection, idempotency)
        .await
    {
        Ok(Some(original)) => Ok(Some(
            repeat(state, &mut connection, &original)
                .await
                .map_err(to_failure)?,
        )),
        Ok(None) => Ok(None),
        Err(error) => Err(to_failure(error.into())),
    }
}

fn to_failure(error: CommandError) -> CommandFailure {
    match error {
        CommandError::Rejected(rejection) => CommandFailure::Rejected(rejection),
        CommandError::Retry(conflict) => CommandFailure::Internal(anyhow::anyhow!(conflict)),
        CommandError::Failed(error) => CommandFailure::Internal(error),
    }
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
        if let Some(original) = self.original(state, connection).await? {
            return Ok(original);
        }
        self.place_in(state, connection).await
    }
}

/// The original answer for a repeated `external_id`. The key is on the placement's last event:
/// `OrderPlaced`, or `OrderPaidByCashback` right after it when cashback paid the whole order.
async fn repeat(
    state: &AppState,
    connection: &mut PgConnection,
    original: &RecordedEvent,
) -> Result<PlacedOrder, CommandError> {
    let placed = match &original.event {
        DomainEvent::OrderPlaced(placed) => placed.clone(),
        DomainEvent::OrderPaidByCashback(paid) => {
            let order = super::state::load(state, connection, &paid.order_id)
                .await?
                .ok_or_else(|| {
                    CommandError::Failed(anyhow::anyhow!(
                        "order {} was paid but never placed",
                        paid.order_id
                    ))
                })?;
            order.placed
        }
        other => {
            return Err(CommandError::Failed(anyhow::anyhow!(
                "an order idempotency key names a {} event",
                other.event_type()
            )))
        }
    };
    Ok(PlacedOrder {
        paid_at_placement: placed.amount_minor == 0,
        placed,
        position: original.position,
        created: false,
    })
}

impl Place<'_> {
    async fn original(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Option<PlacedOrder>, CommandError> {
        match state
            .store
            .find_original(connection, &self.idempotency)
            .await?
        {
            Some(original) => repeat(state, connection, &original).await.map(Some),
            None => Ok(None),
        }
    }

    async fn place_in(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<PlacedOrder, CommandError> {
        let order = self.order;
        let order_id = Uuid::now_v7().to_string();
        let mut request = AppendRequest::new(self.metadata.clone());
        let customer_id = match &order.customer {
            None => None,
            Some(reference) => Some(customer_for(connection, &mut request, reference).await?),
        };

        let redeemed = order.cashback_to_redeem_minor.unwrap_or(0);
        let hold_id = (redeemed > 0).then(|| format!("hold_{order_id}"));
        let mut balance_minor = 0;
        if let (Some(hold_id), Some(customer_id)) = (&hold_id, &customer_id) {
            let cashback = account::lock(state, connection, customer_id, &order.currency).await?;
            // A concurrent twin may have committed while we waited for the lock: its hold is
            // not ours to refuse against; answer as it was answered.
            if let Some(original) = self.original(state, connection).await? {
                return Ok(original);
            }
            if redeemed > cashback.available_minor() || redeemed > self.items_total_minor {
                return Err(cashback.insufficient(redeemed).into());
            }
            balance_minor = cashback.balance_minor;
            let stream = StreamId::cashback(customer_id);
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

        let placed = self.placed(state, order_id, customer_id, redeemed, hold_id);
        let order_stream = StreamId::order(&placed.order_id);
        request.declare(&order_stream, ExpectedVersion::NoStream);
        request.push_event(&order_stream, placed.clone());
        let paid_at_placement = placed.amount_minor == 0;
        if paid_at_placement {
            payment::pay_with_cashback(&mut request, &placed, balance_minor)?;
        }
        let request = request.idempotent(self.idempotency.clone());

        let outcome = command::append(state, connection, &request).await?;
        if outcome.is_duplicate() {
            return repeat(state, connection, outcome.keyed_event()).await;
        }
        Ok(PlacedOrder {
            placed,
            paid_at_placement,
            position: outcome.position(),
            created: true,
        })
    }

    fn placed(
        &self,
        state: &AppState,
        order_id: String,
        customer_id: Option<String>,
        redeemed: i64,
        hold_id: Option<String>,
    ) -> OrderPlaced {
        let order = self.order;
        OrderPlaced {
            external_id: order.external_id.clone(),
            customer_id,
            currency: order.currency.clone(),
            items: order.items.clone(),
            items_total_minor: self.items_total_minor,
            cashback_redeemed_minor: redeemed,
            amount_minor: self.items_total_minor - redeemed,
            hold_id,
            fx: self.fx.clone(),
            expires_at: Utc::now() + Duration::hours(i64::from(state.config.order_ttl_hours)),
            postings: Postings::transfer(
                order_receivable(&order_id),
                shop_sales(),
                self.items_total_minor,
                &order.currency,
            ),
            order_id,
        }
    }
}

/// The customer an order names: an existing id, or the owner of a phone — registered in the
/// same append when the phone is new.
async fn customer_for(
    connection: &mut PgConnection,
    request: &mut AppendRequest,
    reference: &CustomerReference,
) -> Result<String, CommandError> {
    match reference {
        CustomerReference::Id(id) => {
            if customers::exists(connection, id).await? {
                Ok(id.clone())
            } else {
                Err(Rejection::CustomerNotFound {
                    customer_id: id.clone(),
                }
                .into())
            }
        }
        CustomerReference::Phone(phone) => {
            if let Some(id) = customers::find_ids(connection, Some(phone), None).await?.0 {
                return Ok(id);
            }
            let (stream, registered) = register::new_customer(&RegisterCustomer {
                phone: Some(phone.clone()),
                ..RegisterCustomer::default()
            });
            let id = registered.customer_id.clone();
            request.declare(&stream, ExpectedVersion::NoStream);
            request.push_event(&stream, registered);
            Ok(id)
        }
    }
}
