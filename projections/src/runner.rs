//! Runs one asynchronous projector over the global feed.
//!
//! Guarantees, and how they are kept:
//! - **Exactly-once effect**: each batch's read-model writes and its checkpoint commit in one
//!   transaction; a crash loses the whole batch or none of it.
//! - **One active runner per projector across processes**: the runner holds a session advisory
//!   lock on a dedicated connection; others stand by. If that connection dies the lock is gone,
//!   so each batch also locks the checkpoint row and checks it still says what this runner last
//!   wrote (fencing): a runner that lost leadership without noticing cannot apply anything twice.
//! - **Order and idempotency**: per stream, events must arrive as version last+1; an event at or
//!   below the last applied version is skipped, a jump is an invariant violation that stops the
//!   runner loudly.
//! - **Wake-ups are hints**: a [`Notify`] (poked after local appends and by LISTEN/NOTIFY) cuts
//!   latency; polling every `idle_poll` is what guarantees progress.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ledger_events::{EventStore, FeedPosition, RecordedEvent};
use sqlx::{Connection, PgConnection};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::checkpoint::{self, Advance, OnGap};
use crate::projector::{ProjectionError, Projector};

/// First key of the advisory locks held by runners (the second is `hashtext(projector name)`).
/// Public so that tests and operators' tools can hold a projector back by holding its lock.
pub const RUNNER_LOCK_NAMESPACE: i32 = 0x4c45_4447; // "LEDG"

#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Events read and applied per transaction.
    pub batch_size: i64,
    /// Poll interval when caught up and not woken.
    pub idle_poll: Duration,
    /// How often a standby runner tries to become the leader.
    pub standby_poll: Duration,
    /// How often the leader checks that its lock connection is alive.
    pub liveness_check: Duration,
    /// Longest pause after repeated failures.
    pub max_backoff: Duration,
    /// After a wake-up, how long to let more appends arrive before reading: a burst of commits
    /// becomes one batch instead of one transaction per commit per projector.
    pub coalesce_window: Duration,
    /// Batches that apply nothing (none of this projector's streams) only move the position in
    /// memory; the checkpoint row is written at most this often for them.
    pub lazy_checkpoint_interval: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            batch_size: 500,
            idle_poll: Duration::from_millis(250),
            standby_poll: Duration::from_secs(1),
            liveness_check: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
            coalesce_window: Duration::from_millis(20),
            lazy_checkpoint_interval: Duration::from_secs(1),
        }
    }
}

/// Where a projector stands, as last committed by a runner of this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub position: FeedPosition,
}

/// Per-process registry of runners: their progress (for read-your-writes waits without polling
/// the database) and their wake-up handles.
#[derive(Clone, Default)]
pub struct ProgressBoard {
    entries: Arc<Mutex<HashMap<String, BoardEntry>>>,
}

#[derive(Clone)]
struct BoardEntry {
    progress: Arc<watch::Sender<Progress>>,
    wake: Arc<Notify>,
}

impl ProgressBoard {
    fn entry(&self, projection: &str) -> BoardEntry {
        let mut entries = self.entries.lock().expect("progress board lock");
        entries
            .entry(projection.to_owned())
            .or_insert_with(|| BoardEntry {
                progress: Arc::new(watch::channel(Progress::default()).0),
                wake: Arc::new(Notify::new()),
            })
            .clone()
    }

    pub fn subscribe(&self, projection: &str) -> watch::Receiver<Progress> {
        self.entry(projection).progress.subscribe()
    }

    /// Pokes every runner of this process (after an append, or on a NOTIFY from another one).
    pub fn wake_all(&self) {
        let entries = self.entries.lock().expect("progress board lock");
        for entry in entries.values() {
            entry.wake.notify_one();
        }
    }
}

/// Counters a runner exposes (tests and metrics read them).
#[derive(Debug, Default)]
pub struct RunnerStats {
    pub events_applied: AtomicU64,
    pub batches_committed: AtomicU64,
    pub is_leader: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Read(#[from] ledger_events::store::ReadError),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

/// What one batch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchStep {
    pub applied: usize,
    /// Nothing more to read right now.
    pub caught_up: bool,
}

/// A runner's place in the feed: where reading continues, and what the checkpoint row says as
/// last written by this runner (they differ after batches that applied nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub read: FeedPosition,
    persisted: FeedPosition,
    /// Highest position consumed since the checkpoint was last written.
    max_position: i64,
    /// When `read` first moved past `persisted` without a checkpoint write.
    dirty_since: Option<Instant>,
}

