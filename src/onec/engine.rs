//! Deciding and recording 1C operations, a chunk at a time.
//!
//! One chunk = one short transaction with a fixed number of statements, however many items it
//! holds: lock the chunk's customer streams (in id order), read their balances, the keys already
//! used and the operations referred to, decide every item in order in memory, append all events
//! in one statement, update the inline projections set-wise, write the sync log. Items are
//! independent: an item's failure never changes another's outcome, but later items see the
//! balance earlier ones left.
//!
//! Duplicates — a register re-sending a batch, possibly on several connections at once — are
//! decided after the locks are taken, so the second sender sees the first one's committed keys;
//! senders whose items share a key but no customer collide on the idempotency key's unique index
//! and the losing chunk is re-run from the start.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use ledger_events::accounts::{customer_cashback, store_cashback_issued, store_cashback_redeemed};
use ledger_events::domain::*;
use ledger_events::store::LockedEvent;
use ledger_events::{Currency, EventMetadata, Idempotency, Postings, RecordedEvent, StreamId};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::auth::StoreContext;
use super::operation::{Operation, OperationKind};
use super::sync_log::{self, SyncEntry, SyncRequest};
use crate::app::AppState;
use crate::command::{self, Command, CommandError};
use crate::http::error::ApiError;

/// Operations decided per transaction. Bounded so that locks are held briefly and a retried
/// chunk redoes little work.
pub const CHUNK_SIZE: usize = 250;

/// Independent lanes of one request run concurrently (PostgreSQL works on each in its own
/// backend), so one register's backlog uses more than one core.
pub const MAX_LANES: usize = 4;

/// What happened to one operation.
#[derive(Debug)]
pub enum ItemOutcome {
    Applied {
        transaction_id: Uuid,
        balance_after_minor: i64,
        position: i64,
    },
    /// The same external id with the same content was recorded before: its original answer.
    Duplicate {
        transaction_id: Uuid,
        balance_after_minor: i64,
        position: i64,
    },
    Failed(ApiError),
}

/// A request's items, each already parsed (or refused at parsing).
pub struct Submission<'a> {
    pub store: &'a StoreContext,
    pub items: Vec<Result<Operation, ApiError>>,
    /// `single` or `batch`, for the sync log.
    pub request_kind: &'static str,
    /// The raw items' external and register ids, for logging refused items.
    pub ids: Vec<(Option<String>, Option<String>)>,
    pub received: Instant,
    pub received_at: DateTime<Utc>,
    pub metadata: EventMetadata,
}

/// An operation ready to be decided.
struct Prepared {
    index: usize,
    operation: Operation,
    customer_id: String,
    idempotency: Idempotency,
}

/// Decides and records every item; outcomes come back in request order.
pub async fn apply(
    state: &AppState,
    submission: Submission<'_>,
) -> Result<Vec<ItemOutcome>, ApiError> {
    let item_count = submission.items.len();
    let mut outcomes: Vec<Option<ItemOutcome>> = (0..item_count).map(|_| None).collect();
    let customers = customers_by_phone(state, &submission.items).await?;
    let mut prepared = Vec::new();
    for (index, item) in submission.items.into_iter().enumerate() {
        match item {
            Err(error) => outcomes[index] = Some(ItemOutcome::Failed(error)),
            Ok(operation) => match customers.get(&operation.phone) {
                None => {
                    outcomes[index] = Some(ItemOutcome::Failed(ApiError::not_found(
                        "user_not_found",
                        format!("no customer with phone {}", operation.phone),
                    )))
                }
                Some(customer_id) => prepared.push(Prepared {
                    index,
                    idempotency: operation.idempotency(&submission.store.store_id),
                    customer_id: customer_id.clone(),
                    operation,
                }),
            },
        }
    }

    // Refused before deciding: logged now, in one statement.
    let refused: Vec<SyncEntry> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(index, outcome)| outcome.as_ref().map(|outcome| (index, outcome)))
        .map(|(index, outcome)| sync_entry(&submission.ids[index], outcome))
        .collect();
    let request = sync_request(
        submission.request_kind,
        submission.received,
        submission.received_at,
    );
    sync_log::insert(&state.pool, submission.store, request, &refused).await?;

    let lanes = lanes(prepared, MAX_LANES);
    let (store, metadata, request_kind) = (
        submission.store,
        &submission.metadata,
        submission.request_kind,
    );
    let (received, received_at) = (submission.received, submission.received_at);
    let run_lane = |lane: Vec<Prepared>| async move {
        let mut decided = Vec::with_capacity(lane.len());
        for chunk in lane.chunks(CHUNK_SIZE) {
            let command = ApplyChunk {
                store,
                items: chunk,
                metadata,
                request_kind,
                received,
                received_at,
            };
            decided.extend(command::execute(state, &command).await?);
        }
        Ok::<_, ApiError>(decided)
    };
    let results = futures::future::join_all(lanes.into_iter().map(run_lane)).await;
    for lane in results {
        for (index, outcome) in lane? {
            outcomes[index] = Some(outcome);
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|outcome| outcome.expect("every item got an outcome"))
        .collect())
}

