//! A private PostgreSQL cluster for the Ledger server and its test suite.
//!
//! Ledger needs a PostgreSQL database, but a fresh Debian machine only has whatever
//! `apt-get install postgresql` gave it (`scripts/ensure-system-packages.sh` does that). Instead of
//! configuring the distribution's own cluster (port 5432, peer authentication, `/var/run`
//! sockets, possibly already used by something else), this module creates and runs a cluster
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
//! directory is owned by that user.
//!
//! Everything here logs with `tracing` and never writes to stdout: the `embedded-pg start`
//! command prints the database URL as its last stdout line, and scripts read it from there.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tokio::process::Command;
use tracing::{debug, info, warn};

/// Name of the database Ledger uses inside the cluster.
const DATABASE_NAME: &str = "ledger";
/// Name of the database superuser created by `initdb`.
const SUPERUSER_NAME: &str = "ledger";
/// OS user that runs the server when this process is root (created by Debian's package).
const UNPRIVILEGED_OS_USER: &str = "postgres";
/// The only address the cluster listens on.
const LISTEN_HOST: &str = "127.0.0.1";
/// Where Debian installs one directory per PostgreSQL major version.
const DEBIAN_POSTGRESQL_ROOT: &str = "/usr/lib/postgresql";
const MISSING_BINARIES_MESSAGE: &str = "PostgreSQL server binaries not found; install Debian's \
     `postgresql` package (scripts/run.sh does it)";

/// How long the server may take to accept connections after a start.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for another process that holds the cluster lock (it may be running initdb).
const LOCK_TIMEOUT: Duration = Duration::from_secs(120);
/// Upper bound for any single helper program (initdb is the slowest, a few seconds).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How many lines of the server log an error message quotes.
const LOG_TAIL_LINES: usize = 40;
/// The server log is moved aside at start once it is bigger than this.
const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;
/// How many times a start is retried when the chosen port was taken in the meantime.
const START_ATTEMPTS: usize = 3;

/// How the private cluster is tuned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// PostgreSQL's defaults: every commit survives a crash of the machine.
    Durable,
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: much faster, but a crash of the
    /// machine can corrupt the cluster. Only for throw-away test data.
    FastUnsafeForTests,
}

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
    /// Absolute path of the cluster directory (`<data_dir>/pg`).
    pub pg_dir: PathBuf,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// `postgres://ledger@127.0.0.1:<port>/ledger`
    pub database_url: String,
}

/// Start (or reuse, if already running) the cluster under `<data_dir>/pg`; create database `ledger` if missing; return its URL
/// (postgres://<user>@127.0.0.1:<port>/ledger). Idempotent and safe to call from two processes at once (use a lock file).
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

    let cluster_version = read_cluster_version(&paths).await?;
    let binaries = ServerBinaries::find(cluster_version.as_deref()).await?;
    let port = match find_running_server(&paths, &binaries).await? {
        Some(port) => {
            info!(pg_dir = %paths.pg_dir.display(), port, "reusing running PostgreSQL");
            port
        }
        None => {
            let account = ServerAccount::detect().await?;
            if cluster_version.is_none() {
                relocate_if_unreachable(&mut paths, &account).await?;
                initialize_cluster(&paths, &binaries, &account, options.durability).await?;
            }
            start_server(&paths, &binaries, &account, options.durability).await?
        }
    };
    ensure_database_exists(&binaries, port).await?;
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
    let Some(cluster_version) = read_cluster_version(&paths).await? else {
        info!(pg_dir = %paths.pg_dir.display(), "no PostgreSQL cluster here; nothing to stop");
        return Ok(());
    };
    let _lock = ClusterLock::acquire(&paths.lock_file()).await?;
    let Some(pid) = live_postmaster_pid(&paths).await? else {
        info!(pg_dir = %paths.pg_dir.display(), "PostgreSQL is not running");
        return Ok(());
    };
    let binaries = ServerBinaries::find(Some(&cluster_version)).await?;
    let account = ServerAccount::detect().await?;
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
            log_excerpt(&paths, 0).await
        );
    }
    Ok(())
}

/// `postgres://ledger@127.0.0.1:<port>/ledger`
fn database_url(port: u16) -> String {
    format!("postgres://{SUPERUSER_NAME}@{LISTEN_HOST}:{port}/{DATABASE_NAME}")
}

// ---------------------------------------------------------------------------------------------
// Paths and locking
// ---------------------------------------------------------------------------------------------

/// Every file this module reads or writes, derived from the caller's data directory.
struct ClusterPaths {
    data_dir: PathBuf,
    pg_dir: PathBuf,
}

