//! `ledger-replay rebuild`: fold the whole log into scratch tables while the server keeps
//! answering from the live ones, then fence the live writers, fold what was written meanwhile,
//! and swap the contents in one transaction — readers see the old tables until the commit and
//! the rebuilt ones after it, never a mixture.
//!
//! The swap merges the rows into the live tables ([`crate::swap`]) rather than renaming
//! tables: grants, indexes, statistics and the server's prepared statements all stay valid.
//! With `--until` / `--until-time` nothing is swapped: the point-in-time copy is kept in a
//! schema of its own for the operator to query.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ledger_events::{FeedPosition, FeedWindow};
use ledger_projections::Projector;
use sqlx::{Connection, PgConnection, PgPool};

use crate::fence::{self, Fence};
use crate::fold::{fold, FoldPlan, Folded};
use crate::progress::Progress;
use crate::scratch::{self, quoted, STREAM_VERSIONS};
use crate::swap;

/// Events read and applied per transaction.
pub const DEFAULT_BATCH_SIZE: i64 = 5_000;

#[derive(Clone, Debug, Default)]
pub struct RebuildOptions {
    pub until_position: Option<i64>,
    pub until_time: Option<DateTime<Utc>>,
    pub batch_size: Option<i64>,
}

impl RebuildOptions {
    fn point_in_time(&self) -> bool {
        self.until_position.is_some() || self.until_time.is_some()
    }

    /// The schema a point-in-time copy is kept in.
    fn copy_schema(&self, projector: &dyn Projector) -> Option<String> {
        let name = projector.name();
        if let Some(position) = self.until_position {
            return Some(format!("replay_{name}_until_{position}"));
        }
        self.until_time
            .map(|time| format!("replay_{name}_until_{}", time.format("%Y%m%dt%H%M%Sz")))
    }
}

/// What a rebuild did.
#[derive(Clone, Debug)]
pub struct RebuildSummary {
    pub projection: &'static str,
    pub folded: Folded,
    pub elapsed: Duration,
    /// Where the live checkpoint now stands (asynchronous projectors, after a swap).
    pub checkpoint: Option<FeedPosition>,
    /// The schema holding a point-in-time copy (nothing swapped).
    pub kept_in: Option<String>,
}

impl RebuildSummary {
    pub fn events_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.folded.events_read as f64 / seconds
        } else {
            0.0
        }
    }

    pub fn render(&self) -> String {
        let what = match (&self.kept_in, self.checkpoint) {
            (Some(schema), _) => format!("point-in-time copy kept in schema {schema}"),
            (None, Some(position)) => format!(
                "swapped in; the runner continues from tx {} position {}",
                position.tx_id, position.position
            ),
            (None, None) => "swapped in".to_owned(),
        };
        format!(
            "{}: {} events read, {} applied in {:.2} s ({:.0} events/s); {what}\n",
            self.projection,
            self.folded.events_read,
            self.folded.events_applied,
            self.elapsed.as_secs_f64(),
            self.events_per_second()
        )
    }
}

/// A connection of its own (scratch tables belong to it), with the pool's settings.
pub async fn scratch_connection(
    pool: &PgPool,
    projector: &dyn Projector,
) -> Result<PgConnection, sqlx::Error> {
    let mut connection = PgConnection::connect_with(&pool.connect_options()).await?;
    // A rebuild runs as long as the log is big; the server's short statement limit is not ours.
    sqlx::raw_sql("SET statement_timeout = 0")
        .execute(&mut connection)
        .await?;
    scratch::create(&mut connection, projector).await?;
    Ok(connection)
}

/// Events of the projector's streams in the log (what the progress bar counts towards).
pub async fn expected_events(pool: &PgPool, window: &FeedWindow) -> Result<u64, sqlx::Error> {
    let prefixes: Vec<String> = window
        .stream_types
        .iter()
        .map(|t| format!("{t}-%"))
        .collect();
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE stream_id LIKE ANY($1) \
           AND ($2::bigint IS NULL OR global_position <= $2) \
           AND ($3::timestamptz IS NULL OR recorded_at <= $3)",
    )
    .bind(prefixes)
    .bind(window.until_position)
    .bind(window.until_time)
    .fetch_one(pool)
    .await?;
    Ok(count.max(0) as u64)
}

