//! The 1C cashback exchange over HTTP: every status of `specs/onec.md`, holds, batches, the
//! conflict scenario, concurrent re-sends, history and sync monitoring.

mod common;

use common::onec::{operation, referring};
use common::{spawn_app, spawn_app_with, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

const PHONE: &str = "998901234567";

async fn single(app: &TestApp, key: &str, item: &Value) -> common::Answer {
    app.onec_post("/api/cashback/v1/transactions", Some(key), item)
        .await
}

/// Registers `count` customers with consecutive Uzbek phones from `first`; returns their phones
/// and ids.
async fn customers_with_phones(
    app: &TestApp,
    first: usize,
    count: usize,
) -> (Vec<String>, Vec<String>) {
    let phones: Vec<String> = (first..first + count)
        .map(|n| format!("99890{n:07}"))
        .collect();
    let mut ids = Vec::with_capacity(count);
    for phone in &phones {
        ids.push(app.customer_with_phone(phone).await);
    }
    (phones, ids)
}

async fn balance(app: &TestApp, key: &str, phone: &str) -> Value {
    let answer = app
        .onec_get(
            &format!("/api/cashback/v1/balance?user_phone={phone}"),
            Some(key),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body
}

#[sqlx::test]
async fn every_single_operation_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("tashkent-1", "UZS", "Asia/Tashkent").await;
    let customer = app.customer_with_phone(PHONE).await;

    let fresh = balance(&app, &key, PHONE).await;
    assert_eq!(
        fresh["balance"], "0.00",
        "a known customer with no operations"
    );
    assert_eq!(fresh["user_id"], customer.as_str());

    // accrual
    let accrual = single(
        &app,
        &key,
        &operation(
            "Accrual_1_20261120",
            "accrual",
            "1000.00",
            "+998 90 123 45 67",
        ),
    )
    .await;
    assert_eq!(accrual.status, StatusCode::CREATED, "{:?}", accrual.body);
    assert_eq!(accrual.body["status"], "ok");
    assert_eq!(accrual.body["balance_after"], "1000.00");
    assert!(accrual.body["position"].as_i64().unwrap() > 0);

    // the same again: the original answer, no second credit
    let again = single(
        &app,
        &key,
        &operation("Accrual_1_20261120", "accrual", "1000", PHONE),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["status"], "already_exists");
    assert_eq!(again.body["idempotent"], true);
    assert_eq!(again.body["transaction_id"], accrual.body["transaction_id"]);
    assert_eq!(again.body["balance_after"], "1000.00");

    // same external id, different content
    let conflict = single(
        &app,
        &key,
        &operation("Accrual_1_20261120", "accrual", "999.00", PHONE),
    )
    .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.error(), "idempotency_conflict");

    // debit, then a debit above what is available
    let debit = single(
        &app,
        &key,
        &operation("Debit_2_20261120", "debit", "300.00", PHONE),
    )
    .await;
    assert_eq!(debit.status, StatusCode::CREATED, "{:?}", debit.body);
    assert_eq!(debit.body["balance_after"], "700.00");
    let too_much = single(
        &app,
        &key,
        &operation("Debit_3_20261120", "debit", "701.00", PHONE),
    )
    .await;
    assert_eq!(too_much.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_much.error(), "insufficient_balance");
    assert_eq!(too_much.body["balance"], "700.00");
    assert_eq!(too_much.body["requested"], "701.00");
    // ... final: an accrual that would make it possible does not turn the repeat into a success
    single(
        &app,
        &key,
        &operation("Accrual_4_20261120", "accrual", "100.00", PHONE),
    )
    .await;
    let repeat = single(
        &app,
        &key,
        &operation("Debit_3_20261120", "debit", "701.00", PHONE),
    )
    .await;
    assert_eq!(repeat.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        repeat.body["balance"], "700.00",
        "the original refusal, word for word"
    );

    // release gives back part of the debit, never more than is left of it
    let release = single(
        &app,
        &key,
        &referring("Release_5", "release", "100.00", PHONE, "Debit_2_20261120"),
    )
    .await;
    assert_eq!(release.status, StatusCode::CREATED, "{:?}", release.body);
    assert_eq!(release.body["balance_after"], "900.00");
    let over = single(
        &app,
        &key,
        &referring("Release_6", "release", "250.00", PHONE, "Debit_2_20261120"),
    )
    .await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(over.error(), "exceeds_remaining");
    assert_eq!(over.body["remaining"], "200.00");

    // reversal takes back part of an accrual
    let reversal = single(
        &app,
        &key,
        &referring(
            "Reversal_7",
            "reversal",
            "400.00",
            PHONE,
            "Accrual_1_20261120",
        ),
    )
    .await;
    assert_eq!(reversal.status, StatusCode::CREATED, "{:?}", reversal.body);
    assert_eq!(reversal.body["balance_after"], "500.00");

    // references: unknown, of the wrong kind, of another customer
    let unknown = single(
        &app,
        &key,
        &referring("Release_8", "release", "1", PHONE, "Nope_1"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error(), "operation_not_found");
    let wrong_kind = single(
        &app,
        &key,
        &referring("Release_9", "release", "1", PHONE, "Accrual_1_20261120"),
    )
    .await;
    assert_eq!(wrong_kind.status, StatusCode::CONFLICT);
    assert_eq!(wrong_kind.error(), "invalid_reference");
    app.customer_with_phone("79001112233").await;
    single(
        &app,
        &key,
        &operation("Accrual_10", "accrual", "50", "79001112233"),
    )
    .await;
    let other_customer = single(
        &app,
        &key,
        &referring("Reversal_11", "reversal", "1", PHONE, "Accrual_10"),
    )
    .await;
    assert_eq!(other_customer.error(), "invalid_reference");

    // unknown customer and bad fields: not recorded, the register may fix and resend
    let nobody = single(
        &app,
        &key,
        &operation("Accrual_12", "accrual", "1", "998909999999"),
    )
    .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert_eq!(nobody.error(), "user_not_found");
    app.customer_with_phone("998909999999").await;
    let fixed = single(
        &app,
        &key,
        &operation("Accrual_12", "accrual", "1", "998909999999"),
    )
    .await;
    assert_eq!(
        fixed.status,
        StatusCode::CREATED,
        "a resend after user_not_found succeeds"
    );

    for (field, value, code) in [
        ("user_phone", json!("12345"), "invalid_phone"),
        ("amount", json!("1.005"), "invalid_amount"),
        ("amount", json!("-3"), "invalid_amount"),
        ("amount", json!("abc"), "invalid_amount"),
        ("type", json!("gift"), "invalid_request"),
        ("created_at", json!("yesterday"), "invalid_request"),
    ] {
        let mut item = operation("Accrual_13", "accrual", "5", PHONE);
        item[field] = value;
        let answer = single(&app, &key, &item).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{field}: {:?}",
            answer.body
        );
        assert_eq!(answer.error(), code, "{field}");
        assert_eq!(answer.body["field"], field);
    }
    let valid_after_all = single(&app, &key, &operation("Accrual_13", "accrual", "5", PHONE)).await;
    assert_eq!(
        valid_after_all.status,
        StatusCode::CREATED,
        "invalid attempts did not use up the external id"
    );

    let final_balance = balance(&app, &key, "901234567").await;
    assert_eq!(final_balance["balance"], "505.00");
    app.stop().await;
}