impl ClusterPaths {
    /// Paths are made absolute because helper programs run with `/` as working directory
    /// (the `postgres` user may not be allowed into the caller's working directory).
    ///
    /// When `<data_dir>/pg` is a symbolic link (a relocated cluster, see
    /// [`relocate_if_unreachable`]), the server programs get the link's target: they run as an
    /// account that may not be allowed to follow the path through `data_dir`.
    fn new(data_dir: &Path) -> Result<Self> {
        let data_dir = std::path::absolute(data_dir)
            .with_context(|| format!("could not make {} absolute", data_dir.display()))?;
        let link_or_dir = data_dir.join("pg");
        let pg_dir = match std::fs::symlink_metadata(&link_or_dir) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                std::fs::read_link(&link_or_dir)
                    .with_context(|| format!("could not read the link {}", link_or_dir.display()))?
            }
            _ => link_or_dir,
        };
        Ok(Self { data_dir, pg_dir })
    }

    /// Outside `pg_dir`, because `pg_dir` must be empty for `initdb` and is private to the
    /// server's OS user.
    fn lock_file(&self) -> PathBuf {
        self.data_dir.join("embedded-pg.lock")
    }

    fn version_file(&self) -> PathBuf {
        self.pg_dir.join("PG_VERSION")
    }

    fn postmaster_pid_file(&self) -> PathBuf {
        self.pg_dir.join("postmaster.pid")
    }

    /// Remembers the port across restarts so the database URL stays the same.
    fn port_file(&self) -> PathBuf {
        self.pg_dir.join("ledger-port")
    }

    /// Our settings, included from `postgresql.conf` and rewritten on every start.
    fn settings_file(&self) -> PathBuf {
        self.pg_dir.join("ledger.conf")
    }

    fn main_config_file(&self) -> PathBuf {
        self.pg_dir.join("postgresql.conf")
    }

    fn log_dir(&self) -> PathBuf {
        self.pg_dir.join("log")
    }

    fn log_file(&self) -> PathBuf {
        self.log_dir().join("postgres.log")
    }
}

/// An exclusive `flock` on `<data_dir>/embedded-pg.lock`, released when dropped (or when the
/// process dies, so a crash never leaves a stale lock behind). Two tasks of one process
/// exclude each other too, because each opens the file anew.
struct ClusterLock {
    _file: std::fs::File,
}

impl ClusterLock {
    // `File::try_lock` is stable since Rust 1.89; the project builds with 1.95.
    #[allow(clippy::incompatible_msrv)]
    async fn acquire(path: &Path) -> Result<Self> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .await
            .with_context(|| format!("could not open lock file {}", path.display()))?
            .into_std()
            .await;
        let deadline = Instant::now() + LOCK_TIMEOUT;
        let mut announced_wait = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(error).with_context(|| format!("could not lock {}", path.display()))
                }
            }
            if !announced_wait {
                info!(lock = %path.display(), "waiting for another process using this PostgreSQL cluster");
                announced_wait = true;
            }
            if Instant::now() >= deadline {
                bail!(
                    "another process held {} for more than {} s",
                    path.display(),
                    LOCK_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Finding the server programs and the OS user that runs them
// ---------------------------------------------------------------------------------------------

/// The directory holding `initdb`, `pg_ctl`, `postgres`, `pg_isready`, `psql` and `createdb`.
struct ServerBinaries {
    bin_dir: PathBuf,
}

impl ServerBinaries {
    /// Order: the Debian directory of the version that created an existing cluster (another
    /// major version could not open it), then `pg_config --bindir`, then the highest version
    /// under `/usr/lib/postgresql/*/bin`.
    async fn find(cluster_version: Option<&str>) -> Result<Self> {
        let debian_root = Path::new(DEBIAN_POSTGRESQL_ROOT);
        let mut candidates = Vec::new();
        if let Some(version) = cluster_version {
            candidates.push(debian_root.join(version).join("bin"));
        }
        candidates.extend(pg_config_bin_dir().await);
        candidates.extend(highest_installed_bin_dir(debian_root).await);
        for bin_dir in candidates {
            if tokio::fs::try_exists(bin_dir.join("initdb"))
                .await
                .unwrap_or(false)
            {
                debug!(bin_dir = %bin_dir.display(), "using PostgreSQL server binaries");
                return Ok(Self { bin_dir });
            }
        }
        bail!(MISSING_BINARIES_MESSAGE)
    }

    fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// `pg_config --bindir`, if `pg_config` is on PATH and answers.
async fn pg_config_bin_dir() -> Option<PathBuf> {
    let mut command = Command::new("pg_config");
    command.arg("--bindir");
    let output = run_command(command, "pg_config --bindir").await.ok()?;
    let bin_dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !bin_dir.is_empty()).then(|| PathBuf::from(bin_dir))
}

/// `/usr/lib/postgresql/<highest version>/bin` among the versions that contain `initdb`.
async fn highest_installed_bin_dir(debian_root: &Path) -> Option<PathBuf> {
    let mut entries = tokio::fs::read_dir(debian_root).await.ok()?;
    let mut versions = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if tokio::fs::try_exists(entry.path().join("bin").join("initdb"))
            .await
            .unwrap_or(false)
        {
            versions.push(name);
        }
    }
    let highest = highest_version(&versions)?;
    Some(debian_root.join(highest).join("bin"))
}

/// The highest numeric version among directory names like `9.6`, `15`, `16`; other names
/// are ignored.
fn highest_version(names: &[String]) -> Option<&str> {
    names
        .iter()
        .filter_map(|name| parse_version(name).map(|version| (version, name.as_str())))
        .max()
        .map(|(_, name)| name)
}

fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.')
        .map(|part| part.parse::<u32>().ok())
        .collect()
}

