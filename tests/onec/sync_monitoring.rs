//! What operators see of each store's exchange: operations and errors of the last 24 hours, stale
//! stores, the sync log, and the same as metrics.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::common::onec::operation;
use crate::common::{spawn_app, ADMIN_TOKEN};
use crate::support::{single, PHONE};

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