#[sqlx::test]
async fn stores_authenticate_with_their_own_keys(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    app.customer_with_phone(PHONE).await;
    let path = format!("/api/cashback/v1/balance?user_phone={PHONE}");

    assert_eq!(
        app.onec_get(&path, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let wrong = app.onec_get(&path, Some("ldg_store_wrong")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error(), "unauthorized");
    assert_eq!(app.onec_get(&path, Some(&key)).await.status, StatusCode::OK);

    let revoked = ledger::onec::stores::revoke_store(&app.pool, "s1")
        .await
        .unwrap();
    assert_eq!(revoked, 1);
    assert_eq!(
        app.onec_get(&path, Some(&key)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let write = app
        .onec_post(
            "/api/cashback/v1/transactions",
            Some(&key),
            &operation("A_1", "accrual", "1", PHONE),
        )
        .await;
    assert_eq!(
        write.status,
        StatusCode::UNAUTHORIZED,
        "revoked at once, for writes too"
    );

    // A bearer token of the shop API is not a store key.
    assert_eq!(
        app.onec_get(&path, Some(ADMIN_TOKEN)).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

#[sqlx::test]
async fn phones_are_normalised_before_lookup(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("s1", "RUB", "Europe/Moscow").await;
    let russian = app.customer_with_phone("+7 (900) 123-45-67").await;
    let uzbek = app.customer_with_phone("901234567").await;
    let table = [
        ("79001234567", Some(&russian)),
        ("89001234567", Some(&russian)),
        ("9001234567", Some(&russian)),
        ("%2B7%20900%20123-45-67", Some(&russian)),
        ("998901234567", Some(&uzbek)),
        ("%2B998%2090%20123%2045%2067", Some(&uzbek)),
        ("901234567", Some(&uzbek)),
    ];
    for (phone, customer) in table {
        let answer = app
            .onec_get(
                &format!("/api/cashback/v1/balance?user_phone={phone}"),
                Some(&key),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{phone}");
        assert_eq!(
            answer.body["user_id"],
            customer.unwrap().as_str(),
            "{phone}"
        );
        assert_eq!(answer.body["currency"], "RUB");
    }
    for bad in ["12345", "19001234567", "abc"] {
        let answer = app
            .onec_get(
                &format!("/api/cashback/v1/balance?user_phone={bad}"),
                Some(&key),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(answer.error(), "invalid_phone");
    }
    let unknown = app
        .onec_get(
            "/api/cashback/v1/balance?user_phone=79990000000",
            Some(&key),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error(), "user_not_found");
    app.stop().await;
}

/// specs/onec.md: 500 redeemed online while the register was offline; the register's queued
/// debit of 300 arrives in a batch and gets insufficient_balance; the rest of the batch applies.
#[sqlx::test]
async fn cashback_spent_online_refuses_the_offline_debit_and_the_batch_goes_on(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("s1", "UZS", "Asia/Tashkent").await;
    let customer = app.customer_with_phone(PHONE).await;
    single(
        &app,
        &key,
        &operation("Accrual_0", "accrual", "700.00", PHONE),
    )
    .await;

    // Online: an order redeems 500 (a hold; available drops to 200).
    let order = app
        .post(
            "/api/orders",
            Some(ADMIN_TOKEN),
            &json!({"external_id": "web-1", "customer_id": customer, "currency": "UZS",
                    "items": [{"sku": "x", "title": "Kettle", "qty": 1, "price": "2000.00"}],
                    "cashback_to_redeem": "500.00"}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
    let held = balance(&app, &key, PHONE).await;
    assert_eq!(
        (
            held["balance"].as_str(),
            held["held"].as_str(),
            held["available"].as_str()
        ),
        (Some("700.00"), Some("500.00"), Some("200.00"))
    );

    let batch = json!({"transactions": [
        operation("Accrual_1", "accrual", "10.00", PHONE),
        operation("Debit_2", "debit", "300.00", PHONE),
        operation("Accrual_3", "accrual", "20.00", PHONE),
        {"external_id": "Broken_4", "type": "accrual", "amount": "x", "user_phone": PHONE, "created_at": "2026-11-20T10:00:00Z"},
        operation("Debit_5", "debit", "150.00", PHONE),
    ]});
    let answer = app
        .onec_post("/api/cashback/v1/transactions/batch", Some(&key), &batch)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let results = answer.body["results"].as_array().unwrap();
    let statuses: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["external_id"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("Accrual_1", "ok"),
            ("Debit_2", "error"),
            ("Accrual_3", "ok"),
            ("Broken_4", "error"),
            ("Debit_5", "ok")
        ]
    );
    assert_eq!(results[1]["error"], "insufficient_balance");
    assert_eq!(results[1]["balance"], "710.00");
    assert_eq!(results[1]["requested"], "300.00");
    assert_eq!(results[3]["error"], "invalid_amount");
    assert_eq!(results[3]["field"], "amount");
    assert_eq!(results[4]["balance_after"], "580.00", "700 + 10 + 20 - 150");
    assert!(
        answer.body["position"].as_i64().unwrap() > 0,
        "the position of the last applied item"
    );

    let after = balance(&app, &key, PHONE).await;
    assert_eq!(after["balance"], "580.00");
    assert_eq!(after["available"], "80.00", "the hold still reserves 500");

    // Re-sending the batch changes nothing and repeats every answer.
    let again = app
        .onec_post("/api/cashback/v1/transactions/batch", Some(&key), &batch)
        .await;
    let repeated: Vec<&str> = again.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        repeated,
        ["duplicate", "error", "duplicate", "error", "duplicate"]
    );
    assert_eq!(again.body["results"][1]["balance"], "710.00");
    assert_eq!(balance(&app, &key, PHONE).await["balance"], "580.00");
    app.stop().await;
}

#[sqlx::test]
async fn a_batch_over_the_limit_applies_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    app.customer_with_phone(PHONE).await;
    let items: Vec<Value> = (0..1_001)
        .map(|n| operation(&format!("A_{n}"), "accrual", "1", PHONE))
        .collect();
    let answer = app
        .onec_post(
            "/api/cashback/v1/transactions/batch",
            Some(&key),
            &json!({"transactions": items}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["field"], "transactions");
    assert_eq!(balance(&app, &key, PHONE).await["balance"], "0.00");
    app.stop().await;
}

/// The same 1,000-item batch posted by 8 connections at once: the balance is as if applied once.
#[sqlx::test]
async fn eight_concurrent_copies_of_a_batch_apply_once(pool: PgPool) {
    // The engine under 8 batches of one store at once: let them all past the per-store limit.
    let app = spawn_app_with(pool, |config| config.limits.onec_batches_per_store = 8).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    let (phones, _) = customers_with_phones(&app, 1_000_000, 40).await;
    // 25 rounds over 40 customers; every fifth round is a debit of 3, the others accruals of
    // 10, so each debit depends on accruals earlier in the same batch.
    let is_debit = |n: usize| (n / phones.len()) % 5 == 4;
    let items: Vec<Value> = (0..1_000)
        .map(|n| {
            let phone = &phones[n % phones.len()];
            if is_debit(n) {
                operation(&format!("Debit_{n}"), "debit", "3.00", phone)
            } else {
                operation(&format!("Accrual_{n}"), "accrual", "10.00", phone)
            }
        })
        .collect();
    let batch = json!({ "transactions": items });
    let copies =
        (0..8).map(|_| app.onec_post("/api/cashback/v1/transactions/batch", Some(&key), &batch));
    let answers = futures::future::join_all(copies).await;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        for result in answer.body["results"].as_array().unwrap() {
            assert!(
                matches!(result["status"].as_str(), Some("ok" | "duplicate")),
                "{result}"
            );
        }
    }
    let applied: usize = answers
        .iter()
        .map(|a| {
            a.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["status"] == "ok")
                .count()
        })
        .sum();
    assert_eq!(
        applied, 1_000,
        "every item applied by exactly one of the copies"
    );

    let mut expected: Vec<i64> = vec![0; phones.len()];
    for n in 0..1_000 {
        expected[n % phones.len()] += if is_debit(n) { -300 } else { 1_000 };
    }
    for (phone, minor) in phones.iter().zip(expected) {
        let body = balance(&app, &key, phone).await;
        let expected_text = format!("{}.{:02}", minor / 100, minor % 100);
        assert_eq!(body["balance"], expected_text.as_str(), "{phone}");
    }
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE idempotency_key LIKE '1c:s1:%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(events, 1_000);
    app.stop().await;
}

/// Different registers' batches over overlapping customers, at once: chunks lock overlapping
/// sets of cashback streams. Every operation must reach the customers' histories (an
/// asynchronous projection fed in transaction order), not only the balances.
#[sqlx::test]
async fn concurrent_batches_over_shared_customers_all_reach_the_history(pool: PgPool) {
    // Room for every chunk of every batch to hold a connection at once.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(48)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    // The engine under 8 batches of one store at once: let them all past the per-store limit.
    let app = spawn_app_with(pool, |config| config.limits.onec_batches_per_store = 8).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    let (phones, customers) = customers_with_phones(&app, 2_000_000, 160).await;
    // Every other customer has a cashback stream already: chunks lock those first and then
    // create the others, which may be waiting on another chunk's creation.
    let opening: Vec<Value> = phones
        .iter()
        .step_by(2)
        .enumerate()
        .map(|(n, phone)| operation(&format!("Opening_{n}"), "accrual", "1.00", phone))
        .collect();
    let answer = app
        .onec_post(
            "/api/cashback/v1/transactions/batch",
            Some(&key),
            &json!({ "transactions": opening }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    const BATCHES: usize = 8;
    const ITEMS: usize = 480;
    // Batch b walks the customers from its own starting point, so the lanes and chunks of
    // different batches hold overlapping, different sets of customers; their cashback streams
    // do not exist yet, so the first chunks also create them.
    let batches: Vec<Value> = (0..BATCHES)
        .map(|b| {
            let items: Vec<Value> = (0..ITEMS)
                .map(|n| {
                    let phone = &phones[(b * 7 + n) % phones.len()];
                    operation(&format!("B{b}_{n}"), "accrual", "1.00", phone)
                })
                .collect();
            json!({ "transactions": items })
        })
        .collect();
    let uploads = batches
        .iter()
        .map(|batch| app.onec_post("/api/cashback/v1/transactions/batch", Some(&key), batch));
    let answers = futures::future::join_all(uploads).await;
    let mut newest = 0;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        let results = answer.body["results"].as_array().unwrap();
        assert!(results.iter().all(|r| r["status"] == "ok"), "{results:?}");
        newest = newest.max(answer.body["position"].as_i64().unwrap());
    }

    let reader = app
        .token("app", &[ledger::infra::tokens::Scope::CashbackRead])
        .await;
    let mut in_histories = 0;
    for customer in &customers {
        let history = app
            .get(
                &format!("/api/customers/{customer}/cashback?min_position={newest}&limit=1000"),
                Some(&reader),
            )
            .await;
        assert_eq!(history.status, StatusCode::OK, "{:?}", history.body);
        let entries = history.body["history"].as_array().unwrap().len();
        let balance = history.body["balance"].as_str().unwrap();
        assert_eq!(
            balance,
            format!("{entries}.00"),
            "customer {customer}: the history holds every accrual of 1.00"
        );
        in_histories += entries;
    }
    assert_eq!(
        in_histories,
        BATCHES * ITEMS + phones.len() / 2,
        "every operation in some history"
    );
    app.stop().await;
}

#[sqlx::test]
async fn in_store_operations_show_in_the_customer_history(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("chilonzor", "UZS", "Asia/Tashkent").await;
    let customer = app.customer_with_phone(PHONE).await;
    let mut item = operation("Accrual_1", "accrual", "12.50", PHONE);
    item["register_id"] = json!("KASSA-3");
    item["description"] = json!("Receipt 1");
    let accrual = single(&app, &key, &item).await;
    let position = accrual.body["position"].as_i64().unwrap();

    let reader = app
        .token("app", &[ledger::infra::tokens::Scope::CashbackRead])
        .await;
    let history = app
        .get(
            &format!("/api/customers/{customer}/cashback?min_position={position}"),
            Some(&reader),
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{:?}", history.body);
    assert_eq!(history.body["balance"], "12.50");
    let entry = &history.body["history"][0];
    assert_eq!(entry["label"], "In-store purchase");
    assert_eq!(entry["source"], "1c");
    assert_eq!(entry["store_id"], "chilonzor");
    assert_eq!(entry["register_id"], "KASSA-3");
    assert_eq!(entry["external_id"], "Accrual_1");
    assert_eq!(entry["amount"], "12.50");
    assert!(
        entry.get("order_id").is_none(),
        "not a link to an online order"
    );
    // Local time of the store (Tashkent, UTC+5) stored as UTC.
    assert_eq!(entry["created_at"], "2026-11-20T10:04:05Z");
    app.stop().await;
}

#[sqlx::test]
async fn operators_see_each_stores_sync_state(pool: PgPool) {
    let app = spawn_app(pool).await;
    let fresh = app.store_key("fresh", "UZS", "UTC").await;
    app.store_key("silent", "UZS", "UTC").await;
    app.customer_with_phone(PHONE).await;
    single(&app, &fresh, &operation("A_1", "accrual", "1", PHONE)).await;
    single(&app, &fresh, &operation("A_2", "accrual", "abc", PHONE)).await;
    // The silent store was set up five hours ago and never sent anything.
    sqlx::query(
        "UPDATE onec_stores SET created_at = now() - interval '5 hours' WHERE store_id = 'silent'",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let answer = app.get("/api/admin/sync/stores", Some(ADMIN_TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let stores = answer.body["stores"].as_array().unwrap();
    let fresh_row = stores.iter().find(|s| s["store_id"] == "fresh").unwrap();
    assert_eq!(fresh_row["operations_24h"], 2);
    assert_eq!(fresh_row["errors_24h"], 1);
    assert_eq!(fresh_row["stale"], false);
    assert!(fresh_row["last_operation_at"].is_string());
    let silent_row = stores.iter().find(|s| s["store_id"] == "silent").unwrap();
    assert_eq!(
        silent_row["stale"], true,
        "no operation for LEDGER_SYNC_ALERT_HOURS (4 h)"
    );
    assert!(silent_row["last_operation_at"].is_null());

    let logged: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT item->>'external_id', item->>'status', item->>'error' \
         FROM onec_sync_log, jsonb_array_elements(items) AS item ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        logged,
        [
            ("A_1".into(), "ok".into(), None),
            ("A_2".into(), "error".into(), Some("invalid_amount".into()))
        ]
    );

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ledger_onec_store_stale{store=\"silent\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ledger_onec_store_seconds_since_last_operation{store=\"fresh\"}"));
    app.stop().await;
}

/// What the set-based inline projections wrote during batches equals a from-scratch fold of the
/// log applied one event at a time (what a replay does).
#[sqlx::test]
async fn batch_written_projections_equal_an_event_by_event_replay(pool: PgPool) {
    use ledger_events::{EventStore, FeedPosition};
    use ledger_projections::read_models;

    let app = spawn_app(pool).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    let phones: Vec<String> = (0..5).map(|n| format!("99893{:07}", n)).collect();
    for phone in &phones {
        app.customer_with_phone(phone).await;
    }
    let mut items = Vec::new();
    for (n, phone) in phones.iter().enumerate() {
        items.push(operation(&format!("A_{n}"), "accrual", "100.00", phone));
        items.push(operation(&format!("D_{n}"), "debit", "30.00", phone));
        items.push(referring(
            &format!("Rel_{n}"),
            "release",
            "10.00",
            phone,
            &format!("D_{n}"),
        ));
        items.push(referring(
            &format!("Rev_{n}"),
            "reversal",
            "50.00",
            phone,
            &format!("A_{n}"),
        ));
        items.push(operation(&format!("Big_{n}"), "debit", "1000.00", phone)); // refused, recorded
    }
    let answer = app
        .onec_post(
            "/api/cashback/v1/transactions/batch",
            Some(&key),
            &json!({"transactions": items}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);

    let store = EventStore::new(app.pool.clone());
    for projector in read_models::inline() {
        let tables = projector.tables();
        let snapshot = |table: &str| {
            format!("SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} t")
        };
        let mut live = Vec::new();
        for table in tables {
            live.push(
                sqlx::query_scalar::<_, Value>(&snapshot(table))
                    .fetch_one(&app.pool)
                    .await
                    .unwrap(),
            );
        }
        let mut transaction = app.pool.begin().await.unwrap();
        for table in tables {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *transaction)
                .await
                .unwrap();
        }
        let head = store.feed_head().await.unwrap();
        let mut after = FeedPosition::START;
        loop {
            let batch = store.read_global_feed(after, 100).await.unwrap();
            for event in batch.events.iter().filter(|e| projector.reads_stream(e)) {
                projector.apply(&mut transaction, event).await.unwrap();
            }
            after = batch.end(after);
            if batch.events.is_empty() && after < head {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            if after >= head {
                break;
            }
        }
        for (table, live_rows) in tables.iter().zip(&live) {
            let replayed: Value = sqlx::query_scalar(&snapshot(table))
                .fetch_one(&mut *transaction)
                .await
                .unwrap();
            assert_eq!(
                &replayed, live_rows,
                "{table}: replay equals what the batch wrote"
            );
        }
        transaction.rollback().await.unwrap();
    }
    app.stop().await;
}
