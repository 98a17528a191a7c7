//! Scratch copies of a projector's tables, where a rebuild or a verify folds the log.
//!
//! They are temporary tables of the tool's own session, created `LIKE` the live ones (columns,
//! defaults, checks, indexes). PostgreSQL looks up unqualified names in the session's temporary
//! schema first, so the projector's own statements — which name their tables without a schema —
//! write the copies on this connection and nothing else; the live server never sees them, and
//! they vanish with the session if the tool dies. The live tables are always named
//! `public.<table>` here.

use ledger_projections::Projector;
use sqlx::PgConnection;

/// The per-stream version guard of the runner, rebuilt alongside the read model.
pub const STREAM_VERSIONS: &str = "projection_stream_versions";

/// A table name from a projector, quoted for SQL (they are static identifiers, quoted anyway).
pub fn quoted(table: &str) -> String {
    format!("\"{}\"", table.replace('"', "\"\""))
}

/// Creates empty scratch copies of the projector's tables and of the stream-version guard. Run
/// on a fresh connection, before any statement of the projector was prepared on it (a prepared
/// statement keeps the table it first resolved).
pub async fn create(
    connection: &mut PgConnection,
    projector: &dyn Projector,
) -> Result<(), sqlx::Error> {
    for table in projector.tables().iter().chain([&STREAM_VERSIONS]) {
        let name = quoted(table);
        sqlx::raw_sql(&format!(
            "DROP TABLE IF EXISTS pg_temp.{name}; \
             CREATE TEMPORARY TABLE {name} (LIKE public.{name} INCLUDING ALL)"
        ))
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

/// Copies the scratch tables into a schema of their own (a point-in-time copy an operator can
/// query after the tool has gone), replacing an earlier copy of the same name.
pub async fn keep_as(
    connection: &mut PgConnection,
    projector: &dyn Projector,
    schema: &str,
) -> Result<(), sqlx::Error> {
    let schema = quoted(schema);
    let mut script = format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};");
    for table in projector.tables() {
        let name = quoted(table);
        script.push_str(&format!(
            "CREATE TABLE {schema}.{name} (LIKE public.{name} INCLUDING ALL); \
             INSERT INTO {schema}.{name} OVERRIDING SYSTEM VALUE SELECT * FROM pg_temp.{name};"
        ));
    }
    let mut transaction = sqlx::Connection::begin(&mut *connection).await?;
    sqlx::raw_sql(&script).execute(&mut *transaction).await?;
    transaction.commit().await
}

/// The live table's primary-key columns, in key order (empty without a primary key).
pub async fn primary_key(
    connection: &mut PgConnection,
    table: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indrelid = ('public.' || quote_ident($1))::regclass AND i.indisprimary \
         ORDER BY array_position(i.indkey::int2[], a.attnum)",
    )
    .bind(table)
    .fetch_all(connection)
    .await
}

/// The live table's columns, in table order.
pub async fn columns(
    connection: &mut PgConnection,
    table: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute \
         WHERE attrelid = ('public.' || quote_ident($1))::regclass AND attnum > 0 AND NOT attisdropped \
         ORDER BY attnum",
    )
    .bind(table)
    .fetch_all(connection)
    .await
}