/// Splits items into at most `max_lanes` lanes that share nothing: items with the same customer,
/// the same external id, or where one refers to the other's external id always land in the same
/// lane, in request order. Each item's outcome is then exactly what strict request order would
/// give, while lanes run concurrently.
fn lanes(items: Vec<Prepared>, max_lanes: usize) -> Vec<Vec<Prepared>> {
    assert!(max_lanes >= 1, "at least one lane");
    let mut groups = DisjointSets::new(items.len());
    let mut first_by_customer: HashMap<&str, usize> = HashMap::new();
    let mut first_by_external: HashMap<&str, usize> = HashMap::new();
    for (position, item) in items.iter().enumerate() {
        for (map, key) in [
            (&mut first_by_customer, item.customer_id.as_str()),
            (&mut first_by_external, item.operation.external_id.as_str()),
        ] {
            match map.get(key) {
                Some(&first) => groups.join(first, position),
                None => {
                    map.insert(key, position);
                }
            }
        }
    }
    for (position, item) in items.iter().enumerate() {
        if let Some(&referred) = item
            .operation
            .ref_external_id
            .as_deref()
            .and_then(|reference| first_by_external.get(reference))
        {
            groups.join(referred, position);
        }
    }
    // Whole groups go to the least-loaded lane, in order of first appearance.
    let mut lane_of_group: HashMap<usize, usize> = HashMap::new();
    let mut lane_sizes = vec![0_usize; max_lanes];
    let mut group_sizes: HashMap<usize, usize> = HashMap::new();
    for position in 0..items.len() {
        *group_sizes.entry(groups.root(position)).or_default() += 1;
    }
    let mut lanes: Vec<Vec<Prepared>> = (0..max_lanes).map(|_| Vec::new()).collect();
    for (position, item) in items.into_iter().enumerate() {
        let group = groups.root(position);
        let lane = *lane_of_group.entry(group).or_insert_with(|| {
            let lightest = (0..max_lanes)
                .min_by_key(|lane| lane_sizes[*lane])
                .expect("lanes exist");
            lane_sizes[lightest] += group_sizes[&group];
            lightest
        });
        lanes[lane].push(item);
    }
    lanes.retain(|lane| !lane.is_empty());
    lanes
}

/// Union-find over item positions.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(size: usize) -> Self {
        DisjointSets {
            parent: (0..size).collect(),
        }
    }

    fn root(&mut self, mut node: usize) -> usize {
        while self.parent[node] != node {
            self.parent[node] = self.parent[self.parent[node]];
            node = self.parent[node];
        }
        node
    }

    fn join(&mut self, a: usize, b: usize) {
        let (root_a, root_b) = (self.root(a), self.root(b));
        if root_a != root_b {
            self.parent[root_b.max(root_a)] = root_a.min(root_b);
        }
    }
}

async fn customers_by_phone(
    state: &AppState,
    items: &[Result<Operation, ApiError>],
) -> Result<HashMap<String, String>, ApiError> {
    let phones: BTreeSet<&str> = items.iter().flatten().map(|op| op.phone.as_str()).collect();
    if phones.is_empty() {
        return Ok(HashMap::new());
    }
    let phones: Vec<&str> = phones.into_iter().collect();
    let rows = sqlx::query("SELECT phone, customer_id FROM customer_index WHERE phone = ANY($1)")
        .bind(&phones)
        .fetch_all(&state.pool)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("phone")?, row.try_get("customer_id")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(ApiError::from)
}

