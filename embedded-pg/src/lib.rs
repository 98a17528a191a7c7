//! A private PostgreSQL cluster for the Ledger server and its test suite.
//!
//! Ledger needs a PostgreSQL database, but a fresh Debian machine only has whatever
//! `apt-get install postgresql` gave it (`scripts/ensure-system-packages.sh` does that). Instead of
//! configuring the distribution's own cluster (port 5432, peer authentication, `/var/run`
//! sockets, possibly already used by something else), this crate creates and runs a cluster
//! that belongs to Ledger alone, under `<data_dir>/pg`:
//!
//! * it listens on 127.0.0.1 only, on a port picked at first start and remembered in
//!   `<data_dir>/pg/ledger-port`, so every restart gets the same URL;
//! * it has no Unix socket at all (`unix_socket_directories = ''`), because socket paths are
//!   limited to about 100 bytes and the default directory (`/var/run/postgresql`) is not
//!   writable by every user — TCP on loopback avoids both problems;
//! * every connection needs a password (SCRAM-SHA-256): loopback is shared by every user and
//!   container network namespace of the machine, so "local" does not mean "ours". The password
//!   is 32 random bytes made at `initdb`, kept in `<data_dir>/pg/ledger-password` (mode 0600,
//!   owned by the account that runs Ledger) and carried in the returned database URL. A
//!   cluster made by an earlier version, which trusted every local connection, gets a password
//!   at its next start (`auth`).
//!
//! `initdb` and `postgres` refuse to run as root. When this process is root, the server
//! programs run as Debian's unprivileged `postgres` OS user via `runuser`, and the cluster
//! directory is owned by that user (`account`); the password file stays root's.
//!
//! Everything here logs with `tracing` and never writes to stdout: the `embedded-pg start`
//! command prints the database URL as its last stdout line, and scripts read it from there.
//! The password never appears in a log line, an error message or a command line: helper
//! programs get it through `PGPASSWORD`, and URLs are logged with `***` in its place.
//!
//! Modules, along the steps of a start: `paths` (where every file is, the lock),
//! `binaries` (which PostgreSQL installation), `account` (which OS user runs it, and where
//! the cluster lives when that user cannot reach the data directory), `initdb` (creating the
//! cluster), `settings` (`ledger.conf`), `server` (starting, stopping, readiness, with
//! `pid_file` and `ports`), `auth` (the password, with `password`, `hba` and
//! `scram`), `database` (the `ledger` database); `process` and `files` are the plumbing.

mod account;
mod auth;
mod binaries;
mod database;
mod files;
mod hba;
mod initdb;
mod password;
mod paths;
mod pid_file;
mod ports;
mod process;
mod scram;
mod server;
mod settings;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tracing::info;

use crate::account::{relocate_if_unreachable, ServerAccount};
use crate::binaries::ServerBinaries;
use crate::password::Password;
use crate::paths::{ClusterLock, ClusterPaths};
pub use crate::settings::Durability;

/// Name of the database Ledger uses inside the cluster.
const DATABASE_NAME: &str = "ledger";
/// Name of the database superuser created by `initdb`.
const SUPERUSER_NAME: &str = "ledger";
/// The only address the cluster listens on.
const LISTEN_HOST: &str = "127.0.0.1";
/// How often a wait for another process or for the server checks again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Where the cluster lives and how it is tuned.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The cluster lives in `<data_dir>/pg`; the lock file is `<data_dir>/embedded-pg.lock`.
    pub data_dir: PathBuf,
    pub durability: Durability,
}

/// A running private cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct EmbeddedCluster {
    /// Absolute path of the cluster directory (`<data_dir>/pg`, or where its link points).
    pub pg_dir: PathBuf,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// `postgres://ledger:<password>@127.0.0.1:<port>/ledger`. It carries the password: log
    /// [`EmbeddedCluster::redacted_database_url`] instead.
    pub database_url: String,
}

impl EmbeddedCluster {
    /// The database URL with `***` in place of the password, for logs and messages.
    pub fn redacted_database_url(&self) -> String {
        password::redact_url(&self.database_url)
    }
}

/// Written by hand so that a `{:?}` in a log or a test failure never shows the password.
impl std::fmt::Debug for EmbeddedCluster {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EmbeddedCluster")
            .field("pg_dir", &self.pg_dir)
            .field("port", &self.port)
            .field("database_url", &self.redacted_database_url())
            .finish()
    }
}

