//! A fresh, empty database of the benchmark's own on the server named by `DATABASE_URL`: created
//! at the start and dropped at the end (even if sessions linger), so a run never sees, or
//! leaves, anyone else's rows. Each benchmark names its database and migrates it its own way.

use std::str::FromStr;

use anyhow::{bail, Context};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

pub struct EmptyDatabase {
    server: PgConnectOptions,
    name: String,
    url: String,
}

impl EmptyDatabase {
    /// Creates the database `name` on the server `server_url` names.
    pub async fn create(server_url: &str, name: String) -> anyhow::Result<Self> {
        let server = PgConnectOptions::from_str(server_url)
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        let url = with_database(server_url, &name)?;
        let mut admin = PgConnection::connect_with(&server)
            .await
            .context("connecting to DATABASE_URL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating the scratch database {name}"))?;
        admin.close().await?;
        Ok(EmptyDatabase { server, name, url })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `DATABASE_URL` naming this database instead (credentials and parameters kept).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database, ending any session still open on it.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect_with(&self.server).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .with_context(|| format!("dropping the scratch database {}", self.name))?;
        admin.close().await?;
        Ok(())
    }
}

/// The same server URL with another database name (added when the URL names none).
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        bail!("DATABASE_URL is not a URL: {url}");
    };
    let (before_query, query) = url
        .split_once('?')
        .map_or((url, None), |(before, query)| (before, Some(query)));
    // The authority (user, password, host, port) never holds an unescaped '/'.
    let server = before_query[scheme_end..]
        .find('/')
        .map_or(before_query, |slash| &before_query[..scheme_end + slash]);
    let mut replaced = format!("{server}/{database}");
    if let Some(query) = query {
        replaced.push('?');
        replaced.push_str(query);
    }
    Ok(replaced)
}
