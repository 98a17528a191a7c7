//! Putting the rebuilt rows in place of the live ones, inside the fence's transaction.
//!
//! Merged by primary key rather than emptied and refilled: rows that vanished are deleted,
//! rows that changed are updated, new rows inserted, identical rows left alone. A writer that
//! was waiting behind the fence and then updates a row finds its newest version, as PostgreSQL
//! does for any concurrent update, instead of a row deleted under it; and a rebuild that
//! changes little writes little. A table without a primary key is emptied and refilled.

use sqlx::PgConnection;

use crate::scratch::{columns, primary_key, quoted};

pub async fn replace_rows(connection: &mut PgConnection, table: &str) -> Result<(), sqlx::Error> {
    let name = quoted(table);
    let keys = primary_key(connection, table).await?;
    if keys.is_empty() {
        sqlx::raw_sql(&format!(
            "DELETE FROM public.{name}; \
             INSERT INTO public.{name} OVERRIDING SYSTEM VALUE SELECT * FROM pg_temp.{name};"
        ))
        .execute(&mut *connection)
        .await?;
        return Ok(());
    }
    let all = columns(connection, table).await?;
    let same_key = keys
        .iter()
        .map(|key| format!("l.{0} = s.{0}", quoted(key)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut script = format!(
        "DELETE FROM public.{name} l WHERE NOT EXISTS (SELECT 1 FROM pg_temp.{name} s WHERE {same_key});"
    );
    let others: Vec<String> = all
        .iter()
        .filter(|column| !keys.contains(column))
        .map(|column| quoted(column))
        .collect();
    if !others.is_empty() {
        let set = others
            .iter()
            .map(|column| format!("{column} = s.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let live = others
            .iter()
            .map(|column| format!("l.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rebuilt = others
            .iter()
            .map(|column| format!("s.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        script.push_str(&format!(
            "UPDATE public.{name} l SET {set} FROM pg_temp.{name} s \
             WHERE {same_key} AND ROW({live}) IS DISTINCT FROM ROW({rebuilt});"
        ));
    }
    script.push_str(&format!(
        "INSERT INTO public.{name} OVERRIDING SYSTEM VALUE SELECT s.* FROM pg_temp.{name} s \
         WHERE NOT EXISTS (SELECT 1 FROM public.{name} l WHERE {same_key});"
    ));
    sqlx::raw_sql(&script).execute(&mut *connection).await?;
    Ok(())
}
