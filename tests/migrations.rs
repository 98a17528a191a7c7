//! A database that applied a migration before its comments were reworded still starts; one whose
//! recorded migration differs in any other way is refused.

use sqlx::PgPool;

async fn record_checksum(pool: &PgPool, version: i64, checksum_hex: &str) {
    sqlx::query("UPDATE _sqlx_migrations SET checksum = decode($2, 'hex') WHERE version = $1")
        .bind(version)
        .bind(checksum_hex)
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_database_migrated_before_the_rewording_starts(pool: PgPool) {
    ledger::infra::database::migrate(&pool).await.unwrap();
    // As recorded by a server that applied 0001 before its comments were reworded.
    record_checksum(
        &pool,
        1,
        "5bb2c2784433849e71e44358daf4dc79c1586a33b7647099d71d2ba2b4d6116360243533afccd0beb6d2d5baaa919524",
    )
    .await;

    ledger::infra::database::migrate(&pool)
        .await
        .expect("the reworded migration is accepted");
}

#[sqlx::test(migrations = false)]
async fn a_changed_migration_is_still_refused(pool: PgPool) {
    ledger::infra::database::migrate(&pool).await.unwrap();
    record_checksum(&pool, 1, &"ab".repeat(48)).await;

    let refused = ledger::infra::database::migrate(&pool).await;

    assert!(refused.is_err(), "an unknown checksum must stop the start");
}
