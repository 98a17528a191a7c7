//! Payme's sandbox scenario, method by method: wrong amounts, missing orders and transactions,
//! Create / Perform / Cancel each sent twice (identical answers, byte for byte), cancel before
//! and after perform, a second transaction on one order, a completed order, the 12-hour timeout.

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::payme_caller::{now_ms, payme_id};
use crate::common::ADMIN_TOKEN;
use crate::support::{event_types, payme_app, place_order, simple_order, stream_events, uzs_order};

const HOUR_MS: i64 = 3_600_000;

#[sqlx::test]
async fn check_perform_transaction_runs_the_sandbox_checks(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "S-1", "998902000001").await;
    assert_eq!(order.amount_minor, 3_500_000);

    let allowed = payme
        .check_perform(&order.order_id, order.amount_minor)
        .await;
    let result = allowed.result();
    assert_eq!(result["allow"], true);
    let detail = &result["detail"];
    assert_eq!(detail["receipt_type"], 0);
    assert_eq!(
        detail["items"][0],
        json!({"title": "Green tea", "price": 1_500_000, "count": 2, "code": "10901001001000000",
               "package_code": "1234", "vat_percent": 12, "discount": 0})
    );
    assert_eq!(detail["items"][1]["code"], "10902002002000000");
    let net: i64 = detail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            item["price"].as_i64().unwrap() * item["count"].as_i64().unwrap()
                - item["discount"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(net, order.amount_minor);

    for wrong in [
        json!(order.amount_minor + 1),
        json!(order.amount_minor - 100),
        json!(0),
        json!(-3_500_000),
        json!(3_500_000.5),
        json!(1e30),
    ] {
        let answer = payme
            .call(
                "CheckPerformTransaction",
                json!({"amount": wrong, "account": {"order_id": order.order_id}}),
            )
            .await;
        assert_eq!(answer.expect_error(-31001), &Value::Null, "amount {wrong}");
    }
    // A whole amount written as a float is still that amount.
    let as_float = payme
        .call(
            "CheckPerformTransaction",
            json!({"amount": 3_500_000.0, "account": {"order_id": order.order_id}}),
        )
        .await;
    assert_eq!(as_float.result()["allow"], true);

    let accounts = [
        json!({"order_id": "no-such-order"}),
        json!({"order_id": "0190a1b2-0000-7000-8000-000000000000"}),
        json!({"order_id": 12345}),
        json!({"order_id": {"id": order.order_id}}),
        json!({"order_id": [order.order_id]}),
        json!({"order_id": ""}),
        json!({"phone": "998902000001"}),
        json!({}),
        json!("just a string"),
        json!(42),
    ];
    for account in accounts {
        let answer = payme
            .call(
                "CheckPerformTransaction",
                json!({"amount": order.amount_minor, "account": account}),
            )
            .await;
        assert_eq!(answer.expect_error(-31050), &json!("order_id"), "{account}");
    }
    let without_account = payme
        .call(
            "CheckPerformTransaction",
            json!({"amount": order.amount_minor}),
        )
        .await;
    assert_eq!(without_account.expect_error(-31050), &json!("order_id"));

    // Currencies Payme cannot pay.
    let roubles = place_order(
        &app,
        json!({"external_id": "S-1-rub", "customer_phone": "998902000001", "currency": "RUB",
               "items": [{"sku": "x", "title": "X", "qty": 1, "price": "100"}]}),
    )
    .await;
    let answer = payme.check_perform(&roubles.order_id, 10_000).await;
    assert_eq!(answer.expect_error(-31052), &json!("order_id"));

    // Not awaiting payment.
    let cancelled = simple_order(&app, "S-1-c", "998902000001", "1000").await;
    let cancel = app
        .post(
            &format!("/api/orders/{}/cancel", cancelled.order_id),
            Some(ADMIN_TOKEN),
            &json!({}),
        )
        .await;
    assert!(cancel.status.is_success(), "{:?}", cancel.body);
    let answer = payme.check_perform(&cancelled.order_id, 100_000).await;
    assert_eq!(answer.expect_error(-31051), &json!("order_id"));

    // Items without fiscal codes: allowed, without detail.
    let plain = simple_order(&app, "S-1-p", "998902000001", "1000").await;
    let answer = payme.check_perform(&plain.order_id, 100_000).await;
    assert_eq!(answer.result(), &json!({"allow": true}));

    // CheckPerformTransaction records nothing.
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id LIKE 'payme_tx-%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(recorded, 0);
    app.stop().await;
}

