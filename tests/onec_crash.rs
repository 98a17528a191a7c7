//! A 1C batch interrupted by killing the server process mid-request, then re-sent: nothing
//! lost, nothing doubled. The server is the real `ledger` binary in a child process.
//!
//! Two things make the outcome certain rather than lucky. After a kill, the test counts what
//! committed only once every database session of the killed server has ended: a COMMIT already
//! sent can still land until then. And whether a kill lands mid-batch is a race, so rounds are
//! repeated (bounded in number and time) until one does; the test fails if none did.

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
/// The child server's sessions carry this name, so the test can tell them apart from its own.
const SERVER_APPLICATION: &str = "ledger-crash-test-server";
/// Rounds are tried until a kill lands mid-batch, within both bounds.
const MAX_ROUNDS: usize = 30;
const ROUNDS_DEADLINE: Duration = Duration::from_secs(60);
/// How long the first item of a round may take to commit.
const FIRST_COMMIT_DEADLINE: Duration = Duration::from_secs(20);
/// How long the killed server's database sessions may take to end.
const SETTLE_DEADLINE: Duration = Duration::from_secs(10);

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

/// The test database's URL for the child server, naming its sessions [`SERVER_APPLICATION`].
/// The test database's URL for the child server: the server's `DATABASE_URL` (which carries the
/// credentials; sqlx does not hand a password back) with the test database's name.
fn server_url_of(pool: &PgPool) -> String {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let database = pool
        .connect_options()
        .get_database()
        .expect("the test database has a name")
        .to_owned();
    let without_query = server
        .split_once('?')
        .map_or(server.as_str(), |(url, _)| url);
    let slash = without_query
        .rfind('/')
        .filter(|index| *index > "postgres://".len())
        .expect("DATABASE_URL has a database part");
    format!(
        "{}/{database}?application_name={SERVER_APPLICATION}",
        &without_query[..slash]
    )
}

/// Sessions the child server holds open on the test database.
async fn server_sessions(pool: &PgPool) -> Vec<(i32, Option<String>)> {
    sqlx::query_as(
        "SELECT pid, state FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(SERVER_APPLICATION)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Returns once every session of the killed server has ended, so nothing it sent can still
/// commit (fails after [`SETTLE_DEADLINE`]).
async fn wait_until_settled(pool: &PgPool) {
    let deadline = Instant::now() + SETTLE_DEADLINE;
    loop {
        let sessions = server_sessions(pool).await;
        if sessions.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the killed server's sessions (pid, state) did not end within {SETTLE_DEADLINE:?}: \
             {sessions:?}"
        );
        // Poll interval of pg_stat_activity.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
    let url = server_url_of(&pool);
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

    assert!(
        !server_sessions(&pool).await.is_empty(),
        "the server's sessions are found by their application_name"
    );

    // Kill the server as soon as the first chunk of the batch is committed. On a fast machine
    // the whole batch may win the race; repeat rounds until a kill lands mid-request.
    let started = Instant::now();
    let mut round = 0;
    let applied_before = loop {
        assert!(
            round < MAX_ROUNDS && started.elapsed() < ROUNDS_DEADLINE,
            "no kill landed in the middle of a batch in {round} rounds ({:?}); every batch \
             completed before its kill",
            started.elapsed()
        );
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
        let deadline = Instant::now() + FIRST_COMMIT_DEADLINE;
        while applied_events(&pool, round).await == 0 {
            assert!(
                Instant::now() < deadline,
                "round {round}: no item committed within {FIRST_COMMIT_DEADLINE:?}"
            );
            // Poll interval: short, so the kill follows the first commit closely.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.kill();
        let answer = request.await.unwrap();
        wait_until_settled(&pool).await;
        let applied = applied_events(&pool, round).await;
        server = Server::start(&url).await;
        if applied < ITEMS as i64 {
            assert!(
                answer.is_err() || !answer.unwrap().status().is_success(),
                "a killed request has no answer"
            );
            break applied;
        }
        // The batch finished before the kill: re-send it so this round is complete too.
        resend(&http, &server, &key, round).await;
        round += 1;
    };
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
