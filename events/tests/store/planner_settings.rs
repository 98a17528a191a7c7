//! Write transactions plan their statements generically and by key, and leave the connection
//! with PostgreSQL's defaults afterwards: reads and reports that later run on the same pooled
//! connection must be planned as usual (a generic, index-only plan for a report over a period
//! would be slow, not wrong — which no other test would notice).

use ledger_events::store::BEGIN_WITH_GENERIC_PLANS;
use sqlx::{Connection, PgPool};

async fn setting(connection: &mut sqlx::PgConnection, name: &str) -> String {
    sqlx::query_scalar("SELECT current_setting($1)")
        .bind(name)
        .fetch_one(connection)
        .await
        .expect("read a setting")
}

#[sqlx::test(migrations = "../migrations")]
async fn write_transactions_plan_by_key_and_leave_the_defaults_behind(pool: PgPool) {
    let mut connection = pool.acquire().await.expect("a connection");
    let defaults = [
        ("plan_cache_mode", "auto"),
        ("enable_seqscan", "on"),
        ("enable_bitmapscan", "on"),
        ("enable_hashjoin", "on"),
        ("enable_mergejoin", "on"),
    ];
    for (name, value) in defaults {
        assert_eq!(setting(&mut connection, name).await, value, "{name} before");
    }

    let mut transaction = connection
        .begin_with(BEGIN_WITH_GENERIC_PLANS)
        .await
        .expect("begin");
    assert_eq!(
        setting(&mut transaction, "plan_cache_mode").await,
        "force_generic_plan"
    );
    for (name, _) in &defaults[1..] {
        assert_eq!(
            setting(&mut transaction, name).await,
            "off",
            "{name} inside"
        );
    }
    transaction.commit().await.expect("commit");

    for (name, value) in defaults {
        assert_eq!(setting(&mut connection, name).await, value, "{name} after");
    }
}