#[sqlx::test]
async fn create_perform_and_cancel_are_answered_identically_when_repeated(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "S-2", "998902000002").await;
    let id = payme_id();
    let time = now_ms();

    // Wrong amount, missing order: refused, nothing recorded.
    payme
        .create(&id, time, &order.order_id, order.amount_minor - 1)
        .await
        .expect_error(-31001);
    payme
        .create(&id, time, "missing-order", order.amount_minor)
        .await
        .expect_error(-31050);
    payme.check(&id).await.expect_error(-31003);

    let created = payme
        .create(&id, time, &order.order_id, order.amount_minor)
        .await;
    let result = created.result().clone();
    assert_eq!(result["state"], 1);
    let transaction = result["transaction"]
        .as_str()
        .expect("our id is a string")
        .to_owned();
    let create_time = result["create_time"].as_i64().unwrap();
    assert!(
        (create_time - now_ms()).abs() < 60_000,
        "create_time is our clock"
    );
    let again = payme
        .create(&id, time, &order.order_id, order.amount_minor)
        .await;
    assert_eq!(
        again.raw, created.raw,
        "a repeated Create is answered byte for byte"
    );

    let checked = payme.check(&id).await;
    assert_eq!(
        checked.result(),
        &json!({"create_time": create_time, "perform_time": 0, "cancel_time": 0,
                "transaction": transaction, "state": 1, "reason": null})
    );

    let performed = payme.perform(&id).await;
    let perform_time = performed.result()["perform_time"].as_i64().unwrap();
    assert_eq!(
        performed.result(),
        &json!({"transaction": transaction, "perform_time": perform_time, "state": 2})
    );
    assert!(perform_time >= create_time);
    let again = payme.perform(&id).await;
    assert_eq!(
        again.raw, performed.raw,
        "a repeated Perform is answered byte for byte"
    );
    // A Create of a performed transaction cannot be performed again.
    payme
        .create(&id, time, &order.order_id, order.amount_minor)
        .await
        .expect_error(-31008);

    let cancelled = payme.cancel(&id, 5).await;
    let cancel_time = cancelled.result()["cancel_time"].as_i64().unwrap();
    assert_eq!(
        cancelled.result(),
        &json!({"transaction": transaction, "cancel_time": cancel_time, "state": -2})
    );
    let again = payme.cancel(&id, 5).await;
    assert_eq!(
        again.raw, cancelled.raw,
        "a repeated Cancel is answered byte for byte"
    );
    let other_reason = payme.cancel(&id, 1).await;
    assert_eq!(
        other_reason.raw, cancelled.raw,
        "the stored cancellation stays the answer"
    );

    assert_eq!(
        payme.check(&id).await.result(),
        &json!({"create_time": create_time, "perform_time": perform_time,
                "cancel_time": cancel_time, "transaction": transaction, "state": -2, "reason": 5})
    );
    payme.perform(&id).await.expect_error(-31008);
    payme
        .create(&id, time, &order.order_id, order.amount_minor)
        .await
        .expect_error(-31008);

    // One event per transition, each with its idempotency key.
    let keyed: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT event_type, idempotency_key FROM events WHERE stream_id = $1 ORDER BY stream_version",
    )
    .bind(format!("payme_tx-{id}"))
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        keyed,
        vec![
            (
                "PaymeTransactionCreated".into(),
                Some(format!("payme:create:{id}"))
            ),
            (
                "PaymeTransactionPerformed".into(),
                Some(format!("payme:perform:{id}"))
            ),
            (
                "PaymeTransactionCancelled".into(),
                Some(format!("payme:cancel:{id}"))
            ),
        ]
    );
    assert_eq!(
        event_types(&app, &format!("order-{}", order.order_id)).await,
        [
            "OrderPlaced",
            "OrderPaymentStarted",
            "OrderPaid",
            "OrderRefunded"
        ]
    );
    app.stop().await;
}

