//! Customers as API clients read them (`customers_view`).

use async_trait::async_trait;
use ledger_events::{DomainEvent, RecordedEvent};
use sqlx::PgConnection;

use super::expect_one_row;
use crate::{ProjectionError, Projector};

pub struct Customers;

#[async_trait]
impl Projector for Customers {
    fn name(&self) -> &'static str {
        "customers"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["customer"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["customers_view"]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let result = match &event.event {
            DomainEvent::CustomerRegistered(registered) => {
                sqlx::query(
                    "INSERT INTO customers_view (customer_id, phone, telegram_id, name, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(&registered.customer_id)
                .bind(&registered.phone)
                .bind(registered.telegram_id)
                .bind(&registered.name)
                .bind(event.recorded_at)
                .execute(connection)
                .await?
            }
            DomainEvent::CustomerTelegramLinked(linked) => {
                sqlx::query(
                    "UPDATE customers_view SET telegram_id = $2, updated_at = $3 WHERE customer_id = $1",
                )
                .bind(&linked.customer_id)
                .bind(linked.telegram_id)
                .bind(event.recorded_at)
                .execute(connection)
                .await?
            }
            DomainEvent::CustomerPhoneLinked(linked) => {
                sqlx::query("UPDATE customers_view SET phone = $2, updated_at = $3 WHERE customer_id = $1")
                    .bind(&linked.customer_id)
                    .bind(&linked.phone)
                    .bind(event.recorded_at)
                    .execute(connection)
                    .await?
            }
            _ => return Ok(()),
        };
        expect_one_row(result, event, "customers_view")
    }
}
