//! Inline index of 1C operations (`onec_operations`): accruals and debits by store and external
//! id, with what is left of each. A release may give back at most what is left of its debit, a
//! reversal take back at most what is left of its accrual; this table is where the 1C exchange
//! reads that, inside the append transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ledger_events::domain::*;
use ledger_events::RecordedEvent;
use sqlx::PgConnection;

use crate::{ProjectionError, Projector};

pub struct OnecOperations;

/// An operation a later one may refer to.
struct Recorded<'a> {
    operation: &'a InStoreOperation,
    customer_id: &'a str,
    kind: &'static str,
    currency: &'a str,
    amount_minor: i64,
}

#[async_trait]
impl Projector for OnecOperations {
    fn name(&self) -> &'static str {
        "onec_operations"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["cashback"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["onec_operations"]
    }

    /// New operations are inserted first, then what later events took from them is subtracted
    /// (a release always comes after its debit in the log, so the final rows are the same as
    /// applying one by one).
    async fn apply_batch(
        &self,
        connection: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut new_operations = Vec::new();
        let mut taken: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for event in events {
            match &event.event {
                DomainEvent::CashbackAccrued(e) => {
                    if let CashbackOrigin::InStore(operation) = &e.origin {
                        new_operations.push(Recorded {
                            operation,
                            customer_id: &e.customer_id,
                            kind: "accrual",
                            currency: e.currency.code(),
                            amount_minor: e.amount_minor,
                        });
                    }
                }
                DomainEvent::CashbackDebited(e) => {
                    if let CashbackOrigin::InStore(operation) = &e.origin {
                        new_operations.push(Recorded {
                            operation,
                            customer_id: &e.customer_id,
                            kind: "debit",
                            currency: e.currency.code(),
                            amount_minor: e.amount_minor,
                        });
                    }
                }
                DomainEvent::CashbackDebitReleased(e) => {
                    if let CashbackOrigin::InStore(operation) = &e.origin {
                        *taken
                            .entry((&operation.store_id, &e.released_external_id))
                            .or_default() += e.amount_minor;
                    }
                }
                DomainEvent::CashbackAccrualReversed(e) => {
                    if let (CashbackOrigin::InStore(operation), Some(reversed)) =
                        (&e.origin, &e.reversed_external_id)
                    {
                        *taken.entry((&operation.store_id, reversed)).or_default() +=
                            e.amount_minor;
                    }
                }
                _ => {}
            }
        }
        insert(connection, &new_operations).await?;
        subtract(connection, &taken).await
    }
}

async fn insert(
    connection: &mut PgConnection,
    operations: &[Recorded<'_>],
) -> Result<(), ProjectionError> {
    if operations.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO onec_operations (store_id, external_id, customer_id, kind, currency, amount_minor, remaining_minor) \
         SELECT s, e, c, k, cur, a, a FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
             AS x(s, e, c, k, cur, a)",
    )
    .bind(operations.iter().map(|o| o.operation.store_id.as_str()).collect::<Vec<_>>())
    .bind(operations.iter().map(|o| o.operation.external_id.as_str()).collect::<Vec<_>>())
    .bind(operations.iter().map(|o| o.customer_id).collect::<Vec<_>>())
    .bind(operations.iter().map(|o| o.kind).collect::<Vec<_>>())
    .bind(operations.iter().map(|o| o.currency).collect::<Vec<_>>())
    .bind(operations.iter().map(|o| o.amount_minor).collect::<Vec<_>>())
    .execute(connection)
    .await?;
    Ok(())
}

async fn subtract(
    connection: &mut PgConnection,
    taken: &BTreeMap<(&str, &str), i64>,
) -> Result<(), ProjectionError> {
    if taken.is_empty() {
        return Ok(());
    }
    let result = sqlx::query(
        "UPDATE onec_operations SET remaining_minor = remaining_minor - t.amount \
         FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(store_id, external_id, amount) \
         WHERE onec_operations.store_id = t.store_id AND onec_operations.external_id = t.external_id",
    )
    .bind(taken.keys().map(|(store, _)| *store).collect::<Vec<_>>())
    .bind(taken.keys().map(|(_, external)| *external).collect::<Vec<_>>())
    .bind(taken.values().copied().collect::<Vec<_>>())
    .execute(connection)
    .await
    .map_err(|error| match error.as_database_error().and_then(|db| db.constraint()) {
        Some(_) => ProjectionError::Invariant { position: 0, message: format!("an in-store operation would be given back below zero: {error}") },
        None => ProjectionError::Database(error),
    })?;
    if result.rows_affected() != taken.len() as u64 {
        return Err(ProjectionError::Invariant {
            position: 0,
            message:
                "a release or reversal refers to an in-store operation the index does not hold"
                    .into(),
        });
    }
    Ok(())
}
