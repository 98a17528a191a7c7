//! The cluster's TCP port: remembered in `ledger-port` so that every restart gives the same
//! database URL, replaced only when something else took it.

use anyhow::{Context, Result};
use tracing::{info, warn};

use crate::account::ServerAccount;
use crate::files::{read_optional, write_owned_file};
use crate::paths::ClusterPaths;
use crate::LISTEN_HOST;

/// The remembered port if it is free, else a new free port (remembered from now on).
pub(crate) async fn choose_port(
    paths: &ClusterPaths,
    account: &ServerAccount,
    port_to_avoid: Option<u16>,
) -> Result<u16> {
    let remembered = read_optional(&paths.port_file())
        .await?
        .and_then(|contents| parse_port(&contents));
    if let Some(port) = remembered.filter(|port| Some(*port) != port_to_avoid) {
        if port_is_free(port).await {
            return Ok(port);
        }
        warn!(port, "remembered PostgreSQL port is busy; picking another");
    }
    let port = pick_free_port().await?;
    write_owned_file(&paths.port_file(), &format!("{port}\n"), account).await?;
    info!(port, file = %paths.port_file().display(), "remembered new PostgreSQL port");
    Ok(port)
}

/// Parses the port file: a decimal port number, surrounding whitespace allowed, 0 rejected.
pub(crate) fn parse_port(contents: &str) -> Option<u16> {
    contents
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
}

async fn port_is_free(port: u16) -> bool {
    tokio::net::TcpListener::bind((LISTEN_HOST, port))
        .await
        .is_ok()
}

/// Lets the kernel pick an unused port by binding port 0, then releases it for PostgreSQL.
async fn pick_free_port() -> Result<u16> {
    let listener = tokio::net::TcpListener::bind((LISTEN_HOST, 0))
        .await
        .context("could not bind 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_port_file() {
        assert_eq!(parse_port("54321\n"), Some(54321));
        assert_eq!(parse_port("  5433  "), Some(5433));
        assert_eq!(parse_port("0"), None);
        assert_eq!(parse_port("70000"), None);
        assert_eq!(parse_port(""), None);
        assert_eq!(parse_port("port=5432"), None);
    }
}
