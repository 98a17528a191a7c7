//! One chunk of operations as one command: lock the chunk's customer streams (in id order),
//! load what the decisions need into a [`Book`], decide every item in memory, append all
//! events in one statement, update the inline projections set-wise, write the sync log.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use ledger_events::store::LockedEvent;
use ledger_events::{EventMetadata, StreamId};
use sqlx::{PgConnection, Row};

use super::book::{Book, Decision, Reference};
use super::outcomes::{resolve, sync_entry, sync_request, ItemOutcome};
use super::Prepared;
use crate::command::{Command, CommandError};
use crate::onec::auth::StoreContext;
use crate::onec::operation::OperationKind;
use crate::onec::sync_log::{self, SyncEntry};
use crate::state::AppState;

pub(super) struct ApplyChunk<'a> {
    pub store: &'a StoreContext,
    pub items: &'a [Prepared],
    pub metadata: &'a EventMetadata,
    pub request_kind: &'static str,
    pub received: Instant,
    pub received_at: DateTime<Utc>,
}
impl Command for ApplyChunk<'_> {
    type Output = Vec<(usize, ItemOutcome)>;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Self::Output, CommandError> {
        let customers: BTreeSet<&str> = self
            .items
            .iter()
            .map(|item| item.customer_id.as_str())
            .collect();
        let streams: Vec<StreamId> = customers
            .iter()
            .map(|customer| StreamId::cashback(customer))
            .collect();
        let versions = state.store.lock_streams(connection, &streams).await?;
        let locked: BTreeMap<StreamId, i64> = streams.into_iter().zip(versions).collect();

        let mut book = load_book(
            state, connection, self.store, self.items, &customers, &locked,
        )
        .await?;
        let decisions: Vec<Decision> = self
            .items
            .iter()
            .map(|item| book.decide(self.store, item))
            .collect();

        let to_write: Vec<LockedEvent> = decisions
            .iter()
            .filter_map(|decision| match decision {
                Decision::Record { event, .. } => Some(LockedEvent::clone(event)),
                _ => None,
            })
            .collect();
        let recorded = state
            .store
            .append_locked(connection, &locked, &to_write, self.metadata)
            .await?;
        state.inline.apply(connection, &recorded).await?;

        let outcomes = resolve(self.items, decisions, &recorded);
        let entries: Vec<SyncEntry> = self
            .items
            .iter()
            .zip(&outcomes)
            .map(|(item, (_, outcome))| {
                let ids = (
                    Some(item.operation.external_id.clone()),
                    item.operation.register_id.clone(),
                );
                sync_entry(&ids, outcome)
            })
            .collect();
        let request = sync_request(self.request_kind, self.received, self.received_at);
        sync_log::insert(&mut *connection, self.store, request, &entries).await?;
        Ok(outcomes)
    }
}

/// Reads, under the streams' locks, everything the chunk's decisions depend on.
async fn load_book(
    state: &AppState,
    connection: &mut PgConnection,
    store: &StoreContext,
    items: &[Prepared],
    customers: &BTreeSet<&str>,
    locked: &BTreeMap<StreamId, i64>,
) -> Result<Book, CommandError> {
    let customer_list: Vec<&str> = customers.iter().copied().collect();
    let mut balances: HashMap<String, (i64, i64)> = customer_list
        .iter()
        .map(|c| ((*c).to_owned(), (0, 0)))
        .collect();
    for row in sqlx::query(
        "SELECT customer_id, balance_minor, held_minor FROM cashback_accounts \
         WHERE customer_id = ANY($1) AND currency = $2",
    )
    .bind(&customer_list)
    .bind(store.currency.code())
    .fetch_all(&mut *connection)
    .await?
    {
        balances.insert(
            row.try_get("customer_id")?,
            (row.try_get("balance_minor")?, row.try_get("held_minor")?),
        );
    }

    let versions = locked
        .iter()
        .map(|(stream, version)| (stream.entity_id().to_owned(), *version))
        .collect();

    let keys: Vec<&str> = items
        .iter()
        .map(|item| item.idempotency.key.as_str())
        .collect();
    let recorded_keys = state
        .store
        .find_keyed(connection, &keys)
        .await?
        .into_iter()
        .map(|(key, fingerprint, event)| (key, (fingerprint, event)))
        .collect();

    let referred: Vec<&str> = items
        .iter()
        .filter_map(|item| item.operation.ref_external_id.as_deref())
        .collect();
    let mut references = HashMap::new();
    if !referred.is_empty() {
        for row in sqlx::query(
            "SELECT external_id, customer_id, kind, remaining_minor FROM onec_operations \
             WHERE store_id = $1 AND external_id = ANY($2)",
        )
        .bind(&store.store_id)
        .bind(&referred)
        .fetch_all(&mut *connection)
        .await?
        {
            let kind: String = row.try_get("kind")?;
            references.insert(
                row.try_get("external_id")?,
                Reference {
                    customer_id: row.try_get("customer_id")?,
                    kind: if kind == "debit" {
                        OperationKind::Debit
                    } else {
                        OperationKind::Accrual
                    },
                    remaining_minor: row.try_get("remaining_minor")?,
                },
            );
        }
    }
    Ok(Book::new(balances, versions, recorded_keys, references))
}
