//! The load generator shared by every write phase: N tasks run one operation in a loop until a
//! deadline or an operation budget, and the latency of every operation is kept.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cpu::CpuUsage;

/// One unit of work (one transaction); given the index of the task that runs it.
pub type Operation =
    Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send + Sync>;

#[derive(Clone, Copy, Debug)]
pub struct LoadShape {
    pub concurrency: usize,
    pub duration: Duration,
    /// Whatever the duration, no phase runs more operations than this.
    pub max_operations: u64,
}

/// What a phase achieved. Merging measurements of several rounds keeps every latency.
#[derive(Clone, Debug, Default)]
pub struct Measurement {
    pub operations: u64,
    pub elapsed: Duration,
    /// Per operation, in microseconds; sorted.
    latencies_micros: Vec<u32>,
    /// Client and server CPU over the phase, when it could be read.
    pub cpu: Option<CpuUsage>,
}

impl Measurement {
    pub fn per_second(&self) -> f64 {
        self.operations as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at `fraction` (0.5 = median), in milliseconds.
    pub fn latency_ms(&self, fraction: f64) -> f64 {
        if self.latencies_micros.is_empty() {
            return 0.0;
        }
        let last = self.latencies_micros.len() - 1;
        let index = ((last as f64) * fraction).round() as usize;
        f64::from(self.latencies_micros[index.min(last)]) / 1000.0
    }

    pub fn merge(&mut self, other: Measurement) {
        // CPU is known for the merge only if it was known for every part.
        self.cpu = match (self.operations == 0, self.cpu, other.cpu) {
            (true, _, cpu) => cpu,
            (false, Some(mine), Some(theirs)) => Some(mine.add(theirs)),
            _ => None,
        };
        self.operations += other.operations;
        self.elapsed += other.elapsed;
        self.latencies_micros.extend(other.latencies_micros);
        self.latencies_micros.sort_unstable();
    }
}

/// Runs `operation` from `shape.concurrency` tasks at once. The clock covers the whole phase,
/// from the first task's start to the last task's end, so throughput is what the server
/// sustained, not an average of per-task rates.
pub async fn run(shape: LoadShape, operation: Operation) -> anyhow::Result<Measurement> {
    let per_task_budget = shape.max_operations.div_ceil(shape.concurrency as u64);
    let started = Instant::now();
    let deadline = started + shape.duration;
    let tasks: Vec<_> = (0..shape.concurrency)
        .map(|task| {
            let operation = operation.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while (latencies.len() as u64) < per_task_budget && Instant::now() < deadline {
                    let begun = Instant::now();
                    operation(task).await?;
                    let micros = u32::try_from(begun.elapsed().as_micros()).unwrap_or(u32::MAX);
                    latencies.push(micros);
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies_micros = Vec::new();
    for task in tasks {
        latencies_micros.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies_micros.sort_unstable();
    Ok(Measurement {
        operations: latencies_micros.len() as u64,
        elapsed,
        latencies_micros,
        cpu: None,
    })
}
