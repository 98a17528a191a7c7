//! The 1C decision rules, given/when/then: given a book (balances, keys already used,
//! operations that may be referred to), when items are decided in order, then these decisions.
//! No HTTP, no database.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use ledger_events::domain::DomainEvent;
use ledger_events::Currency;

use super::{Book, Decision, Reference};
use crate::onec::auth::StoreContext;
use crate::onec::engine::outcomes::ItemOutcome;
use crate::onec::engine::Prepared;
use crate::onec::operation::{Operation, OperationKind};
use crate::rejection::Rejection;

const CUSTOMER: &str = "customer-a";

fn store() -> StoreContext {
    StoreContext {
        store_id: "tashkent-1".into(),
        currency: Currency::uzs(),
        timezone: chrono_tz::Asia::Tashkent,
    }
}

fn item(index: usize, external_id: &str, kind: OperationKind, amount_minor: i64) -> Prepared {
    let operation = Operation {
        external_id: external_id.into(),
        kind,
        amount_minor,
        phone: "998901234567".into(),
        performed_at: Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap(),
        description: None,
        register_id: Some("R1".into()),
        ref_external_id: None,
    };
    Prepared {
        index,
        idempotency: operation.idempotency("tashkent-1"),
        customer_id: CUSTOMER.into(),
        operation,
    }
}

fn referring(
    index: usize,
    external_id: &str,
    kind: OperationKind,
    amount: i64,
    to: &str,
) -> Prepared {
    let mut prepared = item(index, external_id, kind, amount);
    prepared.operation.ref_external_id = Some(to.into());
    prepared.idempotency = prepared.operation.idempotency("tashkent-1");
    prepared
}

/// Given: the customer's (balance, held) and the store's earlier operations.
fn given(balance_minor: i64, held_minor: i64, references: &[(&str, OperationKind, i64)]) -> Book {
    Book::new(
        HashMap::from([(CUSTOMER.to_owned(), (balance_minor, held_minor))]),
        HashMap::from([(CUSTOMER.to_owned(), 3)]),
        HashMap::new(),
        references
            .iter()
            .map(|(external_id, kind, remaining_minor)| {
                (
                    (*external_id).to_owned(),
                    Reference {
                        customer_id: CUSTOMER.into(),
                        kind: *kind,
                        remaining_minor: *remaining_minor,
                    },
                )
            })
            .collect(),
    )
}

/// The balance after a recorded money movement, and the event written.
fn recorded(decision: &Decision) -> (i64, &DomainEvent, i64) {
    match decision {
        Decision::Record {
            event,
            balance_after_minor,
            refusal: None,
        } => (*balance_after_minor, &event.event, event.stream_version),
        other => panic!("expected money to move, got {}", describe(other)),
    }
}

fn describe(decision: &Decision) -> String {
    match decision {
        Decision::Record { refusal, .. } => format!("a recorded event (refusal {refusal:?})"),
        Decision::Repeat(outcome) => format!("a repeat ({outcome:?})"),
        Decision::RepeatOfEarlier(index) => format!("a repeat of item {index}"),
        Decision::Refused(rejection) => format!("a refusal ({rejection:?})"),
    }
}

#[test]
fn an_accrual_then_a_debit_move_the_balance_in_order_and_version_the_stream() {
    let mut book = given(10_000, 0, &[]);
    let store = store();

    let accrual = book.decide(&store, &item(0, "A1", OperationKind::Accrual, 5_000));
    let debit = book.decide(&store, &item(1, "D1", OperationKind::Debit, 12_000));

    let (after_accrual, event, version) = recorded(&accrual);
    assert_eq!(after_accrual, 15_000);
    assert!(matches!(event, DomainEvent::CashbackAccrued(_)));
    assert_eq!(version, 4, "the stream was at version 3");
    let (after_debit, event, version) = recorded(&debit);
    assert_eq!(after_debit, 3_000, "the debit sees the accrual before it");
    assert!(matches!(event, DomainEvent::CashbackDebited(_)));
    assert_eq!(version, 5);
}

#[test]
fn a_debit_beyond_what_is_available_is_refused_and_recorded_as_final() {
    // Given 100.00 of which 30.00 is held by an online order: 70.00 available.
    let mut book = given(10_000, 3_000, &[]);

    let decision = book.decide(&store(), &item(0, "D1", OperationKind::Debit, 8_000));

    match decision {
        Decision::Record {
            event,
            balance_after_minor,
            refusal:
                Some(Rejection::InsufficientBalance {
                    balance_minor,
                    available_minor,
                    requested_minor,
                    ..
                }),
        } => {
            assert_eq!(
                (balance_minor, available_minor, requested_minor),
                (10_000, 7_000, 8_000)
            );
            assert_eq!(balance_after_minor, 10_000, "nothing moved");
            assert!(matches!(
                event.event,
                DomainEvent::CashbackOperationRejected(_)
            ));
        }
        other => panic!("expected a recorded refusal, got {}", describe(&other)),
    }
}

