//! The operators' side: the admin event browser's filters (stream, type, source, time), which
//! answer "what happened to order X" in one call.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::common::ADMIN_TOKEN;
use crate::support::{full_app, order};

fn positions(answer: &Value) -> Vec<(String, String)> {
    answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["stream_id"].as_str().unwrap().to_owned(),
                e["event_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[sqlx::test]
async fn event_filters_combine(pool: PgPool) {
    let (app, payme, _fake) = full_app(pool.clone()).await;
    let (first, amount) = order(&app, "adm-1", "998932220001", "100").await;
    payme.pay("adm-p1", &first, amount).await;
    let (second, _) = order(&app, "adm-2", "998932220002", "100").await;
    let get = |query: String| {
        let app = &app;
        async move {
            let answer = app
                .get(&format!("/api/admin/events?{query}"), Some(ADMIN_TOKEN))
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{query}: {:?}", answer.body);
            answer.body
        }
    };

    let stream = format!("order-{first}");
    let order_events = positions(&get(format!("stream_id={stream}")).await);
    assert!(
        order_events.iter().all(|(s, _)| *s == stream),
        "{order_events:?}"
    );
    let types: Vec<&str> = order_events.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        types.starts_with(&["OrderPlaced"]) && types.contains(&"OrderPaid"),
        "{types:?}"
    );

    let placed = positions(&get("type=OrderPlaced".into()).await);
    assert_eq!(placed.len(), 2);
    assert_eq!(
        placed[1],
        (format!("order-{second}"), "OrderPlaced".to_owned())
    );
    let from_payme = positions(&get("source=payme".into()).await);
    assert!(!from_payme.is_empty());
    assert!(from_payme.iter().all(|(s, _)| s.starts_with("payme_tx-")
        || s.starts_with("order-")
        || s.starts_with("cashback-")));
    assert!(positions(&get("source=payme&type=OrderPlaced".into()).await).is_empty());
    let combined = positions(&get(format!("stream_id={stream}&type=OrderPaid&source=payme")).await);
    assert_eq!(combined, vec![(stream.clone(), "OrderPaid".to_owned())]);

    let later = (Utc::now() + Duration::minutes(5))
        .to_rfc3339()
        .replace('+', "%2B");
    let earlier = (Utc::now() - Duration::minutes(5))
        .to_rfc3339()
        .replace('+', "%2B");
    assert!(positions(&get(format!("from={later}")).await).is_empty());
    assert!(positions(&get(format!("to={earlier}")).await).is_empty());
    assert_eq!(
        positions(&get(format!("from={earlier}&to={later}&type=OrderPlaced")).await).len(),
        2
    );
    assert_eq!(
        positions(&get("type=OrderPlaced&limit=1".into()).await).len(),
        1
    );

    for (query, field) in [
        ("source=bank", "source"),
        ("from=yesterday", "from"),
        ("to=1", "to"),
    ] {
        let answer = app
            .get(&format!("/api/admin/events?{query}"), Some(ADMIN_TOKEN))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.body["field"], field, "{query}");
    }
    app.stop().await;
}

#[sqlx::test]
async fn the_operator_page_opens_with_the_admin_token_as_a_basic_password(pool: PgPool) {
    let (app, payme, _fake) = full_app(pool.clone()).await;
    let (paid, amount) = order(&app, "page-1", "998932220011", "100").await;
    payme.pay("page-p1", &paid, amount).await;
    app.store_key("page-store", "UZS", "Asia/Tashkent").await;
    crate::support::caught_up(&pool).await;

    let anonymous = app.http.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"ledger\""
    );
    let wrong = app
        .http
        .get(app.url("/admin"))
        .basic_auth("ops", Some("not-the-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let reports_only = app
        .token("accountant", &[ledger::infra::tokens::Scope::ReportsRead])
        .await;
    let forbidden = app
        .http
        .get(app.url("/admin"))
        .bearer_auth(&reports_only)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    let page = app
        .http
        .get(app.url("/admin"))
        .basic_auth("anyone", Some(ADMIN_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    for expected in [
        "<h2>Projections</h2>",
        "account_balances",
        "caught_up",
        "<h2>1C stores</h2>",
        "page-store",
        "<h2>Reconciliation today",
        "2: 1 (100.00 UZS)",
        "<h2>Outbox",
    ] {
        assert!(html.contains(expected), "{expected} missing from:\n{html}");
    }
    assert!(!html.contains("<script"), "no script on the page");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external asset"
    );
    // The CSV link opens with the same Basic credentials a browser keeps sending.
    let start = html
        .find("/api/reports/reconciliation?provider=payme")
        .unwrap();
    let href = html[start..html[start..].find('"').unwrap() + start].replace("&amp;", "&");
    assert!(href.ends_with("&format=csv"), "{href}");
    let csv = app
        .http
        .get(app.url(&href))
        .basic_auth("anyone", Some(ADMIN_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    assert!(text.contains("page-p1"), "{text}");
    app.stop().await;
}

/// The page as Debian's headless Chromium renders it (`--dump-dom`: the document after parsing,
/// which is what a browser shows; a broken document would come out mangled). Chromium opens it
/// with the token as the Basic-auth password in the URL, as an operator's bookmark would.
#[sqlx::test]
async fn headless_chromium_renders_the_operator_page(pool: PgPool) {
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
    else {
        eprintln!("chromium is not installed (apt-get install -y chromium): not checked");
        return;
    };
    let (app, payme, _fake) = full_app(pool.clone()).await;
    let (paid, amount) = order(&app, "chrome-1", "998932220021", "100").await;
    payme.pay("chrome-p1", &paid, amount).await;
    crate::support::caught_up(&pool).await;
    let base = app.server.base_url();
    let url = base.replacen("://", &format!("://ops:{ADMIN_TOKEN}@"), 1) + "/admin";
    let profile = std::env::temp_dir().join(format!("ledger-chromium-{}", std::process::id()));
    let output = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &url,
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .expect("chromium answers within a minute")
        .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "<title>Ledger operations</title>",
        "<h2>Projections</h2>",
        "<td>orders</td>",
        "<h2>Reconciliation today",
        "<h2>Outbox",
    ] {
        assert!(
            dom.contains(expected),
            "{expected} missing; chromium said:\n{dom}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    app.stop().await;
}
