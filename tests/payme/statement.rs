//! GetStatement (inclusive bounds, ascending by Payme `time`, every state) and the
//! reconciliation report of the same rows with totals.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::payme_caller::{now_ms, payme_id};
use crate::common::ADMIN_TOKEN;
use crate::support::{payme_app, simple_order};
use ledger::infra::tokens::Scope;

/// Four transactions at `base`, `base+1000`, `base+2000`, `base+3000` Payme time, in states
/// 2, -1, 1, -2 — created in a different order than their times. Returns (id, time) in time order.
async fn four_transactions(
    app: &crate::common::TestApp,
    payme: &crate::common::payme_caller::PaymeCaller,
    base: i64,
) -> Vec<(String, i64, i64)> {
    let plan = [(2_000, 1), (0, 2), (3_000, -2), (1_000, -1)];
    let mut made = Vec::new();
    for (index, (offset, state)) in plan.into_iter().enumerate() {
        let price = format!("{}.00", 1_000 * (index + 1));
        let order = simple_order(app, &format!("ST-{index}"), "998904000001", &price).await;
        let id = payme_id();
        let time = base + offset;
        payme
            .create(&id, time, &order.order_id, order.amount_minor)
            .await
            .result();
        match state {
            2 => {
                payme.perform(&id).await.result();
            }
            -1 => {
                payme.cancel(&id, 3).await.result();
            }
            -2 => {
                payme.perform(&id).await.result();
                payme.cancel(&id, 5).await.result();
            }
            _ => {}
        }
        made.push((id, time, order.amount_minor));
    }
    made.sort_by_key(|(_, time, _)| *time);
    made
}

fn ids(statement: &Value) -> Vec<String> {
    statement["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["id"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test]
async fn get_statement_is_inclusive_ascending_and_shows_every_state(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let base = now_ms() - 60_000;
    let made = four_transactions(&app, &payme, base).await;
    let expected_ids: Vec<String> = made.iter().map(|(id, _, _)| id.clone()).collect();

    let all = payme.statement(base, base + 3_000).await;
    let all = all.result().clone();
    assert_eq!(
        ids(&all),
        expected_ids,
        "ascending by Payme time, both bounds included"
    );
    let states: Vec<i64> = all["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["state"].as_i64().unwrap())
        .collect();
    assert_eq!(states, [2, -1, 1, -2]);

    // Each line agrees with CheckTransaction and carries Payme's own fields.
    for (entry, (id, time, amount)) in all["transactions"].as_array().unwrap().iter().zip(&made) {
        let checked = payme.check(id).await;
        let check = checked.result();
        assert_eq!(entry["id"], id.as_str());
        assert_eq!(entry["time"], *time);
        assert_eq!(entry["amount"], *amount);
        assert_eq!(
            entry["account"],
            json!({"order_id": entry_order(&app, id).await})
        );
        for field in [
            "create_time",
            "perform_time",
            "cancel_time",
            "transaction",
            "state",
            "reason",
        ] {
            assert_eq!(entry[field], check[field], "{field} of {id}");
        }
        assert_eq!(entry["receivers"], Value::Null);
    }

    let middle = payme.statement(base + 1_000, base + 2_000).await;
    assert_eq!(
        ids(middle.result()),
        expected_ids[1..3].to_vec(),
        "inclusive bounds"
    );
    let single = payme.statement(base + 3_000, base + 3_000).await;
    assert_eq!(ids(single.result()), expected_ids[3..].to_vec());
    let between = payme.statement(base + 1, base + 999).await;
    assert_eq!(between.result(), &json!({"transactions": []}));
    let reversed = payme.statement(base + 3_000, base).await;
    assert_eq!(reversed.result(), &json!({"transactions": []}));
    app.stop().await;
}

/// The order a transaction pays, from the log.
async fn entry_order(app: &crate::common::TestApp, payme_id: &str) -> String {
    sqlx::query_scalar(
        "SELECT payload->>'order_id' FROM events WHERE stream_id = $1 AND stream_version = 1",
    )
    .bind(format!("payme_tx-{payme_id}"))
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn the_reconciliation_report_shows_the_same_rows_with_totals(pool: PgPool) {
    let (app, payme) = payme_app(pool).await;
    let base = now_ms() - 60_000;
    let made = four_transactions(&app, &payme, base).await;
    let path = format!(
        "/api/reports/payme/statement?from={base}&to={}",
        base + 3_000
    );

    let reader = app.token("accountant", &[Scope::ReportsRead]).await;
    let report = app.get(&path, Some(&reader)).await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    let statement = payme.statement(base, base + 3_000).await;
    let rows = report.body["transactions"].as_array().unwrap();
    let lines = statement.result()["transactions"].as_array().unwrap();
    assert_eq!(rows.len(), lines.len());
    for (row, line) in rows.iter().zip(lines) {
        for (field, value) in line.as_object().unwrap() {
            assert_eq!(
                &row[field], value,
                "{field}: the report shows GetStatement's rows"
            );
        }
        assert_eq!(row["order_id"], line["account"]["order_id"]);
    }
    // Amounts: 1 000.00 → state 2, 2 000.00 → 1, 3 000.00 → -2, 4 000.00 → -1.
    let amount_of = |state: i64| {
        made.iter()
            .zip(lines)
            .find(|(_, line)| line["state"] == state)
            .map(|((_, _, amount), _)| *amount)
            .unwrap()
    };
    let totals = report.body["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 4);
    for total in totals {
        let state = total["state"].as_i64().unwrap();
        let amount = amount_of(state);
        assert_eq!(total["count"], 1, "state {state}");
        assert_eq!(total["amount_tiyin"], amount);
        assert_eq!(
            total["amount"],
            format!("{}.{:02}", amount / 100, amount % 100)
        );
    }
    assert_eq!(report.body["total"]["count"], 4);
    assert_eq!(report.body["total"]["amount_tiyin"], 1_000_000);
    assert_eq!(report.body["total"]["amount"], "10000.00");
    assert_eq!(
        rows[0]["amount_uzs"],
        format!("{}.00", rows[0]["amount"].as_i64().unwrap() / 100)
    );

    let empty = app
        .get(
            &format!(
                "/api/reports/payme/statement?from={}&to={}",
                base + 1,
                base + 999
            ),
            Some(&reader),
        )
        .await;
    assert_eq!(empty.body["transactions"], json!([]));
    assert_eq!(empty.body["total"]["count"], 0);
    assert_eq!(empty.body["totals"][0]["amount"], "0.00");

    assert_eq!(app.get(&path, None).await.status, StatusCode::UNAUTHORIZED);
    let orders_only = app.token("shop", &[Scope::OrdersRead]).await;
    assert_eq!(
        app.get(&path, Some(&orders_only)).await.status,
        StatusCode::FORBIDDEN
    );
    for bad in ["?from=abc&to=1", "?to=5", "?from=10&to=5", "?from=-1&to=5"] {
        let answer = app
            .get(
                &format!("/api/reports/payme/statement{bad}"),
                Some(ADMIN_TOKEN),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {:?}",
            answer.body
        );
        assert_eq!(answer.error(), "invalid_request");
    }
    app.stop().await;
}