#[test]
fn the_same_external_id_twice_in_a_chunk_repeats_the_first_answer() {
    let mut book = given(0, 0, &[]);
    let store = store();

    let first = book.decide(&store, &item(0, "A1", OperationKind::Accrual, 5_000));
    let again = book.decide(&store, &item(1, "A1", OperationKind::Accrual, 5_000));
    let changed = book.decide(&store, &item(2, "A1", OperationKind::Accrual, 6_000));

    assert_eq!(recorded(&first).0, 5_000);
    assert!(
        matches!(again, Decision::RepeatOfEarlier(0)),
        "{}",
        describe(&again)
    );
    assert!(
        matches!(
            changed,
            Decision::Refused(Rejection::IdempotencyConflict { .. })
        ),
        "{}",
        describe(&changed)
    );
}

#[test]
fn a_release_gives_back_at_most_what_remains_of_its_debit() {
    let mut book = given(1_000, 0, &[("D1", OperationKind::Debit, 4_000)]);
    let store = store();

    let part = book.decide(
        &store,
        &referring(0, "R1", OperationKind::Release, 3_000, "D1"),
    );
    let too_much = book.decide(
        &store,
        &referring(1, "R2", OperationKind::Release, 2_000, "D1"),
    );

    let (after, event, _) = recorded(&part);
    assert_eq!(after, 4_000);
    assert!(matches!(event, DomainEvent::CashbackDebitReleased(_)));
    match too_much {
        Decision::Record {
            refusal:
                Some(Rejection::ExceedsRemaining {
                    remaining_minor, ..
                }),
            ..
        } => assert_eq!(remaining_minor, 1_000),
        other => panic!("expected exceeds_remaining, got {}", describe(&other)),
    }
}

#[test]
fn references_must_name_an_operation_of_the_right_kind() {
    let mut book = given(5_000, 0, &[("A1", OperationKind::Accrual, 5_000)]);
    let store = store();

    let unknown = book.decide(
        &store,
        &referring(0, "V1", OperationKind::Reversal, 100, "nope"),
    );
    let wrong_kind = book.decide(
        &store,
        &referring(1, "R1", OperationKind::Release, 100, "A1"),
    );
    let reversal = book.decide(
        &store,
        &referring(2, "V2", OperationKind::Reversal, 2_000, "A1"),
    );

    assert!(
        matches!(&unknown, Decision::Refused(Rejection::OperationNotFound { external_id }) if external_id == "nope"),
        "{}",
        describe(&unknown)
    );
    assert!(
        matches!(
            wrong_kind,
            Decision::Refused(Rejection::InvalidReference { .. })
        ),
        "{}",
        describe(&wrong_kind)
    );
    let (after, event, _) = recorded(&reversal);
    assert_eq!(after, 3_000);
    assert!(matches!(event, DomainEvent::CashbackAccrualReversed(_)));
}

#[test]
fn an_operation_decided_in_the_chunk_can_be_referred_to_by_a_later_item() {
    let mut book = given(0, 0, &[]);
    let store = store();

    book.decide(&store, &item(0, "A1", OperationKind::Accrual, 5_000));
    let reversal = book.decide(
        &store,
        &referring(1, "V1", OperationKind::Reversal, 5_000, "A1"),
    );

    assert_eq!(recorded(&reversal).0, 0);
}

#[test]
fn a_repeat_of_an_earlier_request_answers_from_the_recorded_event() {
    let store = store();
    let mut first_book = given(0, 0, &[]);
    let accrual = item(0, "A1", OperationKind::Accrual, 5_000);
    let Decision::Record { event, .. } = first_book.decide(&store, &accrual) else {
        panic!("the first accrual is recorded");
    };
    let original = ledger_events::RecordedEvent {
        position: 42,
        tx_id: 7,
        stream_id: event.stream.clone(),
        stream_version: event.stream_version,
        event_id: uuid::Uuid::now_v7(),
        event: event.event.clone(),
        metadata: ledger_events::EventMetadata::new(ledger_events::Source::OneC, "store:test"),
        recorded_at: Utc::now(),
    };
    let mut book = given(5_000, 0, &[]);
    book.recorded_keys.insert(
        accrual.idempotency.key.clone(),
        (
            accrual.idempotency.fingerprint.as_str().to_owned(),
            original,
        ),
    );

    let repeat = book.decide(&store, &accrual);

    match repeat {
        Decision::Repeat(ItemOutcome::Duplicate {
            balance_after_minor,
            position,
            ..
        }) => assert_eq!((balance_after_minor, position), (5_000, 42)),
        other => panic!("expected the original answer, got {}", describe(&other)),
    }
}
