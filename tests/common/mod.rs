//! Test helpers: start the real application on a random port against the test's own database
//! (`#[sqlx::test]` creates one per test), and talk to it over HTTP like a client.

#![allow(dead_code)] // each test binary uses a different subset

pub mod crystalpay;
pub mod local_server;
pub mod onec;
pub mod payme_caller;
pub mod private_cluster;
pub mod raw_http;
pub mod replication;
pub mod telegram;

use ledger::app::{self, RunningServer};
use ledger::config::{Config, Secret};
use ledger::infra::tokens::{self, Scope};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub struct TestApp {
    pub server: RunningServer,
    pub pool: PgPool,
    pub http: reqwest::Client,
}

/// The configuration every test starts from: loopback, random port, a known admin token.
pub fn test_config() -> Config {
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_token = Some(Secret::new(ADMIN_TOKEN));
    config
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, |_| {}).await
}

pub async fn spawn_app_with(pool: PgPool, adjust: impl FnOnce(&mut Config)) -> TestApp {
    init_logging();
    let mut config = test_config();
    adjust(&mut config);
    let server = app::start(config, pool.clone())
        .await
        .expect("the app starts");
    TestApp {
        server,
        pool,
        http: reqwest::Client::new(),
    }
}

/// `DATABASE_URL` (which carries the server and its credentials) with the database of `pool`:
/// for programs run beside the test (the server binary, `pg_dump`).
pub fn database_url_of(pool: &PgPool) -> String {
    let database = pool.connect_options().get_database().unwrap().to_owned();
    database_url_named(&database)
}

/// `DATABASE_URL` with another database name.
pub fn database_url_named(database: &str) -> String {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let without_query = server
        .split_once('?')
        .map_or(server.as_str(), |(url, _)| url);
    let slash = without_query.rfind('/').unwrap();
    format!("{}/{database}", &without_query[..slash])
}

/// Server logs go to the test's captured output (shown when a test fails).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ledger=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// An HTTP answer: status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// `body["error"]`, for asserting error codes.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub async fn token(&self, name: &str, scopes: &[Scope]) -> String {
        tokens::create_token(&self.pool, name, scopes)
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        let mut request = self.http.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.expect("request sent")).await
    }

    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> Answer {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.expect("request sent")).await
    }

    /// A read with the admin token that must succeed: its body.
    pub async fn admin_read(&self, path: &str) -> Value {
        let answer = self.get(path, Some(ADMIN_TOKEN)).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "GET {path}: {:?}",
            answer.body
        );
        answer.body
    }

    /// The log's head position (0 when empty).
    pub async fn head_position(&self) -> i64 {
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Events of one type in the log.
    pub async fn count_events(&self, event_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// The order as the shop reads it, once the orders projection has caught up with the
    /// log's head.
    pub async fn order_at_head(&self, order_id: &str) -> Value {
        let head = self.head_position().await;
        self.admin_read(&format!("/api/orders/{order_id}?min_position={head}"))
            .await
    }

    pub async fn stop(self) {
        self.server.stop().await.expect("graceful stop");
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let text = response.text().await.expect("body read");
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}
