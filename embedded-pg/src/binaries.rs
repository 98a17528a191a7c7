//! Finding the PostgreSQL programs: the installation that created an existing cluster (another
//! major version could not open it), else the one `pg_config` names, else the highest Debian
//! version installed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use tokio::process::Command;
use tracing::debug;

use crate::process::run_command;

/// Where Debian installs one directory per PostgreSQL major version.
const DEBIAN_POSTGRESQL_ROOT: &str = "/usr/lib/postgresql";
const MISSING_BINARIES_MESSAGE: &str = "PostgreSQL server binaries not found; install Debian's \
     `postgresql` package (scripts/run.sh does it)";

/// The directory holding `initdb`, `pg_ctl`, `postgres`, `pg_isready`, `psql` and `createdb`.
pub(crate) struct ServerBinaries {
    pub(crate) bin_dir: PathBuf,
}

impl ServerBinaries {
    /// Order: the Debian directory of the version that created an existing cluster, then
    /// `pg_config --bindir`, then the highest version under `/usr/lib/postgresql/*/bin`.
    pub(crate) async fn find(cluster_version: Option<&str>) -> Result<Self> {
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

    pub(crate) fn program(&self, name: &str) -> PathBuf {
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
}
