//! At most `LEDGER_ONEC_BATCHES_PER_STORE` batches of one store at once: beyond it 429
//! `too_many_requests` with `Retry-After`, and nothing of the refused batch is applied.

use serde_json::json;
use sqlx::PgPool;

use crate::common::onec::operation;
use crate::common::spawn_app;

const BATCH: &str = "/api/cashback/v1/transactions/batch";
const PHONE: &str = "998901234567";

#[sqlx::test]
async fn a_store_over_its_batch_limit_gets_429_and_nothing_is_applied(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("tashkent-1", "UZS", "Asia/Tashkent").await;
    let other_key = app.store_key("samarkand-1", "UZS", "Asia/Samarkand").await;
    app.customer_with_phone(PHONE).await;
    let batch =
        json!({ "transactions": [operation("ACC_1_20261120", "accrual", "100.00", PHONE)] });

    // Two batches of the store in progress (held by the test through the same counter).
    let limit = &app.server.state.admission.onec_batches;
    assert_eq!(limit.per_key(), 2, "the default");
    let in_progress: Vec<_> = (0..2)
        .map(|_| limit.try_acquire("tashkent-1").expect("a slot"))
        .collect();

    let refused = app
        .http
        .post(app.url(BATCH))
        .header("x-api-key", &key)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "too_many_requests");

    let other_store =
        json!({ "transactions": [operation("ACC_9_20261120", "accrual", "5.00", PHONE)] });
    let other = app.onec_post(BATCH, Some(&other_key), &other_store).await;
    assert_eq!(
        other.status, 200,
        "another store is not limited: {:?}",
        other.body
    );

    drop(in_progress);
    let accepted = app.onec_post(BATCH, Some(&key), &batch).await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    assert_eq!(
        accepted.body["results"][0]["status"], "ok",
        "the refused batch had applied nothing, so this is not a duplicate"
    );
    app.stop().await;
}
