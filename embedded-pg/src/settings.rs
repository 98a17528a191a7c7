//! The server's settings: `ledger.conf`, rewritten at every start (so a changed port or
//! durability takes effect) and included from `postgresql.conf`.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::account::ServerAccount;
use crate::files::write_owned_file;
use crate::paths::ClusterPaths;
use crate::LISTEN_HOST;

/// How the private cluster is tuned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// PostgreSQL's defaults: every commit survives a crash of the machine.
    Durable,
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: much faster, but a crash of the
    /// machine can corrupt the cluster. Only for throw-away test data.
    FastUnsafeForTests,
}

const INCLUDE_LINE: &str = "include_if_exists = 'ledger.conf'";

/// Writes `ledger.conf` and makes sure `postgresql.conf` includes it. Our own file (rather
/// than `postgresql.auto.conf`, which `ALTER SYSTEM` owns) is rewritten on every start.
pub(crate) async fn write_settings(
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
        "# Written by Ledger (crate ledger-embedded-pg) at every start; edits here are lost.\n",
    );
    let _ = writeln!(settings, "listen_addresses = '{LISTEN_HOST}'");
    let _ = writeln!(settings, "port = {port}");
    settings.push_str("unix_socket_directories = ''\n");
    // How a password set in plain text is stored; pg_hba.conf requires scram-sha-256.
    settings.push_str("password_encryption = 'scram-sha-256'\n");
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

async fn include_settings_file(paths: &ClusterPaths) -> Result<()> {
    let config_file = paths.main_config_file();
    let config = tokio::fs::read_to_string(&config_file)
        .await
        .with_context(|| format!("could not read {}", config_file.display()))?;
    if config.lines().any(|line| line.trim() == INCLUDE_LINE) {
        return Ok(());
    }
    let addition =
        format!("\n# Ledger's settings (see the crate ledger-embedded-pg)\n{INCLUDE_LINE}\n");
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&config_file)
        .await
        .with_context(|| format!("could not open {}", config_file.display()))?;
    tokio::io::AsyncWriteExt::write_all(&mut file, addition.as_bytes()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn passwords_are_stored_as_scram_verifiers() {
        let settings = render_settings(5555, Durability::Durable);
        assert!(settings.contains("password_encryption = 'scram-sha-256'\n"));
    }
}