#[sqlx::test]
async fn cancel_before_perform_releases_the_order(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "S-3", "998902000003").await;
    let first = payme_id();
    let time = now_ms();
    payme
        .create(&first, time, &order.order_id, order.amount_minor)
        .await
        .result();

    let cancelled = payme.cancel(&first, 3).await;
    assert_eq!(cancelled.result()["state"], -1);
    let again = payme.cancel(&first, 3).await;
    assert_eq!(again.raw, cancelled.raw);
    let checked = payme.check(&first).await;
    assert_eq!(checked.result()["state"], -1);
    assert_eq!(checked.result()["reason"], 3);
    assert_eq!(checked.result()["perform_time"], 0);
    payme.perform(&first).await.expect_error(-31008);

    // The order awaits payment again: another transaction may take it.
    payme
        .check_perform(&order.order_id, order.amount_minor)
        .await
        .result();
    let second = payme_id();
    payme
        .create(&second, time + 1, &order.order_id, order.amount_minor)
        .await
        .result();
    payme.perform(&second).await.result();
    assert_eq!(
        event_types(&app, &format!("order-{}", order.order_id)).await,
        [
            "OrderPlaced",
            "OrderPaymentStarted",
            "OrderPaymentEnded",
            "OrderPaymentStarted",
            "OrderPaid"
        ]
    );
    app.stop().await;
}

#[sqlx::test]
async fn a_second_transaction_for_an_order_is_an_account_error(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "S-4", "998902000004").await;
    let (first, second) = (payme_id(), payme_id());
    payme
        .create(&first, now_ms(), &order.order_id, order.amount_minor)
        .await
        .result();
    let refused = payme
        .create(&second, now_ms(), &order.order_id, order.amount_minor)
        .await;
    assert_eq!(refused.expect_error(-31099), &json!("order_id"));
    payme.check(&second).await.expect_error(-31003);
    assert_eq!(payme.check(&first).await.result()["state"], 1);

    // Once paid, the order no longer awaits payment.
    payme.perform(&first).await.result();
    let late = payme
        .create(&second, now_ms(), &order.order_id, order.amount_minor)
        .await;
    assert_eq!(late.expect_error(-31051), &json!("order_id"));
    app.stop().await;
}

#[sqlx::test]
async fn a_completed_order_cannot_be_cancelled(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "S-5", "998902000005").await;
    let id = payme_id();
    payme.pay(&id, &order.order_id, order.amount_minor).await;
    let completed = app
        .post(
            &format!("/api/orders/{}/complete", order.order_id),
            Some(ADMIN_TOKEN),
            &json!({}),
        )
        .await;
    assert!(completed.status.is_success(), "{:?}", completed.body);
    assert_eq!(
        payme.cancel(&id, 5).await.expect_error(-31007),
        &Value::Null
    );
    assert_eq!(payme.check(&id).await.result()["state"], 2);
    app.stop().await;
}

#[sqlx::test]
async fn unknown_transactions_are_31003_for_every_method(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    for id in ["5305e3bab097f420a62ced0b", "", &"z".repeat(5_000)] {
        payme.perform(id).await.expect_error(-31003);
        payme.cancel(id, 1).await.expect_error(-31003);
        payme.check(id).await.expect_error(-31003);
        payme
            .call(
                "SetFiscalData",
                json!({"id": id, "type": "PERFORM", "fiscal_data": {"receipt_id": 1}}),
            )
            .await
            .expect_error(-31003);
    }
    app.stop().await;
}

