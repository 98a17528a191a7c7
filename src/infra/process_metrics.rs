//! The standard `process_*` metrics (CPU, memory, file descriptors, start time) read from
//! `/proc/self`, and the database pool's state: what dashboards and alert rules expect next to
//! the ledger's own figures.

use std::fs;

use sqlx::PgPool;

use super::metrics::{Gauge, GaugeFuture, GaugeSource, Labels};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Linux's clock ticks per second for `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`, 100 on
/// every architecture Linux runs on today).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;
/// Page size for `/proc/self/statm` (4 KiB on x86-64 and aarch64 with default kernels).
const PAGE_BYTES: f64 = 4096.0;

pub struct ProcessGauges;

impl GaugeSource for ProcessGauges {
    fn name(&self) -> &'static str {
        "process"
    }

    fn collect(&self) -> GaugeFuture<'_> {
        Box::pin(async move { process_gauges() })
    }
}

fn process_gauges() -> anyhow::Result<Vec<Gauge>> {
    let stat = fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime, stime: fields 14 and 15 of the whole line → 11 and 12 here; starttime: 22 → 19.
    let field = |index: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(index)
            .ok_or_else(|| anyhow::anyhow!("/proc/self/stat is shorter than expected"))?
            .parse()?)
    };
    let cpu_seconds = (field(11)? + field(12)?) / CLOCK_TICKS_PER_SECOND;
    let boot_time = fs::read_to_string("/proc/stat")?
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .ok_or_else(|| anyhow::anyhow!("no btime in /proc/stat"))?
        .trim()
        .parse::<f64>()?;
    let start_time = boot_time + field(19)? / CLOCK_TICKS_PER_SECOND;
    let statm = fs::read_to_string("/proc/self/statm")?;
    let mut pages = statm.split_whitespace().map(str::parse::<f64>);
    let virtual_bytes = pages.next().transpose()?.unwrap_or(0.0) * PAGE_BYTES;
    let resident_bytes = pages.next().transpose()?.unwrap_or(0.0) * PAGE_BYTES;
    let open_fds = fs::read_dir("/proc/self/fd")?.count() as f64;
    let max_fds = fs::read_to_string("/proc/self/limits")?
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<f64>().ok())
        .unwrap_or(0.0);
    Ok(vec![
        Gauge::counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            cpu_seconds,
        ),
        Gauge::single(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            resident_bytes,
        ),
        Gauge::single(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            virtual_bytes,
        ),
        Gauge::single(
            "process_open_fds",
            "Number of open file descriptors.",
            open_fds,
        ),
        Gauge::single(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max_fds,
        ),
        Gauge::single(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            start_time,
        ),
    ])
}

/// The connection pool: connections in use and idle, its size, and commands waiting for one.
pub struct PoolGauges {
    pub pool: PgPool,
    /// The registry's counter of commands waiting for a connection (not the registry itself).
    pub waiting_for_connection: Arc<AtomicI64>,
}

impl GaugeSource for PoolGauges {
    fn name(&self) -> &'static str {
        "database_pool"
    }

    fn collect(&self) -> GaugeFuture<'_> {
        Box::pin(async move {
            let size = f64::from(self.pool.size());
            let idle = self.pool.num_idle() as f64;
            let state = |name: &str, value: f64| -> (Labels, f64) {
                (vec![("state", name.to_owned())], value)
            };
            Ok(vec![
                Gauge::new(
                    "ledger_db_pool_connections",
                    "Database connections of the pool, by state.",
                    vec![state("in_use", (size - idle).max(0.0)), state("idle", idle)],
                ),
                Gauge::single(
                    "ledger_db_pool_max_connections",
                    "Most connections the pool may open (LEDGER_DATABASE_POOL_SIZE).",
                    f64::from(self.pool.options().get_max_connections()),
                ),
                Gauge::single(
                    "ledger_db_pool_waiting_commands",
                    "Commands waiting for a pooled connection right now.",
                    self.waiting_for_connection.load(Ordering::Relaxed) as f64,
                ),
            ])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_reads_itself() {
        let gauges = process_gauges().expect("/proc/self is readable");
        let value = |name: &str| {
            gauges
                .iter()
                .find(|gauge| gauge.name == name)
                .map(|gauge| gauge.samples[0].1)
                .unwrap()
        };
        assert!(value("process_resident_memory_bytes") > 1_000_000.0);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_cpu_seconds_total") >= 0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = value("process_start_time_seconds");
        assert!(
            started <= now + 1.0 && started > now - 86_400.0 * 365.0,
            "{started}"
        );
    }
}
