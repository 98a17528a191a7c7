//! The application: the one place that knows every area. It wires the areas' routes into the
//! router, registers their gauges, starts their background jobs and the projectors, and owns
//! the lifecycle of a running server, started the same way by `ledger serve` and by the tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::connection_watch::ConnectionTimeouts;
use crate::infra::database;
use crate::infra::process_metrics::{PoolGauges, ProcessGauges};
use crate::infra::projection_runtime::{self, ProjectionGauges};
use crate::state::AppState;
use crate::{admin, cashback, crystalpay, customers, http, onec, orders, payme, reports, telegram};

/// How long `stop` waits for in-flight requests and projector batches.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A started server. Dropping it does not stop it; call [`RunningServer::stop`].
pub struct RunningServer {
    pub address: SocketAddr,
    pub state: AppState,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    background: JoinSet<()>,
}

/// Checks the settings, applies migrations, binds `config.listen` (port 0 picks a free one),
/// starts the projectors, background jobs and the HTTP server.
pub async fn start(config: Config, pool: PgPool) -> anyhow::Result<RunningServer> {
    config.validate()?;
    database::migrate(&pool).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let state = AppState::new(config, pool)?;
    payme::keys::seed_from_environment(&state).await?;
    register_gauges(&state);
    let shutdown = CancellationToken::new();

    let mut background = JoinSet::new();
    projection_runtime::spawn_runners(&mut background, &state.store, &state.board, &shutdown);
    projection_runtime::spawn_notifier(
        &mut background,
        state.pool.clone(),
        state.append_signal(),
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
    telegram::spawn(&mut background, state.clone(), shutdown.clone());
    crystalpay::spawn(&mut background, state.clone(), shutdown.clone());

    let router = http::router::build(state.clone(), area_routes());
    let limits = &state.config.limits;
    let timeouts = ConnectionTimeouts {
        header: limits.header_timeout,
        request: limits.request_timeout,
        idle: limits.idle_timeout,
    };
    let server = tokio::spawn(http::server::serve(
        listener,
        router,
        timeouts,
        shutdown.clone(),
    ));
    tracing::info!(%address, "ledger is listening");
    Ok(RunningServer {
        address,
        state,
        shutdown,
        server,
        background,
    })
}

/// Every area's routes. A new area adds its router here.
fn area_routes() -> Router<AppState> {
    Router::new()
        .merge(customers::routes::router())
        .merge(orders::routes::router())
        .merge(cashback::routes::router())
        .merge(admin::routes::router())
        .merge(payme::routes::router())
        .merge(onec::routes::router())
        .merge(telegram::routes::router())
        .merge(crystalpay::routes::router())
        .merge(reports::routes::router())
}

/// The gauges `/metrics` reports besides request counts.
fn register_gauges(state: &AppState) {
    state.metrics.register(Arc::new(ProjectionGauges {
        pool: state.pool.clone(),
        store: state.store.clone(),
    }));
    state.metrics.register(Arc::new(ProcessGauges));
    state.metrics.register(Arc::new(PoolGauges {
        pool: state.pool.clone(),
        waiting_for_connection: state.metrics.waiting_for_connection.clone(),
    }));
    state
        .metrics
        .register(Arc::new(orders::metrics::PaymentGauges {
            pool: state.pool.clone(),
        }));
    state
        .metrics
        .register(Arc::new(onec::monitoring::StoreGauges {
            pool: state.pool.clone(),
            alert_hours: state.config.sync_alert_hours,
        }));
    state
        .metrics
        .register(Arc::new(telegram::outbox::admin::OutboxGauges {
            pool: state.pool.clone(),
        }));
    state
        .metrics
        .register(Arc::new(crystalpay::metrics::RecheckGauges {
            pool: state.pool.clone(),
        }));
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
