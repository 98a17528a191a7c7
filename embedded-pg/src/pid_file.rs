//! `postmaster.pid`: whether the cluster's server runs, its PID and its port.
//!
//! A `postmaster.pid` left behind by a crash or a reboot would make `postgres` refuse to start
//! whenever its PID now belongs to another live process (common in containers, where PIDs are
//! small), so a stale file is removed as soon as it is found.

use std::path::Path;

use anyhow::{Context, Result};
use tracing::warn;

use crate::files::read_optional;
use crate::paths::ClusterPaths;
use crate::ports::parse_port;

/// The lines of `postmaster.pid` this crate needs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PostmasterRecord {
    pub(crate) pid: u32,
    /// Missing while the server is still starting.
    pub(crate) port: Option<u16>,
}

/// The record of `postmaster.pid`, if the file exists and is readable.
pub(crate) async fn read_record(paths: &ClusterPaths) -> Result<Option<PostmasterRecord>> {
    Ok(read_optional(&paths.postmaster_pid_file())
        .await?
        .and_then(|contents| parse_postmaster_pid_file(&contents)))
}

/// PID from `postmaster.pid` if that process is the postmaster of this cluster; removes the
/// file when it is stale.
pub(crate) async fn live_postmaster_pid(paths: &ClusterPaths) -> Result<Option<u32>> {
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

pub(crate) async fn remove_stale_pid_file(paths: &ClusterPaths) -> Result<()> {
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
pub(crate) async fn is_postmaster_of(pid: u32, pg_dir: &Path) -> bool {
    let Ok(working_directory) = tokio::fs::read_link(format!("/proc/{pid}/cwd")).await else {
        return false;
    };
    match tokio::fs::canonicalize(pg_dir).await {
        Ok(canonical_pg_dir) => working_directory == canonical_pg_dir,
        Err(_) => false,
    }
}

/// `postmaster.pid` holds the PID on line 1 and the port on line 4.
fn parse_postmaster_pid_file(contents: &str) -> Option<PostmasterRecord> {
    let mut lines = contents.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2).and_then(parse_port);
    Some(PostmasterRecord { pid, port })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
