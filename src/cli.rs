//! The `ledger` command line (`docs/api.md`, "Commands"). Logs go to standard error; a command that
//! prints a secret prints it alone on the last line of standard output.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ledger_embedded_pg::{self as embedded_pg, Durability, EmbeddedOptions};
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::infra::database;
use crate::infra::tokens::{self, Scope};
use crate::{app, onec, payme};

#[derive(Parser)]
#[command(name = "ledger", version, about = "Event-sourced ledger server")]
struct Cli {
    /// TOML file with settings (same names as the LEDGER_ variables, lower case, no prefix);
    /// environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server, the projectors and the background workers.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create and revoke credentials.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the private PostgreSQL cluster used when DATABASE_URL is not set.
    #[command(subcommand, name = "embedded-pg")]
    EmbeddedPg(EmbeddedPgCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a 1C store (or a new key for it) and print its API key once.
    CreateStore {
        #[arg(long)]
        store: String,
        #[arg(long)]
        name: Option<String>,
        /// Currency of the store's cashback operations (default LEDGER_CASHBACK_CURRENCY).
        #[arg(long)]
        currency: Option<String>,
        /// IANA time zone of `created_at` values sent without an offset (default UTC).
        #[arg(long)]
        timezone: Option<String>,
    },
    /// Revoke every key of a 1C store at once.
    RevokeStore {
        #[arg(long)]
        store: String,
    },
    /// Replace the accepted Payme keys (repeat --key, or comma-separate, during a rotation).
    SetPayme {
        #[arg(long = "key", required = true, num_args = 1..)]
        keys: Vec<String>,
    },
    /// Print a new bearer token once.
    CreateToken {
        #[arg(long)]
        name: String,
        /// orders:write, orders:read, cashback:read, reports:read, admin (repeatable).
        #[arg(long = "scope", required = true, num_args = 1..)]
        scopes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum EmbeddedPgCommand {
    /// Start (or reuse) the cluster and print its database URL on the last line.
    Start(EmbeddedPgArgs),
    /// Stop the cluster.
    Stop(EmbeddedPgArgs),
}

#[derive(Args)]
struct EmbeddedPgArgs {
    /// Data folder (the cluster lives in its `pg/`); default LEDGER_DATA_DIR.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// fsync off: for test data only.
    #[arg(long)]
    fast: bool,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ledger: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("ledger: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error: plain text by default (coloured only when standard error is a
/// terminal, so a log file never holds escape codes), or one JSON object per line with
/// `LEDGER_LOG_FORMAT=json` (each line carries the request's span: method, route, request id,
/// and the store or provider when known). `RUST_LOG` filters.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let format = std::env::var("LEDGER_LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.trim() {
        "json" => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        other => {
            builder.with_ansi(std::io::stderr().is_terminal()).init();
            if !other.is_empty() && other != "text" {
                tracing::warn!(
                    value = other,
                    "LEDGER_LOG_FORMAT is `text` or `json`; logging plain text"
                );
            }
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let pool = connect(&config).await?;
            database::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Keys(command) => keys(config, command).await,
        Command::EmbeddedPg(command) => embedded(config, command).await,
    }
}

async fn connect(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    let url = database::resolve_url(config).await?;
    database::connect(&url, &database::PoolSettings::from_config(config)).await
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let pool = connect(&config).await?;
    let server = app::start(config, pool).await?;
    server.run_until(shutdown_signal()).await
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let pool = connect(&config).await?;
    database::migrate(&pool).await?;
    match command {
        KeysCommand::CreateToken { name, scopes } => {
            let scopes = scopes
                .iter()
                .map(|scope| scope.parse::<Scope>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let token = tokens::create_token(&pool, &name, &scopes).await?;
            tracing::info!(name = %name, "token created; it is printed once");
            println!("{token}");
            Ok(())
        }
        KeysCommand::CreateStore {
            store,
            name,
            currency,
            timezone,
        } => {
            let new_store = onec::stores::NewStore {
                store_id: store,
                name,
                currency,
                timezone,
            };
            let key =
                onec::stores::create_store(&pool, config.cashback_currency.code(), &new_store)
                    .await?;
            tracing::info!(store = %new_store.store_id, "store key created; it is printed once");
            println!("{key}");
            Ok(())
        }
        KeysCommand::RevokeStore { store } => {
            let revoked = onec::stores::revoke_store(&pool, &store).await?;
            tracing::info!(store = %store, revoked, "store keys revoked");
            Ok(())
        }
        KeysCommand::SetPayme { keys } => {
            let keys: Vec<String> = keys
                .iter()
                .flat_map(|key| key.split(','))
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(str::to_owned)
                .collect();
            let store = ledger_events::EventStore::new(pool.clone());
            payme::keys::replace_keys_from_operator(&store, &keys).await?;
            tracing::info!(count = keys.len(), "Payme keys replaced");
            Ok(())
        }
    }
}

async fn embedded(config: Config, command: EmbeddedPgCommand) -> anyhow::Result<()> {
    match command {
        EmbeddedPgCommand::Start(args) => {
            let cluster = embedded_pg::start_or_reuse(&EmbeddedOptions {
                data_dir: args.data_dir.unwrap_or(config.data_dir),
                durability: if args.fast {
                    Durability::FastUnsafeForTests
                } else {
                    Durability::Durable
                },
            })
            .await
            .context("starting the embedded PostgreSQL cluster")?;
            println!("{}", cluster.database_url);
            Ok(())
        }
        EmbeddedPgCommand::Stop(args) => {
            embedded_pg::stop(&args.data_dir.unwrap_or(config.data_dir)).await
        }
    }
}
