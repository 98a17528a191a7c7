//! The state every request handler, command and background job is given, passed explicitly.
//!
//! A leaf module: it holds the database pool, the event store, settings and caches, and imports
//! no business area. Areas import it; only `app.rs` knows every area and wires them together.
//! This keeps the dependency graph one-way: `app → areas → state / command / http → infra`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ledger_events::EventStore;
use ledger_projections::{InlineProjections, ProgressBoard};
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::config::Config;
use crate::infra::admission::Admission;
use crate::infra::credential_cache::CredentialCache;
use crate::infra::fx_rates::RateCache;
use crate::infra::metrics::Metrics;
use crate::infra::projection_runtime::AppendSignal;
use crate::infra::read_replica::ReadReplica;

/// Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub store: EventStore,
    pub inline: InlineProjections,
    pub board: ProgressBoard,
    pub metrics: Arc<Metrics>,
    /// How many requests, waiting reads and 1C batches may run at once.
    pub admission: Arc<Admission>,
    /// Tokens and store keys found valid in the last second (revocation is felt within one).
    pub credentials: Arc<CredentialCache>,
    /// For calls out (rate source, gateways); every call has a timeout.
    pub http_client: reqwest::Client,
    pub fx: Arc<RateCache>,
    /// Poked after a write that leaves work for a gateway's background worker (a CrystalPay
    /// callback waiting for its re-check), so the worker starts at once instead of at its next
    /// tick. Losing a poke loses nothing: the worker also looks at every tick and at start.
    pub gateway_work: Arc<Notify>,
    /// A streaming replica for projected reads, when `LEDGER_READ_DATABASE_URL` names one.
    pub replica: Option<Arc<ReadReplica>>,
    signal: AppendSignal,
}

impl AppState {
    pub fn new(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        let board = ProgressBoard::default();
        let http_client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        let replica = match &config.read_database_url {
            Some(url) => Some(Arc::new(ReadReplica::connect_lazy(
                url.expose(),
                config.database_pool_size,
            )?)),
            None => None,
        };
        Ok(AppState {
            replica,
            admission: Arc::new(Admission::new(&config.limits)),
            credentials: Arc::new(CredentialCache::default()),
            fx: Arc::new(RateCache::new(
                config.fx_rates_url.clone(),
                http_client.clone(),
            )),
            config: Arc::new(config),
            store: EventStore::new(pool.clone()),
            pool,
            inline: InlineProjections::default(),
            signal: AppendSignal::new(board.clone()),
            board,
            metrics: Arc::new(Metrics::default()),
            http_client,
            gateway_work: Arc::new(Notify::new()),
        })
    }

    /// Called after every committed append: wakes the projectors.
    pub fn appended(&self) {
        self.signal.appended();
    }

    /// The wake-up handle, for the worker that forwards it to other processes.
    pub fn append_signal(&self) -> &AppendSignal {
        &self.signal
    }
}
