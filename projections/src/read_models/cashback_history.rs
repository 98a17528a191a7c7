//! A customer's cashback history as shown to people: online operations and in-store purchases
//! (1C operations appear as "In-store purchase" with their store and register, never as a link
//! to an online order).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_events::domain::*;
use ledger_events::{Currency, RecordedEvent};
use sqlx::PgConnection;

use crate::{ProjectionError, Projector};

pub struct CashbackHistory;

/// One history line before it is written.
struct Entry<'a> {
    customer_id: &'a str,
    currency: &'a Currency,
    kind: &'static str,
    /// Signed: what the operation did to the balance.
    amount_minor: i64,
    origin: Option<&'a CashbackOrigin>,
    order_id: Option<&'a str>,
    online_label: &'static str,
}

#[async_trait]
impl Projector for CashbackHistory {
    fn name(&self) -> &'static str {
        "cashback_history"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["cashback"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["cashback_history"]
    }

    /// One INSERT for the whole batch.
    async fn apply_batch(
        &self,
        connection: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let lines: Vec<(&RecordedEvent, Entry<'_>)> = events
            .iter()
            .filter_map(|event| entry_of(event).map(|entry| (*event, entry)))
            .collect();
        if lines.is_empty() {
            return Ok(());
        }
        insert(connection, &lines).await
    }
}

/// The history line an event makes, if it makes one.
fn entry_of(event: &RecordedEvent) -> Option<Entry<'_>> {
    Some(match &event.event {
        DomainEvent::CashbackAccrued(e) => Entry {
            customer_id: &e.customer_id,
            currency: &e.currency,
            kind: "accrual",
            amount_minor: e.amount_minor,
            origin: Some(&e.origin),
            order_id: None,
            online_label: "Cashback for an order",
        },
        DomainEvent::CashbackDebited(e) => Entry {
            customer_id: &e.customer_id,
            currency: &e.currency,
            kind: "debit",
            amount_minor: -e.amount_minor,
            origin: Some(&e.origin),
            order_id: None,
            online_label: "Cashback spent",
        },
        DomainEvent::CashbackDebitReleased(e) => Entry {
            customer_id: &e.customer_id,
            currency: &e.currency,
            kind: "release",
            amount_minor: e.amount_minor,
            origin: Some(&e.origin),
            order_id: None,
            online_label: "Cashback given back",
        },
        DomainEvent::CashbackAccrualReversed(e) => Entry {
            customer_id: &e.customer_id,
            currency: &e.currency,
            kind: "reversal",
            amount_minor: -e.amount_minor,
            origin: Some(&e.origin),
            order_id: None,
            online_label: "Cashback taken back (refund)",
        },
        DomainEvent::CashbackHoldPosted(e) => Entry {
            customer_id: &e.customer_id,
            currency: &e.currency,
            kind: "redemption",
            amount_minor: -e.amount_minor,
            origin: None,
            order_id: Some(&e.order_id),
            online_label: "Paid with cashback",
        },
        DomainEvent::CashbackRedemptionReturned(e) => Entry {
            customer_id: &e.customer_id,
            currency: &e.currency,
            kind: "redemption_returned",
            amount_minor: e.amount_minor,
            origin: None,
            order_id: Some(&e.order_id),
            online_label: "Cashback returned (refund)",
        },
        _ => return None,
    })
}

/// Where a history line says the operation happened.
struct Provenance<'a> {
    source: &'static str,
    label: &'static str,
    description: Option<&'a str>,
    order_id: Option<&'a str>,
    store_id: Option<&'a str>,
    register_id: Option<&'a str>,
    external_id: Option<&'a str>,
    created_at: DateTime<Utc>,
}

fn provenance<'a>(event: &RecordedEvent, entry: &Entry<'a>) -> Provenance<'a> {
    match entry.origin {
        Some(CashbackOrigin::InStore(operation)) => Provenance {
            source: "1c",
            label: "In-store purchase",
            description: operation.description.as_deref(),
            order_id: None,
            store_id: Some(operation.store_id.as_str()),
            register_id: operation.register_id.as_deref(),
            external_id: Some(operation.external_id.as_str()),
            created_at: operation.performed_at,
        },
        Some(CashbackOrigin::Online { order_id }) => Provenance {
            order_id: Some(order_id.as_str()),
            ..online(event, entry)
        },
        None => online(event, entry),
    }
}

fn online<'a>(event: &RecordedEvent, entry: &Entry<'a>) -> Provenance<'a> {
    Provenance {
        source: "online",
        label: entry.online_label,
        description: None,
        order_id: entry.order_id,
        store_id: None,
        register_id: None,
        external_id: None,
        created_at: event.recorded_at,
    }
}

async fn insert(
    connection: &mut PgConnection,
    lines: &[(&RecordedEvent, Entry<'_>)],
) -> Result<(), ProjectionError> {
    let provenances: Vec<Provenance<'_>> = lines
        .iter()
        .map(|(event, entry)| provenance(event, entry))
        .collect();
    sqlx::query(
        "INSERT INTO cashback_history (event_id, position, customer_id, currency, kind, amount_minor, \
           source, label, description, order_id, store_id, register_id, external_id, created_at) \
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
           $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::timestamptz[])",
    )
    .bind(lines.iter().map(|(event, _)| event.event_id).collect::<Vec<_>>())
    .bind(lines.iter().map(|(event, _)| event.position).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, entry)| entry.customer_id).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, entry)| entry.currency.code()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, entry)| entry.kind).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, entry)| entry.amount_minor).collect::<Vec<_>>())
    .bind(provenances.iter().map(|p| p.source).collect::<Vec<_>>())
    .bind(provenances.iter().map(|p| p.label).collect::<Vec<_>>())
    .bind(provenances.iter().map(|p| p.description).collect::<Vec<_>>())
    .bind(provenances.iter().map(|p| p.order_id).collect::<Vec<_>>())
    .bind(provenances.iter().map(|p| p.store_id).collect::<Vec<_>>())
    .bind(provenances.iter().map(|p| p.register_id).collect::<Vec<_>>())
    .bind(provenances.iter().map(|p| p.external_id).collect::<Vec<_>>())
    .bind(provenances.iter().map(|p| p.created_at).collect::<Vec<_>>())
    .execute(connection)
    .await?;
    Ok(())
}
