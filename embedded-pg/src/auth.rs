//! Password authentication: where the password of the `ledger` role comes from, and how a
//! cluster that trusted local connections comes to require it.
//!
//! At every start, under the cluster lock (so two processes never race through these steps):
//! * the password file exists: it is used;
//! * `initdb` got a password but the process died before moving it into place: it is adopted;
//! * there is no password anywhere and `pg_hba.conf` still trusts connections (a cluster made
//!   by an earlier version): once the server runs, a new password is set over the still-trusted
//!   connection and kept;
//! * then, whatever happened before, a `pg_hba.conf` line that admits a connection without the
//!   password is rewritten and the server reloads its configuration.
//!
//! A crash between two steps is repaired by the next start: the password is kept only after
//! the role has it, and `pg_hba.conf` is checked every time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::Command;
use tracing::info;

use crate::account::ServerAccount;
use crate::binaries::ServerBinaries;
use crate::files::{file_length, log_excerpt, remove_if_present, write_private_file};
use crate::password::Password;
use crate::paths::ClusterPaths;
use crate::process::{helper_command, run_checked, run_checked_with_input, run_command};
use crate::{hba, scram, LISTEN_HOST, POLL_INTERVAL, SUPERUSER_NAME};

/// How long the server may take to apply a rewritten `pg_hba.conf` after a reload request.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A client program (`psql`, `createdb`, `pg_isready`) with the password in its environment:
/// never on its command line, where every user of the machine could read it.
pub(crate) fn client_command(program: &Path, password: Option<&Password>) -> Command {
    let mut command = helper_command(program);
    if let Some(password) = password {
        command.env("PGPASSWORD", password.expose());
    }
    command
}

/// The password of an existing cluster, or `None` when the cluster still trusts connections
/// and gets one from [`set_password_over_trust`] once its server runs.
pub(crate) async fn existing_password(paths: &ClusterPaths) -> Result<Option<Password>> {
    if let Some(password) = Password::read(&paths.password_file()).await? {
        return Ok(Some(password));
    }
    if let Some(password) = adopt_initdb_password(paths).await? {
        return Ok(Some(password));
    }
    let hba_file = paths.hba_file();
    let hba = tokio::fs::read_to_string(&hba_file)
        .await
        .with_context(|| format!("could not read {}", hba_file.display()))?;
    if hba::admits_without_password(&hba) {
        return Ok(None);
    }
    bail!(
        "the PostgreSQL cluster in {pg_dir} requires a password, but {file} is missing. Put the \
         password back into that file; or stop the cluster (`ledger embedded-pg stop`), replace \
         `scram-sha-256` by `trust` in {hba} and start it again: a new password is then set and \
         kept in {file}",
        pg_dir = paths.pg_dir.display(),
        file = paths.password_file().display(),
        hba = hba_file.display(),
    )
}

/// The file `initdb --pwfile` reads, owned by the server's account; removed when dropped, so
/// a failed `initdb` leaves no password behind.
pub(crate) struct InitdbPasswordFile {
    path: PathBuf,
}

