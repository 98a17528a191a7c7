//! The bootstrap admin token: refused at start when short, compared by digest.

use ledger::app;
use ledger::config::Secret;
use sqlx::PgPool;

use crate::common::{spawn_app, test_config, ADMIN_TOKEN};

#[sqlx::test]
async fn a_short_admin_token_is_refused_at_start(pool: PgPool) {
    let mut config = test_config();
    config.admin_token = Some(Secret::new("only-20-characters!!"));
    let Err(error) = app::start(config, pool).await else {
        panic!("the server started with a 20-character admin token");
    };
    let message = format!("{error:#}");
    assert!(message.contains("LEDGER_ADMIN_TOKEN"), "{message}");
    assert!(message.contains("openssl rand -hex 32"), "{message}");
    assert!(
        !message.contains("only-20"),
        "the token is not shown: {message}"
    );
}

#[sqlx::test]
async fn only_the_exact_admin_token_is_accepted(pool: PgPool) {
    let app = spawn_app(pool).await;
    let path = "/api/admin/projections";
    assert_eq!(app.get(path, Some(ADMIN_TOKEN)).await.status, 200);
    let prefix = &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1];
    let longer = format!("{ADMIN_TOKEN}0");
    for wrong in [prefix, longer.as_str(), "x"] {
        let answer = app.get(path, Some(wrong)).await;
        assert_eq!(answer.status, 401, "{wrong}");
        assert_eq!(answer.error(), "unauthorized");
    }
    app.stop().await;
}
