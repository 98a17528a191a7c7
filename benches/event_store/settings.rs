//! What one benchmark run does: command-line flags, each with an environment fallback so a CI
//! job can set them without editing the command.

use std::time::Duration;

use clap::Parser;

/// Event-store benchmark: raw single-row INSERT vs `EventStore::append` at the same
/// concurrency, their ratio, and the global feed's read rate.
///
/// Needs DATABASE_URL (a durable server: fsync on). A scratch database `ledger_bench_<pid>` is
/// created on that server, migrated, and dropped at the end.
#[derive(Debug, Parser)]
#[command(name = "event_store")]
pub struct Settings {
    /// Concurrent tasks, each with its own connection, in every write phase (raw and append
    /// use the same number, or the ratio would compare different things).
    #[arg(long, env = "BENCH_CONCURRENCY", default_value_t = 16)]
    pub concurrency: usize,
    /// Measured length of each write phase.
    #[arg(long, env = "BENCH_SECONDS", default_value_t = 10)]
    pub seconds: u64,
    /// Unmeasured run before the first round of each write phase (connections, caches, plans,
    /// stream rows).
    #[arg(long, env = "BENCH_WARM_UP_SECONDS", default_value_t = 2)]
    pub warm_up_seconds: u64,
    /// Upper bound on operations per phase, whatever the time bound says.
    #[arg(long, env = "BENCH_MAX_OPERATIONS", default_value_t = 2_000_000)]
    pub max_operations: u64,
    /// Raw and append phases alternate this many times; figures are summed over the rounds.
    /// More rounds even out a machine whose background load changes during the run.
    #[arg(long, env = "BENCH_ROUNDS", default_value_t = 3)]
    pub rounds: u32,
    /// Streams each append task rotates over (existing streams after the warm-up).
    #[arg(long, env = "BENCH_STREAMS_PER_TASK", default_value_t = 64)]
    pub streams_per_task: u64,
    /// Events per `read_global_feed` call in the feed phase.
    #[arg(long, env = "BENCH_FEED_BATCH", default_value_t = 1000)]
    pub feed_batch: i64,
    /// Keep the scratch database afterwards (to inspect it, e.g. with EXPLAIN ANALYZE).
    #[arg(long)]
    pub keep_database: bool,
    /// Passed by `cargo bench` to every bench binary; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

impl Settings {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=256).contains(&self.concurrency),
            "concurrency must be 1..=256"
        );
        anyhow::ensure!(self.seconds > 0, "seconds must be positive");
        anyhow::ensure!(self.max_operations > 0, "max-operations must be positive");
        anyhow::ensure!((1..=20).contains(&self.rounds), "rounds must be 1..=20");
        anyhow::ensure!(
            self.streams_per_task > 0,
            "streams-per-task must be positive"
        );
        anyhow::ensure!(
            (1..=100_000).contains(&self.feed_batch),
            "feed-batch must be 1..=100000"
        );
        Ok(())
    }

    pub fn measured(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }

    pub fn warm_up(&self) -> Duration {
        Duration::from_secs(self.warm_up_seconds)
    }
}