/// Which OS account runs `initdb`, `pg_ctl` and `postgres`.
enum ServerAccount {
    /// Not root: the server runs as whoever we are.
    CurrentUser,
    /// Root: PostgreSQL refuses to run as root, so it runs as Debian's `postgres` user.
    Unprivileged { name: String, uid: u32, gid: u32 },
}

impl ServerAccount {
    /// Uses `id` because the standard library has no way to ask for the effective uid and
    /// this module must not depend on `libc`.
    async fn detect() -> Result<Self> {
        let effective_uid = id_number(&["-u"]).await?;
        if effective_uid != 0 {
            return Ok(Self::CurrentUser);
        }
        let missing_user = || {
            anyhow!(
                "running as root, so PostgreSQL must run as the OS user `{UNPRIVILEGED_OS_USER}`, \
                 which does not exist; install Debian's `postgresql` package (scripts/run.sh does it)"
            )
        };
        let uid = id_number(&["-u", UNPRIVILEGED_OS_USER])
            .await
            .map_err(|_| missing_user())?;
        let gid = id_number(&["-g", UNPRIVILEGED_OS_USER])
            .await
            .map_err(|_| missing_user())?;
        Ok(Self::Unprivileged {
            name: UNPRIVILEGED_OS_USER.to_owned(),
            uid,
            gid,
        })
    }

    /// A command for `program` that runs as this account (through `runuser` when root).
    fn command(&self, program: &Path) -> Command {
        match self {
            Self::CurrentUser => helper_command(program),
            Self::Unprivileged { name, .. } => {
                let mut command = helper_command(&runuser_program());
                command.arg("-u").arg(name).arg("--").arg(program);
                command
            }
        }
    }

    /// Files we create inside the cluster directory must belong to the server's account.
    async fn take_ownership(&self, path: &Path) -> Result<()> {
        if let Self::Unprivileged { uid, gid, .. } = self {
            let (path, uid, gid) = (path.to_owned(), *uid, *gid);
            tokio::task::spawn_blocking(move || {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .with_context(|| format!("could not chown {} to uid {uid}", path.display()))
            })
            .await??;
        }
        Ok(())
    }

    /// The server's account must be able to reach the cluster directory: `initdb` and
    /// `postgres` otherwise fail with a confusing "permission denied". Checks every parent
    /// directory in one `runuser` call and names the first one that cannot be traversed.
    async fn check_can_traverse_parents_of(&self, pg_dir: &Path) -> Result<()> {
        let Self::Unprivileged { name, .. } = self else {
            return Ok(());
        };
        let Some(blocked) = self.first_blocked_parent(pg_dir).await? else {
            return Ok(());
        };
        bail!(
            "the OS user `{name}` (which runs PostgreSQL, because initdb refuses to run as root) \
             cannot enter the directory {}, a parent of {}; choose a data directory \
             elsewhere (for example under /var/tmp) or run `chmod o+x {}`",
            blocked.display(),
            pg_dir.display(),
            blocked.display()
        )
    }

