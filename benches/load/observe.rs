//! What the load cost, read from outside the request path: CPU time of this process, of the
//! external servers and of the whole PostgreSQL cluster; the servers' peak resident memory; and
//! the asynchronous projections' lag, sampled from `GET /api/admin/projections` every 0.5 s.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::processes::process_cpu;
use crate::settings::MAX_SERVERS;

/// Clock ticks of `/proc/<pid>/stat` (Linux's fixed USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time used so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    /// This process: the load's client and, unless `--external`, the servers.
    pub process: Duration,
    /// This process's waited-for children (pgbench).
    pub children: Duration,
    /// The external servers named by `--server-pid`, in that order.
    pub servers: [Duration; MAX_SERVERS],
    /// The PostgreSQL cluster: every backend, the background processes (WAL writer,
    /// checkpointer, ...), and the backends that ended meanwhile.
    pub database: Option<Duration>,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            process: self.process.saturating_sub(earlier.process),
            children: self.children.saturating_sub(earlier.children),
            servers: std::array::from_fn(|at| self.servers[at].saturating_sub(earlier.servers[at])),
            database: self
                .database
                .zip(earlier.database)
                .map(|(now, then)| now.saturating_sub(then)),
        }
    }
}

/// Reads [`Cpu`] for this process, the external servers and the cluster.
pub struct Meter {
    server_pids: Vec<u32>,
    /// None when the database does not run on this machine.
    postmaster: Option<u32>,
}

impl Meter {
    pub async fn new(pool: &PgPool, server_pids: &[u32]) -> anyhow::Result<Meter> {
        let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(pool)
            .await?;
        // A backend's parent is the postmaster, whose own counters include every child it
        // has reaped.
        let postmaster = stat_fields(backend as u32)
            .and_then(|fields| fields.get(1).and_then(|ppid| ppid.parse().ok()));
        Ok(Meter {
            server_pids: server_pids.to_vec(),
            postmaster,
        })
    }

    pub fn read(&self) -> Cpu {
        let own = stat_fields(std::process::id()).unwrap_or_default();
        Cpu {
            process: process_cpu(std::process::id()).unwrap_or_default(),
            children: ticks(&own, &[13, 14]),
            servers: std::array::from_fn(|at| {
                self.server_pids
                    .get(at)
                    .and_then(|pid| process_cpu(*pid))
                    .unwrap_or_default()
            }),
            database: self.postmaster.map(cluster_cpu),
        }
    }
}

impl Cpu {
    /// The external servers together.
    pub fn all_servers(&self) -> Duration {
        self.servers.iter().sum()
    }
}

/// The postmaster's own and reaped children's time, plus its live children's.
fn cluster_cpu(postmaster: u32) -> Duration {
    let own = stat_fields(postmaster).unwrap_or_default();
    let mut total = ticks(&own, &[11, 12, 13, 14]);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return total;
    };
    let parent = postmaster.to_string();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(fields) = stat_fields(pid) {
            if fields.get(1) == Some(&parent) {
                total += ticks(&fields, &[11, 12]);
            }
        }
    }
    total
}

/// Fields of `/proc/<pid>/stat` after the command name, from the state (field 3) on: index 1
/// is the parent pid, 11/12 utime/stime, 13/14 the reaped children's.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

fn ticks(fields: &[String], indexes: &[usize]) -> Duration {
    let total: u64 = indexes
        .iter()
        .filter_map(|index| fields.get(*index).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_secs_f64(total as f64 / TICKS_PER_SECOND)
}

/// Peak resident set size (`VmHWM`) of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One reading of `/api/admin/projections`: the largest lag over the projections.
#[derive(Clone, Debug)]
pub struct Lag {
    pub seconds: f64,
    pub events: i64,
    /// Each projection's own `lag_seconds`.
    pub by_projection: Vec<(String, f64)>,
}

/// Samples the projections' lag every 0.5 s from `from` until `stop` is cancelled. Each reading
/// is sent on its tick without waiting for the previous one, so a saturated server delays the
/// answers but does not thin out the samples.
pub async fn sample_lag(
    (http, base, admin_token): (reqwest::Client, String, String),
    from: tokio::time::Instant,
    stop: CancellationToken,
) -> Vec<Lag> {
    let mut readings = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval_at(from, Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let (http, base, admin_token) = (http.clone(), base.clone(), admin_token.clone());
        readings.spawn(async move { read_lag(&http, &base, &admin_token).await });
    }
    readings.join_all().await.into_iter().flatten().collect()
}

pub async fn read_lag(http: &reqwest::Client, base: &str, admin_token: &str) -> Option<Lag> {
    let answer = http
        .get(format!("{base}/api/admin/projections"))
        .bearer_auth(admin_token)
        .send()
        .await
        .ok()?;
    let body: Value = answer.json().await.ok()?;
    let projections = body["projections"].as_array()?;
    Some(Lag {
        seconds: projections
            .iter()
            .filter_map(|p| p["lag_seconds"].as_f64())
            .fold(0.0, f64::max),
        events: projections
            .iter()
            .filter_map(|p| p["lag_events"].as_i64())
            .max()
            .unwrap_or(0),
        by_projection: projections
            .iter()
            .filter_map(|p| Some((p["name"].as_str()?.to_owned(), p["lag_seconds"].as_f64()?)))
            .collect(),
    })
}

/// Waits (up to a minute) until every projection has consumed the log; returns how long.
pub async fn wait_for_projections(
    http: &reqwest::Client,
    base: &str,
    admin_token: &str,
) -> Option<Duration> {
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if read_lag(http, base, admin_token)
            .await
            .is_some_and(|lag| lag.events == 0)
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
