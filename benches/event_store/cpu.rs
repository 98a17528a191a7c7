//! CPU time spent per operation, by the benchmark's own process (the client) and by the
//! PostgreSQL processes serving it. On a machine shared with other work, throughput swings
//! with the background load, but the CPU each operation costs barely does: it is the figure
//! that explains a ratio. Linux only (`/proc/<pid>/task/*/schedstat`), and only meaningful when
//! the server runs on this machine; otherwise nothing is printed.

use std::time::Duration;

use sqlx::PgPool;

use crate::processes::process_cpu;

/// CPU consumed so far by the client and by the server processes known at the start.
#[derive(Clone, Debug)]
pub struct CpuSnapshot {
    server_pids: Vec<u32>,
    client: Duration,
    server: Duration,
}

/// CPU consumed between two snapshots.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuUsage {
    pub client: Duration,
    pub server: Duration,
}

impl CpuUsage {
    pub fn add(self, other: CpuUsage) -> CpuUsage {
        CpuUsage {
            client: self.client + other.client,
            server: self.server + other.server,
        }
    }

    /// (client, server) microseconds per operation.
    pub fn micros_per_operation(&self, operations: u64) -> (f64, f64) {
        let operations = operations.max(1) as f64;
        (
            self.client.as_secs_f64() * 1e6 / operations,
            self.server.as_secs_f64() * 1e6 / operations,
        )
    }
}

impl CpuSnapshot {
    /// None when the server's processes cannot be read (remote server, or not Linux).
    pub async fn take(pool: &PgPool) -> anyhow::Result<Option<Self>> {
        // Every backend and background process of the server (walwriter, checkpointer, ...).
        let pids: Vec<i32> = sqlx::query_scalar("SELECT pid FROM pg_stat_activity")
            .fetch_all(pool)
            .await?;
        let server_pids: Vec<u32> = pids
            .into_iter()
            .filter_map(|p| u32::try_from(p).ok())
            .collect();
        let Some(client) = process_cpu(std::process::id()) else {
            return Ok(None);
        };
        let Some(server) = total_cpu(&server_pids) else {
            return Ok(None);
        };
        Ok(Some(CpuSnapshot {
            server_pids,
            client,
            server,
        }))
    }

    /// CPU used since `self`, counting only the server processes seen then (the benchmark's
    /// connections stay open for the whole run).
    pub fn elapsed(&self) -> Option<CpuUsage> {
        Some(CpuUsage {
            client: process_cpu(std::process::id())?.saturating_sub(self.client),
            server: total_cpu(&self.server_pids)?.saturating_sub(self.server),
        })
    }
}

/// Sum over processes; processes that have exited in between count as nothing.
fn total_cpu(pids: &[u32]) -> Option<Duration> {
    let mut readable = 0;
    let mut total = Duration::ZERO;
    for pid in pids {
        if let Some(cpu) = process_cpu(*pid) {
            readable += 1;
            total += cpu;
        }
    }
    (readable > 0).then_some(total)
}
