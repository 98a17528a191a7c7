//! The inline cashback projector refuses a log that contradicts itself.

use chrono::Utc;
use ledger_events::accounts::{customer_cashback, shop_cashback_issued};
use ledger_events::domain::*;
use ledger_events::{Currency, EventMetadata, Postings, RecordedEvent, Source, StreamId};
use ledger_projections::read_models::cashback_balances::CashbackBalances;
use ledger_projections::{ProjectionError, Projector};
use sqlx::PgPool;
use uuid::Uuid;

fn recorded(version: i64, event: DomainEvent) -> RecordedEvent {
    RecordedEvent {
        position: version,
        tx_id: 1,
        stream_id: StreamId::cashback("c1"),
        stream_version: version,
        event_id: Uuid::now_v7(),
        event,
        metadata: EventMetadata::new(Source::Api, "test"),
        recorded_at: Utc::now(),
    }
}

fn accrued(amount: i64, balance_after: i64) -> DomainEvent {
    let uzs = Currency::uzs();
    CashbackAccrued {
        customer_id: "c1".into(),
        currency: uzs.clone(),
        amount_minor: amount,
        origin: CashbackOrigin::Online {
            order_id: "o1".into(),
        },
        balance_after_minor: balance_after,
        postings: Postings::transfer(
            shop_cashback_issued(),
            customer_cashback("c1", &uzs),
            amount,
            &uzs,
        ),
    }
    .into()
}

#[sqlx::test(migrations = "../migrations")]
async fn consistent_events_fold_in_one_batch(pool: PgPool) {
    let mut connection = pool.acquire().await.unwrap();
    let (first, second) = (recorded(1, accrued(10, 10)), recorded(2, accrued(5, 15)));
    CashbackBalances
        .apply_batch(&mut connection, &[&first, &second])
        .await
        .unwrap();
    let third = recorded(3, accrued(1, 16));
    CashbackBalances
        .apply(&mut connection, &third)
        .await
        .unwrap();
    let balance: i64 =
        sqlx::query_scalar("SELECT balance_minor FROM cashback_accounts WHERE customer_id = 'c1'")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
    assert_eq!(balance, 16);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stated_balance_that_does_not_fold_is_refused(pool: PgPool) {
    let mut connection = pool.acquire().await.unwrap();
    CashbackBalances
        .apply(&mut connection, &recorded(1, accrued(10, 10)))
        .await
        .unwrap();
    // In the middle of a batch: the second event claims 99 where the fold gives 15.
    let events = [
        recorded(2, accrued(3, 13)),
        recorded(3, accrued(2, 99)),
        recorded(4, accrued(1, 100)),
    ];
    let refs: Vec<&RecordedEvent> = events.iter().collect();
    match CashbackBalances.apply_batch(&mut connection, &refs).await {
        Err(ProjectionError::Invariant { position, message }) => {
            assert_eq!(position, 3);
            assert!(
                message.contains("folds to 15, the event says 99"),
                "{message}"
            );
        }
        other => panic!("expected an invariant violation, got {other:?}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_hold_cannot_be_settled_twice(pool: PgPool) {
    let mut transaction = pool.begin().await.unwrap();
    let uzs = Currency::uzs();
    let placed = recorded(
        1,
        CashbackHoldPlaced {
            customer_id: "c1".into(),
            hold_id: "h1".into(),
            order_id: "o1".into(),
            currency: uzs.clone(),
            amount_minor: 5,
        }
        .into(),
    );
    let voided = |version| {
        recorded(
            version,
            CashbackHoldVoided {
                customer_id: "c1".into(),
                hold_id: "h1".into(),
                order_id: "o1".into(),
                currency: uzs.clone(),
                amount_minor: 5,
                reason: "api".into(),
            }
            .into(),
        )
    };
    CashbackBalances
        .apply_batch(&mut transaction, &[&placed, &voided(2)])
        .await
        .unwrap();
    let again = CashbackBalances.apply(&mut transaction, &voided(3)).await;
    assert!(
        matches!(again, Err(ProjectionError::Invariant { .. })),
        "{again:?}"
    );
}

/// Regression: releasing a hold in a later batch proposes a negative held change; it must be
/// applied to the existing account, never inserted (which the `held >= 0` check refuses).
#[sqlx::test(migrations = "../migrations")]
async fn a_hold_released_in_a_later_batch_frees_the_cashback(pool: PgPool) {
    let mut connection = pool.acquire().await.unwrap();
    let uzs = Currency::uzs();
    CashbackBalances
        .apply(&mut connection, &recorded(1, accrued(10, 10)))
        .await
        .unwrap();
    let placed = CashbackHoldPlaced {
        customer_id: "c1".into(),
        hold_id: "h1".into(),
        order_id: "o1".into(),
        currency: uzs.clone(),
        amount_minor: 4,
    };
    CashbackBalances
        .apply(&mut connection, &recorded(2, placed.into()))
        .await
        .unwrap();
    let voided = CashbackHoldVoided {
        customer_id: "c1".into(),
        hold_id: "h1".into(),
        order_id: "o1".into(),
        currency: uzs,
        amount_minor: 4,
        reason: "api".into(),
    };
    CashbackBalances
        .apply(&mut connection, &recorded(3, voided.into()))
        .await
        .unwrap();
    let (balance, held): (i64, i64) = sqlx::query_as(
        "SELECT balance_minor, held_minor FROM cashback_accounts WHERE customer_id = 'c1'",
    )
    .fetch_one(&mut *connection)
    .await
    .unwrap();
    assert_eq!((balance, held), (10, 0));
}
