//! Merchant keys: several accepted during a rotation; ChangePassword replaces the caller's key;
//! the log keeps it across restarts and instances; the operator's `set-payme`; never in clear.

use std::time::Duration;

use ledger::config::Secret;
use ledger_events::EventStore;
use serde_json::json;
use sqlx::PgPool;

use crate::common::payme_caller::PaymeCaller;
use crate::common::{spawn_app_with, TestApp};

const OLD: &str = "old-key-Zr4u9PqW2mXs8Tn6Lc1V";
const NEXT: &str = "next-key-Hb7Jk3Qe5Rf0Yp2Nw8Dz";
const NEW: &str = "new-key-Ua6Xo1Ig9Mc4Bt7Sv3Ky";

async fn app_with_keys(pool: PgPool, keys: &[&str]) -> TestApp {
    let keys: Vec<Secret> = keys.iter().map(|key| Secret::new(*key)).collect();
    spawn_app_with(pool, move |config| config.payme_keys = keys).await
}

/// Whether `key` is accepted by `app` now.
async fn accepted(app: &TestApp, key: &str) -> bool {
    let answer = PaymeCaller::new(app, key)
        .call("CheckTransaction", json!({"id": "probe"}))
        .await;
    match answer.error_code() {
        Some(-31003) => true,
        Some(-32504) => false,
        other => panic!("unexpected answer {other:?}: {}", answer.raw),
    }
}

/// Polls (other instances cache the key set for up to a second).
async fn eventually_accepted(app: &TestApp, key: &str, expected: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while accepted(app, key).await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "key acceptance never became {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assert_no_key_in_the_log(pool: &PgPool) {
    for key in [OLD, NEXT, NEW, "operator-key-1", "operator-key-2"] {
        let found: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%' \
                                            OR metadata::text LIKE '%' || $1 || '%'",
        )
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(found, 0, "a key is stored in clear");
    }
}

#[sqlx::test]
async fn change_password_replaces_the_callers_key_and_keeps_the_others(pool: PgPool) {
    let app = app_with_keys(pool, &[OLD, NEXT]).await;
    assert!(accepted(&app, OLD).await);
    assert!(
        accepted(&app, NEXT).await,
        "both keys work during a rotation"
    );
    assert!(!accepted(&app, NEW).await);

    let changed = PaymeCaller::new(&app, OLD).change_password(NEW).await;
    assert_eq!(changed.result(), &json!({"success": true}));
    assert!(
        !accepted(&app, OLD).await,
        "the caller's key is replaced at once"
    );
    assert!(accepted(&app, NEW).await);
    assert!(
        accepted(&app, NEXT).await,
        "the other key of the rotation stays"
    );

    // The old key can no longer change anything.
    PaymeCaller::new(&app, OLD)
        .change_password("stolen")
        .await
        .expect_error(-32504);
    let origins: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'origin' FROM events WHERE stream_id = 'settings-payme' ORDER BY stream_version",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(origins, ["environment", "change_password"]);
    assert_no_key_in_the_log(&app.pool).await;
    app.stop().await;
}

#[sqlx::test]
async fn key_changes_outlive_restarts_and_reach_every_instance(pool: PgPool) {
    let first = app_with_keys(pool.clone(), &[OLD]).await;
    let second = app_with_keys(pool.clone(), &[OLD]).await;
    assert!(accepted(&second, OLD).await);

    PaymeCaller::new(&first, OLD)
        .change_password(NEW)
        .await
        .result();
    eventually_accepted(&second, NEW, true).await;
    eventually_accepted(&second, OLD, false).await;
    first.stop().await;
    second.stop().await;

    // LEDGER_PAYME_KEY only seeds an empty log: a restart with the old key keeps the change.
    let restarted = app_with_keys(pool, &[OLD]).await;
    assert!(!accepted(&restarted, OLD).await);
    assert!(accepted(&restarted, NEW).await);
    assert_no_key_in_the_log(&restarted.pool).await;
    restarted.stop().await;
}

#[sqlx::test]
async fn the_operator_replaces_the_keys(pool: PgPool) {
    let app = app_with_keys(pool.clone(), &[OLD]).await;
    let store = EventStore::new(pool);
    ledger::payme::keys::replace_keys_from_operator(
        &store,
        &["operator-key-1".into(), "operator-key-2".into()],
    )
    .await
    .unwrap();
    eventually_accepted(&app, "operator-key-1", true).await;
    eventually_accepted(&app, "operator-key-2", true).await;
    eventually_accepted(&app, OLD, false).await;
    assert!(
        ledger::payme::keys::replace_keys_from_operator(&store, &[])
            .await
            .is_err(),
        "at least one key"
    );
    assert_no_key_in_the_log(&app.pool).await;
    app.stop().await;
}