impl InitdbPasswordFile {
    pub(crate) async fn write(
        paths: &ClusterPaths,
        account: &ServerAccount,
        password: &Password,
    ) -> Result<Self> {
        let path = paths.initdb_password_file();
        write_private_file(&path, &password.file_contents(), Some(account)).await?;
        Ok(Self { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// After `initdb` succeeded: the password becomes the cluster's password file.
    pub(crate) async fn keep(self, paths: &ClusterPaths) -> Result<()> {
        adopt_initdb_password(paths)
            .await?
            .with_context(|| format!("{} disappeared during initdb", self.path.display()))?;
        Ok(())
    }
}

impl Drop for InitdbPasswordFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Moves a password `initdb` was given into the password file (rewritten rather than renamed,
/// so that it belongs to this process's user instead of the server's account).
async fn adopt_initdb_password(paths: &ClusterPaths) -> Result<Option<Password>> {
    let initdb_file = paths.initdb_password_file();
    let Some(password) = Password::read(&initdb_file).await? else {
        return Ok(None);
    };
    keep_password(paths, &password).await?;
    remove_if_present(&initdb_file).await?;
    Ok(Some(password))
}

/// Mode 0600, owned by the user that runs this process: readable by every `ledger` command
/// of that user (root, when the server runs as `postgres`), by no one else.
async fn keep_password(paths: &ClusterPaths, password: &Password) -> Result<()> {
    write_private_file(&paths.password_file(), &password.file_contents(), None).await
}

/// Gives role `ledger` a new password over a connection the cluster still trusts, then keeps
/// it. The statement goes on psql's stdin and carries only the SCRAM verifier.
pub(crate) async fn set_password_over_trust(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    port: u16,
) -> Result<Password> {
    let password = Password::generate();
    let statement = format!(
        "ALTER ROLE {SUPERUSER_NAME} PASSWORD '{}';\n",
        scram::verifier(password.expose())
    );
    let mut command = client_command(&binaries.program("psql"), None);
    command
        .args([
            "-X",
            "-q",
            "-w",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            LISTEN_HOST,
            "-p",
        ])
        .arg(port.to_string())
        .args(["-U", SUPERUSER_NAME, "-d", "postgres"]);
    run_checked_with_input(command, statement.as_bytes(), "psql (setting a password)")
        .await
        .context(
            "the cluster has no password yet (it was made by an earlier version of Ledger, \
             which trusted local connections) and setting one failed",
        )?;
    keep_password(paths, &password).await?;
    info!(
        file = %paths.password_file().display(),
        "the PostgreSQL cluster trusted local connections; role {SUPERUSER_NAME} now has a password, kept in this file"
    );
    Ok(password)
}

/// Rewrites every `pg_hba.conf` line that admits a connection without the password, reloads
/// the server's configuration and waits until it applies.
pub(crate) async fn require_password_everywhere(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    account: &ServerAccount,
    port: u16,
    password: &Password,
) -> Result<()> {
    let hba_file = paths.hba_file();
    let hba = tokio::fs::read_to_string(&hba_file)
        .await
        .with_context(|| format!("could not read {}", hba_file.display()))?;
    let Some(rewritten) = hba::require_password(&hba) else {
        return Ok(());
    };
    write_private_file(&hba_file, &rewritten, Some(account)).await?;
    let log_offset = file_length(&paths.log_file()).await;
    let mut reload = client_command(&binaries.program("psql"), Some(password));
    reload
        .args(["-X", "-w", "-h", LISTEN_HOST, "-p"])
        .arg(port.to_string())
        .args(["-U", SUPERUSER_NAME, "-d", "postgres", "-tAc"])
        .arg("select pg_reload_conf()");
    run_checked(reload, "psql (reloading the configuration)").await?;
    wait_until_password_required(paths, binaries, port, log_offset).await?;
    info!(file = %hba_file.display(), "PostgreSQL now requires the password for every connection");
    Ok(())
}

/// A reload is asynchronous: polls until a connection without the password is refused.
async fn wait_until_password_required(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    port: u16,
    log_offset: u64,
) -> Result<()> {
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        let mut probe = client_command(&binaries.program("psql"), None);
        probe
            .args(["-X", "-w", "-h", LISTEN_HOST, "-p"])
            .arg(port.to_string())
            .args(["-U", SUPERUSER_NAME, "-d", "postgres", "-tAc", "select 1"]);
        let output = run_command(probe, "psql (without a password)").await?;
        let refused = !output.status.success()
            && String::from_utf8_lossy(&output.stderr).contains("password");
        if refused {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "PostgreSQL still admits connections without a password {} s after {} was \
                 rewritten and its configuration reloaded\n{}",
                RELOAD_TIMEOUT.as_secs(),
                paths.hba_file().display(),
                log_excerpt(paths, log_offset).await
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