    /// The first parent of `pg_dir` the server's account cannot enter, if any.
    async fn first_blocked_parent(&self, pg_dir: &Path) -> Result<Option<PathBuf>> {
        let Self::Unprivileged { name, .. } = self else {
            return Ok(None);
        };
        let mut command = self.command(Path::new("/bin/sh"));
        command
            .arg("-c")
            .arg(r#"for dir in "$@"; do test -x "$dir" || { printf '%s\n' "$dir"; exit 1; }; done"#)
            .arg("check-traversal")
            .args(directories_to_traverse(pg_dir));
        let output = run_command(command, "runuser (directory permission check)").await?;
        if output.status.success() {
            return Ok(None);
        }
        let blocked = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if blocked.is_empty() {
            bail!(
                "could not check directory permissions as OS user `{name}`: {}",
                describe_output(&output)
            );
        }
        Ok(Some(PathBuf::from(blocked)))
    }
}

/// `/`, then each directory down to the parent of `pg_dir`.
fn directories_to_traverse(pg_dir: &Path) -> Vec<PathBuf> {
    let mut directories: Vec<PathBuf> = pg_dir.ancestors().skip(1).map(Path::to_owned).collect();
    directories.reverse();
    directories
}

/// `runuser` lives in /usr/sbin, which is not on every PATH.
fn runuser_program() -> PathBuf {
    ["/usr/sbin/runuser", "/sbin/runuser"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("runuser"))
}

/// Runs `id <arguments>` and parses the number it prints.
async fn id_number(arguments: &[&str]) -> Result<u32> {
    let mut command = Command::new("id");
    command.args(arguments);
    let description = format!("id {}", arguments.join(" "));
    let output = run_checked(command, &description).await?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("unexpected output of `{description}`: {text:?}"))
}

// ---------------------------------------------------------------------------------------------
// Creating the cluster
// ---------------------------------------------------------------------------------------------

/// `PG_VERSION` exists once `initdb` succeeded; it holds the major version that created it.
async fn read_cluster_version(paths: &ClusterPaths) -> Result<Option<String>> {
    Ok(read_optional(&paths.version_file())
        .await?
        .map(|text| text.trim().to_owned()))
}

/// Where relocated clusters live: a directory every account can traverse.
const RELOCATED_CLUSTERS_ROOT: &str = "/var/lib/ledger/embedded-pg";

/// Before a first `initdb`: when the server's account cannot reach `<data_dir>/pg` (root working
/// in `/root`, mode 0700), the cluster is created under [`RELOCATED_CLUSTERS_ROOT`] instead and
/// `<data_dir>/pg` becomes a symbolic link to it. The data still belongs to that data directory
/// (one cluster per data directory, found through the link), and nothing about the user's own
/// directories has to be loosened.
async fn relocate_if_unreachable(paths: &mut ClusterPaths, account: &ServerAccount) -> Result<()> {
    let in_place = paths.data_dir.join("pg");
    if paths.pg_dir != in_place || tokio::fs::symlink_metadata(&in_place).await.is_ok() {
        return Ok(()); // already relocated, or a directory exists there already
    }
    let Some(blocked) = account.first_blocked_parent(&in_place).await? else {
        return Ok(());
    };
    let name = crate::infra::security::sha256_hex(&paths.data_dir.to_string_lossy());
    let relocated = Path::new(RELOCATED_CLUSTERS_ROOT)
        .join(&name[..16])
        .join("pg");
    let parent = relocated.parent().expect("has a parent");
    tokio::fs::create_dir_all(parent)
        .await
        .with_context(|| format!("could not create {}", parent.display()))?;
    for directory in parent
        .ancestors()
        .take_while(|d| d.starts_with("/var/lib/ledger"))
    {
        set_mode(directory, 0o755).await?;
    }
    tokio::fs::symlink(&relocated, &in_place)
        .await
        .with_context(|| {
            format!(
                "could not link {} to {}",
                in_place.display(),
                relocated.display()
            )
        })?;
    info!(
        blocked = %blocked.display(),
        cluster = %relocated.display(),
        link = %in_place.display(),
        "the PostgreSQL account cannot enter the data directory; the cluster lives elsewhere, linked from it"
    );
    paths.pg_dir = relocated;
    Ok(())
}

async fn initialize_cluster(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    account: &ServerAccount,
    durability: Durability,
) -> Result<()> {
    prepare_empty_cluster_directory(paths, account).await?;
    account.check_can_traverse_parents_of(&paths.pg_dir).await?;
    info!(pg_dir = %paths.pg_dir.display(), bin_dir = %binaries.bin_dir.display(), "creating PostgreSQL cluster (initdb)");
    let mut command = account.command(&binaries.program("initdb"));
    command
        .arg("-D")
        .arg(&paths.pg_dir)
        .arg("--auth=trust")
        .arg(format!("--username={SUPERUSER_NAME}"))
        .arg("--encoding=UTF8")
        .arg("--locale=C");
    if durability == Durability::FastUnsafeForTests {
        // Skips initdb's final fsync of every file; saves seconds, harmless for test data.
        command.arg("--no-sync");
    }
    run_checked(command, "initdb").await?;
    Ok(())
}

