//! A 1C batch interrupted by killing the server process mid-request, then re-sent: nothing
//! lost, nothing doubled. The server is the real `ledger` binary in a child process.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::onec::operation;
use ledger::onec::stores::{self, NewStore};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

const ADMIN: &str = "crash-test-admin-token-0123";
const CUSTOMERS: usize = 50;
const ITEMS: usize = 1_000;

/// The child server; killed (by its PID) when dropped, so a failing test leaves nothing behind.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(database_url: &str) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("LEDGER_LISTEN", format!("127.0.0.1:{port}"))
            .env("LEDGER_ADMIN_TOKEN", ADMIN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the ledger binary starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = reqwest::get(format!("{}/readyz", server.base)).await {
                if response.status() == StatusCode::OK {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not become ready");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn url_of(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options
            .get_database()
            .expect("the test database has a name")
    )
}

fn phone(n: usize) -> String {
    format!("99891{:07}", n)
}

fn batch(round: usize) -> Value {
    let items: Vec<Value> = (0..ITEMS)
        .map(|n| {
            operation(
                &format!("Accrual_{round}_{n}"),
                "accrual",
                "1.00",
                &phone(n % CUSTOMERS),
            )
        })
        .collect();
    json!({ "transactions": items })
}

async fn applied_events(pool: &PgPool, round: usize) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE idempotency_key LIKE $1")
        .bind(format!("1c:s1:Accrual_{round}_%"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_batch_killed_mid_request_and_resent_applies_exactly_once(pool: PgPool) {
    let url = url_of(&pool);
    let mut server = Server::start(&url).await;
    let key = stores::create_store(
        &pool,
        "UZS",
        &NewStore {
            store_id: "s1".into(),
            name: None,
            currency: None,
            timezone: None,
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    for n in 0..CUSTOMERS {
        let created = http
            .post(format!("{}/api/customers", server.base))
            .bearer_auth(ADMIN)
            .json(&json!({ "phone": phone(n) }))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success());
    }

    // Kill the server as soon as the first chunk of the batch is committed. On a fast machine
    // the whole batch may win the race; try a few rounds until a kill lands mid-request.
    let mut interrupted_round = None;
    for round in 0..5 {
        let request = tokio::spawn({
            let (http, base, key, body) =
                (http.clone(), server.base.clone(), key.clone(), batch(round));
            async move {
                http.post(format!("{base}/api/cashback/v1/transactions/batch"))
                    .header("x-api-key", key)
                    .json(&body)
                    .send()
                    .await
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while applied_events(&pool, round).await == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.kill();
        let answer = request.await.unwrap();
        let applied = applied_events(&pool, round).await;
        server = Server::start(&url).await;
        if (1..ITEMS as i64).contains(&applied) {
            assert!(
                answer.is_err() || !answer.unwrap().status().is_success(),
                "a killed request has no answer"
            );
            interrupted_round = Some((round, applied));
            break;
        }
        // The batch finished before the kill: re-send it so this round is complete too.
        resend(&http, &server, &key, round).await;
    }
    let (round, applied_before) =
        interrupted_round.expect("a kill landed in the middle of a batch");
    println!("round {round}: {applied_before} of {ITEMS} items committed before the kill");

    let results = resend(&http, &server, &key, round).await;
    let ok = results.iter().filter(|r| r["status"] == "ok").count() as i64;
    let duplicates = results
        .iter()
        .filter(|r| r["status"] == "duplicate")
        .count() as i64;
    assert_eq!(ok + duplicates, ITEMS as i64, "every item ok or duplicate");
    assert_eq!(
        duplicates, applied_before,
        "what committed before the kill is recognised"
    );
    assert_eq!(
        applied_events(&pool, round).await,
        ITEMS as i64,
        "nothing lost, nothing doubled"
    );

    // Every customer received exactly its share of every completed round.
    let rounds_done = (round + 1) as i64;
    let per_customer_minor = rounds_done * (ITEMS / CUSTOMERS) as i64 * 100;
    let balances: Vec<i64> =
        sqlx::query_scalar("SELECT balance_minor FROM cashback_accounts ORDER BY customer_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(balances.len(), CUSTOMERS);
    assert!(
        balances.iter().all(|b| *b == per_customer_minor),
        "{balances:?} vs {per_customer_minor}"
    );
}

async fn resend(http: &reqwest::Client, server: &Server, key: &str, round: usize) -> Vec<Value> {
    let answer = http
        .post(format!(
            "{}/api/cashback/v1/transactions/batch",
            server.base
        ))
        .header("x-api-key", key)
        .json(&batch(round))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.unwrap();
    body["results"].as_array().unwrap().clone()
}
