//! The streaming fold: reads a window of the feed batch by batch and applies it to the scratch
//! tables, exactly as a runner would (each stream in version order, a repeat skipped, a gap an
//! error). Memory holds at most a few batches whatever the size of the log: one task reads and
//! decodes the next batch on a pool connection while this one applies the previous.

use ledger_events::{read_feed_window, FeedPosition, FeedWindow, RecordedEvent};
use ledger_projections::checkpoint::{self, OnGap};
use ledger_projections::Projector;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::mpsc;

use crate::progress::Progress;

/// Batches read ahead of the one being applied.
const READ_AHEAD: usize = 2;

/// How a fold treats the log.
#[derive(Clone, Debug)]
pub struct FoldPlan {
    pub window: FeedWindow,
    pub batch_size: i64,
    /// A point-in-time fold leaves out what came after the moment, so a stream may stop
    /// early: a gap then ends that stream (its later events are skipped) instead of being an
    /// error.
    pub point_in_time: bool,
}

/// Where a fold ended and what it did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Folded {
    /// Feed position after the last batch read.
    pub cursor: FeedPosition,
    pub events_read: u64,
    pub events_applied: u64,
    pub max_position: i64,
}

impl Folded {
    pub fn add(&mut self, more: Folded) {
        self.cursor = self.cursor.max(more.cursor);
        self.events_read += more.events_read;
        self.events_applied += more.events_applied;
        self.max_position = self.max_position.max(more.max_position);
    }
}

/// Folds `plan.window` after `start` into the scratch tables of `connection`, reading on `pool`.
pub async fn fold(
    connection: &mut PgConnection,
    pool: &PgPool,
    projector: &dyn Projector,
    plan: &FoldPlan,
    start: FeedPosition,
    progress: &mut Progress,
) -> anyhow::Result<Folded> {
    let (sender, mut receiver) = mpsc::channel(READ_AHEAD);
    let reader = {
        let pool = pool.clone();
        let window = plan.window.clone();
        let batch_size = plan.batch_size;
        tokio::spawn(async move {
            let mut cursor = start;
            loop {
                let batch = read_feed_window(&pool, &window, cursor, batch_size).await;
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                };
                cursor = batch.end(cursor);
                let done = batch.reached_horizon;
                if sender.send(Ok((batch.events, cursor))).await.is_err() || done {
                    return;
                }
            }
        })
    };
    let mut folded = Folded {
        cursor: start,
        ..Folded::default()
    };
    let outcome = async {
        while let Some(batch) = receiver.recv().await {
            let (events, cursor) = batch?;
            let applied = apply(connection, projector, &events, plan.point_in_time).await?;
            folded.cursor = cursor;
            folded.events_read += events.len() as u64;
            folded.events_applied += applied;
            if let Some(last) = events.iter().map(|event| event.position).max() {
                folded.max_position = folded.max_position.max(last);
            }
            progress.advance(events.len() as u64);
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    reader.abort();
    outcome.map(|()| folded)
}

/// One batch in one transaction (a savepoint inside a fence): the stream-version guard, then
/// the projector's own set-based apply. Returns how many events were applied.
async fn apply(
    connection: &mut PgConnection,
    projector: &dyn Projector,
    events: &[RecordedEvent],
    point_in_time: bool,
) -> anyhow::Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let mine: Vec<&RecordedEvent> = events
        .iter()
        .filter(|event| projector.reads_stream(event))
        .collect();
    let on_gap = if point_in_time {
        OnGap::EndStream // The stream's next event came after the moment: it ends here.
    } else {
        OnGap::Fail
    };
    let mut transaction = connection.begin().await?;
    let to_apply = checkpoint::in_order(&mut transaction, projector.name(), &mine, on_gap).await?;
    if !to_apply.is_empty() {
        projector.apply_batch(&mut transaction, &to_apply).await?;
    }
    transaction.commit().await?;
    Ok(to_apply.len() as u64)
}
