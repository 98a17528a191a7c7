//! Reading and writing the files of a cluster, and quoting the server log in error messages.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;

use crate::account::ServerAccount;
use crate::paths::ClusterPaths;

/// How many lines of the server log an error message quotes.
const LOG_TAIL_LINES: usize = 40;

/// Writes a file inside the cluster directory and hands it to the server's account.
pub(crate) async fn write_owned_file(
    path: &Path,
    contents: &str,
    account: &ServerAccount,
) -> Result<()> {
    tokio::fs::write(path, contents)
        .await
        .with_context(|| format!("could not write {}", path.display()))?;
    account.take_ownership(path).await
}

/// Replaces `path` atomically with a file of mode 0600: readers (another `ledger` process, the
/// server reloading its configuration) see the old contents or the new, never a half-written
/// file. The file belongs to `owner`'s account, or to this process's user when `None`.
pub(crate) async fn write_private_file(
    path: &Path,
    contents: &str,
    owner: Option<&ServerAccount>,
) -> Result<()> {
    let staging = staging_path(path);
    remove_if_present(&staging).await?;
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staging)
        .await
        .with_context(|| format!("could not create {}", staging.display()))?;
    file.write_all(contents.as_bytes())
        .await
        .with_context(|| format!("could not write {}", staging.display()))?;
    file.sync_all()
        .await
        .with_context(|| format!("could not write {}", staging.display()))?;
    drop(file);
    if let Some(account) = owner {
        account.take_ownership(&staging).await?;
    }
    tokio::fs::rename(&staging, path)
        .await
        .with_context(|| format!("could not replace {}", path.display()))
}

/// `<name>.new` next to `path`, on the same file system so that the rename is atomic.
fn staging_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".new");
    path.with_file_name(name)
}

/// Removes a file; a file that is not there is fine.
pub(crate) async fn remove_if_present(path: &Path) -> Result<()> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("could not remove {}", path.display())),
    }
}

/// The file's text, or `None` if it does not exist.
pub(crate) async fn read_optional(path: &Path) -> Result<Option<String>> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("could not read {}", path.display())),
    }
}

pub(crate) async fn file_length(path: &Path) -> u64 {
    tokio::fs::metadata(path)
        .await
        .map(|metadata| metadata.len())
        .unwrap_or(0)
}

pub(crate) async fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .await
        .with_context(|| format!("could not chmod {} to {mode:o}", path.display()))
}

/// What the server logged after byte `offset` (everything if the log was rotated since).
pub(crate) async fn read_log_since(paths: &ClusterPaths, offset: u64) -> String {
    let Ok(bytes) = tokio::fs::read(paths.log_file()).await else {
        return String::new();
    };
    let start = usize::try_from(offset)
        .ok()
        .filter(|start| *start <= bytes.len())
        .unwrap_or(0);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// The last lines the server logged since `offset`, ready to append to an error message.
pub(crate) async fn log_excerpt(paths: &ClusterPaths, offset: u64) -> String {
    let log = read_log_since(paths, offset).await;
    let log = if log.trim().is_empty() && offset > 0 {
        read_log_since(paths, 0).await
    } else {
        log
    };
    format!(
        "last lines of {}:\n{}",
        paths.log_file().display(),
        last_lines(&log, LOG_TAIL_LINES)
    )
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.len().saturating_sub(count);
    lines[first..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
        assert_eq!(last_lines("", 5), "");
    }

    #[tokio::test]
    async fn private_files_are_replaced_whole_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let directory = std::env::temp_dir().join(format!(
            "ledger-embedded-pg-unit-{}-private",
            std::process::id()
        ));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("secret");
        std::fs::write(&path, "old contents that are longer\n").unwrap();
        write_private_file(&path, "new\n", None).await.unwrap();
        let contents = std::fs::read_to_string(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let staging_left = staging_path(&path).exists();
        std::fs::remove_dir_all(&directory).unwrap();
        assert_eq!(contents, "new\n");
        assert_eq!(mode, 0o600, "mode {mode:o}");
        assert!(!staging_left);
    }
}
