//! Running the PostgreSQL programs: a predictable environment, captured output, bounded time.
//!
//! Nothing they print reaches our stdout (the `embedded-pg start` command's last stdout line is
//! the database URL). No command line carries a secret — the password travels in `PGPASSWORD`,
//! in a file, or on stdin — and the environment is never logged.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tracing::debug;

/// Upper bound for any single helper program (initdb is the slowest, a few seconds).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// A command with a predictable environment: working directory `/` (the `postgres` user may
/// not be allowed into ours), no `PG*` variables (a stray `PGOPTIONS` or `PGDATABASE` would
/// change what the helpers do, a stray `PGPASSWORD` would hide a missing one), no stdin, and
/// killed if we stop waiting for it.
pub(crate) fn helper_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir("/")
        .stdin(Stdio::null())
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
pub(crate) async fn run_command(command: Command, description: &str) -> Result<Output> {
    run_to_completion(command, None, description).await
}

/// Like [`run_command`], but a non-zero exit is an error quoting the program's output.
pub(crate) async fn run_checked(command: Command, description: &str) -> Result<Output> {
    let output = run_command(command, description).await?;
    check_success(output, description)
}

/// Like [`run_checked`], with `input` on the program's stdin: how a statement that must not
/// show in a process listing reaches `psql`.
pub(crate) async fn run_checked_with_input(
    command: Command,
    input: &[u8],
    description: &str,
) -> Result<Output> {
    let output = run_to_completion(command, Some(input), description).await?;
    check_success(output, description)
}

async fn run_to_completion(
    mut command: Command,
    input: Option<&[u8]>,
    description: &str,
) -> Result<Output> {
    debug!(command = %describe_command(&command), "running {description}");
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let run = async {
        let mut child = command
            .spawn()
            .with_context(|| format!("could not run {description}"))?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // A program that exits before reading (a refused connection) closes the pipe; its
            // own output then says why, so a failed write is not the error to report.
            if let Err(error) = stdin.write_all(input).await {
                debug!(%error, "{description} did not read its input");
            }
        }
        child
            .wait_with_output()
            .await
            .with_context(|| format!("could not run {description}"))
    };
    let output = tokio::time::timeout(COMMAND_TIMEOUT, run)
        .await
        .map_err(|_| {
            anyhow!(
                "{description} did not finish within {} s",
                COMMAND_TIMEOUT.as_secs()
            )
        })??;
    debug!(status = %output.status, output = %describe_output(&output), "{description} finished");
    Ok(output)
}

fn check_success(output: Output, description: &str) -> Result<Output> {
    if !output.status.success() {
        bail!(
            "{description} failed ({}): {}",
            output.status,
            describe_output(&output)
        );
    }
    Ok(output)
}

/// The program and its arguments, without the environment (which may hold `PGPASSWORD`).
fn describe_command(command: &Command) -> String {
    let command = command.as_std();
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part: &OsStr| format!("{:?}", part.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_commands_leave_the_environment_out() {
        let mut command = helper_command(Path::new("/usr/bin/psql"));
        command
            .env("PGPASSWORD", "s3cret")
            .args(["-h", "127.0.0.1"]);
        let described = describe_command(&command);
        assert_eq!(described, r#""/usr/bin/psql" "-h" "127.0.0.1""#);
        assert!(!described.contains("s3cret"));
    }

    #[tokio::test]
    async fn input_reaches_the_program_and_failures_quote_its_output() {
        let mut command = helper_command(Path::new("/bin/sh"));
        command.args(["-c", "read line; echo \"got $line\" >&2; exit 3"]);
        let error = run_checked_with_input(command, b"hello\n", "the echo")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("the echo failed"), "{error}");
        assert!(error.contains("got hello"), "{error}");
    }
}
