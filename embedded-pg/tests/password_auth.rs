//! Password authentication of real private clusters: a new cluster refuses connections without
//! its password, and a cluster that trusted local connections (as earlier versions made them)
//! gets a password at its next start, whether its server was running or not.
//!
//! Each test starts its own cluster in a fresh directory under the system's temporary folder
//! (which the `postgres` OS user can enter when the tests run as root) and stops it, by its
//! PID, even when an assertion fails. Skipped, saying why, where no PostgreSQL server programs
//! are installed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use ledger_embedded_pg::{start_or_reuse, stop, Durability, EmbeddedCluster, EmbeddedOptions};

/// Generous: a loaded machine may take a while to apply a configuration reload.
const CONDITION_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_new_cluster_requires_its_password() {
    let Some(bin_dir) = server_programs() else {
        return;
    };
    let cluster = TestCluster::new("new");
    let started = start_or_reuse(&cluster.options()).await.unwrap();

    let password_file = started.pg_dir.join("ledger-password");
    assert_eq!(mode(&password_file), 0o600);
    let metadata = std::fs::metadata(&password_file).unwrap();
    let our_file = std::fs::metadata(cluster.data_dir.join("embedded-pg.lock")).unwrap();
    assert_eq!(
        metadata.uid(),
        our_file.uid(),
        "owned by the user running Ledger"
    );
    let password = read_password(&started);
    assert_eq!(password.len(), 64, "32 random bytes, hex-encoded");
    assert_eq!(
        started.database_url,
        format!(
            "postgres://ledger:{password}@127.0.0.1:{}/ledger",
            started.port
        )
    );
    assert!(!format!("{started:?}").contains(&password));

    assert_refused_without_password(&bin_dir, started.port).await;
    let wrong = psql(&bin_dir, started.port, Some("not-the-password"), "select 1").await;
    assert!(!wrong.status.success(), "a wrong password was accepted");
    assert_eq!(
        query(&bin_dir, started.port, &password, "select current_user").await,
        "ledger"
    );

    let reused = start_or_reuse(&cluster.options()).await.unwrap();
    assert_eq!(
        reused, started,
        "a second start reuses the server and its URL"
    );

    let pid = cluster.postmaster_pid().unwrap();
    stop(&cluster.data_dir).await.unwrap();
    assert!(!is_running(pid, &started.pg_dir), "stopped");

    // The process died between initdb and keeping the password it gave initdb: the next start
    // adopts that password.
    let initdb_password_file = cluster.pg_dir().with_file_name("ledger-initdb-password");
    std::fs::rename(&password_file, &initdb_password_file).unwrap();
    let restarted = start_or_reuse(&cluster.options()).await.unwrap();
    assert_eq!(restarted, started, "same port, same password");
    assert!(!initdb_password_file.exists());
    assert_eq!(mode(&password_file), 0o600);
    stop(&cluster.data_dir).await.unwrap();

    std::fs::remove_file(&password_file).unwrap();
    let error = format!(
        "{:#}",
        start_or_reuse(&cluster.options()).await.unwrap_err()
    );
    assert!(error.contains("ledger-password is missing"), "{error}");
    assert!(cluster.postmaster_pid().is_none(), "not started without it");
}

#[tokio::test]
async fn a_cluster_that_trusted_local_connections_gets_a_password() {
    let Some(bin_dir) = server_programs() else {
        return;
    };
    let cluster = TestCluster::new("upgrade");
    let first = start_or_reuse(&cluster.options()).await.unwrap();
    let first_password = read_password(&first);

    // While its server runs, as when a new `ledger` meets a server an older one started.
    make_it_trust_local_connections(&bin_dir, &first, &first_password).await;
    let (bin_dir_ref, port) = (&bin_dir, first.port);
    wait_until(|| async move {
        let output = psql(bin_dir_ref, port, None, "select 1").await;
        output.status.success()
    })
    .await;
    let upgraded = start_or_reuse(&cluster.options()).await.unwrap();
    assert_eq!(upgraded.port, first.port);
    let upgraded_password = read_password(&upgraded);
    assert_ne!(upgraded_password, first_password, "a new password");
    assert_requires_only(&bin_dir, &upgraded, &first_password).await;

    // While it is stopped, with two processes starting it at once.
    make_it_trust_local_connections(&bin_dir, &upgraded, &upgraded_password).await;
    stop(&cluster.data_dir).await.unwrap();
    let options = cluster.options();
    let (one, other) = tokio::join!(start_or_reuse(&options), start_or_reuse(&options));
    let (one, other) = (one.unwrap(), other.unwrap());
    assert_eq!(one, other, "both starts hand out the same URL");
    assert_requires_only(&bin_dir, &one, &upgraded_password).await;

    stop(&cluster.data_dir).await.unwrap();
}

/// What a cluster of an earlier version looked like: no password on the role, `trust` on
/// every `pg_hba.conf` line, no password file. Takes effect at the next reload or start.
async fn make_it_trust_local_connections(
    bin_dir: &Path,
    cluster: &EmbeddedCluster,
    password: &str,
) {
    let hba_file = cluster.pg_dir.join("pg_hba.conf");
    let hba = std::fs::read_to_string(&hba_file).unwrap();
    std::fs::write(&hba_file, hba.replace("scram-sha-256", "trust")).unwrap();
    std::fs::remove_file(cluster.pg_dir.join("ledger-password")).unwrap();
    let sql = "alter role ledger password null; select pg_reload_conf()";
    query(bin_dir, cluster.port, password, sql).await;
}

