//! Logs as an operator reads them: one JSON object per line with `LEDGER_LOG_FORMAT=json`
//! (carrying the request's route, request id and store), plain text without colour codes when
//! standard error is not a terminal.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::database_url_of;
use serde_json::Value;
use sqlx::PgPool;
use tokio::time::Instant;

const ADMIN: &str = "logging-test-admin-token-0123456789";

/// Runs `ledger serve` with `format`, makes one request, stops it and returns its stderr.
async fn server_log(pool: &PgPool, format: &str) -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("serve")
        .env("DATABASE_URL", database_url_of(pool))
        .env("LEDGER_LISTEN", format!("127.0.0.1:{port}"))
        .env("LEDGER_ADMIN_TOKEN", ADMIN)
        .env("LEDGER_LOG_FORMAT", format)
        .env("RUST_LOG", "info,ledger::http=debug,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ledger binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = reqwest::get(format!("{base}/readyz")).await {
            if response.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        // Poll interval while the server starts.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = reqwest::Client::new()
        .get(format!("{base}/api/orders/no-such-order"))
        .bearer_auth(ADMIN)
        .header("x-request-id", "req-logging-1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    // SIGTERM: a graceful stop flushes the log.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "the server stopped cleanly: {status}");
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    log
}

#[sqlx::test]
async fn json_logs_are_one_object_per_line_with_the_request_span(pool: PgPool) {
    let log = server_log(&pool, "json").await;

    let lines: Vec<Value> = log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line["message"] == "ledger is listening"),
        "{log}"
    );
    // The readiness polls are logged too: pick the access line of the request made.
    let answered = lines
        .iter()
        .find(|line| line["message"] == "answered" && line["span"]["request_id"] == "req-logging-1")
        .unwrap_or_else(|| panic!("no access line for req-logging-1 in {log}"));
    assert_eq!(answered["status"], 404);
    assert_eq!(answered["span"]["route"], "/api/orders/{order_id}");
    assert_eq!(answered["span"]["request_id"], "req-logging-1");
    assert!(answered["latency_ms"].is_number());
    assert!(
        !log.contains(ADMIN),
        "the admin token never reaches the log"
    );
}

#[sqlx::test]
async fn text_logs_have_no_colour_codes_off_a_terminal(pool: PgPool) {
    let log = server_log(&pool, "text").await;

    assert!(log.contains("ledger is listening"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI escape codes in a log file: {log:?}"
    );
}
