//! In-store operations in the customer's cashback history, told apart from online orders and
//! timed in UTC from the store's local time.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::common::onec::operation;
use crate::common::spawn_app;
use crate::support::{single, PHONE};

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