/// `initdb` wants an empty (or missing) directory, owned by the server's account, mode 0700.
async fn prepare_empty_cluster_directory(
    paths: &ClusterPaths,
    account: &ServerAccount,
) -> Result<()> {
    let pg_dir = &paths.pg_dir;
    tokio::fs::create_dir_all(pg_dir)
        .await
        .with_context(|| format!("could not create {}", pg_dir.display()))?;
    let mut entries = tokio::fs::read_dir(pg_dir).await?;
    if entries.next_entry().await?.is_some() {
        bail!(
            "{} is not empty but holds no PostgreSQL cluster (no PG_VERSION; an earlier initdb \
             was probably interrupted); delete it (`rm -rf {}`) and try again",
            pg_dir.display(),
            pg_dir.display()
        );
    }
    account.take_ownership(pg_dir).await?;
    set_mode(pg_dir, 0o700).await
}

async fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .await
        .with_context(|| format!("could not chmod {} to {mode:o}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Finding a running server
// ---------------------------------------------------------------------------------------------

/// Port of a server already running for this cluster, once it accepts connections.
///
/// A `postmaster.pid` left behind by a crash or a reboot would make `postgres` refuse to start
/// whenever its PID now belongs to another live process (common in containers, where PIDs
/// are small), so a stale file is removed here.
async fn find_running_server(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
) -> Result<Option<u16>> {
    let Some(pid) = live_postmaster_pid(paths).await? else {
        return Ok(None);
    };
    debug!(
        pid,
        "found a running postmaster; waiting until it accepts connections"
    );
    match wait_until_ready(paths, binaries, pid).await? {
        ServerState::Ready(port) => Ok(Some(port)),
        ServerState::Exited => {
            remove_stale_pid_file(paths).await?;
            Ok(None)
        }
    }
}

/// PID from `postmaster.pid` if that process is the postmaster of this cluster; removes the
/// file when it is stale.
async fn live_postmaster_pid(paths: &ClusterPaths) -> Result<Option<u32>> {
    let Some(contents) = read_optional(&paths.postmaster_pid_file()).await? else {
        return Ok(None);
    };
    match parse_postmaster_pid_file(&contents) {
        Some(record) if is_postmaster_of(record.pid, &paths.pg_dir).await => Ok(Some(record.pid)),
        _ => {
            remove_stale_pid_file(paths).await?;
            Ok(None)
        }
    }
}

async fn remove_stale_pid_file(paths: &ClusterPaths) -> Result<()> {
    let file = paths.postmaster_pid_file();
    match tokio::fs::remove_file(&file).await {
        Ok(()) => {
            warn!(file = %file.display(), "removed stale postmaster.pid (server not running)");
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("could not remove {}", file.display())),
    }
}

/// The postmaster changes its working directory to its data directory, so a live process
/// whose `/proc/<pid>/cwd` is our `pg_dir` is our server, and nothing else is (a recycled PID
/// belongs to a process with another working directory, or to another user whose `cwd` we
/// cannot read).
async fn is_postmaster_of(pid: u32, pg_dir: &Path) -> bool {
    let Ok(working_directory) = tokio::fs::read_link(format!("/proc/{pid}/cwd")).await else {
        return false;
    };
    match tokio::fs::canonicalize(pg_dir).await {
        Ok(canonical_pg_dir) => working_directory == canonical_pg_dir,
        Err(_) => false,
    }
}

/// The lines of `postmaster.pid` this module needs.
#[derive(Debug, PartialEq, Eq)]
struct PostmasterRecord {
    pid: u32,
    /// Missing while the server is still starting.
    port: Option<u16>,
}

/// `postmaster.pid` holds the PID on line 1 and the port on line 4.
fn parse_postmaster_pid_file(contents: &str) -> Option<PostmasterRecord> {
    let mut lines = contents.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2).and_then(parse_port);
    Some(PostmasterRecord { pid, port })
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
) -> Result<ServerState> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if !is_postmaster_of(pid, &paths.pg_dir).await {
            return Ok(ServerState::Exited);
        }
        let port = read_optional(&paths.postmaster_pid_file())
            .await?
            .and_then(|contents| parse_postmaster_pid_file(&contents))
            .and_then(|record| record.port);
        if let Some(port) = port {
            if accepts_connections(binaries, port).await {
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

async fn accepts_connections(binaries: &ServerBinaries, port: u16) -> bool {
    let mut command = helper_command(&binaries.program("pg_isready"));
    command
        .args(["-q", "-t", "2", "-h", LISTEN_HOST, "-p"])
        .arg(port.to_string())
        .args(["-U", SUPERUSER_NAME, "-d", "postgres"]);
    matches!(run_command(command, "pg_isready").await, Ok(output) if output.status.success())
}

// ---------------------------------------------------------------------------------------------
// Starting the server
// ---------------------------------------------------------------------------------------------

/// Starts the server with `pg_ctl` and returns its port once it accepts connections. If the
/// remembered port was taken between our check and the server's bind, retries on a new port.
async fn start_server(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    account: &ServerAccount,
    durability: Durability,
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
            return wait_for_started_server(paths, binaries, log_offset).await;
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
) -> Result<u16> {
    let contents = read_optional(&paths.postmaster_pid_file()).await?;
    let Some(record) = contents.and_then(|contents| parse_postmaster_pid_file(&contents)) else {
        bail!(
            "pg_ctl reported a start but {} is missing or unreadable\n{}",
            paths.postmaster_pid_file().display(),
            log_excerpt(paths, log_offset).await
        );
    };
    match wait_until_ready(paths, binaries, record.pid).await? {
        ServerState::Ready(port) => Ok(port),
        ServerState::Exited => bail!(
            "PostgreSQL exited right after starting\n{}",
            log_excerpt(paths, log_offset).await
        ),
    }
}

/// The remembered port if it is free, else a new free port (remembered from now on).
async fn choose_port(
    paths: &ClusterPaths,
    account: &ServerAccount,
    port_to_avoid: Option<u16>,
) -> Result<u16> {
    let remembered = read_optional(&paths.port_file())
        .await?
        .and_then(|contents| parse_port(&contents));
    if let Some(port) = remembered.filter(|port| Some(*port) != port_to_avoid) {
        if port_is_free(port).await {
            return Ok(port);
        }
        warn!(port, "remembered PostgreSQL port is busy; picking another");
    }
    let port = pick_free_port().await?;
    write_owned_file(&paths.port_file(), &format!("{port}\n"), account).await?;
    info!(port, file = %paths.port_file().display(), "remembered new PostgreSQL port");
    Ok(port)
}

/// Parses the port file: a decimal port number, surrounding whitespace allowed, 0 rejected.
fn parse_port(contents: &str) -> Option<u16> {
    contents
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
}

async fn port_is_free(port: u16) -> bool {
    tokio::net::TcpListener::bind((LISTEN_HOST, port))
        .await
        .is_ok()
}

/// Lets the kernel pick an unused port by binding port 0, then releases it for PostgreSQL.
async fn pick_free_port() -> Result<u16> {
    let listener = tokio::net::TcpListener::bind((LISTEN_HOST, 0))
        .await
        .context("could not bind 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Writes `ledger.conf` and makes sure `postgresql.conf` includes it. Our own file (rather
/// than `postgresql.auto.conf`, which `ALTER SYSTEM` owns) is rewritten on every start, so
/// a changed port or durability takes effect.
async fn write_settings(
    paths: &ClusterPaths,
    account: &ServerAccount,
    port: u16,
    durability: Durability,
) -> Result<()> {
    write_owned_file(
        &paths.settings_file(),
        &render_settings(port, durability),
        account,
    )
    .await?;
    include_settings_file(paths).await
}

/// The contents of `ledger.conf`.
fn render_settings(port: u16, durability: Durability) -> String {
    let safety = match durability {
        Durability::Durable => "on",
        Durability::FastUnsafeForTests => "off",
    };
    let mut settings = String::from(
        "# Written by Ledger (src/embedded_pg.rs) at every start; edits here are lost.\n",
    );
    let _ = writeln!(settings, "listen_addresses = '{LISTEN_HOST}'");
    let _ = writeln!(settings, "port = {port}");
    settings.push_str("unix_socket_directories = ''\n");
    settings.push_str("max_connections = 300\n");
    settings.push_str("shared_buffers = '256MB'\n");
    settings.push_str("idle_in_transaction_session_timeout = '60s'\n");
    // Room between checkpoints: a write-heavy ledger (1C batches) otherwise checkpoints every
    // few seconds, and each checkpoint makes the next change of every page log the whole page.
    settings.push_str("max_wal_size = '8GB'\n");
    settings.push_str("checkpoint_timeout = '15min'\n");
    for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
        let _ = writeln!(settings, "{setting} = {safety}");
    }
    settings
}

const INCLUDE_LINE: &str = "include_if_exists = 'ledger.conf'";

async fn include_settings_file(paths: &ClusterPaths) -> Result<()> {
    let config_file = paths.main_config_file();
    let config = tokio::fs::read_to_string(&config_file)
        .await
        .with_context(|| format!("could not read {}", config_file.display()))?;
    if config.lines().any(|line| line.trim() == INCLUDE_LINE) {
        return Ok(());
    }
    let addition = format!("\n# Ledger's settings (see src/embedded_pg.rs)\n{INCLUDE_LINE}\n");
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&config_file)
        .await
        .with_context(|| format!("could not open {}", config_file.display()))?;
    tokio::io::AsyncWriteExt::write_all(&mut file, addition.as_bytes()).await?;
    Ok(())
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

// ---------------------------------------------------------------------------------------------
// The `ledger` database
// ---------------------------------------------------------------------------------------------

/// Creates database `ledger` unless it exists. Uses the client programs next to the server
/// (no client crate), connecting over TCP as the trusted superuser.
async fn ensure_database_exists(binaries: &ServerBinaries, port: u16) -> Result<()> {
    let mut query = helper_command(&binaries.program("psql"));
    query
        .args(["-X", "-h", LISTEN_HOST, "-p"])
        .arg(port.to_string())
        .args(["-U", SUPERUSER_NAME, "-d", "postgres", "-tAc"])
        .arg(format!(
            "select 1 from pg_database where datname='{DATABASE_NAME}'"
        ));
    let output = run_checked(query, "psql (looking for database ledger)").await?;
    if String::from_utf8_lossy(&output.stdout).trim() == "1" {
        return Ok(());
    }
    info!(port, database = DATABASE_NAME, "creating database");
    let mut create = helper_command(&binaries.program("createdb"));
    create
        .args(["-h", LISTEN_HOST, "-p"])
        .arg(port.to_string())
        .args(["-U", SUPERUSER_NAME, DATABASE_NAME]);
    let output = run_command(create, "createdb").await?;
    let already_exists = String::from_utf8_lossy(&output.stderr).contains("already exists");
    if !output.status.success() && !already_exists {
        bail!(
            "createdb {DATABASE_NAME} failed: {}",
            describe_output(&output)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running helper programs, reading files
// ---------------------------------------------------------------------------------------------

/// A command with a predictable environment: working directory `/` (the `postgres` user may
/// not be allowed into ours), no `PG*` variables (a stray `PGOPTIONS` or `PGDATABASE` would
/// change what the helpers do), no stdin, and killed if we stop waiting for it.
fn helper_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs a command to completion with its output captured (never inherited: our stdout is
/// reserved for the caller), bounded by [`COMMAND_TIMEOUT`].
async fn run_command(mut command: Command, description: &str) -> Result<Output> {
    debug!(command = ?command.as_std(), "running {description}");
    let output = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
        .await
        .map_err(|_| {
            anyhow!(
                "{description} did not finish within {} s",
                COMMAND_TIMEOUT.as_secs()
            )
        })?
        .with_context(|| format!("could not run {description}"))?;
    debug!(status = %output.status, output = %describe_output(&output), "{description} finished");
    Ok(output)
}

/// Like [`run_command`], but a non-zero exit is an error quoting the program's output.
async fn run_checked(command: Command, description: &str) -> Result<Output> {
    let output = run_command(command, description).await?;
    if !output.status.success() {
        bail!(
            "{description} failed ({}): {}",
            output.status,
            describe_output(&output)
        );
    }
    Ok(output)
}

fn describe_output(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = format!("{}\n{}", stderr.trim(), stdout.trim());
    let text = text.trim();
    if text.is_empty() {
        "(no output)".to_owned()
    } else {
        text.to_owned()
    }
}

/// Writes a file inside the cluster directory and hands it to the server's account.
async fn write_owned_file(path: &Path, contents: &str, account: &ServerAccount) -> Result<()> {
    tokio::fs::write(path, contents)
        .await
        .with_context(|| format!("could not write {}", path.display()))?;
    account.take_ownership(path).await
}

/// The file's text, or `None` if it does not exist.
async fn read_optional(path: &Path) -> Result<Option<String>> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("could not read {}", path.display())),
    }
}

async fn file_length(path: &Path) -> u64 {
    tokio::fs::metadata(path)
        .await
        .map(|metadata| metadata.len())
        .unwrap_or(0)
}

/// What the server logged after byte `offset` (everything if the log was rotated since).
async fn read_log_since(paths: &ClusterPaths, offset: u64) -> String {
    let Ok(bytes) = tokio::fs::read(paths.log_file()).await else {
        return String::new();
    };
    let start = usize::try_from(offset)
        .ok()
        .filter(|start| *start <= bytes.len())
        .unwrap_or(0);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// The last lines the server logged since `offset`, ready to append to an error message.
async fn log_excerpt(paths: &ClusterPaths, offset: u64) -> String {
    let log = read_log_since(paths, offset).await;
    let log = if log.trim().is_empty() && offset > 0 {
        read_log_since(paths, 0).await
    } else {
        log
    };
    format!(
        "last lines of {}:\n{}",
        paths.log_file().display(),
        last_lines(&log, LOG_TAIL_LINES)
    )
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.len().saturating_sub(count);
    lines[first..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn highest_version_compares_numerically() {
        let versions = names(&["9.6", "15", "16", "10", "13"]);
        assert_eq!(highest_version(&versions), Some("16"));
    }

    #[test]
    fn highest_version_ignores_non_numeric_directories() {
        let versions = names(&["lib", "15", "15-beta", "share"]);
        assert_eq!(highest_version(&versions), Some("15"));
        assert_eq!(highest_version(&names(&["lib"])), None);
        assert_eq!(highest_version(&[]), None);
    }

    #[test]
    fn highest_version_orders_minor_versions() {
        let versions = names(&["9.4", "9.10", "9.6"]);
        assert_eq!(highest_version(&versions), Some("9.10"));
    }

    #[test]
    fn parses_port_file() {
        assert_eq!(parse_port("54321\n"), Some(54321));
        assert_eq!(parse_port("  5433  "), Some(5433));
        assert_eq!(parse_port("0"), None);
        assert_eq!(parse_port("70000"), None);
        assert_eq!(parse_port(""), None);
        assert_eq!(parse_port("port=5432"), None);
    }

    #[test]
    fn parses_postmaster_pid_file() {
        let contents =
            "4242\n/tmp/data/pg\n1700000000\n54321\n\n127.0.0.1\n  1234 5678\nready   \n";
        assert_eq!(
            parse_postmaster_pid_file(contents),
            Some(PostmasterRecord {
                pid: 4242,
                port: Some(54321)
            })
        );
    }

    #[test]
    fn parses_postmaster_pid_file_while_starting() {
        assert_eq!(
            parse_postmaster_pid_file("4242\n/tmp/data/pg\n"),
            Some(PostmasterRecord {
                pid: 4242,
                port: None
            })
        );
        assert_eq!(parse_postmaster_pid_file(""), None);
        assert_eq!(parse_postmaster_pid_file("garbage\n"), None);
    }

    #[test]
    fn traverses_every_parent_from_the_root() {
        assert_eq!(
            directories_to_traverse(Path::new("/work/main/.ledger-test/pg")),
            vec![
                PathBuf::from("/"),
                PathBuf::from("/work"),
                PathBuf::from("/work/main"),
                PathBuf::from("/work/main/.ledger-test"),
            ]
        );
    }

    #[test]
    fn settings_follow_durability() {
        let fast = render_settings(5555, Durability::FastUnsafeForTests);
        assert!(fast.contains("port = 5555\n"));
        assert!(fast.contains("unix_socket_directories = ''\n"));
        assert!(fast.contains("listen_addresses = '127.0.0.1'\n"));
        assert!(fast.contains("fsync = off\n"));
        assert!(fast.contains("full_page_writes = off\n"));
        let durable = render_settings(5555, Durability::Durable);
        assert!(durable.contains("synchronous_commit = on\n"));
        assert!(durable.contains("max_connections = 300\n"));
    }

    #[test]
    fn database_url_names_user_host_port_and_database() {
        assert_eq!(
            database_url(5555),
            "postgres://ledger@127.0.0.1:5555/ledger"
        );
    }

    #[test]
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
        assert_eq!(last_lines("", 5), "");
    }

    #[test]
    fn paths_are_made_absolute() {
        let paths = ClusterPaths::new(Path::new("relative/data")).unwrap();
        assert!(paths.pg_dir.is_absolute());
        assert!(paths.pg_dir.ends_with("relative/data/pg"));
        assert_eq!(paths.lock_file(), paths.data_dir.join("embedded-pg.lock"));
    }
}
