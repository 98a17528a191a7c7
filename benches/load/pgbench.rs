//! The raw ceiling, measured in the same run against the same database with PostgreSQL's own
//! `pgbench`: 16 clients, each transaction one INSERT of an event-shaped row (a copy of the
//! `events` table with all its indexes and constraints), and then each transaction a 100-row
//! INSERT, for the batches. What our figures are divided by.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use sqlx::PgPool;

use crate::observe::{Cpu, Meter};

const CLIENTS: u32 = 16;
pub const BATCH_ROWS: u32 = 100;

/// One pgbench phase: transactions per second and the CPU each cost.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    pub transactions_per_second: f64,
    pub transactions: f64,
    pub cpu: Cpu,
}

pub struct Ceiling {
    pub single: Phase,
    pub batch: Phase,
}

/// The row every raw transaction inserts: shaped like a 1C accrual event with its idempotency
/// key; ids drawn by the server so that no two clients collide.
const ROW: &str = "'raw-' || id, 1, id, 'OneCOperationRecorded', 1, 'raw:' || id, \
    'b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c', \
    '{\"store_id\": \"raw\", \"external_id\": \"raw\", \"customer_id\": \"c-1\", \
    \"kind\": \"accrual\", \"amount_minor\": 100, \"currency\": \"UZS\"}'::jsonb, \
    '{\"source\": \"pgbench\"}'::jsonb";

fn script(rows: u32) -> String {
    format!(
        "INSERT INTO load_raw_events (stream_id, stream_version, event_id, event_type, \
         schema_version, idempotency_key, idempotency_fingerprint, payload, metadata) \
         SELECT {ROW} FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, {rows})) AS g;\n"
    )
}

pub async fn measure(
    pool: &PgPool,
    database_url: &str,
    meter: &Meter,
    seconds: u64,
) -> anyhow::Result<Ceiling> {
    let binary = find_pgbench()?;
    sqlx::query("DROP TABLE IF EXISTS load_raw_events")
        .execute(pool)
        .await?;
    sqlx::query("CREATE TABLE load_raw_events (LIKE events INCLUDING ALL)")
        .execute(pool)
        .await?;
    let directory = std::env::temp_dir().join(format!("ledger-load-{}", std::process::id()));
    std::fs::create_dir_all(&directory)?;
    let outcome = async {
        let single = phase(&binary, &directory, database_url, meter, (1, seconds)).await?;
        let batch = phase(
            &binary,
            &directory,
            database_url,
            meter,
            (BATCH_ROWS, seconds),
        )
        .await?;
        anyhow::Ok(Ceiling { single, batch })
    }
    .await;
    let _ = std::fs::remove_dir_all(&directory);
    sqlx::query("DROP TABLE load_raw_events")
        .execute(pool)
        .await?;
    outcome
}

async fn phase(
    binary: &Path,
    directory: &Path,
    database_url: &str,
    meter: &Meter,
    (rows, seconds): (u32, u64),
) -> anyhow::Result<Phase> {
    let file = directory.join(format!("insert_{rows}.sql"));
    std::fs::write(&file, script(rows))?;
    let before = meter.read();
    let output = tokio::process::Command::new(binary)
        .args([
            "--no-vacuum",
            "--client",
            &CLIENTS.to_string(),
            "--jobs",
            "2",
        ])
        .args(["--time", &seconds.to_string(), "--file"])
        .arg(&file)
        // The connection goes through libpq's environment, never the command line, where
        // other local users could read the password.
        .envs(libpq_environment(database_url)?)
        .kill_on_drop(true)
        .output()
        .await
        .context("running pgbench")?;
    let cpu = meter.read() - before;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let number_after = |label: &str| -> anyhow::Result<f64> {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(label))
            .with_context(|| format!("pgbench printed no `{label}` line:\n{stdout}"))?;
        let text = line[label.len()..].split_whitespace().next().unwrap_or("");
        text.parse().with_context(|| format!("pgbench's `{line}`"))
    };
    Ok(Phase {
        transactions_per_second: number_after("tps = ")?,
        transactions: number_after("number of transactions actually processed: ")?,
        cpu,
    })
}

fn find_pgbench() -> anyhow::Result<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/bin/pgbench")];
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        candidates.extend(versions.flatten().map(|v| v.path().join("bin/pgbench")));
    }
    candidates
        .into_iter()
        .find(|path| path.exists())
        .context("pgbench not found (Debian: apt-get install postgresql-contrib)")
}

/// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` from a `postgres://` URL.
fn libpq_environment(url: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let parsed = reqwest::Url::parse(url).context("DATABASE_URL is not a URL")?;
    let mut environment = vec![
        (
            "PGHOST",
            parsed.host_str().unwrap_or("127.0.0.1").to_owned(),
        ),
        ("PGPORT", parsed.port().unwrap_or(5432).to_string()),
        ("PGDATABASE", decode(parsed.path().trim_start_matches('/'))),
    ];
    if !parsed.username().is_empty() {
        environment.push(("PGUSER", decode(parsed.username())));
    }
    if let Some(password) = parsed.password() {
        environment.push(("PGPASSWORD", decode(password)));
    }
    Ok(environment)
}

/// Undoes a URL's percent-encoding.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                at += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
