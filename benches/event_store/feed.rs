//! The feed phase: one reader consumes the whole log through `read_global_feed`, as a
//! projector rebuilding from position zero would, decoding every event.

use std::time::{Duration, Instant};

use ledger_events::{EventStore, FeedPosition};

pub struct FeedMeasurement {
    pub events: u64,
    pub batches: u64,
    pub elapsed: Duration,
}

impl FeedMeasurement {
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Reads until the feed reaches the horizon. `expected_events` (what the write phases
/// committed) bounds the loop and is checked against what was read.
pub async fn read_whole_log(
    store: &EventStore,
    batch_size: i64,
    expected_events: u64,
) -> anyhow::Result<FeedMeasurement> {
    let batch_limit = expected_events / batch_size as u64 + 2;
    let started = Instant::now();
    let (mut position, mut events, mut batches) = (FeedPosition::START, 0_u64, 0_u64);
    loop {
        anyhow::ensure!(
            batches < batch_limit,
            "the feed holds more than the {expected_events} events written"
        );
        let batch = store.read_global_feed(position, batch_size).await?;
        batches += 1;
        events += batch.events.len() as u64;
        position = batch.end(position);
        if batch.reached_horizon {
            break;
        }
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(
        events == expected_events,
        "the feed handed out {events} events, the write phases committed {expected_events}"
    );
    Ok(FeedMeasurement {
        events,
        batches,
        elapsed,
    })
}
