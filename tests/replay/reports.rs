//! The reports on a prepared scenario with every kind of mismatch: real traffic through Payme,
//! Telegram and 1C, plus the faults the API itself never lets happen (a lost gateway record, a
//! record for an order that does not exist, an amount changed behind the ledger's back) made by
//! editing the read model directly. Each report must name exactly those, and the trial balance
//! must be zero.

use chrono::{Duration, Utc};
use ledger::infra::tokens::Scope;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::payme_caller::now_ms;
use crate::common::telegram::successful_payment;
use crate::common::ADMIN_TOKEN;
use crate::support::{caught_up, full_app, order};

struct Raw {
    status: StatusCode,
    content_type: String,
    disposition: String,
    text: String,
}

async fn raw(
    app: &crate::common::TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> Raw {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "text/csv")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    Raw {
        status: response.status(),
        content_type: header("content-type"),
        disposition: header("content-disposition"),
        text: response.text().await.unwrap(),
    }
}

fn json_of(raw: &Raw) -> Value {
    serde_json::from_str(&raw.text).unwrap_or_else(|_| panic!("{} {}", raw.status, raw.text))
}

fn by_state(report: &Value) -> Vec<(String, i64, String)> {
    report["by_state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["state"].as_str().unwrap().to_owned(),
                s["count"].as_i64().unwrap(),
                s["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[sqlx::test]
async fn every_kind_of_mismatch_is_named_and_the_books_balance(pool: PgPool) {
    let (app, payme, _fake) = full_app(pool.clone()).await;
    let token = app.token("accountant", &[Scope::ReportsRead]).await;
    let from = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let to = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let window = format!("from={}&to={}", urlencode(&from), urlencode(&to));

    // Payme: one paid, one cancelled before perform, one whose record will be lost, one whose
    // amount will be changed.
    let (paid, amount) = order(&app, "rep-paid", "998931110001", "1500").await;
    payme.pay("rep-p1", &paid, amount).await;
    let (dropped, amount) = order(&app, "rep-dropped", "998931110002", "700").await;
    payme
        .create("rep-p2", now_ms(), &dropped, amount)
        .await
        .result();
    payme.cancel("rep-p2", 3).await.result();
    let (lost, amount) = order(&app, "rep-lost", "998931110003", "200").await;
    payme.pay("rep-p3", &lost, amount).await;
    let (changed, amount) = order(&app, "rep-changed", "998931110004", "400").await;
    payme.pay("rep-p4", &changed, amount).await;
    // Telegram: a charge whose total is not the order's.
    let (_, customer_id) = app.telegram_login(8_100).await;
    let answer = app
        .post(
            "/api/orders",
            Some(ADMIN_TOKEN),
            &json!({"external_id": "rep-tg", "customer_id": customer_id, "currency": "UZS",
                    "items": [{"sku": "tea", "title": "Tea", "qty": 1, "price": "1200.00"}]}),
        )
        .await;
    let tg_order = answer.body["order_id"].as_str().unwrap().to_owned();
    let short = successful_payment(900, 8_100, &tg_order, "UZS", 100_000, "rep-charge");
    assert_eq!(app.send_update(&short).await.status, StatusCode::OK);
    // 1C: an accrual and a debit.
    let key = app.store_key("rep-store", "UZS", "Asia/Tashkent").await;
    app.customer_with_phone("998931110009").await;
    for (id, kind, amount) in [("A_1", "accrual", "30.00"), ("D_1", "debit", "12.50")] {
        let item = json!({"external_id": id, "type": kind, "amount": amount,
            "user_phone": "998931110009", "created_at": "2026-11-20T15:04:05", "register_id": "R-1"});
        let answer = app
            .onec_post("/api/cashback/v1/transactions", Some(&key), &item)
            .await;
        assert!(answer.status.is_success(), "{:?}", answer.body);
    }
    caught_up(&pool).await;

    // The faults no request can make.
    sqlx::raw_sql(
        "DELETE FROM order_payments WHERE provider = 'payme' AND provider_id = 'rep-p3'; \
         UPDATE order_payments SET amount_minor = amount_minor + 100 \
             WHERE provider = 'payme' AND provider_id = 'rep-p4'; \
         INSERT INTO order_payments (provider, provider_id, order_id, state, amount_minor, currency, created_at, updated_at) \
             VALUES ('payme', 'rep-ghost', 'no-such-order', '2', 5000, 'UZS', now(), now())",
    )
    .execute(&pool)
    .await
    .unwrap();

    let payme_report = raw(
        &app,
        reqwest::Method::GET,
        &format!("/api/reports/reconciliation?provider=payme&{window}"),
        &token,
        None,
    )
    .await;
    assert_eq!(payme_report.status, StatusCode::OK, "{}", payme_report.text);
    let report = json_of(&payme_report);
    assert_eq!(report["provider"], "payme");
    assert_eq!(
        by_state(&report),
        vec![
            ("-1".to_owned(), 1, "700.00".to_owned()),
            ("2".to_owned(), 3, "1951.00".to_owned()), // 1500 + 401 + 50 (the ghost)
        ]
    );
    assert_eq!(
        report["paid_without_gateway_record"],
        json!([{"order_id": lost, "amount": "200.00", "currency": "UZS"}])
    );
    assert_eq!(
        report["gateway_records_without_order"],
        json!([{"provider_id": "rep-ghost", "order_id": "no-such-order", "amount": "50.00", "currency": "UZS"}])
    );
    assert_eq!(
        report["amount_mismatches"],
        json!([{"order_id": changed, "provider_id": "rep-p4", "state": "2",
                "order_amount": "400.00", "gateway_amount": "401.00", "currency": "UZS"}])
    );
    let trial = report["trial_balance"].as_array().unwrap();
    assert!(!trial.is_empty());
    for currency in trial {
        assert_eq!(currency["net"], "0.00", "{currency}");
        assert_eq!(currency["debits"], currency["credits"], "{currency}");
    }

    let telegram = json_of(
        &raw(
            &app,
            reqwest::Method::GET,
            &format!("/api/reports/reconciliation?provider=telegram&{window}"),
            &token,
            None,
        )
        .await,
    );
    assert_eq!(
        by_state(&telegram),
        vec![("total_mismatch".to_owned(), 1, "1000.00".to_owned())]
    );
    assert_eq!(
        telegram["amount_mismatches"][0]["order_id"],
        json!(tg_order)
    );
    assert_eq!(telegram["amount_mismatches"][0]["order_amount"], "1200.00");
    assert_eq!(telegram["paid_without_gateway_record"], json!([]));

    let onec = json_of(
        &raw(
            &app,
            reqwest::Method::GET,
            &format!("/api/reports/reconciliation?provider=1c&{window}"),
            &token,
            None,
        )
        .await,
    );
    assert_eq!(
        by_state(&onec),
        vec![
            ("accrual".to_owned(), 1, "30.00".to_owned()),
            ("debit".to_owned(), 1, "12.50".to_owned())
        ]
    );
    // No CrystalPay traffic: an empty report, not an error.
    let crystalpay = json_of(
        &raw(
            &app,
            reqwest::Method::GET,
            &format!("/api/reports/reconciliation?provider=crystalpay&{window}"),
            &token,
            None,
        )
        .await,
    );
    assert_eq!(crystalpay["by_state"], json!([]));

    // The same period as CSV: one row per record.
    let csv = raw(
        &app,
        reqwest::Method::GET,
        &format!("/api/reports/reconciliation?provider=payme&{window}&format=csv"),
        &token,
        None,
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    assert!(
        csv.disposition
            .starts_with("attachment; filename=\"reconciliation-payme-"),
        "{}",
        csv.disposition
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "provider_id,order_id,state,amount,currency,created_at"
    );
    assert_eq!(lines.len(), 1 + 4, "{}", csv.text);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("rep-p1,{paid},2,1500.00,UZS,"))),
        "{}",
        csv.text
    );

    // A statement from Payme: p1 agrees, p4 differs in amount, p2 in state, one we never saw;
    // the ghost is missing there.
    let statement = "Amount,id,state,comment\n\
                     1500,rep-p1,2,ok\n\
                     400.00,rep-p4,2,\n\
                     700.00,rep-p2,-2,\"refunded, they say\"\n\
                     99.99,rep-unknown,2,\n";
    let upload = raw(
        &app,
        reqwest::Method::POST,
        &format!("/api/reports/reconciliation/upload?provider=payme&{window}"),
        &token,
        Some(statement),
    )
    .await;
    assert_eq!(upload.status, StatusCode::OK, "{}", upload.text);
    let matched = json_of(&upload);
    assert_eq!(matched["matched"], 1);
    assert_eq!(
        matched["missing_here"],
        json!([{"id": "rep-unknown", "amount": "99.99", "state": "2"}])
    );
    assert_eq!(
        matched["missing_there"],
        json!([{"provider_id": "rep-ghost", "amount": "50.00", "state": "2"}])
    );
    assert_eq!(
        matched["differing"],
        json!([{"id": "rep-p4", "field": "amount", "ours": "401.00", "theirs": "400.00"},
               {"id": "rep-p2", "field": "state", "ours": "-1", "theirs": "-2"}])
    );
    let malformed = raw(
        &app,
        reqwest::Method::POST,
        &format!("/api/reports/reconciliation/upload?provider=payme&{window}"),
        &token,
        Some("id,amount,state\nrep-p1,1500,2\nrep-p4,lots,2\n"),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let refusal = json_of(&malformed);
    assert_eq!(refusal["error"], "invalid_request");
    assert!(
        refusal["message"].as_str().unwrap().starts_with("line 3:"),
        "{refusal}"
    );

    // The trial balance now (projection) and at a moment (log) agree, and net to zero.
    let now = json_of(
        &raw(
            &app,
            reqwest::Method::GET,
            "/api/reports/trial-balance",
            &token,
            None,
        )
        .await,
    );
    let at = json_of(
        &raw(
            &app,
            reqwest::Method::GET,
            &format!("/api/reports/trial-balance?at={}", urlencode(&to)),
            &token,
            None,
        )
        .await,
    );
    assert_eq!(now["accounts"], at["accounts"]);
    assert_eq!(now["currencies"], at["currencies"]);
    for currency in now["currencies"].as_array().unwrap() {
        assert_eq!(currency["net"], "0.00", "{currency}");
    }
    let before = json_of(
        &raw(
            &app,
            reqwest::Method::GET,
            &format!("/api/reports/trial-balance?at={}", urlencode(&from)),
            &token,
            None,
        )
        .await,
    );
    assert_eq!(
        before["accounts"],
        json!([]),
        "nothing had happened an hour ago"
    );
    let trial_csv = raw(
        &app,
        reqwest::Method::GET,
        "/api/reports/trial-balance?format=csv",
        &token,
        None,
    )
    .await;
    assert!(
        trial_csv
            .text
            .starts_with("account,currency,debits,credits,balance\n"),
        "{}",
        trial_csv.text
    );
    assert!(
        trial_csv.disposition.contains("trial-balance-"),
        "{}",
        trial_csv.disposition
    );

    // Refusals: credentials first, then the query.
    let orders_only = app.token("shop", &[Scope::OrdersRead]).await;
    let forbidden = raw(
        &app,
        reqwest::Method::GET,
        "/api/reports/trial-balance",
        &orders_only,
        None,
    )
    .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let anonymous = app.get("/api/reports/trial-balance", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    for (path, field) in [
        (
            format!("/api/reports/reconciliation?provider=paypal&{window}"),
            "provider",
        ),
        (
            "/api/reports/reconciliation?provider=payme&from=yesterday&to=today".to_owned(),
            "from",
        ),
        (
            format!(
                "/api/reports/reconciliation?provider=payme&from={}&to={}",
                urlencode(&to),
                urlencode(&from)
            ),
            "to",
        ),
        (
            format!("/api/reports/reconciliation?provider=payme&{window}&format=xml"),
            "format",
        ),
        ("/api/reports/trial-balance?at=noon".to_owned(), "at"),
    ] {
        let answer = app.get(&path, Some(&token)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(answer.body["field"], field, "{path}: {:?}", answer.body);
    }
    let telegram_upload = raw(
        &app,
        reqwest::Method::POST,
        &format!("/api/reports/reconciliation/upload?provider=telegram&{window}"),
        &token,
        Some("id,amount,state\n"),
    )
    .await;
    assert_eq!(telegram_upload.status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
