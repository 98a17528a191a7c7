//! Latency figures: percentiles of a set of samples, printed the same way for every phase.

use std::time::Duration;

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summary(samples: &mut [Duration]) -> String {
    samples.sort_unstable();
    if samples.is_empty() {
        return "no samples".into();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    format!(
        "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n = {})",
        ms(percentile(samples, 0.50)),
        ms(percentile(samples, 0.99)),
        ms(*samples.last().expect("not empty")),
        samples.len()
    )
}
