//! Every file of a cluster, derived from the caller's data directory, and the lock file that
//! serialises processes working on the same cluster (two `ledger` commands started at once
//! must not both run `initdb`, pick a port or set a password).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tracing::info;

use crate::POLL_INTERVAL;

/// How long to wait for another process that holds the cluster lock (it may be running initdb).
const LOCK_TIMEOUT: Duration = Duration::from_secs(120);

/// Every file this crate reads or writes, derived from the caller's data directory.
pub(crate) struct ClusterPaths {
    pub(crate) data_dir: PathBuf,
    pub(crate) pg_dir: PathBuf,
}

impl ClusterPaths {
    /// Paths are made absolute because helper programs run with `/` as working directory
    /// (the `postgres` user may not be allowed into the caller's working directory).
    ///
    /// When `<data_dir>/pg` is a symbolic link (a relocated cluster, see
    /// `account::relocate_if_unreachable`), the server programs get the link's target: they
    /// run as an account that may not be allowed to follow the path through `data_dir`.
    pub(crate) fn new(data_dir: &Path) -> Result<Self> {
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
    pub(crate) fn lock_file(&self) -> PathBuf {
        self.data_dir.join("embedded-pg.lock")
    }

    pub(crate) fn version_file(&self) -> PathBuf {
        self.pg_dir.join("PG_VERSION")
    }

    pub(crate) fn postmaster_pid_file(&self) -> PathBuf {
        self.pg_dir.join("postmaster.pid")
    }

    /// Remembers the port across restarts so the database URL stays the same.
    pub(crate) fn port_file(&self) -> PathBuf {
        self.pg_dir.join("ledger-port")
    }

    /// The password of the `ledger` role, next to the port file: whoever can find the port
    /// finds the password. Owned by the account that runs Ledger (root, when root), mode 0600.
    pub(crate) fn password_file(&self) -> PathBuf {
        self.pg_dir.join("ledger-password")
    }

    /// The file `initdb --pwfile` reads. It cannot be inside `pg_dir` (initdb wants that
    /// empty) and must be readable by the server's account, so it sits next to `pg_dir`, in a
    /// directory that account can enter (checked before initdb). It only exists while initdb
    /// runs, or after a crash right behind it: then the next start adopts it.
    pub(crate) fn initdb_password_file(&self) -> PathBuf {
        self.pg_dir.with_file_name("ledger-initdb-password")
    }

    /// Who may connect, and how: rewritten to require the password everywhere.
    pub(crate) fn hba_file(&self) -> PathBuf {
        self.pg_dir.join("pg_hba.conf")
    }

    /// Our settings, included from `postgresql.conf` and rewritten on every start.
    pub(crate) fn settings_file(&self) -> PathBuf {
        self.pg_dir.join("ledger.conf")
    }

    pub(crate) fn main_config_file(&self) -> PathBuf {
        self.pg_dir.join("postgresql.conf")
    }

    pub(crate) fn log_dir(&self) -> PathBuf {
        self.pg_dir.join("log")
    }

    pub(crate) fn log_file(&self) -> PathBuf {
        self.log_dir().join("postgres.log")
    }
}

/// An exclusive `flock` on `<data_dir>/embedded-pg.lock`, released when dropped (or when the
/// process dies, so a crash never leaves a stale lock behind). Two tasks of one process
/// exclude each other too, because each opens the file anew.
pub(crate) struct ClusterLock {
    _file: std::fs::File,
}

impl ClusterLock {
    // `File::try_lock` is stable since Rust 1.89; the project builds with 1.95.
    #[allow(clippy::incompatible_msrv)]
    pub(crate) async fn acquire(path: &Path) -> Result<Self> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_absolute() {
        let paths = ClusterPaths::new(Path::new("relative/data")).unwrap();
        assert!(paths.pg_dir.is_absolute());
        assert!(paths.pg_dir.ends_with("relative/data/pg"));
        assert_eq!(paths.lock_file(), paths.data_dir.join("embedded-pg.lock"));
    }

    #[test]
    fn the_initdb_password_file_is_next_to_the_cluster_directory() {
        let paths = ClusterPaths::new(Path::new("/srv/ledger")).unwrap();
        assert_eq!(
            paths.initdb_password_file(),
            PathBuf::from("/srv/ledger/ledger-initdb-password")
        );
        assert_eq!(
            paths.password_file(),
            PathBuf::from("/srv/ledger/pg/ledger-password")
        );
    }
}
