//! Which database `ledger-replay` opens, the way `ledger serve` chooses it: `DATABASE_URL` when
//! set, otherwise the embedded cluster of the data folder (`LEDGER_DATA_DIR`, default
//! `./.ledger`). The tool never starts that cluster itself — a replay tool that silently
//! brought up a second, empty database would report nonsense — it only reads the port the
//! cluster remembers in `<data_dir>/pg/ledger-port`, and the password next to it (through
//! `ledger_embedded_pg::remembered_database_url`), and connects.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

/// Where `ledger serve` keeps its embedded cluster when `LEDGER_DATA_DIR` is not set.
pub const DEFAULT_DATA_DIR: &str = "./.ledger";
/// A status query should answer at once; a server that does not accept within this is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The tool runs a few queries one after the other.
const MAX_CONNECTIONS: u32 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// `DATABASE_URL`, as given.
    Url(String),
    /// The embedded cluster of a data folder, on the port it remembers.
    Embedded { data_dir: PathBuf, port: u16 },
}

impl DatabaseLocation {
    /// The URL to connect to; for the embedded cluster it carries the cluster's password, so
    /// it is never printed.
    pub fn url(&self) -> anyhow::Result<String> {
        match self {
            DatabaseLocation::Url(url) => Ok(url.clone()),
            DatabaseLocation::Embedded { data_dir, port } => {
                ledger_embedded_pg::remembered_database_url(data_dir, *port)
            }
        }
    }
}

/// Decides from the two settings (blank counts as unset, as in the server's configuration).
pub fn locate(
    database_url: Option<String>,
    data_dir: Option<String>,
) -> anyhow::Result<DatabaseLocation> {
    let present = |value: Option<String>| value.filter(|text| !text.trim().is_empty());
    if let Some(url) = present(database_url) {
        return Ok(DatabaseLocation::Url(url));
    }
    let data_dir = PathBuf::from(present(data_dir).unwrap_or_else(|| DEFAULT_DATA_DIR.into()));
    let port = read_port(&data_dir)?;
    Ok(DatabaseLocation::Embedded { data_dir, port })
}

/// [`locate`] from `DATABASE_URL` and `LEDGER_DATA_DIR`, then [`connect`].
pub async fn connect_from_environment() -> anyhow::Result<PgPool> {
    let location = locate(
        std::env::var("DATABASE_URL").ok(),
        std::env::var("LEDGER_DATA_DIR").ok(),
    )?;
    connect(&location).await
}

/// Opens a pool after one probe connection, so a server that is down is reported at once (a
/// pool would keep retrying until its timeout) and the tool never waits on it later.
pub async fn connect(location: &DatabaseLocation) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(&location.url()?)
        .context("the database URL is not a valid PostgreSQL URL")?;
    let probe =
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
            Ok(connected) => connected.map_err(anyhow::Error::from),
            Err(_) => Err(anyhow!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        };
    let probe = match location {
        // The URL is not quoted: it may carry a password.
        DatabaseLocation::Url(_) => probe.context("could not connect to DATABASE_URL"),
        DatabaseLocation::Embedded { data_dir, port } => probe.with_context(|| {
            format!(
                "could not connect to the embedded PostgreSQL cluster of {} on port {port}: is \
                 it running? Start it with `ledger serve` or `ledger embedded-pg start \
                 --data-dir {}` (or set DATABASE_URL)",
                data_dir.display(),
                data_dir.display()
            )
        }),
    }?;
    probe.close().await?;
    Ok(PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(options))
}

fn read_port(data_dir: &Path) -> anyhow::Result<u16> {
    let port_file = data_dir.join("pg").join("ledger-port");
    let text = std::fs::read_to_string(&port_file).map_err(|error| {
        anyhow!(
            "no embedded PostgreSQL cluster found under {} ({}: {error}); start it with \
             `ledger serve` or `ledger embedded-pg start --data-dir {}`, set LEDGER_DATA_DIR \
             to its data folder, or set DATABASE_URL",
            data_dir.display(),
            port_file.display(),
            data_dir.display()
        )
    })?;
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| anyhow!("{} does not hold a port: {text:?}", port_file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary folder, removed when dropped.
    struct ScratchDirectory(PathBuf);

    impl ScratchDirectory {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("ledger-replay-test-{}-{name}", std::process::id()));
            std::fs::create_dir_all(path.join("pg")).unwrap();
            ScratchDirectory(path)
        }
    }

    impl Drop for ScratchDirectory {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn database_url_wins_over_the_data_folder() {
        let location = locate(Some("postgres://u@h/d".into()), Some("/nowhere".into())).unwrap();
        assert_eq!(location, DatabaseLocation::Url("postgres://u@h/d".into()));
    }

    #[test]
    fn the_embedded_cluster_is_found_by_its_port_file() {
        let scratch = ScratchDirectory::new("port");
        std::fs::write(scratch.0.join("pg/ledger-port"), "54321\n").unwrap();
        let data_dir = scratch.0.to_string_lossy().into_owned();
        let location = locate(Some("  ".into()), Some(data_dir)).unwrap();
        assert_eq!(
            location,
            DatabaseLocation::Embedded {
                data_dir: scratch.0.clone(),
                port: 54321
            }
        );
        assert_eq!(
            location.url().unwrap(),
            "postgres://ledger@127.0.0.1:54321/ledger",
            "a cluster that still trusts local connections has no password file"
        );
        std::fs::write(scratch.0.join("pg/ledger-password"), "0123abcd\n").unwrap();
        assert_eq!(
            location.url().unwrap(),
            "postgres://ledger:0123abcd@127.0.0.1:54321/ledger"
        );
    }

    #[test]
    fn a_missing_cluster_says_how_to_start_it() {
        let scratch = ScratchDirectory::new("missing");
        let data_dir = scratch.0.to_string_lossy().into_owned();
        let error = locate(None, Some(data_dir.clone()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ledger serve"), "{error}");
        assert!(
            error.contains(&format!("ledger embedded-pg start --data-dir {data_dir}")),
            "{error}"
        );
    }

    #[test]
    fn a_garbled_port_file_is_an_error() {
        let scratch = ScratchDirectory::new("garbled");
        std::fs::write(scratch.0.join("pg/ledger-port"), "port=5432").unwrap();
        let data_dir = scratch.0.to_string_lossy().into_owned();
        let error = locate(None, Some(data_dir)).unwrap_err().to_string();
        assert!(error.contains("does not hold a port"), "{error}");
    }

    #[tokio::test]
    async fn a_stopped_cluster_says_how_to_start_it() {
        // Port 1 on loopback: nothing listens there (and binding it needs privileges).
        let location = DatabaseLocation::Embedded {
            data_dir: PathBuf::from("/srv/ledger-data"),
            port: 1,
        };
        let error = format!("{:#}", connect(&location).await.unwrap_err());
        assert!(error.contains("is it running?"), "{error}");
        assert!(
            error.contains("ledger embedded-pg start --data-dir /srv/ledger-data"),
            "{error}"
        );
    }
}
