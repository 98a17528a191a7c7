//! `ledger-replay verify`: fold the log into scratch tables up to exactly where the live
//! projection stands, and list every row that differs.
//!
//! "Where it stands" is decided under the fence (see [`crate::fence`]): an asynchronous
//! projection is compared at its checkpoint (the fold first reads up to the checkpoint seen at
//! the start, then, with the runner paused, up to where it is now); an inline one is compared
//! with its writers held, against everything committed. The fence is released without writing.

use std::collections::HashMap;
use std::fmt::Write as _;

use ledger_events::{FeedPosition, FeedWindow};
use ledger_projections::{checkpoint, Projector};
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool, Row};

use crate::fence::{self, Fence};
use crate::fold::{fold, FoldPlan};
use crate::rebuild::{progress_for, scratch_connection, DEFAULT_BATCH_SIZE};
use crate::scratch::{primary_key, quoted};

/// One row that is not the same in the live table and in the rebuilt copy.
#[derive(Clone, Debug, PartialEq)]
pub enum Difference {
    /// In the live table only.
    OnlyLive { table: String, row: Value },
    /// In the rebuild only: the live table lacks it.
    OnlyRebuilt { table: String, row: Value },
    /// The same primary key with different columns: (column, live, rebuilt).
    Changed {
        table: String,
        key: Value,
        columns: Vec<(String, Value, Value)>,
    },
}

impl Difference {
    pub fn render(&self, projection: &str) -> String {
        match self {
            Difference::OnlyLive { table, row } => {
                format!("{projection} {table}: only in the live table: {row}")
            }
            Difference::OnlyRebuilt { table, row } => {
                format!("{projection} {table}: missing from the live table: {row}")
            }
            Difference::Changed {
                table,
                key,
                columns,
            } => {
                let mut text = format!("{projection} {table}: row {key} differs:");
                for (column, live, rebuilt) in columns {
                    let _ = write!(text, " {column}: live {live}, rebuilt {rebuilt};");
                }
                text.pop();
                text
            }
        }
    }
}

pub async fn verify(
    pool: &PgPool,
    projector: &dyn Projector,
    show_progress: bool,
) -> anyhow::Result<Vec<Difference>> {
    let mut connection = scratch_connection(pool, projector).await?;
    let inline = fence::is_inline(projector);
    let start_at = if inline {
        None
    } else {
        checkpoint::ensure_exists(pool, projector.name()).await?;
        Some(checkpoint::load(pool, projector.name()).await?)
    };
    let window = FeedWindow {
        // Up to a checkpoint everything has committed: no horizon needed.
        horizon: start_at.is_none(),
        up_to: start_at,
        ..FeedWindow::of(projector.stream_types())
    };
    let plan = FoldPlan {
        window,
        batch_size: DEFAULT_BATCH_SIZE,
        point_in_time: false,
    };
    let mut progress = progress_for(pool, projector, &plan.window, show_progress).await?;
    let folded = fold(
        &mut connection,
        pool,
        projector,
        &plan,
        FeedPosition::START,
        &mut progress,
    )
    .await?;

    let mut transaction = connection.begin().await?;
    let fence = fence::hold(&mut transaction, projector).await?;
    let up_to = match fence {
        Fence::Runner(position) => Some(position),
        Fence::Tables => None,
    };
    let catch_up = FoldPlan {
        window: FeedWindow {
            horizon: false,
            up_to,
            ..plan.window.clone()
        },
        ..plan
    };
    fold(
        &mut transaction,
        pool,
        projector,
        &catch_up,
        folded.cursor,
        &mut progress,
    )
    .await?;
    progress.finish();
    let mut differences = Vec::new();
    for table in projector.tables() {
        differences.extend(compare(&mut transaction, table).await?);
    }
    transaction.rollback().await?;
    Ok(differences)
}

/// Rows of `public.<table>` and `pg_temp.<table>` that are not in the other (as many times as
/// they are repeated), paired by primary key where both sides have one.
pub async fn compare(
    connection: &mut PgConnection,
    table: &str,
) -> Result<Vec<Difference>, sqlx::Error> {
    let name = quoted(table);
    let rows = sqlx::query(&format!(
        "SELECT 'live' AS side, r FROM (SELECT to_jsonb(t) AS r FROM public.{name} t \
             EXCEPT ALL SELECT to_jsonb(t) FROM pg_temp.{name} t) a \
         UNION ALL \
         SELECT 'rebuilt', r FROM (SELECT to_jsonb(t) AS r FROM pg_temp.{name} t \
             EXCEPT ALL SELECT to_jsonb(t) FROM public.{name} t) b"
    ))
    .fetch_all(&mut *connection)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let key_columns = primary_key(connection, table).await?;
    let key_of = |row: &Value| -> Value {
        Value::Object(
            key_columns
                .iter()
                .map(|column| {
                    (
                        column.clone(),
                        row.get(column).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect(),
        )
    };
    let mut live = Vec::new();
    let mut rebuilt: Vec<Option<Value>> = Vec::new();
    for row in rows {
        let side: String = row.try_get("side")?;
        let value: Value = row.try_get("r")?;
        if side == "live" {
            live.push(value);
        } else {
            rebuilt.push(Some(value));
        }
    }
    let mut rebuilt_by_key: HashMap<String, usize> = HashMap::new();
    if !key_columns.is_empty() {
        for (index, row) in rebuilt.iter().enumerate() {
            if let Some(row) = row {
                rebuilt_by_key.insert(key_of(row).to_string(), index);
            }
        }
    }
    let mut differences = Vec::new();
    for row in live {
        let partner = rebuilt_by_key
            .get(&key_of(&row).to_string())
            .filter(|_| !key_columns.is_empty())
            .and_then(|index| rebuilt[*index].take());
        match partner {
            Some(other) => differences.push(Difference::Changed {
                table: table.to_owned(),
                key: key_of(&row),
                columns: changed_columns(&row, &other),
            }),
            None => differences.push(Difference::OnlyLive {
                table: table.to_owned(),
                row,
            }),
        }
    }
    differences.extend(
        rebuilt
            .into_iter()
            .flatten()
            .map(|row| Difference::OnlyRebuilt {
                table: table.to_owned(),
                row,
            }),
    );
    Ok(differences)
}

fn changed_columns(live: &Value, rebuilt: &Value) -> Vec<(String, Value, Value)> {
    let (Some(live), Some(rebuilt)) = (live.as_object(), rebuilt.as_object()) else {
        return Vec::new();
    };
    live.iter()
        .filter_map(|(column, value)| {
            let other = rebuilt.get(column).cloned().unwrap_or(Value::Null);
            (other != *value).then(|| (column.clone(), value.clone(), other))
        })
        .collect()
}
