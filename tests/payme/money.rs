//! Money: Perform posts the payment (double-entry) and accrues cashback; a cancel after perform
//! reverses both, even when the cashback was spent (a debt); USD/EUR orders are paid in UZS at
//! the CBU rate stored in the order (a local server plays CBU).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::local_server::{serve, ServerTask};
use crate::common::payme_caller::{now_ms, payme_id, PaymeCaller};
use crate::support::{
    assert_trial_balance, cashback, event_types, payme_app, payme_app_with, place_order,
    posted_net, stream_events, uzs_order, wait_for_order_status, Order,
};

async fn pay(payme: &PaymeCaller, order: &Order, amount_tiyin: i64) -> String {
    let id = payme_id();
    payme
        .create(&id, now_ms(), &order.order_id, amount_tiyin)
        .await
        .result();
    assert_eq!(payme.perform(&id).await.result()["state"], 2);
    id
}

/// The payload of the last event of this type in a stream.
async fn last_payload(app: &crate::common::TestApp, stream: &str, event_type: &str) -> Value {
    stream_events(app, stream)
        .await
        .into_iter()
        .rev()
        .find(|event| event["event_type"] == event_type)
        .unwrap_or_else(|| panic!("no {event_type} in {stream}"))["payload"]
        .clone()
}

#[sqlx::test]
async fn perform_posts_the_payment_and_accrues_cashback_and_a_refund_reverses_them(pool: PgPool) {
    let (app, payme) = payme_app_with(pool, |config| {
        config.cashback_rate = Decimal::new(1, 1); // 10 %
    })
    .await;
    let order = uzs_order(&app, "M-1", "998905000001").await;
    let receivable = format!("order:{}:receivable", order.order_id);
    let id = pay(&payme, &order, order.amount_minor).await;

    let paid = last_payload(&app, &format!("order-{}", order.order_id), "OrderPaid").await;
    assert_eq!(paid["provider"], "payme");
    assert_eq!(paid["provider_id"], id.as_str());
    assert_eq!(paid["amount_minor"], 3_500_000);
    assert_eq!(paid["currency"], "UZS");
    assert_eq!(paid["cashback_accrued_minor"], 350_000);
    assert_eq!(
        paid["postings"],
        json!([
            {"account": "gateway:payme:clearing", "side": "debit", "amount_minor": 3_500_000, "currency": "UZS"},
            {"account": receivable, "side": "credit", "amount_minor": 3_500_000, "currency": "UZS"}
        ])
    );
    assert_eq!(
        posted_net(&app.pool, "gateway:payme:clearing", "UZS").await,
        3_500_000
    );
    assert_eq!(
        posted_net(&app.pool, &receivable, "UZS").await,
        0,
        "the order is settled"
    );
    let account = cashback(&app, &order.customer_id, "UZS").await;
    assert_eq!(account["balance"], "3500.00", "10 % of 35 000.00");
    assert_trial_balance(&app.pool).await;
    let view = wait_for_order_status(&app, &order.order_id, "paid").await;
    assert_eq!(view["payments"][0]["provider"], "payme");
    assert_eq!(view["payments"][0]["state"], "2");

    assert_eq!(payme.cancel(&id, 5).await.result()["state"], -2);
    assert_eq!(
        posted_net(&app.pool, "gateway:payme:clearing", "UZS").await,
        0
    );
    assert_eq!(posted_net(&app.pool, &receivable, "UZS").await, 0);
    assert_eq!(posted_net(&app.pool, "shop:sales", "UZS").await, 0);
    assert_eq!(
        posted_net(&app.pool, "shop:cashback_issued", "UZS").await,
        0
    );
    assert_eq!(
        cashback(&app, &order.customer_id, "UZS").await["balance"],
        "0.00"
    );
    assert_trial_balance(&app.pool).await;
    let view = wait_for_order_status(&app, &order.order_id, "refunded").await;
    assert_eq!(view["payments"][0]["state"], "-2");
    app.stop().await;
}

