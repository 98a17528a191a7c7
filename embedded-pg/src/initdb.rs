//! Creating the cluster: `initdb` into an empty directory owned by the server's account, with
//! SCRAM-SHA-256 required for every connection and a fresh password for the `ledger` role.

use anyhow::{bail, Context, Result};
use tracing::info;

use crate::account::ServerAccount;
use crate::auth;
use crate::binaries::ServerBinaries;
use crate::files::{read_optional, set_mode};
use crate::password::Password;
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

/// Runs `initdb` and returns the password of the `ledger` role, already kept in the password
/// file.
pub(crate) async fn initialize_cluster(
    paths: &ClusterPaths,
    binaries: &ServerBinaries,
    account: &ServerAccount,
    durability: Durability,
) -> Result<Password> {
    prepare_empty_cluster_directory(paths, account).await?;
    account.check_can_traverse_parents_of(&paths.pg_dir).await?;
    let password = Password::generate();
    let initdb_password = auth::InitdbPasswordFile::write(paths, account, &password).await?;
    info!(pg_dir = %paths.pg_dir.display(), bin_dir = %binaries.bin_dir.display(), "creating PostgreSQL cluster (initdb)");
    let mut command = account.command(&binaries.program("initdb"));
    command
        .arg("-D")
        .arg(&paths.pg_dir)
        // Both `host` and `local` lines (`--auth` sets both).
        .arg("--auth=scram-sha-256")
        .arg(format!("--pwfile={}", initdb_password.path().display()))
        .arg(format!("--username={SUPERUSER_NAME}"))
        .arg("--encoding=UTF8")
        .arg("--locale=C");
    if durability == Durability::FastUnsafeForTests {
        // Skips initdb's final fsync of every file; saves seconds, harmless for test data.
        command.arg("--no-sync");
    }
    run_checked(command, "initdb").await?;
    initdb_password.keep(paths).await?;
    Ok(password)
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
