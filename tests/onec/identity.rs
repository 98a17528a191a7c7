//! Who is asking and about whom: a store authenticates with its own key (revocable at once, and
//! never a shop-API token), and a customer is found by a phone in any of the forms registers
//! send.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::common::onec::operation;
use crate::common::{spawn_app, ADMIN_TOKEN};
use crate::support::PHONE;

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
    // A key found valid is trusted for a second (authentication is not a query per request):
    // the revocation is felt within that second.
    let revoked_at = tokio::time::Instant::now();
    while app.onec_get(&path, Some(&key)).await.status != StatusCode::UNAUTHORIZED {
        assert!(
            revoked_at.elapsed() < ledger::infra::credential_cache::TIME_TO_LIVE * 2,
            "the revoked key still works after {:?}",
            revoked_at.elapsed()
        );
        // Poll interval while the cached key ages out.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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
        "revoked for writes too"
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
