//! Request metrics are labelled from closed sets: invented methods and random paths add no
//! series.

use std::collections::BTreeSet;

use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use sqlx::PgPool;

use crate::common::{spawn_app, TestApp, ADMIN_TOKEN};

/// Requests no client should be able to turn into series of their own.
async fn hostile_round(app: &TestApp, rng: &mut StdRng) -> Vec<String> {
    let invented = Method::from_bytes(b"FOOBAR").unwrap();
    let mut paths = Vec::new();
    for _ in 0..5 {
        let word: String = (0..12)
            .map(|_| char::from(rng.sample(Alphanumeric)))
            .collect();
        let path = format!("/{word}/{}", rng.gen::<u32>());
        for method in [invented.clone(), Method::GET] {
            app.http
                .request(method, app.url(&path))
                .send()
                .await
                .expect("answered");
        }
        app.http
            .request(invented.clone(), app.url("/healthz"))
            .send()
            .await
            .expect("answered");
        paths.push(word);
    }
    paths
}

/// The request-counter series (name and labels, without the value).
async fn request_series(app: &TestApp) -> BTreeSet<String> {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("ledger_http_requests_total{"))
        .map(|line| line.rsplit_once(' ').expect("a sample line").0.to_owned())
        .collect()
}

#[sqlx::test]
async fn invented_methods_and_random_paths_create_no_series(pool: PgPool) {
    let app = spawn_app(pool).await;
    let seed: u64 = rand::random();
    println!("random paths from seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let order = app
        .get("/api/orders/no-such-order", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(order.status, 404);
    let mut words = hostile_round(&app, &mut rng).await;
    request_series(&app).await; // the scrape's own series exists from now on
    words.extend(hostile_round(&app, &mut rng).await);
    let before = request_series(&app).await;
    words.extend(hostile_round(&app, &mut rng).await);
    let after = request_series(&app).await;

    assert_eq!(
        before, after,
        "new requests of the same kinds add no series"
    );
    let all = after.iter().cloned().collect::<Vec<_>>().join("\n");
    assert!(!all.contains("FOOBAR"), "{all}");
    for word in &words {
        assert!(
            !all.contains(word.as_str()),
            "path {word} became a label: {all}"
        );
    }
    assert!(
        all.contains(r#"method="OTHER",route="unmatched",status="404""#),
        "{all}"
    );
    assert!(
        all.contains(r#"method="GET",route="/api/orders/{order_id}",status="404""#),
        "routes are labelled by template: {all}"
    );
    app.stop().await;
}

/// The families dashboards and alert rules rely on are there after some traffic, and the page
/// is valid Prometheus text (`promtool check metrics`, when installed — `.ci/run` installs it).
#[sqlx::test]
async fn the_metrics_page_has_the_standard_families_and_promtool_accepts_it(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("s1", "UZS", "UTC").await;
    app.customer_with_phone("998901234567").await;
    let accrual = app
        .onec_post(
            "/api/cashback/v1/transactions",
            Some(&key),
            &crate::common::onec::operation("A-1", "accrual", "1.00", "998901234567"),
        )
        .await;
    assert_eq!(accrual.status, reqwest::StatusCode::CREATED);

    let page = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    for family in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "ledger_db_pool_connections",
        "ledger_db_pool_waiting_commands",
        "ledger_command_duration_seconds_bucket",
        "ledger_append_duration_seconds_count",
        "ledger_onec_operations_total{store=\"s1\",outcome=\"ok\"} 1",
        "ledger_payments",
        "ledger_projection_lag_events",
        "ledger_http_requests_total",
    ] {
        assert!(page.contains(family), "{family} missing from:\n{page}");
    }
    let Ok(mut promtool) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        println!("promtool is not installed (Debian's `prometheus` package): format not checked");
        return;
    };
    use std::io::Write as _;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool refuses /metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
