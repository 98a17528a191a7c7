//! PostgreSQL stopped (fast shutdown) and started again while 1C operations keep coming: writes
//! during the outage get a fast 503, `/readyz` reports the outage and recovers, every
//! acknowledged write is in the log afterwards, and the projectors resume by themselves.
//!
//! The test runs its own private cluster (it stops and starts it), never the shared test one.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

use crate::common::onec::operation;
use crate::common::private_cluster::PrivateCluster;
use crate::common::{spawn_app_with, TestApp, ADMIN_TOKEN};
use crate::server_pool;

const PHONE: &str = "998904445566";
const DEADLINE: Duration = Duration::from_secs(30);

async fn ready(app: &TestApp) -> StatusCode {
    app.get("/readyz", None).await.status
}

async fn wait_for_readiness(app: &TestApp, wanted: StatusCode) {
    let deadline = Instant::now() + DEADLINE;
    while ready(app).await != wanted {
        assert!(Instant::now() < deadline, "/readyz never answered {wanted}");
        // Poll interval while the database goes down or comes back.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_restarted_database_loses_nothing_acknowledged_and_the_server_recovers() {
    let (cluster, url) = PrivateCluster::start().await;
    let pool = server_pool(&url, 8, Duration::from_secs(1), Duration::from_secs(10)).await;
    ledger::infra::database::migrate(&pool).await.unwrap();
    let app = spawn_app_with(pool, |_| {}).await;
    app.customer_with_phone(PHONE).await;
    let key = app.store_key("s1", "UZS", "UTC").await;

    // A stream of 1C operations, remembering which were acknowledged.
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let unavailable = Arc::new(Mutex::new(0_usize));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (acknowledged, unavailable, stop) =
            (acknowledged.clone(), unavailable.clone(), stop.clone());
        let (http, base, key) = (app.http.clone(), app.server.base_url(), key.clone());
        tokio::spawn(async move {
            let mut next = 0_usize;
            while !stop.load(Ordering::SeqCst) {
                next += 1;
                let id = format!("R-{next}");
                let started = Instant::now();
                let sent = http
                    .post(format!("{base}/api/cashback/v1/transactions"))
                    .header("x-api-key", &key)
                    .json(&operation(&id, "accrual", "1.00", PHONE))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .expect("every request is answered, never dropped or hung");
                let status = sent.status();
                let body: serde_json::Value = sent.json().await.unwrap_or_default();
                match status {
                    StatusCode::CREATED => {
                        acknowledged.lock().unwrap().insert(id);
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert_eq!(body["error"], "database_unavailable", "{body}");
                        assert!(started.elapsed() < Duration::from_secs(5), "a fast answer");
                        *unavailable.lock().unwrap() += 1;
                    }
                    other => panic!("unexpected answer {other}: {body}"),
                }
            }
        })
    };
    let acknowledged_count = || acknowledged.lock().unwrap().len();
    let deadline = Instant::now() + DEADLINE;
    while acknowledged_count() < 20 {
        assert!(Instant::now() < deadline, "the load never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    cluster.down().await;
    wait_for_readiness(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    let during = app
        .onec_post(
            "/api/cashback/v1/transactions",
            Some(&key),
            &operation("during-outage", "accrual", "1.00", PHONE),
        )
        .await;
    assert_eq!(
        during.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        during.body
    );
    assert_eq!(during.error(), "database_unavailable");

    cluster.up().await;
    wait_for_readiness(&app, StatusCode::OK).await;
    let before_recovery = acknowledged_count();
    let deadline = Instant::now() + DEADLINE;
    while acknowledged_count() < before_recovery + 20 {
        assert!(
            Instant::now() < deadline,
            "writes did not resume after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    assert!(*unavailable.lock().unwrap() > 0, "the load saw the outage");

    // Every acknowledged operation is in the log, once.
    let acknowledged = acknowledged.lock().unwrap().clone();
    let recorded: Vec<String> = sqlx::query_scalar(
        "SELECT substring(idempotency_key from '[^:]*$') FROM events \
         WHERE idempotency_key LIKE '1c:s1:R-%'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let recorded: BTreeSet<String> = recorded.into_iter().collect();
    assert!(
        acknowledged.is_subset(&recorded),
        "acknowledged but missing: {:?}",
        acknowledged.difference(&recorded).collect::<Vec<_>>()
    );
    // The projectors resumed: the customer's history catches up with the last write.
    let head: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let customer: String =
        sqlx::query_scalar("SELECT customer_id FROM customer_index WHERE phone = $1")
            .bind(PHONE)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let history = app
        .get(
            &format!("/api/customers/{customer}/cashback?min_position={head}"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{:?}", history.body);
    app.stop().await;
    drop(cluster);
}
