//! Payme retries, sometimes concurrently: 20 identical calls at once must have one effect, and
//! all of them must get the same answer. Checked in the event log, not only in the answers.

use futures::future::join_all;
use serde_json::json;
use sqlx::PgPool;

use crate::common::payme_caller::{now_ms, payme_id};
use crate::support::{event_types, payme_app, uzs_order};

const TWINS: usize = 20;

async fn count_events(pool: &PgPool, stream_id: &str, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = $2")
        .bind(stream_id)
        .bind(event_type)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn twenty_identical_creates_make_one_transaction(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "C-1", "998903000001").await;
    let id = payme_id();
    let time = now_ms();
    let answers =
        join_all((0..TWINS).map(|_| payme.create(&id, time, &order.order_id, order.amount_minor)))
            .await;
    let first = answers[0].result().clone();
    assert_eq!(first["state"], 1);
    for answer in &answers {
        assert_eq!(answer.raw, answers[0].raw, "every twin gets the same bytes");
    }
    let stream = format!("payme_tx-{id}");
    assert_eq!(
        count_events(&app.pool, &stream, "PaymeTransactionCreated").await,
        1
    );
    let order_stream = format!("order-{}", order.order_id);
    assert_eq!(
        count_events(&app.pool, &order_stream, "OrderPaymentStarted").await,
        1
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM payme_transactions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    app.stop().await;
}

#[sqlx::test]
async fn twenty_identical_performs_pay_once(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "C-2", "998903000002").await;
    let id = payme_id();
    payme
        .create(&id, now_ms(), &order.order_id, order.amount_minor)
        .await
        .result();
    let answers = join_all((0..TWINS).map(|_| payme.perform(&id))).await;
    assert_eq!(answers[0].result()["state"], 2);
    for answer in &answers {
        assert_eq!(answer.raw, answers[0].raw, "every twin gets the same bytes");
    }
    let order_stream = format!("order-{}", order.order_id);
    assert_eq!(count_events(&app.pool, &order_stream, "OrderPaid").await, 1);
    let cashback_stream = format!("cashback-{}", order.customer_id);
    assert_eq!(
        event_types(&app, &cashback_stream).await,
        ["CashbackAccrued"],
        "cashback accrued once"
    );
    assert_eq!(
        event_types(&app, &format!("payme_tx-{id}")).await,
        ["PaymeTransactionCreated", "PaymeTransactionPerformed"]
    );
    app.stop().await;
}

#[sqlx::test]
async fn twenty_identical_refunds_refund_once(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "C-3", "998903000003").await;
    let id = payme_id();
    payme.pay(&id, &order.order_id, order.amount_minor).await;
    let answers = join_all((0..TWINS).map(|_| payme.cancel(&id, 5))).await;
    assert_eq!(answers[0].result()["state"], -2);
    for answer in &answers {
        assert_eq!(answer.raw, answers[0].raw);
    }
    let order_stream = format!("order-{}", order.order_id);
    assert_eq!(
        count_events(&app.pool, &order_stream, "OrderRefunded").await,
        1
    );
    assert_eq!(
        event_types(&app, &format!("cashback-{}", order.customer_id)).await,
        ["CashbackAccrued", "CashbackAccrualReversed"]
    );
    app.stop().await;
}

#[sqlx::test]
async fn of_twenty_different_transactions_for_one_order_one_wins(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "C-4", "998903000004").await;
    let ids: Vec<String> = (0..TWINS).map(|_| payme_id()).collect();
    let time = now_ms();
    let answers = join_all(
        ids.iter()
            .map(|id| payme.create(id, time, &order.order_id, order.amount_minor)),
    )
    .await;
    let winners = answers.iter().filter(|a| a.error_code().is_none()).count();
    assert_eq!(winners, 1, "one transaction holds the order");
    for answer in answers.iter().filter(|a| a.error_code().is_some()) {
        assert_eq!(answer.expect_error(-31099), &json!("order_id"));
    }
    let order_stream = format!("order-{}", order.order_id);
    assert_eq!(
        count_events(&app.pool, &order_stream, "OrderPaymentStarted").await,
        1
    );
    app.stop().await;
}
