//! The application: its shared state and the lifecycle of a running server (HTTP, projectors,
//! background jobs), started the same way by `ledger serve` and by the tests.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use ledger_events::EventStore;
use ledger_projections::{InlineProjections, ProgressBoard};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::projection_runtime::{self, AppendSignal};
use crate::{database, http, onec, orders, payme};

/// How long `stop` waits for in-flight requests and projector batches.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Everything a request handler or job needs, passed explicitly. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub store: EventStore,
    pub inline: InlineProjections,
    pub board: ProgressBoard,
    pub metrics: Arc<Metrics>,
    /// For calls out (rate source, gateways); every call has a timeout.
    pub http_client: reqwest::Client,
    pub fx: Arc<crate::fx::RateCache>,
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
        Ok(AppState {
            config: Arc::new(config),
            store: EventStore::new(pool.clone()),
            pool,
            inline: InlineProjections::default(),
            signal: AppendSignal::new(board.clone()),
            board,
            metrics: Arc::new(Metrics::default()),
            http_client,
            fx: Arc::new(crate::fx::RateCache::default()),
        })
    }

    /// Called after every committed append: wakes the projectors.
    pub fn appended(&self) {
        self.signal.appended();
    }
}

/// A started server. Dropping it does not stop it; call [`RunningServer::stop`].
pub struct RunningServer {
    pub address: SocketAddr,
    pub state: AppState,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    background: JoinSet<()>,
}

/// Applies migrations, binds `config.listen` (port 0 picks a free one), starts the projectors,
/// background jobs and the HTTP server.
pub async fn start(config: Config, pool: PgPool) -> anyhow::Result<RunningServer> {
    database::migrate(&pool).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let state = AppState::new(config, pool)?;
    payme::keys::seed_from_environment(&state).await?;
    let shutdown = CancellationToken::new();

    let mut background = JoinSet::new();
    projection_runtime::spawn_runners(&mut background, &state.store, &state.board, &shutdown);
    projection_runtime::spawn_notifier(
        &mut background,
        state.pool.clone(),
        &state.signal,
        shutdown.clone(),
    );
    projection_runtime::spawn_listener(
        &mut background,
        state.pool.clone(),
        state.board.clone(),
        shutdown.clone(),
    );
    orders::expiry::spawn(&mut background, state.clone(), shutdown.clone());
    onec::monitoring::spawn(&mut background, state.clone(), shutdown.clone());

    let router = http::router::build(state.clone());
    // Small request/response exchanges: never let Nagle's algorithm hold a reply back.
    let listener = listener.tap_io(|connection| {
        if let Err(error) = connection.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY on a connection");
        }
    });
    let server = tokio::spawn(
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future(),
    );
    tracing::info!(%address, "ledger is listening");
    Ok(RunningServer {
        address,
        state,
        shutdown,
        server,
        background,
    })
}

impl RunningServer {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops accepting requests, lets in-flight requests and projector batches finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let drain = async {
            let served = self.server.await;
            while self.background.join_next().await.is_some() {}
            served
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, drain).await {
            Ok(served) => served.context("HTTP server task")?.context("HTTP server"),
            Err(_) => anyhow::bail!("shutdown took longer than {SHUTDOWN_GRACE:?}"),
        }
    }

    /// Runs until `until` resolves (a signal), then stops gracefully.
    pub async fn run_until(
        self,
        until: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        until.await;
        tracing::info!("shutting down: finishing in-flight requests and projector batches");
        self.stop().await
    }
}