struct ApplyChunk<'a> {
    store: &'a StoreContext,
    items: &'a [Prepared],
    metadata: &'a EventMetadata,
    request_kind: &'static str,
    received: Instant,
    received_at: DateTime<Utc>,
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

        let mut book = Book::load(
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

/// The decision about one item, before the chunk is written.
enum Decision {
    /// A new event: money moved (`Applied`) or a final refusal recorded (`Failed` with it).
    Record {
        event: Box<LockedEvent>,
        balance_after_minor: i64,
        refusal: Option<ApiError>,
    },
    /// Answered from an event recorded before (this or an earlier request).
    Repeat(ItemOutcome),
    /// Answered from an item earlier in this chunk with the same external id.
    RepeatOfEarlier(usize),
    Refused(ApiError),
}

/// What a chunk knows and updates as it decides: balances, used keys, referable operations.
struct Book {
    /// (balance, held) per customer, in the store's currency.
    balances: HashMap<String, (i64, i64)>,
    /// Next version per customer cashback stream.
    versions: HashMap<String, i64>,
    /// Keys recorded before this chunk: (fingerprint, keyed event).
    recorded_keys: HashMap<String, (String, RecordedEvent)>,
    /// Keys decided in this chunk: (fingerprint, index in the chunk).
    chunk_keys: HashMap<String, (String, usize)>,
    /// In-store operations that releases / reversals may refer to, by external id.
    references: HashMap<String, Reference>,
    decided: usize,
}

#[derive(Clone, Debug)]
struct Reference {
    customer_id: String,
    kind: OperationKind,
    remaining_minor: i64,
}

impl Book {
    async fn load(
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
        Ok(Book {
            balances,
            versions,
            recorded_keys,
            chunk_keys: HashMap::new(),
            references,
            decided: 0,
        })
    }

    fn decide(&mut self, store: &StoreContext, item: &Prepared) -> Decision {
        let index = self.decided;
        self.decided += 1;
        let key = &item.idempotency.key;
        let fingerprint = item.idempotency.fingerprint.as_str();
        if let Some((original_fingerprint, earlier)) = self.chunk_keys.get(key) {
            return if original_fingerprint == fingerprint {
                Decision::RepeatOfEarlier(*earlier)
            } else {
                Decision::Refused(idempotency_conflict(&item.operation))
            };
        }
        if let Some((original_fingerprint, original)) = self.recorded_keys.get(key) {
            return if original_fingerprint == fingerprint {
                Decision::Repeat(outcome_of_recorded(original, &store.currency))
            } else {
                Decision::Refused(idempotency_conflict(&item.operation))
            };
        }
        let decision = self.decide_new(store, item);
        if matches!(decision, Decision::Record { .. }) {
            self.chunk_keys
                .insert(key.clone(), (fingerprint.to_owned(), index));
        }
        decision
    }

    fn decide_new(&mut self, store: &StoreContext, item: &Prepared) -> Decision {
        let operation = &item.operation;
        let amount = operation.amount_minor;
        let (balance, held) = self.balances[&item.customer_id];
        let available = (balance - held).max(0);
        let currency = &store.currency;
        let refuse_recorded = |book: &mut Book, reason: ApiError, remaining: Option<i64>| {
            let rejected = CashbackOperationRejected {
                customer_id: item.customer_id.clone(),
                currency: currency.clone(),
                operation: operation.kind.as_str().to_owned(),
                requested_minor: amount,
                origin: origin(store, operation),
                reason: reason.code().to_owned(),
                balance_minor: balance,
                available_minor: available,
                remaining_minor: remaining,
            };
            book.record(item, rejected.into(), balance, Some(reason))
        };
        match operation.kind {
            OperationKind::Accrual => {
                let postings = Postings::transfer(
                    store_cashback_issued(&store.store_id),
                    customer_cashback(&item.customer_id, currency),
                    amount,
                    currency,
                );
                self.remember(operation, &item.customer_id, OperationKind::Accrual);
                self.move_money(item, balance + amount, |balance_after| {
                    CashbackAccrued {
                        customer_id: item.customer_id.clone(),
                        currency: currency.clone(),
                        amount_minor: amount,
                        origin: origin(store, operation),
                        balance_after_minor: balance_after,
                        postings,
                    }
                    .into()
                })
            }
            OperationKind::Debit => {
                if amount > available {
                    return refuse_recorded(
                        self,
                        insufficient(currency, balance, available, amount),
                        None,
                    );
                }
                let postings = Postings::transfer(
                    customer_cashback(&item.customer_id, currency),
                    store_cashback_redeemed(&store.store_id),
                    amount,
                    currency,
                );
                self.remember(operation, &item.customer_id, OperationKind::Debit);
                self.move_money(item, balance - amount, |balance_after| {
                    CashbackDebited {
                        customer_id: item.customer_id.clone(),
                        currency: currency.clone(),
                        amount_minor: amount,
                        origin: origin(store, operation),
                        balance_after_minor: balance_after,
                        postings,
                    }
                    .into()
                })
            }
            OperationKind::Release | OperationKind::Reversal => {
                let referred = operation
                    .ref_external_id
                    .as_deref()
                    .expect("validated at parsing");
                let expected_kind = if operation.kind == OperationKind::Release {
                    OperationKind::Debit
                } else {
                    OperationKind::Accrual
                };
                let reference = match self.references.get(referred) {
                    None => {
                        return Decision::Refused(ApiError::not_found(
                            "operation_not_found",
                            format!("this store has no operation {referred:?}"),
                        ))
                    }
                    Some(reference) => reference.clone(),
                };
                if reference.customer_id != item.customer_id || reference.kind != expected_kind {
                    return Decision::Refused(ApiError::InvalidReference {
                        message: format!(
                            "a {} must refer to a {} of the same customer; {referred:?} is not one",
                            operation.kind.as_str(),
                            expected_kind.as_str()
                        ),
                    });
                }
                if amount > reference.remaining_minor {
                    let remaining = reference.remaining_minor;
                    let reason = ApiError::ExceedsRemaining {
                        remaining: currency.format_minor(remaining),
                    };
                    return refuse_recorded(self, reason, Some(remaining));
                }
                if operation.kind == OperationKind::Reversal && amount > available {
                    return refuse_recorded(
                        self,
                        insufficient(currency, balance, available, amount),
                        None,
                    );
                }
                self.references
                    .get_mut(referred)
                    .expect("looked up above")
                    .remaining_minor -= amount;
                self.give_back_or_take_back(item, store, referred, balance)
            }
        }
    }

    fn give_back_or_take_back(
        &mut self,
        item: &Prepared,
        store: &StoreContext,
        referred: &str,
        balance: i64,
    ) -> Decision {
        let operation = &item.operation;
        let amount = operation.amount_minor;
        let currency = &store.currency;
        let account = customer_cashback(&item.customer_id, currency);
        if operation.kind == OperationKind::Release {
            let postings = Postings::transfer(
                store_cashback_redeemed(&store.store_id),
                account,
                amount,
                currency,
            );
            self.move_money(item, balance + amount, |balance_after| {
                CashbackDebitReleased {
                    customer_id: item.customer_id.clone(),
                    currency: currency.clone(),
                    amount_minor: amount,
                    origin: origin(store, operation),
                    released_external_id: referred.to_owned(),
                    balance_after_minor: balance_after,
                    postings,
                }
                .into()
            })
        } else {
            let postings = Postings::transfer(
                account,
                store_cashback_issued(&store.store_id),
                amount,
                currency,
            );
            self.move_money(item, balance - amount, |balance_after| {
                CashbackAccrualReversed {
                    customer_id: item.customer_id.clone(),
                    currency: currency.clone(),
                    amount_minor: amount,
                    origin: origin(store, operation),
                    reversed_external_id: Some(referred.to_owned()),
                    balance_after_minor: balance_after,
                    postings,
                }
                .into()
            })
        }
    }

    /// A new accrual or debit can be referred to by later items of this chunk.
    fn remember(&mut self, operation: &Operation, customer_id: &str, kind: OperationKind) {
        self.references.insert(
            operation.external_id.clone(),
            Reference {
                customer_id: customer_id.to_owned(),
                kind,
                remaining_minor: operation.amount_minor,
            },
        );
    }

    fn move_money(
        &mut self,
        item: &Prepared,
        balance_after: i64,
        event: impl FnOnce(i64) -> DomainEvent,
    ) -> Decision {
        self.balances.get_mut(&item.customer_id).expect("loaded").0 = balance_after;
        self.record(item, event(balance_after), balance_after, None)
    }

    fn record(
        &mut self,
        item: &Prepared,
        event: DomainEvent,
        balance_after: i64,
        refusal: Option<ApiError>,
    ) -> Decision {
        let version = self.versions.entry(item.customer_id.clone()).or_insert(0);
        *version += 1;
        Decision::Record {
            event: Box::new(LockedEvent {
                stream: StreamId::cashback(&item.customer_id),
                stream_version: *version,
                event,
                idempotency: Some(item.idempotency.clone()),
            }),
            balance_after_minor: balance_after,
            refusal,
        }
    }
}

fn origin(store: &StoreContext, operation: &Operation) -> CashbackOrigin {
    CashbackOrigin::InStore(InStoreOperation {
        store_id: store.store_id.clone(),
        register_id: operation.register_id.clone(),
        external_id: operation.external_id.clone(),
        performed_at: operation.performed_at,
        description: operation.description.clone(),
    })
}

fn insufficient(currency: &Currency, balance: i64, available: i64, requested: i64) -> ApiError {
    ApiError::InsufficientBalance {
        balance: currency.format_minor(balance),
        available: currency.format_minor(available),
        requested: currency.format_minor(requested),
    }
}

fn idempotency_conflict(operation: &Operation) -> ApiError {
    ApiError::IdempotencyConflict {
        message: format!(
            "external_id {:?} was already used by this store with different content",
            operation.external_id
        ),
    }
}

/// The answer a recorded event gave, for a repeat of its external id.
fn outcome_of_recorded(event: &RecordedEvent, currency: &Currency) -> ItemOutcome {
    let applied = |balance_after_minor| ItemOutcome::Duplicate {
        transaction_id: event.event_id,
        balance_after_minor,
        position: event.position,
    };
    match &event.event {
        DomainEvent::CashbackAccrued(e) => applied(e.balance_after_minor),
        DomainEvent::CashbackDebited(e) => applied(e.balance_after_minor),
        DomainEvent::CashbackDebitReleased(e) => applied(e.balance_after_minor),
        DomainEvent::CashbackAccrualReversed(e) => applied(e.balance_after_minor),
        DomainEvent::CashbackOperationRejected(rejected) => {
            ItemOutcome::Failed(match rejected.remaining_minor {
                Some(remaining) if rejected.reason == "exceeds_remaining" => {
                    ApiError::ExceedsRemaining {
                        remaining: currency.format_minor(remaining),
                    }
                }
                _ => insufficient(
                    currency,
                    rejected.balance_minor,
                    rejected.available_minor,
                    rejected.requested_minor,
                ),
            })
        }
        other => ItemOutcome::Failed(ApiError::internal(anyhow::anyhow!(
            "a 1C idempotency key names a {} event",
            other.event_type()
        ))),
    }
}

/// Joins decisions with what was written.
fn resolve(
    items: &[Prepared],
    decisions: Vec<Decision>,
    recorded: &[RecordedEvent],
) -> Vec<(usize, ItemOutcome)> {
    let mut written = recorded.iter();
    let mut resolved: Vec<ItemOutcome> = Vec::with_capacity(decisions.len());
    for decision in decisions {
        let outcome = match decision {
            Decision::Record {
                balance_after_minor,
                refusal,
                ..
            } => {
                let event = written
                    .next()
                    .expect("one recorded event per Record decision");
                match refusal {
                    Some(error) => ItemOutcome::Failed(error),
                    None => ItemOutcome::Applied {
                        transaction_id: event.event_id,
                        balance_after_minor,
                        position: event.position,
                    },
                }
            }
            Decision::Repeat(outcome) => outcome,
            Decision::RepeatOfEarlier(earlier) => repeat_of(&resolved[earlier]),
            Decision::Refused(error) => ItemOutcome::Failed(error),
        };
        resolved.push(outcome);
    }
    items.iter().map(|item| item.index).zip(resolved).collect()
}

/// The same external id twice in one request: the second gets the first's answer.
fn repeat_of(earlier: &ItemOutcome) -> ItemOutcome {
    match earlier {
        ItemOutcome::Applied {
            transaction_id,
            balance_after_minor,
            position,
        }
        | ItemOutcome::Duplicate {
            transaction_id,
            balance_after_minor,
            position,
        } => ItemOutcome::Duplicate {
            transaction_id: *transaction_id,
            balance_after_minor: *balance_after_minor,
            position: *position,
        },
        ItemOutcome::Failed(error) => ItemOutcome::Failed(match error {
            ApiError::InsufficientBalance {
                balance,
                available,
                requested,
            } => ApiError::InsufficientBalance {
                balance: balance.clone(),
                available: available.clone(),
                requested: requested.clone(),
            },
            ApiError::ExceedsRemaining { remaining } => ApiError::ExceedsRemaining {
                remaining: remaining.clone(),
            },
            other => ApiError::internal(anyhow::anyhow!(
                "unexpected repeat of a refused item: {other}"
            )),
        }),
    }
}

fn sync_entry(ids: &(Option<String>, Option<String>), outcome: &ItemOutcome) -> SyncEntry {
    let (status, error) = match outcome {
        ItemOutcome::Applied { .. } => ("ok", None),
        ItemOutcome::Duplicate { .. } => ("duplicate", None),
        ItemOutcome::Failed(error) => ("error", Some(error.code())),
    };
    SyncEntry {
        external_id: ids.0.clone(),
        register_id: ids.1.clone(),
        status,
        error,
    }
}

fn sync_request(kind: &'static str, received: Instant, received_at: DateTime<Utc>) -> SyncRequest {
    SyncRequest {
        kind,
        received_at,
        latency_micros: i64::try_from(received.elapsed().as_micros()).unwrap_or(i64::MAX),
    }
}