/// The cluster admits its current password (the one in its URL and file), and neither no
/// password nor `old_password`; `pg_hba.conf` trusts no one.
async fn assert_requires_only(bin_dir: &Path, cluster: &EmbeddedCluster, old_password: &str) {
    let password = read_password(cluster);
    assert_eq!(
        cluster.database_url,
        format!(
            "postgres://ledger:{password}@127.0.0.1:{}/ledger",
            cluster.port
        )
    );
    assert_eq!(mode(&cluster.pg_dir.join("ledger-password")), 0o600);
    assert_eq!(
        query(
            bin_dir,
            cluster.port,
            &password,
            "select current_database()"
        )
        .await,
        "ledger"
    );
    assert_refused_without_password(bin_dir, cluster.port).await;
    let old = psql(bin_dir, cluster.port, Some(old_password), "select 1").await;
    assert!(!old.status.success(), "the old password still works");
    let hba = std::fs::read_to_string(cluster.pg_dir.join("pg_hba.conf")).unwrap();
    assert!(
        !hba.lines()
            .any(|line| !line.starts_with('#') && line.contains("trust")),
        "{hba}"
    );
}

async fn assert_refused_without_password(bin_dir: &Path, port: u16) {
    let output = psql(bin_dir, port, None, "select 1").await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "connected without a password");
    assert!(
        stderr.contains("password"),
        "refused for another reason: {stderr}"
    );
}

/// The permission bits of a file.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn read_password(cluster: &EmbeddedCluster) -> String {
    let text = std::fs::read_to_string(cluster.pg_dir.join("ledger-password")).unwrap();
    text.trim_end().to_owned()
}

/// `psql` as role `ledger` on database `ledger`, the password (if any) in `PGPASSWORD`; never
/// prompts.
async fn psql(bin_dir: &Path, port: u16, password: Option<&str>, sql: &str) -> Output {
    let mut command = tokio::process::Command::new(bin_dir.join("psql"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            command.env_remove(name);
        }
    }
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command
        .args(["-X", "-w", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "ledger", "-d", "ledger", "-tA", "-c", sql])
        .output()
        .await
        .unwrap()
}

/// The first line of what a successful query printed.
async fn query(bin_dir: &Path, port: u16, password: &str, sql: &str) -> String {
    let output = psql(bin_dir, port, Some(password), sql).await;
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.lines().next().unwrap_or_default().to_owned()
}

async fn wait_until<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + CONDITION_TIMEOUT;
    while !condition().await {
        assert!(Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The directory of `initdb` and `psql`, or `None` (with the reason printed) if PostgreSQL's
/// server programs are not installed.
fn server_programs() -> Option<PathBuf> {
    let from_pg_config = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"));
    let found = from_pg_config
        .into_iter()
        .chain(debian)
        .find(|bin_dir| bin_dir.join("initdb").exists() && bin_dir.join("psql").exists());
    if found.is_none() {
        eprintln!("skipped: no PostgreSQL server programs (initdb, psql) are installed");
    }
    found
}

/// A data directory of its own, whose cluster is stopped and removed when dropped.
struct TestCluster {
    data_dir: PathBuf,
}

impl TestCluster {
    fn new(name: &str) -> Self {
        let data_dir = std::env::temp_dir().join(format!(
            "ledger-embedded-pg-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir).unwrap();
        Self { data_dir }
    }

    fn options(&self) -> EmbeddedOptions {
        EmbeddedOptions {
            data_dir: self.data_dir.clone(),
            durability: Durability::FastUnsafeForTests,
        }
    }

    /// `<data_dir>/pg`, or where it links to if the cluster was relocated.
    fn pg_dir(&self) -> PathBuf {
        let link_or_dir = self.data_dir.join("pg");
        std::fs::read_link(&link_or_dir).unwrap_or(link_or_dir)
    }

    /// The PID of this cluster's server, if it runs.
    fn postmaster_pid(&self) -> Option<u32> {
        let pg_dir = self.pg_dir();
        let text = std::fs::read_to_string(pg_dir.join("postmaster.pid")).ok()?;
        let pid = text.lines().next()?.trim().parse().ok()?;
        is_running(pid, &pg_dir).then_some(pid)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(pid) = self.postmaster_pid() {
            // SIGINT is PostgreSQL's fast shutdown.
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
            let deadline = Instant::now() + CONDITION_TIMEOUT;
            while is_running(pid, &self.pg_dir()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = std::fs::remove_dir_all(self.pg_dir());
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Whether `pid` is a live process working in `pg_dir`: a postmaster works in its cluster
/// directory, so a recycled PID or an exited (zombie) server does not count.
fn is_running(pid: u32, pg_dir: &Path) -> bool {
    let working_directory = std::fs::read_link(format!("/proc/{pid}/cwd"));
    match (working_directory, std::fs::canonicalize(pg_dir)) {
        (Ok(working_directory), Ok(pg_dir)) => working_directory == pg_dir,
        _ => false,
    }
}