/// Start (or reuse, if already running) the cluster under `<data_dir>/pg`; create database
/// `ledger` if missing; return its URL (`postgres://ledger:<password>@127.0.0.1:<port>/ledger`).
/// Idempotent and safe to call from two processes at once (a lock file serialises them).
///
/// The first call runs `initdb` (a few seconds); later calls reuse the running server, or start
/// it again on the port remembered in `<data_dir>/pg/ledger-port`. A cluster that still trusts
/// local connections (made by an earlier version) gets a password on the way.
pub async fn start_or_reuse(options: &EmbeddedOptions) -> Result<EmbeddedCluster> {
    let started_at = Instant::now();
    let mut paths = ClusterPaths::new(&options.data_dir)?;
    tokio::fs::create_dir_all(&paths.data_dir)
        .await
        .with_context(|| format!("could not create {}", paths.data_dir.display()))?;
    let _lock = ClusterLock::acquire(&paths.lock_file()).await?;

    let account = ServerAccount::detect().await?;
    let cluster_version = initdb::read_cluster_version(&paths).await?;
    let binaries = ServerBinaries::find(cluster_version.as_deref()).await?;
    let mut password = match cluster_version {
        Some(_) => auth::existing_password(&paths).await?,
        None => None,
    };
    let port = match server::find_running(&paths, &binaries, password.as_ref()).await? {
        Some(port) => {
            info!(pg_dir = %paths.pg_dir.display(), port, "reusing running PostgreSQL");
            port
        }
        None => {
            if cluster_version.is_none() {
                relocate_if_unreachable(&mut paths, &account).await?;
                let new_password =
                    initdb::initialize_cluster(&paths, &binaries, &account, options.durability)
                        .await?;
                password = Some(new_password);
            }
            let durability = options.durability;
            server::start(&paths, &binaries, &account, durability, password.as_ref()).await?
        }
    };
    let password = match password {
        Some(password) => password,
        None => auth::set_password_over_trust(&paths, &binaries, port).await?,
    };
    auth::require_password_everywhere(&paths, &binaries, &account, port, &password).await?;
    database::ensure_exists(&binaries, port, &password).await?;
    info!(
        port,
        elapsed_ms = u64::try_from(started_at.elapsed().as_millis()).unwrap_or(u64::MAX),
        "PostgreSQL is ready"
    );
    Ok(EmbeddedCluster {
        pg_dir: paths.pg_dir.clone(),
        port,
        database_url: database_url(port, Some(&password)),
    })
}

/// Stop the cluster under `<data_dir>/pg` if it runs (pg_ctl stop -m fast). Ok if not running.
pub async fn stop(data_dir: &Path) -> Result<()> {
    let paths = ClusterPaths::new(data_dir)?;
    let Some(cluster_version) = initdb::read_cluster_version(&paths).await? else {
        info!(pg_dir = %paths.pg_dir.display(), "no PostgreSQL cluster here; nothing to stop");
        return Ok(());
    };
    let _lock = ClusterLock::acquire(&paths.lock_file()).await?;
    let Some(pid) = pid_file::live_postmaster_pid(&paths).await? else {
        info!(pg_dir = %paths.pg_dir.display(), "PostgreSQL is not running");
        return Ok(());
    };
    let binaries = ServerBinaries::find(Some(&cluster_version)).await?;
    let account = ServerAccount::detect().await?;
    server::stop(&paths, &binaries, &account, pid).await
}

/// The URL of the cluster under `<data_dir>/pg` on `port`, with the password it keeps (none
/// for a cluster that still trusts local connections). Reads the password file only: starts
/// and checks nothing, for tools that must not bring a cluster up themselves.
pub fn remembered_database_url(data_dir: &Path, port: u16) -> Result<String> {
    let paths = ClusterPaths::new(data_dir)?;
    let password = Password::read_blocking(&paths.password_file())?;
    Ok(database_url(port, password.as_ref()))
}

/// `postgres://ledger:<password>@127.0.0.1:<port>/ledger`, or without `:<password>`.
fn database_url(port: u16, password: Option<&Password>) -> String {
    let credentials = match password {
        Some(password) => format!("{SUPERUSER_NAME}:{}", password.url_encoded()),
        None => SUPERUSER_NAME.to_owned(),
    };
    format!("postgres://{credentials}@{LISTEN_HOST}:{port}/{DATABASE_NAME}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_names_user_password_host_port_and_database() {
        let password = Password::from_text("s3cret").unwrap();
        assert_eq!(
            database_url(5555, Some(&password)),
            "postgres://ledger:s3cret@127.0.0.1:5555/ledger"
        );
        assert_eq!(
            database_url(5555, None),
            "postgres://ledger@127.0.0.1:5555/ledger"
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let cluster = EmbeddedCluster {
            pg_dir: PathBuf::from("/data/pg"),
            port: 5555,
            database_url: "postgres://ledger:s3cret@127.0.0.1:5555/ledger".to_owned(),
        };
        let shown = format!("{cluster:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://ledger:***@127.0.0.1:5555/ledger"),
            "{shown}"
        );
    }

    #[test]
    fn remembered_url_reads_the_password_file() {
        let data_dir = std::env::temp_dir().join(format!(
            "ledger-embedded-pg-unit-{}-remembered",
            std::process::id()
        ));
        std::fs::create_dir_all(data_dir.join("pg")).unwrap();
        assert_eq!(
            remembered_database_url(&data_dir, 4321).unwrap(),
            "postgres://ledger@127.0.0.1:4321/ledger"
        );
        std::fs::write(data_dir.join("pg/ledger-password"), "abc123\n").unwrap();
        let url = remembered_database_url(&data_dir, 4321);
        std::fs::remove_dir_all(&data_dir).unwrap();
        assert_eq!(
            url.unwrap(),
            "postgres://ledger:abc123@127.0.0.1:4321/ledger"
        );
    }
}