#[sqlx::test]
async fn a_refund_after_the_cashback_was_spent_leaves_a_debt_paid_off_by_later_accruals(
    pool: PgPool,
) {
    let (app, payme) = payme_app(pool).await; // 5 %
    let phone = "998905000002";
    let first = place_order(
        &app,
        json!({"external_id": "M-2a", "customer_phone": phone, "currency": "UZS",
               "items": [{"sku": "a", "title": "Kettle", "qty": 1, "price": "1000.00"}]}),
    )
    .await;
    let first_payment = pay(&payme, &first, first.amount_minor).await;
    assert_eq!(
        cashback(&app, &first.customer_id, "UZS").await["balance"],
        "50.00"
    );

    // The customer spends the accrued 50.00 on a second order, paid through Payme too.
    let second = place_order(
        &app,
        json!({"external_id": "M-2b", "customer_phone": phone, "currency": "UZS",
               "cashback_to_redeem": "50.00",
               "items": [{"sku": "b", "title": "Mug", "qty": 1, "price": "60.00", "vat_percent": 12,
                          "ikpu_code": "10903003003000000", "package_code": "9012"}]}),
    )
    .await;
    assert_eq!(second.amount_minor, 1_000);
    let check = payme.check_perform(&second.order_id, 1_000).await;
    let item = &check.result()["detail"]["items"][0];
    assert_eq!(item["price"], 6_000);
    assert_eq!(
        item["discount"], 5_000,
        "the redeemed cashback is the line's discount"
    );
    pay(&payme, &second, 1_000).await;
    // 50.00 − 50.00 spent + 0.50 accrued (5 % of 10.00).
    assert_eq!(
        cashback(&app, &first.customer_id, "UZS").await["balance"],
        "0.50"
    );

    // Payme refunds the first order: its 50.00 accrual is clawed back although it was spent.
    let refund = payme.cancel(&first_payment, 5).await;
    assert_eq!(refund.result()["state"], -2, "the refund succeeds");
    let account = cashback(&app, &first.customer_id, "UZS").await;
    assert_eq!(account["balance"], "-49.50", "the shortfall is a debt");
    assert_eq!(account["available"], "0.00");
    let reversed = last_payload(
        &app,
        &format!("cashback-{}", first.customer_id),
        "CashbackAccrualReversed",
    )
    .await;
    assert_eq!(reversed["amount_minor"], 5_000);
    assert_eq!(reversed["balance_after_minor"], -4_950);

    // A later accrual pays the debt off first.
    let third = place_order(
        &app,
        json!({"external_id": "M-2c", "customer_phone": phone, "currency": "UZS",
               "items": [{"sku": "c", "title": "Teapot", "qty": 1, "price": "2000.00"}]}),
    )
    .await;
    pay(&payme, &third, third.amount_minor).await;
    assert_eq!(
        cashback(&app, &first.customer_id, "UZS").await["balance"],
        "50.50"
    );
    assert_trial_balance(&app.pool).await;
    app.stop().await;
}

/// Plays CBU's rate service: serves its JSON and counts the calls.
#[derive(Clone, Default)]
struct RateSource {
    body: Arc<Mutex<String>>,
    calls: Arc<AtomicUsize>,
}

fn cbu_rates(usd: &str, eur: &str) -> String {
    json!([
        {"id": 69, "Code": "840", "Ccy": "USD", "CcyNm_RU": "Доллар США", "CcyNm_UZ": "AQSH dollari",
         "CcyNm_EN": "US Dollar", "Nominal": "1", "Rate": usd, "Diff": "-10.50", "Date": "22.11.2026"},
        {"id": 21, "Code": "978", "Ccy": "EUR", "CcyNm_RU": "Евро", "CcyNm_UZ": "EVRO",
         "CcyNm_EN": "Euro", "Nominal": "1", "Rate": eur, "Diff": "3.10", "Date": "22.11.2026"},
        {"id": 15, "Code": "392", "Ccy": "JPY", "Nominal": "10", "Rate": "850.00", "Date": "22.11.2026"}
    ])
    .to_string()
}

