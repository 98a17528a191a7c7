//! The book a chunk decides against, and the decision rules of 1C operations.
//!
//! Pure: a [`Book`] is loaded once per chunk (balances, stream versions, keys already used,
//! operations that may be referred to), then every item is decided in memory, in request order,
//! each decision updating the book for the items after it. No I/O happens here, so the rules are
//! tested given/when/then without HTTP or a database (`book/tests.rs`).

#![deny(clippy::arithmetic_side_effects)]

use std::collections::HashMap;

use ledger_events::accounts::{customer_cashback, store_cashback_issued, store_cashback_redeemed};
use ledger_events::domain::*;
use ledger_events::money::{self, MAX_BALANCE_MINOR};
use ledger_events::store::LockedEvent;
use ledger_events::{Postings, RecordedEvent, StreamId};

use super::outcomes::{outcome_of_recorded, ItemOutcome};
use super::Prepared;
use crate::onec::auth::StoreContext;
use crate::onec::operation::{Operation, OperationKind};
use crate::rejection::Rejection;

/// What a chunk knows and updates as it decides: balances, used keys, referable operations.
pub(super) struct Book {
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
pub(super) struct Reference {
    pub customer_id: String,
    pub kind: OperationKind,
    pub remaining_minor: i64,
}

/// The decision about one item, before the chunk is written.
pub(super) enum Decision {
    /// A new event: money moved (`Applied`) or a final refusal recorded (`Refused` with it).
    Record {
        event: Box<LockedEvent>,
        balance_after_minor: i64,
        refusal: Option<Rejection>,
    },
    /// Answered from an event recorded before (this or an earlier request).
    Repeat(ItemOutcome),
    /// Answered from an item earlier in this chunk with the same external id.
    RepeatOfEarlier(usize),
    Refused(Rejection),
}

impl Book {
    pub(super) fn new(
        balances: HashMap<String, (i64, i64)>,
        versions: HashMap<String, i64>,
        recorded_keys: HashMap<String, (String, RecordedEvent)>,
        references: HashMap<String, Reference>,
    ) -> Self {
        Book {
            balances,
            versions,
            recorded_keys,
            chunk_keys: HashMap::new(),
            references,
            decided: 0,
        }
    }

    pub(super) fn decide(&mut self, store: &StoreContext, item: &Prepared) -> Decision {
        let index = self.decided;
        self.decided = self.decided.saturating_add(1);
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
        let available = balance.saturating_sub(held).max(0);
        let currency = &store.currency;
        let refuse_recorded = |book: &mut Book, reason: Rejection, remaining: Option<i64>| {
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
                self.move_money(item, balance, amount, |balance_after| {
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
                        Rejection::insufficient(currency, balance, available, amount),
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
                self.move_money(item, balance, amount.saturating_neg(), |balance_after| {
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
                        return Decision::Refused(Rejection::OperationNotFound {
                            external_id: referred.to_owned(),
                        })
                    }
                    Some(reference) => reference.clone(),
                };
                if reference.customer_id != item.customer_id || reference.kind != expected_kind {
                    return Decision::Refused(Rejection::InvalidReference {
                        message: format!(
                            "a {} must refer to a {} of the same customer; {referred:?} is not one",
                            operation.kind.as_str(),
                            expected_kind.as_str()
                        ),
                    });
                }
                if amount > reference.remaining_minor {
                    let remaining = reference.remaining_minor;
                    let reason = Rejection::ExceedsRemaining {
                        currency: currency.clone(),
                        remaining_minor: remaining,
                    };
                    return refuse_recorded(self, reason, Some(remaining));
                }
                if operation.kind == OperationKind::Reversal && amount > available {
                    return refuse_recorded(
                        self,
                        Rejection::insufficient(currency, balance, available, amount),
                        None,
                    );
                }
                let reference = self.references.get_mut(referred).expect("looked up above");
                reference.remaining_minor = reference
                    .remaining_minor
                    .checked_sub(amount)
                    .expect("amount ≤ remaining, checked above");
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
            self.move_money(item, balance, amount, |balance_after| {
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
            self.move_money(item, balance, amount.saturating_neg(), |balance_after| {
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

    /// Moves the balance by `change` and records the event; refuses (without recording) a
    /// change that would take the balance past the ledger's bound.
    fn move_money(
        &mut self,
        item: &Prepared,
        balance: i64,
        change: i64,
        event: impl FnOnce(i64) -> DomainEvent,
    ) -> Decision {
        let Some(balance_after) = money::balance_after(balance, change) else {
            return Decision::Refused(Rejection::InvalidAmount {
                field: "amount".into(),
                message: format!(
                    "the customer's cashback balance would leave the range of ±{} minor units",
                    item_currency_limit()
                ),
            });
        };
        self.balances.get_mut(&item.customer_id).expect("loaded").0 = balance_after;
        self.record(item, event(balance_after), balance_after, None)
    }

    fn record(
        &mut self,
        item: &Prepared,
        event: DomainEvent,
        balance_after: i64,
        refusal: Option<Rejection>,
    ) -> Decision {
        let version = self.versions.entry(item.customer_id.clone()).or_insert(0);
        *version = version
            .checked_add(1)
            .expect("a stream never reaches i64::MAX events");
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

/// The balance bound in minor units, for the refusal's message.
fn item_currency_limit() -> i64 {
    MAX_BALANCE_MINOR
}

fn idempotency_conflict(operation: &Operation) -> Rejection {
    Rejection::IdempotencyConflict {
        message: format!(
            "external_id {:?} was already used by this store with different content",
            operation.external_id
        ),
    }
}

#[cfg(test)]
mod tests;
