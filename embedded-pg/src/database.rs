//! The `ledger` database inside the cluster, created on first use.

use anyhow::{bail, Result};
use tracing::info;

use crate::auth::client_command;
use crate::binaries::ServerBinaries;
use crate::password::Password;
use crate::process::{describe_output, run_checked, run_command};
use crate::{DATABASE_NAME, LISTEN_HOST, SUPERUSER_NAME};

/// Creates database `ledger` unless it exists. Uses the client programs next to the server
/// (no client crate), connecting over TCP as the superuser, the password in `PGPASSWORD`.
pub(crate) async fn ensure_exists(
    binaries: &ServerBinaries,
    port: u16,
    password: &Password,
) -> Result<()> {
    let mut query = client_command(&binaries.program("psql"), Some(password));
    query
        .args(["-X", "-w", "-h", LISTEN_HOST, "-p"])
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
    let mut create = client_command(&binaries.program("createdb"), Some(password));
    create
        .args(["-w", "-h", LISTEN_HOST, "-p"])
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
