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
//! * it trusts every local connection, so the URL needs no password.
//!
//! `initdb` and `postgres` refuse to run as root. When this process is root, the server
//! programs run as Debian's unprivileged `postgres` OS user via `runuser`, and the cluster
//! directory is owned by that user (`account`).
//!
//! Everything here logs with `tracing` and never writes to stdout: the `embedded-pg start`
//! command prints the database URL as its last stdout line, and scripts read it from there.
//!
//! Modules, along the steps of a start: `paths` (where every file is, the lock),
//! `binaries` (which PostgreSQL installation), `account` (which OS user runs it, and where
//! the cluster lives when that user cannot reach the data directory), `initdb` (creating the
//! cluster), `settings` (`ledger.conf`), `server` (starting, stopping, readiness, with
//! `pid_file` and `ports`), `database` (the `ledger` database); `process` and `files` are the
//! plumbing.

mod account;
mod binaries;
mod database;
mod files;
mod initdb;
mod paths;
mod pid_file;
mod ports;
mod process;
mod server;
mod settings;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tracing::info;

use crate::account::{relocate_if_unreachable, ServerAccount};
use crate::binaries::ServerBinaries;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedCluster {
    /// Absolute path of the cluster directory (`<data_dir>/pg`, or where its link points).
    pub pg_dir: PathBuf,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// `postgres://ledger@127.0.0.1:<port>/ledger`
    pub database_url: String,
}

/// Start (or reuse, if already running) the cluster under `<data_dir>/pg`; create database
/// `ledger` if missing; return its URL (`postgres://ledger@127.0.0.1:<port>/ledger`).
/// Idempotent and safe to call from two processes at once (a lock file serialises them).
///
/// The first call runs `initdb` (a few seconds); later calls reuse the running server, or start
/// it again on the port remembered in `<data_dir>/pg/ledger-port`.
pub async fn start_or_reuse(options: &EmbeddedOptions) -> Result<EmbeddedCluster> {
    let started_at = Instant::now();
    let mut paths = ClusterPaths::new(&options.data_dir)?;
    tokio::fs::create_dir_all(&paths.data_dir)
        .await
        .with_context(|| format!("could not create {}", paths.data_dir.display()))?;
    let _lock = ClusterLock::acquire(&paths.lock_file()).await?;

    let cluster_version = initdb::read_cluster_version(&paths).await?;
    let binaries = ServerBinaries::find(cluster_version.as_deref()).await?;
    let port = match server::find_running(&paths, &binaries).await? {
        Some(port) => {
            info!(pg_dir = %paths.pg_dir.display(), port, "reusing running PostgreSQL");
            port
        }
        None => {
            let account = ServerAccount::detect().await?;
            if cluster_version.is_none() {
                relocate_if_unreachable(&mut paths, &account).await?;
                initdb::initialize_cluster(&paths, &binaries, &account, options.durability).await?;
            }
            server::start(&paths, &binaries, &account, options.durability).await?
        }
    };
    database::ensure_exists(&binaries, port).await?;
    info!(
        port,
        elapsed_ms = u64::try_from(started_at.elapsed().as_millis()).unwrap_or(u64::MAX),
        "PostgreSQL is ready"
    );
    Ok(EmbeddedCluster {
        pg_dir: paths.pg_dir.clone(),
        port,
        database_url: database_url(port),
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

/// `postgres://ledger@127.0.0.1:<port>/ledger`
fn database_url(port: u16) -> String {
    format!("postgres://{SUPERUSER_NAME}@{LISTEN_HOST}:{port}/{DATABASE_NAME}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_names_user_host_port_and_database() {
        assert_eq!(
            database_url(5555),
            "postgres://ledger@127.0.0.1:5555/ledger"
        );
    }
}
