//! Running the PostgreSQL programs: a predictable environment, captured output, bounded time.
//! Nothing they print reaches our stdout (the `embedded-pg start` command's last stdout line is
//! the database URL).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::process::Command;
use tracing::debug;

/// Upper bound for any single helper program (initdb is the slowest, a few seconds).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// A command with a predictable environment: working directory `/` (the `postgres` user may
/// not be allowed into ours), no `PG*` variables (a stray `PGOPTIONS` or `PGDATABASE` would
/// change what the helpers do), no stdin, and killed if we stop waiting for it.
pub(crate) fn helper_command(program: &Path) -> Command {
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
pub(crate) async fn run_command(mut command: Command, description: &str) -> Result<Output> {
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
pub(crate) async fn run_checked(command: Command, description: &str) -> Result<Output> {
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

/// What a program printed, stderr first, for error messages.
pub(crate) fn describe_output(output: &Output) -> String {
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
