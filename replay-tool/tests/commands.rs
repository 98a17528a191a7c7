//! The `ledger-replay` binary against a real database: `rebuild --all` builds the projections
//! of a log no server ever projected, `verify` finds nothing (exit 0), then every difference
//! injected into the live tables (a changed row, a missing row, an extra row) is printed and
//! the exit code is 1; `balances` prints the contract's CSV header; bad arguments exit 2.

use std::process::{Command, Output};

use ledger_events::domain::CustomerRegistered;
use ledger_events::{AppendRequest, EventMetadata, EventStore, ExpectedVersion, Source, StreamId};
use sqlx::PgPool;

/// The URL of the test's own database: the server of DATABASE_URL, the database sqlx made.
fn database_url(pool: &PgPool) -> String {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests");
    let database = pool
        .connect_options()
        .get_database()
        .expect("a test database")
        .to_owned();
    let (base, _) = server.rsplit_once('/').expect("a URL with a database path");
    format!("{base}/{database}")
}

fn replay(pool: &PgPool, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger-replay"))
        .args(arguments)
        .env("DATABASE_URL", database_url(pool))
        .output()
        .expect("ledger-replay runs")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn register(store: &EventStore, customer_id: &str, name: &str) {
    let stream = StreamId::customer(customer_id);
    let request = AppendRequest::new(EventMetadata::new(Source::Api, "test"))
        .expect(&stream, ExpectedVersion::NoStream)
        .event(
            &stream,
            CustomerRegistered {
                customer_id: customer_id.to_owned(),
                phone: None,
                telegram_id: None,
                name: Some(name.to_owned()),
            },
        );
    store.append(&request).await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn verify_prints_every_injected_difference_and_exits_1(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    for (id, name) in [("c1", "Aziza"), ("c2", "Bekzod"), ("c3", "Dilnoza")] {
        register(&store, id, name).await;
    }
    let rebuilt = replay(&pool, &["rebuild", "--all"]);
    assert_eq!(rebuilt.status.code(), Some(0), "{}", text(&rebuilt));
    let summary = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(
        summary.contains("customers: 3 events read, 3 applied"),
        "{}",
        text(&rebuilt)
    );
    assert!(summary.contains("events/s"), "{}", text(&rebuilt));

    let clean = replay(&pool, &["verify", "--all"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    assert!(String::from_utf8_lossy(&clean.stdout).contains("customers: no difference"));

    sqlx::raw_sql(
        "UPDATE customers_view SET name = 'Mallory' WHERE customer_id = 'c1'; \
         DELETE FROM customers_view WHERE customer_id = 'c2'; \
         INSERT INTO customers_view (customer_id, name, created_at, updated_at) \
             SELECT 'c9', 'Nobody', created_at, updated_at FROM customers_view WHERE customer_id = 'c3'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let dirty = replay(&pool, &["verify", "customers"]);
    assert_eq!(dirty.status.code(), Some(1), "{}", text(&dirty));
    let report = String::from_utf8_lossy(&dirty.stdout);
    assert!(
        report
            .contains(r#"row {"customer_id":"c1"} differs: name: live "Mallory", rebuilt "Aziza""#),
        "{}",
        text(&dirty)
    );
    assert!(
        report.contains("missing from the live table") && report.contains(r#""c2""#),
        "{report}"
    );
    assert!(
        report.contains("only in the live table") && report.contains(r#""c9""#),
        "{report}"
    );
    assert!(report.contains("customers: 3 rows differ"), "{report}");

    // A rebuild repairs it.
    let repaired = replay(&pool, &["rebuild", "customers"]);
    assert_eq!(repaired.status.code(), Some(0), "{}", text(&repaired));
    let clean = replay(&pool, &["verify", "customers"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
}

#[sqlx::test(migrations = "../migrations")]
async fn balances_csv_and_usage_errors(pool: PgPool) {
    let empty = replay(&pool, &["balances", "--until-time", "2026-01-01T00:00:00Z"]);
    assert_eq!(empty.status.code(), Some(0), "{}", text(&empty));
    assert_eq!(
        String::from_utf8_lossy(&empty.stdout),
        "customer_id,currency,balance\n"
    );
    let json = replay(
        &pool,
        &[
            "balances",
            "--until-time",
            "2026-01-01T00:00:00Z",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&json.stdout).trim(),
        "[]",
        "{}",
        text(&json)
    );

    for arguments in [
        &["rebuild"][..],
        &["verify", "no_such_projection"][..],
        &["balances", "--until-time", "tomorrow"][..],
    ] {
        let output = replay(&pool, arguments);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{arguments:?}: {}",
            text(&output)
        );
    }
    let unreachable = Command::new(env!("CARGO_BIN_EXE_ledger-replay"))
        .args(["status"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(2), "{}", text(&unreachable));
}
