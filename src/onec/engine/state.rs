//! A chunk's state, read under its streams' locks in one round trip: the stream versions, the
//! customers' balances, the idempotency keys already used and the operations referred to, from
//! the SQL function `ledger_onec_chunk_state` (migrations/0013). Only when some keys were used
//! before — a register re-sending — is a second statement needed, to read those events.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ledger_events::store::STREAM_CLAIM_NAMESPACE;
use ledger_events::StreamId;
use sqlx::{PgConnection, Row};

use super::book::{Book, Reference};
use super::Prepared;
use crate::command::CommandError;
use crate::onec::auth::StoreContext;
use crate::onec::operation::OperationKind;
use crate::state::AppState;

/// What the chunk's decisions depend on: the locked streams' versions and the [`Book`].
pub(super) struct ChunkState {
    pub locked: BTreeMap<StreamId, i64>,
    pub book: Book,
}

/// Locks the chunk's customer streams (creating missing ones) and reads its state.
pub(super) async fn load(
    state: &AppState,
    connection: &mut PgConnection,
    store: &StoreContext,
    items: &[Prepared],
) -> Result<ChunkState, CommandError> {
    let customers: BTreeSet<&str> = items.iter().map(|item| item.customer_id.as_str()).collect();
    let customer_list: Vec<&str> = customers.iter().copied().collect();
    let streams: Vec<StreamId> = customer_list
        .iter()
        .map(|customer| StreamId::cashback(customer))
        .collect();
    let stream_ids: Vec<&str> = streams.iter().map(StreamId::as_str).collect();
    let stream_type = streams
        .first()
        .expect("a chunk holds at least one item")
        .stream_type();
    let keys: Vec<&str> = items
        .iter()
        .map(|item| item.idempotency.key.as_str())
        .collect();
    let referred: Vec<&str> = items
        .iter()
        .filter_map(|item| item.operation.ref_external_id.as_deref())
        .collect();

    let rows = sqlx::query(
        "SELECT kind, id, number_a, number_b, text_a, text_b \
         FROM ledger_onec_chunk_state($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(STREAM_CLAIM_NAMESPACE)
    .bind(&stream_ids)
    .bind(stream_type)
    .bind(&customer_list)
    .bind(store.currency.code())
    .bind(&keys)
    .bind(&store.store_id)
    .bind(&referred)
    .fetch_all(&mut *connection)
    .await?;

    let mut stream_versions: HashMap<String, i64> = HashMap::new();
    let mut balances: HashMap<String, (i64, i64)> = customer_list
        .iter()
        .map(|customer| ((*customer).to_owned(), (0, 0)))
        .collect();
    let mut used_keys: Vec<String> = Vec::new();
    let mut references = HashMap::new();
    for row in &rows {
        let kind: &str = row.try_get("kind")?;
        let id: String = row.try_get("id")?;
        match kind {
            "stream" => {
                stream_versions.insert(id, row.try_get("number_a")?);
            }
            "balance" => {
                balances.insert(id, (row.try_get("number_a")?, row.try_get("number_b")?));
            }
            "key" => used_keys.push(id),
            "reference" => {
                let operation_kind: String = row.try_get("text_b")?;
                references.insert(
                    id,
                    Reference {
                        customer_id: row.try_get("text_a")?,
                        kind: if operation_kind == "debit" {
                            OperationKind::Debit
                        } else {
                            OperationKind::Accrual
                        },
                        remaining_minor: row.try_get("number_a")?,
                    },
                );
            }
            other => {
                return Err(CommandError::Failed(anyhow::anyhow!(
                    "ledger_onec_chunk_state returned a row of unknown kind {other:?}"
                )))
            }
        }
    }

    let mut locked = BTreeMap::new();
    let mut versions = HashMap::new();
    for (stream, customer) in streams.into_iter().zip(&customer_list) {
        let version = *stream_versions.get(stream.as_str()).ok_or_else(|| {
            CommandError::Failed(anyhow::anyhow!(
                "ledger_onec_chunk_state did not lock stream {stream}"
            ))
        })?;
        versions.insert((*customer).to_owned(), version);
        locked.insert(stream, version);
    }

    let recorded_keys = if used_keys.is_empty() {
        HashMap::new()
    } else {
        let used: Vec<&str> = used_keys.iter().map(String::as_str).collect();
        state
            .store
            .find_keyed(connection, &used)
            .await?
            .into_iter()
            .map(|(key, fingerprint, event)| (key, (fingerprint, event)))
            .collect()
    };
    Ok(ChunkState {
        locked,
        book: Book::new(balances, versions, recorded_keys, references),
    })
}
