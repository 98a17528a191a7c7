//! Every route, with the credential it accepts, called with none, with wrong ones and with the
//! right one against a running server.
//!
//! The table below is the list of routes. The test fails when the router serves a route the
//! table lacks (read from the `.route(...)` calls in `src/`), when `/openapi.json` documents one
//! it lacks, or the other way round — so a new route cannot ship without saying who may call it.
//!
//! "Right" calls use a credential with exactly the scope the route names (not `admin`, which
//! holds every scope), and a request whose answer is known (often a 404 for an id that names
//! nothing, or a 400 for an empty body): getting it proves the credential was let through.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use common::crystalpay::{self as cp, FakeCrystalPay};
use common::payme_caller::basic_auth;
use common::telegram::{self as tg, FakeBotApi};
use common::{spawn_app_with, TestApp};
use ledger::config::Secret;
use ledger::crystalpay::signature::native_signature;
use ledger::infra::tokens::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

const PAYME_KEY: &str = "payme-route-table-key-0a1b2c3d4e5f";
/// Payme's "insufficient privileges" (wrong or missing Basic auth), answered with HTTP 200.
const PAYME_UNAUTHORIZED: i64 = -32504;

/// Who may call a route.
#[derive(Clone, Copy, Debug)]
enum Credential {
    /// Anyone.
    Public,
    /// A bearer token holding this scope (or `admin`), or the same token as the password of
    /// HTTP Basic auth (what a browser on the operator page sends).
    Bearer(Scope),
    /// A 1C store's `X-API-Key`.
    StoreKey,
    /// Payme's Basic auth, judged inside JSON-RPC: always HTTP 200, -32504 when wrong.
    PaymeBasic,
    /// Telegram `initData` in the body, signed with the bot token.
    InitData,
    /// A Mini App session (`Bearer tgs_…`).
    Session,
    /// A Mini App session, or a bearer token with this scope.
    SessionOrBearer(Scope),
    /// The bot webhook's `X-Telegram-Bot-Api-Secret-Token`.
    WebhookSecret,
    /// CrystalPay's callback signature, in the body (`sha1(id:salt)`) or `X-Signature`.
    CrystalPaySignature,
}

struct Route {
    method: &'static str,
    template: &'static str,
    credential: Credential,
    /// The path called (ids filled in).
    path: &'static str,
    body: Option<fn() -> Value>,
    /// The status with the right credential.
    right: u16,
}

/// `route!(method, template, credential, path, body, right)`: one row of the table.
macro_rules! route {
    ($method:literal, $template:literal, $credential:expr, $path:literal, $body:expr, $right:literal $(,)?) => {
        Route {
            method: $method,
            template: $template,
            credential: $credential,
            path: $path,
            body: $body,
            right: $right,
        }
    };
}

fn empty() -> Value {
    json!({})
}
fn new_customer() -> Value {
    json!({"phone": "998901112233"})
}
fn empty_batch() -> Value {
    json!({"transactions": []})
}
fn unknown_order() -> Value {
    json!({"order_id": "no-such-order"})
}
fn unknown_order_invoice() -> Value {
    json!({"order_id": "no-such-order", "context": "web"})
}
fn payme_check() -> Value {
    json!({"method": "CheckPerformTransaction", "id": 1,
           "params": {"amount": 100, "account": {"order_id": "no-such-order"}}})
}
fn ignored_update() -> Value {
    json!({"update_id": 1, "message": {"from": {"id": 77}}})
}

use Credential::*;

