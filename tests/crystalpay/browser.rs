//! The web return page (`GET /pay/return`), over HTTP and in headless Chromium (Debian's
//! `chromium` package), before and after the payment. With `LEDGER_SCREENSHOTS_DIR` set, the
//! two renderings are also saved there as `crystalpay-return-before.png` and `-after.png` (how
//! the screenshots in `docs/` were made).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;
use tokio::process::Command;

use crate::common::TestApp;
use crate::support::{crystalpay_app, invoice, order, wait_for_checks};

/// Where Chromium is, or None when this machine has none (then the test fails, unless
/// `LEDGER_SKIP_BROWSER_TESTS` asks for only the HTTP half).
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

async fn chromium_run(binary: &Path, args: &[String]) -> String {
    let run = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("chromium finished within 60 s")
        .expect("chromium ran");
    assert!(output.status.success(), "chromium failed: {:?}", output);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The page as the server answers it, and (when available) as Chromium renders it.
async fn look(app: &TestApp, order_id: &str, shot: &str) -> (String, Option<String>) {
    let url = app.url(&format!("/pay/return?order={order_id}"));
    let response = app.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    let Some(binary) = chromium() else {
        // scripts/test.sh installs it; skipping must be asked for, never silent.
        assert!(
            std::env::var_os("LEDGER_SKIP_BROWSER_TESTS").is_some(),
            "chromium is not installed: apt-get install -y chromium \
             (or set LEDGER_SKIP_BROWSER_TESTS=1 to skip the browser checks)"
        );
        return (html, None);
    };
    let dom = chromium_run(&binary, &["--dump-dom".into(), url.clone()]).await;
    if let Ok(directory) = std::env::var("LEDGER_SCREENSHOTS_DIR") {
        let file = Path::new(&directory).join(format!("crystalpay-return-{shot}.png"));
        chromium_run(
            &binary,
            &[
                format!("--screenshot={}", file.display()),
                "--window-size=900,700".into(),
                url,
            ],
        )
        .await;
    }
    (html, Some(dom))
}

#[sqlx::test]
async fn the_return_page_waits_before_the_callback_and_shows_the_payment_after(pool: PgPool) {
    let (app, fake) = crystalpay_app(pool).await;
    let (order_id, _) = order(&app, "WEB-1042", None, "149.50").await;
    let invoice_id = invoice(&app, &order_id).await;
    // The buyer is back before CrystalPay's callback (and the query says "paid": ignored).
    let (html, dom) = look(&app, &format!("{order_id}&state=payed&paid=1"), "before").await;
    for page in std::iter::once(&html).chain(dom.as_ref()) {
        assert!(
            page.contains("Waiting for the payment to be confirmed"),
            "{page}"
        );
        assert!(page.contains("299.00 RUB"));
        assert!(page.contains("WEB-1042"));
        assert!(!page.contains("Payment received"));
    }
    assert!(
        html.contains("http-equiv=\"refresh\""),
        "refreshes until final"
    );
    assert!(!html.contains("<script"), "no script at all");

    fake.set_state(&invoice_id, "payed");
    app.crystalpay_callback(&invoice_id, "payed").await;
    wait_for_checks(&app, &invoice_id, 1).await;
    crate::support::order_view(&app, &order_id).await;
    let (html, dom) = look(&app, &order_id, "after").await;
    for page in std::iter::once(&html).chain(dom.as_ref()) {
        assert!(page.contains("Payment received"), "{page}");
        assert!(page.contains("paid"));
    }
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "final: no more refreshes"
    );

    let missing = app.get("/pay/return", None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let unknown = app.get("/pay/return?order=nope", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    app.stop().await;
}
