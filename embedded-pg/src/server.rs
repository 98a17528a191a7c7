//! The server process: finding a running one, starting one with `pg_ctl`, waiting until it
//! accepts connections, stopping it.

use std::process::Output;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tracing::{debug, info, warn};

use crate::account::ServerAccount;
use crate::auth::client_command;
use crate::binaries::ServerBinaries;
use crate::files::{file_length, log_excerpt, read_log_since};
use crate::password::Password;
use crate::paths::ClusterPaths;
use crate::pid_file::{is_postmaster_of, live_postmaster_pid, read_record, remove_stale_pid_file};
use crate::ports::choose_port;
use crate::process::{describe_output, run_command};
use crate::settings::{write_settings, Durability};
use crate::{LISTEN_HOST, POLL_INTERVAL, SUPERUSER_NAME};

/// How long the server may take to accept connections after a start, or to stop.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a start is retried when the chosen port was taken in the meantime.
const START_ATTEMPTS: usize = 3;
/// The server log is moved aside at start once it is bigger than this.
const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;

/// Port of a server already running for this cluster, once it accepts connections. A server
/// that exits while we wait leaves a stale `postmaster.pid`, which is removed.
pub(crate) async fn find_running(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    password: Option<&Password>,
) -> Result<Option<u16>> {
    let Some(pid) = live_postmaster_pid(paths).await? else {
        return Ok(None);
    };
    debug!(
        pid,
        "found a running postmaster; waiting until it accepts connections"
    );
    match wait_until_ready(paths, binaries, pid, password).await? {
        ServerState::Ready(port) => Ok(Some(port)),
        ServerState::Exited => {
            remove_stale_pid_file(paths).await?;
            Ok(None)
        }
    }
}

enum ServerState {
    Ready(u16),
    Exited,
}

/// Polls until the postmaster `pid` accepts connections (`pg_isready`) or exits, for at most
/// [`READY_TIMEOUT`].
async fn wait_until_ready(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    pid: u32,
    password: Option<&Password>,
) -> Result<ServerState> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if !is_postmaster_of(pid, &paths.pg_dir).await {
            return Ok(ServerState::Exited);
        }
        let port = read_record(paths).await?.and_then(|record| record.port);
        if let Some(port) = port {
            if accepts_connections(binaries, port, password).await {
                return Ok(ServerState::Ready(port));
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "PostgreSQL (PID {pid}) did not accept connections within {} s\n{}",
                READY_TIMEOUT.as_secs(),
                log_excerpt(paths, 0).await
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// `pg_isready` only asks whether the server accepts connections (it does not log in), but it
/// gets the password like every client program, when there is one.
async fn accepts_connections(
    binaries: &ServerBinaries,
    port: u16,
    password: Option<&Password>,
) -> bool {
    let mut command = client_command(&binaries.program("pg_isready"), password);
    command
        .args(["-q", "-t", "2", "-h", LISTEN_HOST, "-p"])
        .arg(port.to_string())
        .args(["-U", SUPERUSER_NAME, "-d", "postgres"]);
    matches!(run_command(command, "pg_isready").await, Ok(output) if output.status.success())
}

/// Starts the server with `pg_ctl` and returns its port once it accepts connections. If the
/// remembered port was taken between our check and the server's bind, retries on a new port.
pub(crate) async fn start(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    account: &ServerAccount,
    durability: Durability,
    password: Option<&Password>,
) -> Result<u16> {
    account.check_can_traverse_parents_of(&paths.pg_dir).await?;
    prepare_log_file(paths, account).await?;
    let mut port_to_avoid = None;
    for attempt in 1..=START_ATTEMPTS {
        let port = choose_port(paths, account, port_to_avoid).await?;
        write_settings(paths, account, port, durability).await?;
        let log_offset = file_length(&paths.log_file()).await;
        info!(pg_dir = %paths.pg_dir.display(), port, "starting PostgreSQL");
        let output = run_pg_ctl_start(paths, binaries, account).await?;
        if output.status.success() {
            return wait_for_started_server(paths, binaries, log_offset, password).await;
        }
        let new_log = read_log_since(paths, log_offset).await;
        if new_log.contains("Address already in use") && attempt < START_ATTEMPTS {
            warn!(
                port,
                "port was taken before PostgreSQL could bind it; trying another"
            );
            port_to_avoid = Some(port);
            continue;
        }
        bail!(
            "PostgreSQL failed to start ({}): {}\n{}",
            paths.pg_dir.display(),
            describe_output(&output),
            log_excerpt(paths, log_offset).await
        );
    }
    unreachable!("the last start attempt returns or fails")
}

/// Creates the log directory (writable by the server's account, since `pg_ctl -l` opens the
/// file as that user) and moves an oversized log aside.
async fn prepare_log_file(paths: &ClusterPaths, account: &ServerAccount) -> Result<()> {
    let log_dir = paths.log_dir();
    tokio::fs::create_dir_all(&log_dir)
        .await
        .with_context(|| format!("could not create {}", log_dir.display()))?;
    account.take_ownership(&log_dir).await?;
    let log_file = paths.log_file();
    if file_length(&log_file).await > LOG_ROTATE_BYTES {
        let old_log = log_dir.join("postgres.log.old");
        tokio::fs::rename(&log_file, &old_log).await?;
    }
    Ok(())
}

/// `pg_ctl start -w` waits (bounded) until the server is ready; `-l` sends the server's
/// output to our log file, so nothing of it reaches our stdout.
async fn run_pg_ctl_start(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    account: &ServerAccount,
) -> Result<Output> {
    let mut command = account.command(&binaries.program("pg_ctl"));
    command
        .arg("start")
        .arg("-D")
        .arg(&paths.pg_dir)
        .arg("-l")
        .arg(paths.log_file())
        .args(["-w", "-s", "-t"])
        .arg(READY_TIMEOUT.as_secs().to_string());
    run_command(command, "pg_ctl start").await
}

async fn wait_for_started_server(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    log_offset: u64,
    password: Option<&Password>,
) -> Result<u16> {
    let Some(record) = read_record(paths).await? else {
        bail!(
            "pg_ctl reported a start but {} is missing or unreadable\n{}",
            paths.postmaster_pid_file().display(),
            log_excerpt(paths, log_offset).await
        );
    };
    match wait_until_ready(paths, binaries, record.pid, password).await? {
        ServerState::Ready(port) => Ok(port),
        ServerState::Exited => bail!(
            "PostgreSQL exited right after starting\n{}",
            log_excerpt(paths, log_offset).await
        ),
    }
}

/// Stops the postmaster `pid` of this cluster (`pg_ctl stop -m fast`): open connections are
/// closed, transactions in progress roll back. A server that is gone anyway is not an error.
pub(crate) async fn stop(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    account: &ServerAccount,
    pid: u32,
) -> Result<()> {
    info!(pg_dir = %paths.pg_dir.display(), pid, "stopping PostgreSQL");
    let mut command = account.command(&binaries.program("pg_ctl"));
    command
        .arg("stop")
        .arg("-D")
        .arg(&paths.pg_dir)
        .args(["-m", "fast", "-w", "-s", "-t"])
        .arg(READY_TIMEOUT.as_secs().to_string());
    let output = run_command(command, "pg_ctl stop").await?;
    if !output.status.success() && is_postmaster_of(pid, &paths.pg_dir).await {
        bail!(
            "pg_ctl stop failed for {}: {}\n{}",
            paths.pg_dir.display(),
            describe_output(&output),
            log_excerpt(paths, 0).await
        );
    }
    Ok(())
}