impl Cursor {
    /// A cursor at a checkpoint as stored.
    pub fn at(position: FeedPosition) -> Self {
        Cursor {
            read: position,
            persisted: position,
            max_position: 0,
            dirty_since: None,
        }
    }

    fn dirty_for(&self) -> Duration {
        self.dirty_since
            .map_or(Duration::ZERO, |since| since.elapsed())
    }
}

enum Leadership {
    Shutdown,
    NotAcquired,
    Lost,
}

pub struct ProjectionRunner {
    store: EventStore,
    projector: Arc<dyn Projector>,
    config: RunnerConfig,
    board: ProgressBoard,
    stats: Arc<RunnerStats>,
    identity: String,
}

impl ProjectionRunner {
    pub fn new(
        store: EventStore,
        projector: Arc<dyn Projector>,
        config: RunnerConfig,
        board: ProgressBoard,
    ) -> Self {
        let identity = format!(
            "pid {} runner {}",
            std::process::id(),
            Uuid::new_v4().simple()
        );
        ProjectionRunner {
            store,
            projector,
            config,
            board,
            stats: Arc::new(RunnerStats::default()),
            identity,
        }
    }

    pub fn name(&self) -> &'static str {
        self.projector.name()
    }

    pub fn stats(&self) -> Arc<RunnerStats> {
        self.stats.clone()
    }

    /// Runs until `shutdown` is cancelled. A batch in progress always finishes first.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let outcome = self.lead(&shutdown).await;
            self.stats.is_leader.store(false, Ordering::Relaxed);
            let pause = match outcome {
                Ok(Leadership::Shutdown) => return,
                Ok(Leadership::NotAcquired) => {
                    failures = 0;
                    self.config.standby_poll
                }
                Ok(Leadership::Lost) => {
                    tracing::warn!(projection = self.name(), "lost projector leadership");
                    Duration::ZERO
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    self.report_failure(&error).await;
                    self.backoff(failures)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    async fn lead(&self, shutdown: &CancellationToken) -> Result<Leadership, RunnerError> {
        // A dedicated connection, outside the pool: dropping it (crash, abort) closes the session
        // and releases the lock, whereas a pooled connection would carry the lock on to its next
        // user.
        let mut lock_connection =
            PgConnection::connect_with(&self.store.pool().connect_options()).await?;
        let acquired: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(RUNNER_LOCK_NAMESPACE)
            .bind(self.name())
            .fetch_one(&mut lock_connection)
            .await?;
        if !acquired {
            return Ok(Leadership::NotAcquired);
        }
        self.stats.is_leader.store(true, Ordering::Relaxed);
        tracing::info!(projection = self.name(), runner = %self.identity, "projector leader");

        let wake = self.board.entry(self.name()).wake;
        checkpoint::ensure_exists(self.store.pool(), self.name()).await?;
        let mut cursor = Cursor::at(checkpoint::load(self.store.pool(), self.name()).await?);
        self.publish(cursor.read);
        let mut last_liveness_check = Instant::now();
        loop {
            if shutdown.is_cancelled() {
                if cursor.dirty_since.is_some() {
                    self.commit(&mut cursor, &[], None).await?;
                }
                // Best effort: closing the connection releases the lock anyway.
                let _ = lock_connection.close().await;
                return Ok(Leadership::Shutdown);
            }
            if last_liveness_check.elapsed() >= self.config.liveness_check {
                if lock_connection.ping().await.is_err() {
                    return Ok(Leadership::Lost);
                }
                last_liveness_check = Instant::now();
            }
            let step = self.run_batch(&mut cursor).await?;
            if step.caught_up {
                let woken = tokio::select! {
                    _ = wake.notified() => true,
                    _ = tokio::time::sleep(self.config.idle_poll) => false,
                    _ = shutdown.cancelled() => false,
                };
                if woken {
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.coalesce_window) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
            }
        }
    }

    /// Reads one batch after the cursor and applies it with the checkpoint in one transaction.
    /// A batch with no events of this projector's streams only moves the cursor (and writes the
    /// checkpoint if it has not been written for `lazy_checkpoint_interval`).
    pub async fn run_batch(&self, cursor: &mut Cursor) -> Result<BatchStep, RunnerError> {
        let batch = self
            .store
            .read_global_feed_of(
                cursor.read,
                self.config.batch_size,
                self.projector.stream_types(),
            )
            .await?;
        let caught_up = batch.reached_horizon;
        let mine: Vec<&RecordedEvent> = batch
            .events
            .iter()
            .filter(|event| self.projector.reads_stream(event))
            .collect();
        let end = batch.end(cursor.read);
        if end != cursor.read {
            // Moved only once the batch is consumed: on an error the cursor stays where it was.
            let mut next = *cursor;
            next.read = end;
            next.max_position = next.max_position.max(
                batch
                    .events
                    .iter()
                    .map(|event| event.position)
                    .max()
                    .unwrap_or(0),
            );
            next.dirty_since.get_or_insert_with(Instant::now);
            if mine.is_empty() {
                *cursor = next;
                self.publish(cursor.read);
            } else {
                let applied = self.commit(&mut next, &mine, batch.events.last()).await?;
                *cursor = next;
                return Ok(BatchStep { applied, caught_up });
            }
        }
        if cursor.dirty_for() >= self.config.lazy_checkpoint_interval {
            self.commit(cursor, &[], batch.events.last()).await?;
        }
        Ok(BatchStep {
            applied: 0,
            caught_up,
        })
    }

    /// Applies `mine` and writes the checkpoint at `cursor.read`, in one transaction fenced by
    /// the checkpoint row. Returns how many events were applied.
    async fn commit(
        &self,
        cursor: &mut Cursor,
        mine: &[&RecordedEvent],
        last_event: Option<&RecordedEvent>,
    ) -> Result<usize, RunnerError> {
        let name = self.name();
        let mut transaction = self
            .store
            .pool()
            .begin_with(ledger_events::store::BEGIN_WITH_GENERIC_PLANS)
            .await?;
        let stored = checkpoint::lock(&mut transaction, name).await?;
        if stored != cursor.persisted {
            tracing::warn!(projection = name, ?stored, ours = ?cursor.persisted, "checkpoint moved under this runner; re-reading");
            *cursor = Cursor::at(stored);
            return Ok(0);
        }
        let to_apply = self.in_order(&mut transaction, mine).await?;
        let applied = to_apply.len();
        if applied > 0 {
            self.projector
                .apply_batch(&mut transaction, &to_apply)
                .await?;
        }
        checkpoint::advance(
            &mut transaction,
            Advance {
                projection: name,
                to: cursor.read,
                max_position_in_batch: cursor.max_position,
                applied: applied as i64,
                last_event,
                runner: &self.identity,
            },
        )
        .await?;
        transaction.commit().await?;

        *cursor = Cursor::at(cursor.read);
        self.stats
            .events_applied
            .fetch_add(applied as u64, Ordering::Relaxed);
        self.stats.batches_committed.fetch_add(1, Ordering::Relaxed);
        self.publish(cursor.read);
        Ok(applied)
    }

    /// The events not applied yet, after checking each stream continues without a gap; records
    /// the streams' new versions in the same transaction.
    async fn in_order<'a>(
        &self,
        transaction: &mut PgConnection,
        mine: &[&'a RecordedEvent],
    ) -> Result<Vec<&'a RecordedEvent>, RunnerError> {
        Ok(checkpoint::in_order(transaction, self.name(), mine, OnGap::Fail).await?)
    }

    fn publish(&self, position: FeedPosition) {
        self.board
            .entry(self.name())
            .progress
            .send_replace(Progress { position });
    }

    async fn report_failure(&self, error: &RunnerError) {
        tracing::error!(projection = self.name(), %error, "projector failed; will retry");
        let message = error.to_string();
        if let Err(record_error) =
            checkpoint::record_error(self.store.pool(), self.name(), &message).await
        {
            tracing::error!(projection = self.name(), %record_error, "could not record projector failure");
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let exponential = Duration::from_millis(100) * 2_u32.saturating_pow(failures.min(16));
        exponential.min(self.config.max_backoff)
    }
}