/// A bar or lines counting towards the window's events, or nothing.
pub async fn progress_for(
    pool: &PgPool,
    projector: &dyn Projector,
    window: &FeedWindow,
    show: bool,
) -> Result<Progress, sqlx::Error> {
    Ok(if show {
        Progress::new(projector.name(), expected_events(pool, window).await?)
    } else {
        Progress::quiet(projector.name())
    })
}

pub async fn rebuild(
    pool: &PgPool,
    projector: &dyn Projector,
    options: &RebuildOptions,
    show_progress: bool,
) -> anyhow::Result<RebuildSummary> {
    let started = Instant::now();
    let mut connection = scratch_connection(pool, projector).await?;
    let mut window = FeedWindow::of(projector.stream_types());
    window.until_position = options.until_position;
    window.until_time = options.until_time;
    if let Some(at) = options.until_time {
        // A moment, not the head: read all of it once it is settled (see `moment`).
        crate::moment::wait_until_settled(pool, at).await?;
        window.horizon = false;
    }
    let plan = FoldPlan {
        window: window.clone(),
        batch_size: options.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
        point_in_time: options.point_in_time(),
    };
    let mut progress = progress_for(pool, projector, &window, show_progress).await?;
    let mut folded = fold(
        &mut connection,
        pool,
        projector,
        &plan,
        FeedPosition::START,
        &mut progress,
    )
    .await?;

    if let Some(schema) = options.copy_schema(projector) {
        scratch::keep_as(&mut connection, projector, &schema).await?;
        progress.finish();
        return Ok(RebuildSummary {
            projection: projector.name(),
            folded,
            elapsed: started.elapsed(),
            checkpoint: None,
            kept_in: Some(schema),
        });
    }

    let mut transaction = connection.begin().await?;
    let fence = fence::hold(&mut transaction, projector).await?;
    // What was written while the fold ran. An inline projection's writers are held, so
    // everything committed is read; a runner's feed is read up to the horizon as usual, and
    // the runner itself applies whatever commits later.
    let catch_up = FoldPlan {
        window: FeedWindow {
            horizon: fence != Fence::Tables,
            ..window
        },
        ..plan
    };
    let more = fold(
        &mut transaction,
        pool,
        projector,
        &catch_up,
        folded.cursor,
        &mut progress,
    )
    .await?;
    folded.add(more);
    swap(&mut transaction, projector).await?;
    let checkpoint = match fence {
        Fence::Runner(_) => {
            move_checkpoint(&mut transaction, projector.name(), &folded).await?;
            Some(folded.cursor)
        }
        Fence::Tables => None,
    };
    transaction.commit().await?;
    progress.finish();
    Ok(RebuildSummary {
        projection: projector.name(),
        folded,
        elapsed: started.elapsed(),
        checkpoint,
        kept_in: None,
    })
}

/// Replaces the live rows with the scratch copy's, inside the fence's transaction
/// ([`crate::swap`]). An asynchronous projector's stream-version guard is replaced with it.
async fn swap(connection: &mut PgConnection, projector: &dyn Projector) -> anyhow::Result<()> {
    for table in projector.tables() {
        swap::replace_rows(connection, table).await?;
    }
    if !fence::is_inline(projector) {
        let guard = quoted(STREAM_VERSIONS);
        sqlx::query(&format!("DELETE FROM public.{guard} WHERE projection = $1"))
            .bind(projector.name())
            .execute(&mut *connection)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO public.{guard} SELECT * FROM pg_temp.{guard} WHERE projection = $1"
        ))
        .bind(projector.name())
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

async fn move_checkpoint(
    connection: &mut PgConnection,
    projection: &str,
    folded: &Folded,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_checkpoints SET last_tx_id = $2, last_position = $3, \
             max_applied_position = $4, events_applied = $5, last_error = NULL, \
             runner = 'ledger-replay rebuild', updated_at = now() \
         WHERE projection = $1",
    )
    .bind(projection)
    .bind(folded.cursor.tx_id)
    .bind(folded.cursor.position)
    .bind(folded.max_position)
    .bind(folded.events_applied as i64)
    .execute(connection)
    .await?;
    Ok(())
}
