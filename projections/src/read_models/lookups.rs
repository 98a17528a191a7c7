//! Inline lookup indexes: phone / Telegram id → customer, external id → order.
//!
//! Their unique constraints are what decide races between two commands creating the same
//! customer or order: the loser's transaction fails on the constraint and its command retries,
//! finding the winner.

use async_trait::async_trait;
use ledger_events::{DomainEvent, RecordedEvent};
use sqlx::PgConnection;

use super::expect_one_row;
use crate::{ProjectionError, Projector};

pub struct CustomerIndex;

#[async_trait]
impl Projector for CustomerIndex {
    fn name(&self) -> &'static str {
        "customer_index"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["customer"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["customer_index"]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let result = match &event.event {
            DomainEvent::CustomerRegistered(registered) => sqlx::query(
                "INSERT INTO customer_index (customer_id, phone, telegram_id) VALUES ($1, $2, $3)",
            )
            .bind(&registered.customer_id)
            .bind(&registered.phone)
            .bind(registered.telegram_id)
            .execute(connection)
            .await?,
            DomainEvent::CustomerTelegramLinked(linked) => {
                sqlx::query("UPDATE customer_index SET telegram_id = $2 WHERE customer_id = $1")
                    .bind(&linked.customer_id)
                    .bind(linked.telegram_id)
                    .execute(connection)
                    .await?
            }
            DomainEvent::CustomerPhoneLinked(linked) => {
                sqlx::query("UPDATE customer_index SET phone = $2 WHERE customer_id = $1")
                    .bind(&linked.customer_id)
                    .bind(&linked.phone)
                    .execute(connection)
                    .await?
            }
            _ => return Ok(()),
        };
        expect_one_row(result, event, "customer_index")
    }
}

pub struct OrderIndex;

#[async_trait]
impl Projector for OrderIndex {
    fn name(&self) -> &'static str {
        "order_index"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["order"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["order_index"]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if let DomainEvent::OrderPlaced(placed) = &event.event {
            let result = sqlx::query(
                "INSERT INTO order_index (order_id, external_id, customer_id) VALUES ($1, $2, $3)",
            )
            .bind(&placed.order_id)
            .bind(&placed.external_id)
            .bind(&placed.customer_id)
            .execute(connection)
            .await?;
            expect_one_row(result, event, "order_index")?;
        }
        Ok(())
    }
}
