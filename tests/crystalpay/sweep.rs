//! The lifetime sweep: live invoices past their lifetime with no callback are re-checked with
//! `invoice/info`, and only CrystalPay's answer changes anything. The sweep's lifetime and
//! period are shortened through the settings (`CrystalPaySweep`), never waited out.

use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;
use tokio::time::Instant;

use crate::common::crystalpay::FakeCrystalPay;
use crate::common::{TestApp, ADMIN_TOKEN};
use crate::support::{
    ask_invoice, crystalpay_app_with, crystalpay_payment, invoice, invoice_events, last_check,
    order, order_view, wait_for_checks,
};
use ledger::config::{Config, CrystalPaySweep};

/// An app whose sweep treats every invoice as past its lifetime and runs every 50 ms.
async fn swept_app(pool: PgPool, adjust: impl FnOnce(&mut Config)) -> (TestApp, FakeCrystalPay) {
    crystalpay_app_with(pool, |config| {
        config.crystalpay.as_mut().unwrap().sweep = CrystalPaySweep {
            after: Duration::ZERO,
            every: Duration::from_millis(50),
            per_pass: 100,
        };
        adjust(config);
    })
    .await
}

/// Waits (bounded) until the fake has answered at least `count` `invoice/info` calls about the
/// invoice.
async fn wait_for_info_calls(fake: &FakeCrystalPay, invoice_id: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while fake.info_calls_for(invoice_id) < count {
        assert!(
            Instant::now() < deadline,
            "{invoice_id}: {} invoice/info calls within 15 s, expected {count}",
            fake.info_calls_for(invoice_id)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test]
async fn a_failed_invoice_past_its_lifetime_frees_its_order_without_a_callback(pool: PgPool) {
    let (app, fake) = swept_app(pool, |config| config.order_ttl_hours = 0).await;
    let (order_id, _) = order(&app, "S-1", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;

    // CrystalPay still says `notpayed`: the sweep asks, records nothing, and the invoice keeps
    // holding the order — the order expiry passes over it.
    wait_for_info_calls(&fake, &invoice_id, 2).await;
    assert_eq!(
        invoice_events(&app, &invoice_id, "CrystalPayInvoiceChecked").await,
        0
    );
    let report = ledger::orders::expiry::sweep(&app.server.state)
        .await
        .unwrap();
    assert_eq!(report.expired, 0, "a live invoice holds its order");
    assert_eq!(
        order_view(&app, &order_id).await["status"],
        "awaiting_payment"
    );

    // The lifetime ran out at CrystalPay; no callback comes.
    fake.set_state(&invoice_id, "failed");
    wait_for_checks(&app, &invoice_id, 1).await;
    let check = last_check(&app, &invoice_id).await;
    assert_eq!(check["reported_state"], "failed");
    assert_eq!(check["state_after"], "expired");
    assert_eq!(check["outcome"], "applied");
    assert_eq!(
        invoice_events(&app, &invoice_id, "CrystalPayCallbackReceived").await,
        0
    );
    let view = order_view(&app, &order_id).await;
    assert_eq!(view["status"], "awaiting_payment");
    assert_eq!(crystalpay_payment(&view)["state"], "expired");

    // No longer held: the order expiry now cancels it.
    let report = ledger::orders::expiry::sweep(&app.server.state)
        .await
        .unwrap();
    assert_eq!(report.expired, 1);
    assert_eq!(order_view(&app, &order_id).await["status"], "cancelled");
    app.stop().await;
}

#[sqlx::test]
async fn a_released_order_can_be_paid_by_other_means(pool: PgPool) {
    let (app, fake) = swept_app(pool, |_| {}).await;
    let (order_id, _) = order(&app, "S-2", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "failed");
    wait_for_checks(&app, &invoice_id, 1).await;

    let next = ask_invoice(&app, ADMIN_TOKEN, &order_id, "web").await;
    assert_eq!(next.status, StatusCode::CREATED, "{:?}", next.body);
    let next_id = next.body["invoice_id"].as_str().unwrap().to_owned();
    assert_ne!(next_id, invoice_id);
    // The new invoice is paid through its callback; the swept one stays expired.
    fake.set_state(&next_id, "payed");
    let paid = app.crystalpay_callback(&next_id, "payed").await;
    assert_eq!(paid.status, StatusCode::OK, "{:?}", paid.body);
    wait_for_checks(&app, &next_id, 1).await;
    assert_eq!(order_view(&app, &order_id).await["status"], "paid");
    assert_eq!(app.count_events("OrderPaid").await, 1);
    assert_eq!(
        invoice_events(&app, &invoice_id, "CrystalPayInvoiceChecked").await,
        1
    );
    app.stop().await;
}

#[sqlx::test]
async fn a_payed_invoice_found_by_the_sweep_pays_its_order_once(pool: PgPool) {
    let (app, fake) = swept_app(pool, |_| {}).await;
    let (order_id, _) = order(&app, "S-3", Some("+79990001122"), "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "payed");
    wait_for_checks(&app, &invoice_id, 1).await;
    let check = last_check(&app, &invoice_id).await;
    assert_eq!(check["state_after"], "payed");
    assert_eq!(check["outcome"], "applied");
    assert_eq!(order_view(&app, &order_id).await["status"], "paid");

    // CrystalPay's callback arrives late: nothing more is recorded or paid.
    let late = app.crystalpay_callback(&invoice_id, "payed").await;
    assert_eq!(late.status, StatusCode::OK, "{:?}", late.body);
    assert_eq!(late.body["recorded"], false);
    // A late `processing` is re-checked (CrystalPay says `payed`): unchanged.
    let processing = app.crystalpay_callback(&invoice_id, "processing").await;
    assert_eq!(processing.body["recorded"], true);
    wait_for_checks(&app, &invoice_id, 2).await;
    assert_eq!(last_check(&app, &invoice_id).await["outcome"], "unchanged");

    // Later passes leave a final invoice alone.
    let calls = fake.info_calls_for(&invoice_id);
    let (other_order, _) = order(&app, "S-3b", None, "10.00").await;
    let other = invoice(&app, &other_order).await;
    wait_for_info_calls(&fake, &other, 3).await;
    assert_eq!(fake.info_calls_for(&invoice_id), calls);
    assert_eq!(app.count_events("OrderPaid").await, 1);
    assert_eq!(order_view(&app, &order_id).await["status"], "paid");
    app.stop().await;
}

#[sqlx::test]
async fn a_callback_and_the_sweep_together_pay_once(pool: PgPool) {
    let (app, fake) = swept_app(pool, |_| {}).await;
    let (order_id, _) = order(&app, "S-4", None, "10.00").await;
    let invoice_id = invoice(&app, &order_id).await;
    fake.set_state(&invoice_id, "payed");
    let answer = app.crystalpay_callback(&invoice_id, "payed").await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    // Whichever got there first applied `payed`; the other found nothing left to do.
    wait_for_checks(&app, &invoice_id, 1).await;
    let other = {
        let (other_order, _) = order(&app, "S-4b", None, "10.00").await;
        invoice(&app, &other_order).await
    };
    wait_for_info_calls(&fake, &other, 2).await;
    assert_eq!(
        invoice_events(&app, &invoice_id, "CrystalPayInvoiceChecked").await,
        1
    );
    assert_eq!(app.count_events("OrderPaid").await, 1);
    assert_eq!(order_view(&app, &order_id).await["status"], "paid");
    app.stop().await;
}

#[sqlx::test]
async fn an_info_error_waits_for_the_next_pass_without_blocking_others(pool: PgPool) {
    let (app, fake) = swept_app(pool, |_| {}).await;
    let (stuck_order, _) = order(&app, "S-5", None, "10.00").await;
    let stuck = invoice(&app, &stuck_order).await;
    let (free_order, _) = order(&app, "S-6", None, "10.00").await;
    let free = invoice(&app, &free_order).await;
    fake.set_info_down_for(&stuck, true);
    let asked_before = fake.info_calls_for(&stuck);
    fake.set_state(&stuck, "failed");
    fake.set_state(&free, "failed");

    wait_for_checks(&app, &free, 1).await;
    assert_eq!(
        order_view(&app, &free_order).await["status"],
        "awaiting_payment"
    );
    assert_eq!(last_check(&app, &free).await["state_after"], "expired");
    // The stuck one was asked (each pass retries a 503 three times), more than one pass.
    wait_for_info_calls(&fake, &stuck, asked_before + 6).await;
    assert_eq!(
        invoice_events(&app, &stuck, "CrystalPayInvoiceChecked").await,
        0
    );
    // Its invoice still holds the order: asking again answers the same invoice.
    let same = ask_invoice(&app, ADMIN_TOKEN, &stuck_order, "web").await;
    assert_eq!(same.status, StatusCode::OK, "{:?}", same.body);
    assert_eq!(same.body["invoice_id"], stuck.as_str());

    // CrystalPay answers again: the next pass applies it.
    fake.set_info_down_for(&stuck, false);
    wait_for_checks(&app, &stuck, 1).await;
    assert_eq!(last_check(&app, &stuck).await["state_after"], "expired");
    let next = ask_invoice(&app, ADMIN_TOKEN, &stuck_order, "web").await;
    assert_eq!(next.status, StatusCode::CREATED, "{:?}", next.body);
    app.stop().await;
}

#[sqlx::test]
async fn a_pass_takes_a_page_and_the_next_passes_the_rest(pool: PgPool) {
    let (app, fake) = swept_app(pool, |config| {
        config.crystalpay.as_mut().unwrap().sweep.per_pass = 2;
    })
    .await;
    let mut invoices = Vec::new();
    for n in 0..5 {
        let (order_id, _) = order(&app, &format!("S-P{n}"), None, "10.00").await;
        let invoice_id = invoice(&app, &order_id).await;
        invoices.push(invoice_id);
    }
    // The two oldest stay `notpayed` — a whole page of them, asked every round yet never in
    // the way of the others — and the rest fail.
    for invoice_id in &invoices[2..] {
        fake.set_state(invoice_id, "failed");
    }
    for invoice_id in &invoices[2..] {
        wait_for_checks(&app, invoice_id, 1).await;
        assert_eq!(last_check(&app, invoice_id).await["state_after"], "expired");
    }
    for invoice_id in &invoices[..2] {
        assert_eq!(
            invoice_events(&app, invoice_id, "CrystalPayInvoiceChecked").await,
            0
        );
        assert!(fake.info_calls_for(invoice_id) > 0);
    }
    app.stop().await;
}

#[sqlx::test]
async fn an_invoice_within_its_lifetime_is_not_swept(pool: PgPool) {
    // The real lifetime; only the period is short.
    let (app, fake) = crystalpay_app_with(pool, |config| {
        config.crystalpay.as_mut().unwrap().sweep.every = Duration::from_millis(50);
    })
    .await;
    let (young_order, _) = order(&app, "S-7", None, "10.00").await;
    let young = invoice(&app, &young_order).await;
    let (old_order, _) = order(&app, "S-8", None, "10.00").await;
    let old = invoice(&app, &old_order).await;
    fake.set_state(&young, "failed");
    fake.set_state(&old, "failed");
    // The projection's record of when the old one was made: two hours ago.
    sqlx::query(
        "UPDATE crystalpay_invoices SET created_at = now() - interval '2 hours' \
         WHERE invoice_id = $1",
    )
    .bind(&old)
    .execute(&app.pool)
    .await
    .unwrap();

    wait_for_checks(&app, &old, 1).await;
    assert_eq!(last_check(&app, &old).await["state_after"], "expired");
    // The pass that took the old one passed over the young one.
    assert_eq!(fake.info_calls_for(&young), 0);
    assert_eq!(
        order_view(&app, &young_order).await["status"],
        "awaiting_payment"
    );
    app.stop().await;
}