/// Every route the server has. Keep in step with docs/api.md §4.
const ROUTES: &[Route] = &[
    route!("GET", "/healthz", Public, "/healthz", None, 200),
    route!("GET", "/readyz", Public, "/readyz", None, 200),
    route!("GET", "/metrics", Public, "/metrics", None, 200),
    route!("GET", "/openapi.json", Public, "/openapi.json", None, 200),
    route!(
        "POST",
        "/api/customers",
        Bearer(Scope::OrdersWrite),
        "/api/customers",
        Some(new_customer),
        201,
    ),
    route!(
        "POST",
        "/api/orders",
        Bearer(Scope::OrdersWrite),
        "/api/orders",
        Some(empty),
        400,
    ),
    route!(
        "GET",
        "/api/orders/{order_id}",
        Bearer(Scope::OrdersRead),
        "/api/orders/nope",
        None,
        404,
    ),
    route!(
        "POST",
        "/api/orders/{order_id}/complete",
        Bearer(Scope::OrdersWrite),
        "/api/orders/nope/complete",
        None,
        404,
    ),
    route!(
        "POST",
        "/api/orders/{order_id}/cancel",
        Bearer(Scope::OrdersWrite),
        "/api/orders/nope/cancel",
        None,
        404,
    ),
    route!(
        "GET",
        "/api/customers/{customer_id}/cashback",
        Bearer(Scope::CashbackRead),
        "/api/customers/nope/cashback",
        None,
        404,
    ),
    route!(
        "POST",
        "/api/payme",
        PaymeBasic,
        "/api/payme",
        Some(payme_check),
        200,
    ),
    route!(
        "GET",
        "/api/reports/payme/statement",
        Bearer(Scope::ReportsRead),
        "/api/reports/payme/statement?from=0&to=1",
        None,
        200,
    ),
    route!(
        "GET",
        "/api/reports/reconciliation",
        Bearer(Scope::ReportsRead),
        "/api/reports/reconciliation?provider=payme&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
        None,
        200,
    ),
    route!(
        "POST",
        "/api/reports/reconciliation/upload",
        Bearer(Scope::ReportsRead),
        "/api/reports/reconciliation/upload?provider=payme&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
        Some(empty),
        400,
    ),
    route!(
        "GET",
        "/api/reports/trial-balance",
        Bearer(Scope::ReportsRead),
        "/api/reports/trial-balance",
        None,
        200,
    ),
    route!("GET", "/admin", Bearer(Scope::Admin), "/admin", None, 200),
    route!(
        "GET",
        "/api/cashback/v1/balance",
        StoreKey,
        "/api/cashback/v1/balance?user_phone=998901119999",
        None,
        404,
    ),
    route!(
        "POST",
        "/api/cashback/v1/transactions",
        StoreKey,
        "/api/cashback/v1/transactions",
        Some(empty),
        400,
    ),
    route!(
        "POST",
        "/api/cashback/v1/transactions/batch",
        StoreKey,
        "/api/cashback/v1/transactions/batch",
        Some(empty_batch),
        400,
    ),
    route!(
        "GET",
        "/api/admin/events",
        Bearer(Scope::Admin),
        "/api/admin/events",
        None,
        200,
    ),
    route!(
        "GET",
        "/api/admin/streams/{stream_id}",
        Bearer(Scope::Admin),
        "/api/admin/streams/order-nope",
        None,
        404,
    ),
    route!(
        "GET",
        "/api/admin/projections",
        Bearer(Scope::Admin),
        "/api/admin/projections",
        None,
        200,
    ),
    route!(
        "GET",
        "/api/admin/sync/stores",
        Bearer(Scope::Admin),
        "/api/admin/sync/stores",
        None,
        200,
    ),
    route!(
        "GET",
        "/api/admin/outbox",
        Bearer(Scope::Admin),
        "/api/admin/outbox",
        None,
        200,
    ),
    route!(
        "POST",
        "/api/telegram/auth",
        InitData,
        "/api/telegram/auth",
        None,
        200,
    ),
    route!("GET", "/api/me", Session, "/api/me", None, 200),
    route!(
        "GET",
        "/api/me/orders",
        Session,
        "/api/me/orders",
        None,
        200,
    ),
    route!(
        "GET",
        "/api/me/cashback",
        Session,
        "/api/me/cashback",
        None,
        200,
    ),
    route!(
        "GET",
        "/api/me/orders/{order_id}/payment-status",
        SessionOrBearer(Scope::OrdersRead),
        "/api/me/orders/nope/payment-status",
        None,
        404,
    ),
    route!(
        "POST",
        "/api/telegram/payment/invoice",
        Session,
        "/api/telegram/payment/invoice",
        Some(unknown_order),
        404,
    ),
    route!(
        "POST",
        "/api/crystalpay/invoice",
        SessionOrBearer(Scope::OrdersWrite),
        "/api/crystalpay/invoice",
        Some(unknown_order_invoice),
        404,
    ),
    // Last: the right call revokes the session it is made with (a session of its own).
    route!(
        "POST",
        "/api/telegram/logout",
        Session,
        "/api/telegram/logout",
        None,
        200,
    ),
    route!(
        "POST",
        "/api/telegram/webhook",
        WebhookSecret,
        "/api/telegram/webhook",
        Some(ignored_update),
        200,
    ),
    // The right signature for an invoice we never created: 404 once let through.
    route!(
        "POST",
        "/api/crystalpay/callback",
        CrystalPaySignature,
        "/api/crystalpay/callback",
        None,
        404,
    ),
    // Test mode is off here: the emulation route answers 404 to everyone.
    route!(
        "POST",
        "/api/test/crystalpay/{invoice_id}/expire",
        Public,
        "/api/test/crystalpay/nope/expire",
        None,
        404,
    ),
    route!(
        "GET",
        "/pay/return",
        Public,
        "/pay/return?order=nope",
        None,
        404,
    ),
];

