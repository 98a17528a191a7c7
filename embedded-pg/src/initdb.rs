//! Creating the cluster: `initdb` into an empty directory owned by the server's account.

use anyhow::{bail, Context, Result};
use tracing::info;

use crate::account::ServerAccount;
use crate::binaries::ServerBinaries;
use crate::files::{read_optional, set_mode};
use crate::paths::ClusterPaths;
use crate::process::run_checked;
use crate::settings::Durability;
use crate::SUPERUSER_NAME;

/// `PG_VERSION` exists once `initdb` succeeded; it holds the major version that created it.
pub(crate) async fn read_cluster_version(paths: &ClusterPaths) -> Result<Option<String>> {
    Ok(read_optional(&paths.version_file())
        .await?
        .map(|text| text.trim().to_owned()))
}

pub(crate) async fn initialize_cluster(
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
