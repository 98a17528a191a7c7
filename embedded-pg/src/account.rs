//! Which OS account runs `initdb`, `pg_ctl` and `postgres`, and where the cluster lives when
//! that account cannot reach the data directory.
//!
//! PostgreSQL refuses to run as root. When this process is root, the server programs run as
//! Debian's unprivileged `postgres` user through `runuser`, and the cluster directory belongs
//! to that user. A root user's data directory is often somewhere `postgres` cannot enter
//! (`/root` is mode 0700); the cluster then moves to `/var/lib/ledger/embedded-pg/<hash>/pg`,
//! linked from `<data_dir>/pg`, rather than loosening the permissions of the user's directories.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use tokio::process::Command;
use tracing::info;

use crate::files::set_mode;
use crate::paths::ClusterPaths;
use crate::process::{describe_output, helper_command, run_checked, run_command};

/// OS user that runs the server when this process is root (created by Debian's package).
const UNPRIVILEGED_OS_USER: &str = "postgres";
/// Where relocated clusters live: a directory every account can traverse.
const RELOCATED_CLUSTERS_ROOT: &str = "/var/lib/ledger/embedded-pg";

/// Which OS account runs `initdb`, `pg_ctl` and `postgres`.
pub(crate) enum ServerAccount {
    /// Not root: the server runs as whoever we are.
    CurrentUser,
    /// Root: PostgreSQL refuses to run as root, so it runs as Debian's `postgres` user.
    Unprivileged { name: String, uid: u32, gid: u32 },
}

impl ServerAccount {
    /// Uses `id` because the standard library has no way to ask for the effective uid and
    /// this crate must not depend on `libc`.
    pub(crate) async fn detect() -> Result<Self> {
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
    pub(crate) fn command(&self, program: &Path) -> Command {
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
    pub(crate) async fn take_ownership(&self, path: &Path) -> Result<()> {
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
    pub(crate) async fn check_can_traverse_parents_of(&self, pg_dir: &Path) -> Result<()> {
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

/// Before a first `initdb`: when the server's account cannot reach `<data_dir>/pg` (root working
/// in `/root`, mode 0700), the cluster is created under [`RELOCATED_CLUSTERS_ROOT`] instead and
/// `<data_dir>/pg` becomes a symbolic link to it. The data still belongs to that data directory
/// (one cluster per data directory, found through the link), and nothing about the user's own
/// directories has to be loosened.
pub(crate) async fn relocate_if_unreachable(
    paths: &mut ClusterPaths,
    account: &ServerAccount,
) -> Result<()> {
    let in_place = paths.data_dir.join("pg");
    if paths.pg_dir != in_place || tokio::fs::symlink_metadata(&in_place).await.is_ok() {
        return Ok(()); // already relocated, or a directory exists there already
    }
    let Some(blocked) = account.first_blocked_parent(&in_place).await? else {
        return Ok(());
    };
    let name = hex::encode(Sha256::digest(paths.data_dir.to_string_lossy().as_bytes()));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
