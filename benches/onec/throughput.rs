//! The harness of every throughput phase: N tasks repeat one step until the phase is over.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `step` on `concurrency` tasks until `phase` has passed; returns units per second.
pub async fn throughput<F, Fut>(concurrency: usize, phase: Duration, step: F) -> anyhow::Result<f64>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send,
{
    let step = Arc::new(step);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (step, done) = (step.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut round = 0_u64;
            while started.elapsed() < phase {
                done.fetch_add(step(worker, round).await?, Ordering::Relaxed);
                round += 1;
            }
            anyhow::Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}