async fn start_rate_source(source: RateSource) -> (SocketAddr, ServerTask) {
    async fn rates(
        State(source): State<RateSource>,
    ) -> ([(&'static str, &'static str); 1], String) {
        source.calls.fetch_add(1, Ordering::SeqCst);
        let body = source.body.lock().unwrap().clone();
        ([("content-type", "application/json")], body)
    }
    let router = Router::new()
        .route("/uz/arkhiv-kursov-valyut/json/", get(rates))
        .with_state(source);
    serve(router).await
}

fn fiscal_item(sku: &str, qty: u32, price: &str) -> Value {
    json!({"sku": sku, "title": sku, "qty": qty, "price": price, "vat_percent": 12,
           "ikpu_code": "10904004004000000", "package_code": "3456"})
}

#[sqlx::test]
async fn orders_priced_in_dollars_or_euros_are_paid_in_sum_at_the_stored_cbu_rate(pool: PgPool) {
    let source = RateSource::default();
    *source.body.lock().unwrap() = cbu_rates("12650.45", "13420.10");
    let (address, _rate_source) = start_rate_source(source.clone()).await;
    let (app, payme) = payme_app_with(pool, |config| {
        config.fx_rates_url = format!("http://{address}/uz/arkhiv-kursov-valyut/json/");
    })
    .await;
    let phone = "998905000003";
    // $10.00 + 3 × $2.35 = $17.05 → 17.05 × 12 650.45 = 215 690.1725 UZS → 21 569 017 tiyin.
    let dollars = place_order(
        &app,
        json!({"external_id": "M-3a", "customer_phone": phone, "currency": "USD",
               "items": [fiscal_item("lamp", 1, "10.00"), fiscal_item("bulb", 3, "2.35")]}),
    )
    .await;
    assert_eq!(dollars.amount_minor, 1_705);
    let placed = last_payload(&app, &format!("order-{}", dollars.order_id), "OrderPlaced").await;
    assert_eq!(
        placed["fx"]["rate"], "12650.45",
        "the rate used is stored with the order"
    );
    assert_eq!(placed["fx"]["rate_date"], "22.11.2026");
    assert_eq!(placed["fx"]["payable_amount_minor"], 21_569_017);
    let payable = 21_569_017;

    // The rate source moves; the order keeps its rate (and the cache its fetch).
    *source.body.lock().unwrap() = cbu_rates("13000.00", "14000.00");
    payme
        .check_perform(&dollars.order_id, 1_705)
        .await
        .expect_error(-31001);
    let check = payme.check_perform(&dollars.order_id, payable).await;
    let items = check.result()["detail"]["items"]
        .as_array()
        .unwrap()
        .clone();
    // $10.00 → 12 650 450 tiyin exactly; $2.35 → 2 972 855.75 → rounded up to 2 972 856.
    assert_eq!(items[0]["price"], 12_650_450);
    assert_eq!(items[1]["price"], 2_972_856);
    let net: i64 = items
        .iter()
        .map(|item| {
            item["price"].as_i64().unwrap() * item["count"].as_i64().unwrap()
                - item["discount"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(
        net, payable,
        "the receipt adds up to the UZS amount exactly"
    );

    let again = place_order(
        &app,
        json!({"external_id": "M-3b", "customer_phone": phone, "currency": "USD",
               "items": [fiscal_item("lamp", 1, "10.00")]}),
    )
    .await;
    let placed = last_payload(&app, &format!("order-{}", again.order_id), "OrderPlaced").await;
    assert_eq!(
        placed["fx"]["payable_amount_minor"], 12_650_450,
        "cached for the hour"
    );
    let euros = place_order(
        &app,
        json!({"external_id": "M-3c", "customer_phone": phone, "currency": "EUR",
               "items": [fiscal_item("vase", 1, "20.00")]}),
    )
    .await;
    assert_eq!(
        payme
            .check_perform(&euros.order_id, 26_840_200)
            .await
            .result()["allow"],
        true,
        "€20.00 × 13 420.10"
    );
    assert_eq!(
        source.calls.load(Ordering::SeqCst),
        1,
        "one fetch for the hour"
    );

    let id = pay(&payme, &dollars, payable).await;
    let paid = last_payload(&app, &format!("order-{}", dollars.order_id), "OrderPaid").await;
    assert_eq!(paid["amount_minor"], payable);
    assert_eq!(paid["currency"], "UZS");
    assert_eq!(
        posted_net(&app.pool, "gateway:payme:clearing", "UZS").await,
        payable
    );
    let receivable = format!("order:{}:receivable", dollars.order_id);
    assert_eq!(
        posted_net(&app.pool, &receivable, "USD").await,
        0,
        "settled in dollars"
    );
    assert_eq!(
        posted_net(&app.pool, "fx:conversion", "UZS").await,
        -payable
    );
    assert_eq!(posted_net(&app.pool, "fx:conversion", "USD").await, 1_705);
    // Cashback is kept in the order's currency: 5 % of $17.05, rounded down.
    assert_eq!(
        cashback(&app, &dollars.customer_id, "USD").await["balance"],
        "0.85"
    );
    assert_eq!(
        event_types(&app, &format!("payme_tx-{id}")).await,
        ["PaymeTransactionCreated", "PaymeTransactionPerformed"]
    );
    assert_trial_balance(&app.pool).await;
    app.stop().await;
}

#[sqlx::test]
async fn redeemed_cashback_stays_held_across_a_cancelled_transaction_until_the_order_ends(
    pool: PgPool,
) {
    let (app, payme) = payme_app(pool).await; // 5 %
    let phone = "998905000004";
    let earning = place_order(
        &app,
        json!({"external_id": "M-4a", "customer_phone": phone, "currency": "UZS",
               "items": [{"sku": "a", "title": "Kettle", "qty": 1, "price": "1000.00"}]}),
    )
    .await;
    pay(&payme, &earning, earning.amount_minor).await;
    let spending = place_order(
        &app,
        json!({"external_id": "M-4b", "customer_phone": phone, "currency": "UZS",
               "cashback_to_redeem": "20.00",
               "items": [{"sku": "b", "title": "Mug", "qty": 1, "price": "60.00"}]}),
    )
    .await;
    let held = cashback(&app, &earning.customer_id, "UZS").await;
    assert_eq!(held["balance"], "50.00");
    assert_eq!(
        held["available"], "30.00",
        "20.00 held for the second order"
    );

    // Payme gives up on the second order: the transaction is cancelled, the hold stays (the order
    // still awaits payment, with the cashback it redeems).
    let id = payme_id();
    payme
        .create(&id, now_ms(), &spending.order_id, spending.amount_minor)
        .await
        .result();
    assert_eq!(payme.cancel(&id, 3).await.result()["state"], -1);
    assert_eq!(
        cashback(&app, &earning.customer_id, "UZS").await["available"],
        "30.00"
    );

    // The shop cancels the order: the hold is voided and the cashback available again.
    let cancelled = app
        .post(
            &format!("/api/orders/{}/cancel", spending.order_id),
            Some(crate::common::ADMIN_TOKEN),
            &json!({}),
        )
        .await;
    assert!(cancelled.status.is_success(), "{:?}", cancelled.body);
    let released = cashback(&app, &earning.customer_id, "UZS").await;
    assert_eq!(released["balance"], "50.00");
    assert_eq!(released["available"], "50.00");
    assert_eq!(released["held"], "0.00");
    app.stop().await;
}