#[sqlx::test]
async fn transactions_time_out_twelve_hours_after_paymes_time(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let stale_time = now_ms() - 12 * HOUR_MS - 60_000;

    // Perform of a transaction past its 12 hours: cancelled with reason 4, -31008.
    let order = uzs_order(&app, "S-6", "998902000006").await;
    let late = payme_id();
    let created = payme
        .create(&late, stale_time, &order.order_id, order.amount_minor)
        .await;
    let create_time = created.result()["create_time"].as_i64().unwrap();
    assert!(
        create_time > stale_time + 12 * HOUR_MS,
        "create_time is our clock"
    );
    payme.perform(&late).await.expect_error(-31008);
    let checked = payme.check(&late).await;
    assert_eq!(checked.result()["state"], -1);
    assert_eq!(checked.result()["reason"], 4);
    assert!(checked.result()["cancel_time"].as_i64().unwrap() >= create_time);
    assert_eq!(checked.result()["perform_time"], 0);
    payme.perform(&late).await.expect_error(-31008);
    // The order was released by the timeout.
    let fresh = payme_id();
    payme
        .create(&fresh, now_ms(), &order.order_id, order.amount_minor)
        .await
        .result();

    // A repeated Create past the 12 hours: cancelled with reason 4, -31008.
    let order = uzs_order(&app, "S-7", "998902000007").await;
    let repeated = payme_id();
    payme
        .create(&repeated, stale_time, &order.order_id, order.amount_minor)
        .await
        .result();
    payme
        .create(&repeated, stale_time, &order.order_id, order.amount_minor)
        .await
        .expect_error(-31008);
    assert_eq!(payme.check(&repeated).await.result()["reason"], 4);
    let keys: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT idempotency_key FROM events WHERE stream_id = $1 ORDER BY stream_version",
    )
    .bind(format!("payme_tx-{repeated}"))
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        keys,
        [
            Some(format!("payme:create:{repeated}")),
            Some(format!("payme:cancel:{repeated}"))
        ]
    );

    // A new transaction for an order held by a timed-out one: the old one is cancelled first.
    let order = uzs_order(&app, "S-8", "998902000008").await;
    let holder = payme_id();
    payme
        .create(&holder, stale_time, &order.order_id, order.amount_minor)
        .await
        .result();
    let successor = payme_id();
    payme
        .create(&successor, now_ms(), &order.order_id, order.amount_minor)
        .await
        .result();
    let holder_state = payme.check(&holder).await;
    assert_eq!(holder_state.result()["state"], -1);
    assert_eq!(holder_state.result()["reason"], 4);
    payme.perform(&successor).await.result();

    // Under 12 hours since Payme's time, a transaction still performs.
    let order = uzs_order(&app, "S-9", "998902000009").await;
    let in_time = payme_id();
    payme
        .create(
            &in_time,
            now_ms() - 12 * HOUR_MS + 60_000,
            &order.order_id,
            order.amount_minor,
        )
        .await
        .result();
    assert_eq!(payme.perform(&in_time).await.result()["state"], 2);
    app.stop().await;
}

#[sqlx::test]
async fn fiscal_data_is_recorded_on_the_transaction(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let order = uzs_order(&app, "S-10", "998902000010").await;
    let id = payme_id();
    payme.pay(&id, &order.order_id, order.amount_minor).await;
    let fiscal = json!({"receipt_id": 501, "status_code": 0, "message": "accepted",
                        "terminal_id": "EP000000000001", "fiscal_sign": "123456789012",
                        "qr_code_url": "https://ofd.soliq.uz/check?t=EP000000000001&r=501"});
    let params = json!({"id": id, "type": "PERFORM", "fiscal_data": fiscal});
    assert_eq!(
        payme.call("SetFiscalData", params.clone()).await.result(),
        &json!({"success": true})
    );
    assert_eq!(
        payme.call("SetFiscalData", params).await.result(),
        &json!({"success": true}),
        "a repeat succeeds"
    );
    let events = stream_events(&app, &format!("payme_tx-{id}")).await;
    let recorded: Vec<&Value> = events
        .iter()
        .filter(|event| event["event_type"] == "PaymeFiscalDataRecorded")
        .collect();
    assert_eq!(recorded.len(), 1, "the repeat recorded nothing new");
    assert_eq!(recorded[0]["payload"]["kind"], "PERFORM");
    assert_eq!(recorded[0]["payload"]["fiscal_data"], fiscal);
    // The transaction is unchanged by it.
    assert_eq!(payme.check(&id).await.result()["state"], 2);
    app.stop().await;
}
