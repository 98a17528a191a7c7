//! A customer's state, folded from its stream (`customer-<id>`), and the lookups by phone and
//! Telegram id (the inline `customer_index`, written in the append transaction).

use ledger_events::{DomainEvent, RecordedEvent, StreamId};
use sqlx::{PgConnection, Row};

use crate::command::CommandError;
use crate::state::AppState;

#[derive(Clone, Debug, PartialEq)]
pub struct CustomerState {
    pub customer_id: String,
    pub phone: Option<String>,
    pub telegram_id: Option<i64>,
    pub name: Option<String>,
    pub version: i64,
    /// Position of the stream's last event.
    pub position: i64,
}

pub fn fold(events: &[RecordedEvent]) -> Option<CustomerState> {
    let mut state: Option<CustomerState> = None;
    for event in events {
        match (&mut state, &event.event) {
            (None, DomainEvent::CustomerRegistered(registered)) => {
                state = Some(CustomerState {
                    customer_id: registered.customer_id.clone(),
                    phone: registered.phone.clone(),
                    telegram_id: registered.telegram_id,
                    name: registered.name.clone(),
                    version: 0,
                    position: 0,
                });
            }
            (Some(customer), DomainEvent::CustomerTelegramLinked(linked)) => {
                customer.telegram_id = Some(linked.telegram_id);
            }
            (Some(customer), DomainEvent::CustomerPhoneLinked(linked)) => {
                customer.phone = Some(linked.phone.clone());
            }
            _ => {}
        }
        if let Some(customer) = &mut state {
            customer.version = event.stream_version;
            customer.position = event.position;
        }
    }
    state
}

pub async fn load(
    state: &AppState,
    connection: &mut PgConnection,
    customer_id: &str,
) -> Result<Option<CustomerState>, CommandError> {
    let events = state
        .store
        .read_stream_in(connection, &StreamId::customer(customer_id), 0)
        .await?;
    Ok(fold(&events))
}

/// Customer ids owning this phone and this Telegram id (either may be unknown).
pub async fn find_ids(
    connection: &mut PgConnection,
    phone: Option<&str>,
    telegram_id: Option<i64>,
) -> Result<(Option<String>, Option<String>), sqlx::Error> {
    let row = sqlx::query(
        "SELECT (SELECT customer_id FROM customer_index WHERE phone = $1) AS by_phone, \
                (SELECT customer_id FROM customer_index WHERE telegram_id = $2) AS by_telegram",
    )
    .bind(phone)
    .bind(telegram_id)
    .fetch_one(connection)
    .await?;
    Ok((row.try_get("by_phone")?, row.try_get("by_telegram")?))
}

pub async fn exists(connection: &mut PgConnection, customer_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM customer_index WHERE customer_id = $1)")
        .bind(customer_id)
        .fetch_one(connection)
        .await
}
