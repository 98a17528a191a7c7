//! Starting the projectors and their wake-ups inside `ledger serve`.
//!
//! LISTEN/NOTIFY only wakes runners (polling is the source of truth): after a local commit the
//! local runners are poked directly, and one `NOTIFY ledger_events` (coalesced, at most every
//! few milliseconds) tells runners in other server processes.

use std::sync::Arc;
use std::time::Duration;

use ledger_events::EventStore;
use ledger_projections::status::{self, ProjectionStatus};
use ledger_projections::{read_models, ProgressBoard, ProjectionRunner, RunnerConfig};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::metrics::{Gauge, GaugeFuture, GaugeSource};

const CHANNEL: &str = "ledger_events";
/// Appends within this window share one NOTIFY.
const NOTIFY_COALESCING: Duration = Duration::from_millis(3);

/// Handle used by the write path to announce "something was appended".
#[derive(Clone)]
pub struct AppendSignal {
    board: ProgressBoard,
    pending_notify: Arc<Notify>,
}

impl AppendSignal {
    pub fn new(board: ProgressBoard) -> Self {
        AppendSignal {
            board,
            pending_notify: Arc::new(Notify::new()),
        }
    }

    pub fn appended(&self) {
        self.board.wake_all();
        self.pending_notify.notify_one();
    }
}

pub fn spawn_runners(
    tasks: &mut JoinSet<()>,
    store: &EventStore,
    board: &ProgressBoard,
    shutdown: &CancellationToken,
) {
    for projector in read_models::asynchronous() {
        let runner = ProjectionRunner::new(
            store.clone(),
            projector,
            RunnerConfig::default(),
            board.clone(),
        );
        tasks.spawn(runner.run(shutdown.clone()));
    }
}

/// Sends the coalesced cross-process NOTIFY.
pub fn spawn_notifier(
    tasks: &mut JoinSet<()>,
    pool: PgPool,
    signal: &AppendSignal,
    shutdown: CancellationToken,
) {
    let pending = signal.pending_notify.clone();
    tasks.spawn(async move {
        loop {
            tokio::select! {
                _ = pending.notified() => {}
                _ = shutdown.cancelled() => return,
            }
            tokio::time::sleep(NOTIFY_COALESCING).await;
            if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(&pool)
                .await
            {
                tracing::warn!(%error, "could not send the projector wake-up NOTIFY");
            }
        }
    });
}

/// Wakes local runners when another process appended.
pub fn spawn_listener(
    tasks: &mut JoinSet<()>,
    pool: PgPool,
    board: ProgressBoard,
    shutdown: CancellationToken,
) {
    tasks.spawn(async move {
        while !shutdown.is_cancelled() {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "projector wake-up listener could not connect; polling only");
                    pause_or_stop(&shutdown).await;
                    continue;
                }
            };
            if let Err(error) = listener.listen(CHANNEL).await {
                tracing::warn!(%error, "LISTEN failed; polling only");
                pause_or_stop(&shutdown).await;
                continue;
            }
            loop {
                tokio::select! {
                    received = listener.recv() => match received {
                        Ok(_) => board.wake_all(),
                        Err(error) => {
                            tracing::warn!(%error, "wake-up listener lost its connection");
                            break;
                        }
                    },
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    });
}

async fn pause_or_stop(shutdown: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        _ = shutdown.cancelled() => {}
    }
}

/// The projections' progress and the log's head as Prometheus gauges.
pub struct ProjectionGauges {
    pub pool: PgPool,
    pub store: EventStore,
}

impl GaugeSource for ProjectionGauges {
    fn name(&self) -> &'static str {
        "projections"
    }

    fn collect(&self) -> GaugeFuture<'_> {
        Box::pin(async move {
            let statuses = status::projection_statuses(&self.pool).await?;
            let per_projection = |name, help, value: fn(&ProjectionStatus) -> f64| {
                Gauge::new(
                    name,
                    help,
                    statuses
                        .iter()
                        .map(|status| (vec![("projection", status.name.clone())], value(status)))
                        .collect(),
                )
            };
            Ok(vec![
                per_projection(
                    "ledger_projection_lag_events",
                    "Committed events a projection has not consumed yet.",
                    |s| s.lag_events as f64,
                ),
                per_projection(
                    "ledger_projection_lag_seconds",
                    "Age of the oldest event a projection has not consumed yet.",
                    |s| s.lag_seconds,
                ),
                per_projection(
                    "ledger_projection_position",
                    "Highest log position a projection has applied.",
                    |s| s.position as f64,
                ),
                per_projection(
                    "ledger_projection_failing",
                    "1 when the projection's last batch failed.",
                    |s| if s.last_error.is_some() { 1.0 } else { 0.0 },
                ),
                Gauge::single(
                    "ledger_xmin_horizon_age_seconds",
                    "Age of the oldest open write transaction; it holds every projection back.",
                    status::xmin_horizon_age_seconds(&self.pool).await?,
                ),
                Gauge::single(
                    "ledger_event_log_head_position",
                    "Highest position assigned in the event log.",
                    self.store.head_position().await? as f64,
                ),
            ])
        })
    }
}
