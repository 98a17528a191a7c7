//! The open loop: operation k is due at `start + k / rate` and is sent then, whatever happened
//! to the earlier ones (each in its own task), and its latency counts from that due time. A
//! stalled server therefore shows as long latencies instead of silently slowing the load down
//! (no coordinated omission).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::mix::Operation;
use crate::requests::{perform, Context, Sample};

/// Every request has a 30 s client time-out; the load ends at most this long after its last
/// due time (Payme's Perform comes a second after its Create).
const GRACE: Duration = Duration::from_secs(35);

pub struct Samples {
    pub samples: Vec<Sample>,
    /// When the first operation was due.
    pub start: Instant,
    /// When the last answer arrived.
    pub finished: Instant,
    /// Operations still unanswered after the grace period (counted as errors).
    pub abandoned: usize,
}

/// Runs `plan` at `rate` operations per second.
pub async fn run(
    context: impl FnOnce(mpsc::UnboundedSender<Sample>) -> Context,
    plan: &[Operation],
    rate: u32,
) -> anyhow::Result<Samples> {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let context = Arc::new(context(sender));
    let start = Instant::now() + Duration::from_millis(100);
    let interval_ns = 1_000_000_000 / u64::from(rate);
    let mut nth = [0_usize; 5];
    let mut tasks = tokio::task::JoinSet::new();
    for (index, operation) in plan.iter().enumerate() {
        let due = start + Duration::from_nanos(interval_ns * index as u64);
        let slot = *operation as usize;
        let kind_index = nth[slot];
        nth[slot] += 1;
        tokio::time::sleep_until(due).await;
        tasks.spawn(perform(
            context.clone(),
            *operation,
            (index, kind_index),
            due,
        ));
        // Reap finished tasks as we go, so their results do not pile up.
        while tasks.try_join_next().is_some() {}
    }
    let deadline = Instant::now() + GRACE;
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        joined?;
    }
    let abandoned = tasks.len();
    tasks.abort_all();
    drop(context);
    let mut samples = Vec::with_capacity(plan.len() * 2);
    while let Ok(sample) = receiver.try_recv() {
        samples.push(sample);
    }
    let finished = samples
        .iter()
        .map(|sample| sample.answered)
        .max()
        .unwrap_or(start);
    Ok(Samples {
        samples,
        start,
        finished,
        abandoned,
    })
}
