//! The run's shape, from flags (or `LOAD_*` environment variables), bounded so that a mistyped
//! number cannot flood the machine: at most 5,000 requests/s for at most 120 s, loopback only.

use anyhow::{bail, ensure, Context};
use clap::Parser;

use crate::mix::Mix;

pub const MAX_RATE: u32 = 5_000;
pub const MAX_SECONDS: u64 = 120;
pub const MAX_SERVERS: usize = 4;

/// Mixed-load generator: drives the HTTP API at a fixed open-loop rate and prints what it cost.
#[derive(Parser, Debug)]
#[command(name = "load")]
pub struct Settings {
    /// Operations started per second (each one a 1C single, a 1C batch, a Payme
    /// check+create+perform, an order placed then read, or a Telegram payment).
    #[arg(long, env = "LOAD_RATE", default_value_t = 200)]
    pub rate: u32,
    /// Length of the load in seconds, warm-up included.
    #[arg(long, env = "LOAD_SECONDS", default_value_t = 30)]
    pub seconds: u64,
    /// The first seconds of the load are sent but not counted in the latency figures.
    #[arg(long, env = "LOAD_WARMUP_SECONDS", default_value_t = 3)]
    pub warmup_seconds: u64,
    /// Weights of the operations, `kind=weight` comma-separated (kinds: single, batch, payme,
    /// order, telegram; a missing kind weighs 0).
    #[arg(
        long,
        env = "LOAD_MIX",
        default_value = "single=50,batch=2,payme=8,order=10,telegram=4"
    )]
    pub mix: String,
    /// In-process app instances on the one database; the load is split between them.
    #[arg(long, env = "LOAD_SERVERS", default_value_t = 1)]
    pub servers: usize,
    /// Drive already running `ledger serve` instances at these loopback base URLs instead
    /// (repeat the flag for several). DATABASE_URL must then name their database, and
    /// LOAD_ADMIN_TOKEN, LOAD_PAYME_KEY and LOAD_TELEGRAM_WEBHOOK_SECRET their settings.
    #[arg(long = "external", env = "LOAD_EXTERNAL", value_delimiter = ',')]
    pub external: Vec<String>,
    /// PIDs of the external servers, for their CPU time and peak RSS.
    #[arg(long = "server-pid", env = "LOAD_SERVER_PID", value_delimiter = ',')]
    pub server_pids: Vec<u32>,
    /// Database connections of each in-process server.
    #[arg(long, env = "LOAD_POOL", default_value_t = 32)]
    pub pool: u32,
    /// Seed of the operation order (printed; a run can be repeated exactly).
    #[arg(long, env = "LOAD_SEED")]
    pub seed: Option<u64>,
    /// Seconds of each pgbench phase (the raw ceiling); 0 skips it.
    #[arg(long, env = "LOAD_PGBENCH_SECONDS", default_value_t = 10)]
    pub pgbench_seconds: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

impl Settings {
    pub fn validate(&self) -> anyhow::Result<Mix> {
        ensure!(
            (1..=MAX_RATE).contains(&self.rate),
            "--rate must be 1..={MAX_RATE}"
        );
        ensure!(
            (1..=MAX_SECONDS).contains(&self.seconds),
            "--seconds must be 1..={MAX_SECONDS}"
        );
        ensure!(
            self.warmup_seconds < self.seconds,
            "--warmup-seconds must be below --seconds"
        );
        ensure!(
            (1..=MAX_SERVERS).contains(&self.servers),
            "--servers must be 1..={MAX_SERVERS}"
        );
        ensure!((1..=200).contains(&self.pool), "--pool must be 1..=200");
        ensure!(
            self.pgbench_seconds <= 60,
            "--pgbench-seconds must be 0..=60"
        );
        ensure!(
            self.external.len() <= MAX_SERVERS && self.server_pids.len() <= MAX_SERVERS,
            "at most {MAX_SERVERS} external servers"
        );
        for url in &self.external {
            let parsed = reqwest::Url::parse(url).with_context(|| format!("--external {url}"))?;
            let host = parsed.host_str().unwrap_or_default();
            let loopback = host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|address| address.is_loopback());
            if !loopback {
                bail!("--external {url}: the load only ever targets this machine (loopback)");
            }
        }
        Mix::parse(&self.mix)
    }
}