fn table() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|route| (route.method.to_owned(), route.template.to_owned()))
        .collect()
}

/// `(METHOD, template)` of every `.route("...", method(...))` call in `text`. `any(...)` counts
/// as POST (the one method such a route serves; Payme's protocol answers the others itself).
fn routes_in_text(text: &str, found: &mut BTreeSet<(String, String)>) {
    for (index, _) in text.match_indices(".route(") {
        let rest = text[index + ".route(".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('"') else {
            continue;
        };
        let Some(end) = rest.find('"') else { continue };
        let template = &rest[..end];
        let after = rest[end + 1..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
        let method: String = after.chars().take_while(char::is_ascii_lowercase).collect();
        let method = match method.as_str() {
            "any" => "POST".to_owned(),
            other => other.to_uppercase(),
        };
        found.insert((method, template.to_owned()));
    }
}

/// Every route the router is given, read from the sources under `src/`.
fn routes_in_sources() -> BTreeSet<(String, String)> {
    fn walk(directory: &Path, found: &mut BTreeSet<(String, String)>) {
        for entry in fs::read_dir(directory).expect("src/ is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                routes_in_text(&fs::read_to_string(&path).expect("a source file"), found);
            }
        }
    }
    let mut found = BTreeSet::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    found
}

fn routes_in_document() -> BTreeSet<(String, String)> {
    let document = ledger::http::openapi::document_json();
    let mut found = BTreeSet::new();
    for (template, methods) in document["paths"].as_object().expect("paths") {
        for method in methods.as_object().expect("methods").keys() {
            found.insert((method.to_uppercase(), template.clone()));
        }
    }
    found
}

fn differences(
    expected: &BTreeSet<(String, String)>,
    actual: &BTreeSet<(String, String)>,
) -> String {
    let missing: Vec<_> = actual.difference(expected).collect();
    let extra: Vec<_> = expected.difference(actual).collect();
    format!("not in the table: {missing:?}; in the table only: {extra:?}")
}

#[test]
fn the_table_lists_every_served_and_documented_route() {
    let served = routes_in_sources();
    assert!(served.len() >= 25, "read the router: {served:?}");
    assert_eq!(table(), served, "{}", differences(&table(), &served));
    let documented = routes_in_document();
    assert_eq!(
        table(),
        documented,
        "{}",
        differences(&table(), &documented)
    );
}

/// What `/openapi.json` says of each route's credential agrees with the table: its security
/// schemes, and the 401/403 answers a credential brings. Payme declares none (its credentials
/// are answered inside JSON-RPC, with HTTP 200), nor does the `initData` login.
#[test]
fn the_document_declares_each_routes_credential() {
    let document = ledger::http::openapi::document_json();
    for route in ROUTES {
        let operation = &document["paths"][route.template][route.method.to_lowercase()];
        let mut schemes: Vec<&str> = operation["security"]
            .as_array()
            .map(|requirements| {
                requirements
                    .iter()
                    .flat_map(|requirement| requirement.as_object().expect("an object").keys())
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        schemes.sort_unstable();
        let (expected, statuses): (&[&str], &[&str]) = match route.credential {
            Public | PaymeBasic | InitData => (&[], &[]),
            CrystalPaySignature => (&[], &["401"]),
            // The token may also come as Basic auth's password (a browser on the operator page).
            Bearer(_) => (&["basic", "bearer"], &["401", "403"]),
            StoreKey => (&["storeKey"], &["401"]),
            Session => (&["miniAppSession"], &["401"]),
            SessionOrBearer(_) => (&["bearer", "miniAppSession"], &["401", "403"]),
            WebhookSecret => (&["telegramSecret"], &["401"]),
        };
        let name = format!("{} {}", route.method, route.template);
        assert_eq!(schemes, expected, "{name}: security schemes");
        for status in statuses {
            assert!(
                operation["responses"][*status].is_object(),
                "{name} does not declare {status}"
            );
        }
    }
}

#[test]
fn the_source_reader_sees_routes_written_over_several_lines() {
    let text = "Router::new()\n  .route(\n    \"/a/{id}\",\n    post(x).layer(y),\n  )\n  .route(\"/b\", any(z))\n  .route(\"/c\", get(c))";
    let mut found = BTreeSet::new();
    routes_in_text(text, &mut found);
    let expected: BTreeSet<(String, String)> = [("POST", "/a/{id}"), ("POST", "/b"), ("GET", "/c")]
        .into_iter()
        .map(|(method, template)| (method.to_owned(), template.to_owned()))
        .collect();
    assert_eq!(found, expected);
}

/// The credentials of one kind to try on a route.
struct Keys {
    scoped: Vec<(Scope, String)>,
    /// A token holding every scope but `admin`.
    all_but_admin: String,
    store: String,
    sessions: Vec<String>,
}

impl Keys {
    fn token(&self, scope: Scope) -> &str {
        &self
            .scoped
            .iter()
            .find(|(held, _)| *held == scope)
            .expect("a token per scope")
            .1
    }

    /// A token without `scope` (for admin routes: every other scope).
    fn token_without(&self, scope: Scope) -> &str {
        match scope {
            Scope::Admin => &self.all_but_admin,
            Scope::OrdersRead => self.token(Scope::OrdersWrite),
            _ => self.token(Scope::OrdersRead),
        }
    }
}

async fn call(
    app: &TestApp,
    route: &Route,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let method = Method::from_bytes(route.method.as_bytes()).unwrap();
    let mut request = app.http.request(method, app.url(route.path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body.or_else(|| route.body.map(|make| make())) {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .expect("an answer, never a dropped connection");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Asserts one call's status (and for Payme, whose answers are all HTTP 200, its error code).
async fn expect(
    app: &TestApp,
    route: &Route,
    case: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
    status: u16,
) {
    let (answered, answer) = call(app, route, headers, body).await;
    assert_eq!(
        answered.as_u16(),
        status,
        "{} {} with {case}: {answer}",
        route.method,
        route.template
    );
    if matches!(route.credential, PaymeBasic) {
        let code = answer["error"]["code"].as_i64();
        if case == "the right credential" {
            assert_ne!(code, Some(PAYME_UNAUTHORIZED), "{case}: {answer}");
        } else {
            assert_eq!(code, Some(PAYME_UNAUTHORIZED), "{case}: {answer}");
        }
    }
}

async fn check(app: &TestApp, keys: &Keys, route: &Route) {
    const RIGHT: &str = "the right credential";
    let right = route.right;
    let unknown_bearer = bearer("not-a-token-we-issued-0123456789");
    let unknown_session = bearer("tgs_not-a-session-we-issued");
    match route.credential {
        Public => expect(app, route, RIGHT, &[], None, right).await,
        Bearer(scope) => {
            expect(app, route, "no credential", &[], None, 401).await;
            let wrong = [("authorization", unknown_bearer.as_str())];
            expect(app, route, "an unknown token", &wrong, None, 401).await;
            let session = bearer(&keys.sessions[0]);
            let session = [("authorization", session.as_str())];
            expect(app, route, "a Mini App session", &session, None, 401).await;
            let store = [("x-api-key", keys.store.as_str())];
            expect(app, route, "a store key", &store, None, 401).await;
            let other = bearer(keys.token_without(scope));
            let other = [("authorization", other.as_str())];
            expect(app, route, "a token without the scope", &other, None, 403).await;
            let wrong_basic = basic_auth("operator", "not-a-token-0123456789");
            let wrong_basic = [("authorization", wrong_basic.as_str())];
            expect(
                app,
                route,
                "an unknown token as Basic password",
                &wrong_basic,
                None,
                401,
            )
            .await;
            let token = bearer(keys.token(scope));
            expect(app, route, RIGHT, &[("authorization", &token)], None, right).await;
            // What a browser on the operator page sends; checked on reads, which repeat alike.
            if route.method == "GET" {
                let as_basic = basic_auth("operator", keys.token(scope));
                let as_basic = [("authorization", as_basic.as_str())];
                expect(
                    app,
                    route,
                    "the token as Basic password",
                    &as_basic,
                    None,
                    right,
                )
                .await;
            }
        }
        StoreKey => {
            expect(app, route, "no credential", &[], None, 401).await;
            let wrong = [("x-api-key", "not-a-store-key-0123456789")];
            expect(app, route, "an unknown key", &wrong, None, 401).await;
            let admin = bearer(keys.token(Scope::Admin));
            let admin = [("authorization", admin.as_str())];
            expect(app, route, "an admin bearer token", &admin, None, 401).await;
            let key = [("x-api-key", keys.store.as_str())];
            expect(app, route, RIGHT, &key, None, right).await;
        }
        PaymeBasic => {
            expect(app, route, "no credential", &[], None, 200).await;
            let wrong_ones = [
                ("a wrong key", basic_auth("Paycom", "not-the-payme-key")),
                ("a wrong login", basic_auth("Other", PAYME_KEY)),
                ("a bearer token", bearer(keys.token(Scope::Admin))),
            ];
            for (case, header) in &wrong_ones {
                let header = [("authorization", header.as_str())];
                expect(app, route, case, &header, None, 200).await;
            }
            let right_key = basic_auth("Paycom", PAYME_KEY);
            expect(
                app,
                route,
                RIGHT,
                &[("authorization", &right_key)],
                None,
                right,
            )
            .await;
        }
        InitData => {
            let missing = Some(json!({}));
            expect(app, route, "no initData", &[], missing, 400).await;
            let forged = ledger::telegram::init_data::sign(
                &[
                    ("auth_date", &chrono::Utc::now().timestamp().to_string()),
                    ("user", r#"{"id":5,"first_name":"Eve"}"#),
                ],
                "1:another-bot-token",
            );
            let forged = Some(json!({"init_data": forged}));
            expect(app, route, "initData of another bot", &[], forged, 401).await;
            let signed = Some(json!({"init_data": tg::init_data_for(4242, "Aziz")}));
            expect(app, route, RIGHT, &[], signed, right).await;
        }
        Session | SessionOrBearer(_) => {
            expect(app, route, "no credential", &[], None, 401).await;
            let wrong = [("authorization", unknown_session.as_str())];
            expect(app, route, "an unknown session", &wrong, None, 401).await;
            let store = [("x-api-key", keys.store.as_str())];
            expect(app, route, "a store key", &store, None, 401).await;
            if let SessionOrBearer(scope) = route.credential {
                let other = bearer(keys.token_without(scope));
                let other = [("authorization", other.as_str())];
                expect(app, route, "a token without the scope", &other, None, 403).await;
                let token = bearer(keys.token(scope));
                expect(
                    app,
                    route,
                    "a token with the scope",
                    &[("authorization", &token)],
                    None,
                    right,
                )
                .await;
            } else {
                let admin = bearer(keys.token(Scope::Admin));
                let admin = [("authorization", admin.as_str())];
                expect(app, route, "an admin bearer token", &admin, None, 401).await;
            }
            let session = bearer(keys.sessions.last().expect("a session"));
            expect(
                app,
                route,
                RIGHT,
                &[("authorization", &session)],
                None,
                right,
            )
            .await;
        }
        WebhookSecret => {
            expect(app, route, "no credential", &[], None, 401).await;
            let wrong = [(
                "x-telegram-bot-api-secret-token",
                "not-the-secret-0123456789",
            )];
            expect(app, route, "a wrong secret", &wrong, None, 401).await;
            let admin = bearer(keys.token(Scope::Admin));
            let admin = [("authorization", admin.as_str())];
            expect(app, route, "an admin bearer token", &admin, None, 401).await;
            let secret = [("x-telegram-bot-api-secret-token", tg::WEBHOOK_SECRET)];
            expect(app, route, RIGHT, &secret, None, right).await;
        }
        CrystalPaySignature => {
            let unsigned = Some(json!({"id": "no-such-invoice", "state": "payed"}));
            expect(app, route, "no signature", &[], unsigned.clone(), 401).await;
            let guessed = Some(cp::callback_body("no-such-invoice", "payed")).map(|mut body| {
                body["signature"] = json!(native_signature("no-such-invoice", "guess"));
                body
            });
            expect(app, route, "a wrong signature", &[], guessed, 401).await;
            let admin = bearer(keys.token(Scope::Admin));
            let admin = [("authorization", admin.as_str())];
            expect(app, route, "an admin bearer token", &admin, unsigned, 401).await;
            let signed = Some(cp::callback_body("no-such-invoice", "payed"));
            expect(app, route, RIGHT, &[], signed, right).await;
        }
    }
}

#[sqlx::test]
async fn every_route_accepts_its_credential_and_refuses_the_others(pool: PgPool) {
    let fake = FakeBotApi::start().await;
    let crystalpay = FakeCrystalPay::start().await;
    let app = spawn_app_with(pool, |config| {
        tg::configure(config, &fake);
        cp::configure(config, &crystalpay);
        config.payme_keys = vec![Secret::new(PAYME_KEY)];
    })
    .await;
    let mut scoped = Vec::new();
    for scope in Scope::ALL {
        scoped.push((scope, app.token(scope.as_str(), &[scope]).await));
    }
    let all_but_admin = app
        .token(
            "all-but-admin",
            &[
                Scope::OrdersWrite,
                Scope::OrdersRead,
                Scope::CashbackRead,
                Scope::ReportsRead,
            ],
        )
        .await;
    let store = app.store_key("route-table", "UZS", "Asia/Tashkent").await;
    // The first session is only shown where it must be refused; the last one is revoked by the
    // logout route, which the table calls last among the session routes.
    let (first, _) = app.telegram_login(4242).await;
    let (last, _) = app.telegram_login(4242).await;
    let keys = Keys {
        scoped,
        all_but_admin,
        store,
        sessions: vec![first, last],
    };
    for route in ROUTES {
        check(&app, &keys, route).await;
    }
    app.stop().await;
}
