//! The open-loop load: Create+Perform pairs sent by a fixed schedule, never by the previous
//! answer, each latency counted from the request's scheduled time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::latency::summary;
use crate::merchant_api::rpc;
use crate::shop::Order;

/// Open-loop load: 500 requests/s = one Create+Perform pair every 4 ms, each Perform
/// `PERFORM_AFTER` + half an interval after its Create.
/// `PAYME_BENCH_RATE` (requests/s, ≤ 2 000) and `PAYME_BENCH_PAIRS` (≤ 20 000) override them,
/// for looking at service times below saturation.
const DEFAULT_RATE: u32 = 500;
const MAX_RATE: u32 = 2_000;
const PERFORM_AFTER: Duration = Duration::from_secs(1);
pub const WARM_UP_PAIRS: usize = 500;
const DEFAULT_MEASURED_PAIRS: usize = 5_000; // 20 s at 250 pairs/s
const MAX_MEASURED_PAIRS: usize = 20_000;
/// Guard: the load phase stops waiting this long after its last scheduled request.
const LOAD_GRACE: Duration = Duration::from_secs(60);

/// The load's shape: time between pair starts, and how many pairs are measured.
#[derive(Clone, Copy)]
pub struct Load {
    pub pair_interval: Duration,
    pub pairs: usize,
}

impl Load {
    pub fn from_environment() -> anyhow::Result<Load> {
        let number = |name: &str, default: usize, max: usize| -> anyhow::Result<usize> {
            match std::env::var(name) {
                Err(_) => Ok(default),
                Ok(text) => {
                    let value: usize = text
                        .trim()
                        .parse()
                        .with_context(|| format!("{name}={text}"))?;
                    anyhow::ensure!((1..=max).contains(&value), "{name} must be 1..={max}");
                    Ok(value)
                }
            }
        };
        let rate = number("PAYME_BENCH_RATE", DEFAULT_RATE as usize, MAX_RATE as usize)?;
        Ok(Load {
            pair_interval: Duration::from_secs(2) / u32::try_from(rate)?,
            pairs: number(
                "PAYME_BENCH_PAIRS",
                DEFAULT_MEASURED_PAIRS,
                MAX_MEASURED_PAIRS,
            )?,
        })
    }
}

#[derive(Default)]
struct Samples {
    create: Vec<Duration>,
    perform: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

/// Runs the warm-up and measured pairs; returns the report.
pub async fn run(
    http: &reqwest::Client,
    base: &str,
    orders: &[Order],
    shape: Load,
) -> anyhow::Result<String> {
    let samples = Arc::new(Mutex::new(Samples::default()));
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let measured_pairs = orders.len() - WARM_UP_PAIRS;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, order) in orders.iter().enumerate() {
        let scheduled = start + shape.pair_interval * u32::try_from(index)?;
        let (http, base, samples) = (http.clone(), base.to_owned(), samples.clone());
        let payme_id = format!("{:024x}", (now_ms as u128) << 32 | index as u128);
        let create = json!({"method": "CreateTransaction", "id": index, "params": {
            "id": payme_id, "time": now_ms, "amount": order.amount,
            "account": {"order_id": order.order_id}}});
        let perform =
            json!({"method": "PerformTransaction", "id": index, "params": {"id": payme_id}});
        tasks.spawn(async move {
            tokio::time::sleep_until(scheduled).await;
            let created = rpc(&http, &base, &create).await;
            let create_latency = scheduled.elapsed();
            let perform_at = scheduled + PERFORM_AFTER + shape.pair_interval / 2;
            tokio::time::sleep_until(perform_at).await;
            let performed = rpc(&http, &base, &perform).await;
            let perform_latency = perform_at.elapsed();
            if index < WARM_UP_PAIRS {
                return;
            }
            let mut samples = samples.lock().expect("samples lock");
            samples.create.push(create_latency);
            samples.perform.push(perform_latency);
            for answer in [created, performed] {
                let failure = match answer {
                    Ok(body) if body.get("result").is_some() => None,
                    Ok(body) => Some(body.to_string()),
                    Err(error) => Some(format!("{error:#}")),
                };
                if let Some(failure) = failure {
                    samples.errors += 1;
                    samples.first_error.get_or_insert(failure);
                }
            }
        });
    }
    let deadline =
        start + shape.pair_interval * u32::try_from(orders.len())? + PERFORM_AFTER + LOAD_GRACE;
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        joined?;
    }
    anyhow::ensure!(
        tasks.is_empty(),
        "the load did not finish {LOAD_GRACE:?} after its schedule"
    );
    let samples = samples.lock().expect("samples lock");
    let mut all: Vec<Duration> = samples
        .create
        .iter()
        .chain(&samples.perform)
        .copied()
        .collect();
    let mut create = samples.create.clone();
    let mut perform = samples.perform.clone();
    let pairs = measured_pairs;
    let seconds = shape.pair_interval.as_secs_f64() * pairs as f64;
    Ok(format!(
        "Create+Perform, open loop at {:.0} requests/s, {pairs} pairs ({} requests) over {seconds:.0} s \
         (after {WARM_UP_PAIRS} warm-up pairs):\n\
         \x20 all      {}\n  create   {}\n  perform  {}\n  errors   {}{}",
        2.0 * pairs as f64 / seconds,
        2 * pairs,
        summary(&mut all),
        summary(&mut create),
        summary(&mut perform),
        samples.errors,
        samples
            .first_error
            .as_deref()
            .map(|error| format!(" (first: {error})"))
            .unwrap_or_default(),
    ))
}
