//! What the load is made of: the operations a shop's day brings, their weights, and the order
//! they are sent in (drawn once, up front, from a printed seed, so the setup knows how many
//! orders to place and a run can be repeated exactly).

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One scheduled operation; some are several requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A register's single accrual (`POST /api/cashback/v1/transactions`).
    OnecSingle,
    /// A register's batch of 100 accruals (`.../transactions/batch`).
    OnecBatch,
    /// Payme's CheckPerformTransaction, CreateTransaction, then PerformTransaction a second
    /// later, on an order placed before the load.
    PaymePayment,
    /// A web shop placing an order, then reading it back with `min_position`.
    OrderPlaced,
    /// A Telegram `successful_payment` webhook update paying an order placed before the load.
    TelegramPayment,
}

const OPERATIONS: [(Operation, &str); 5] = [
    (Operation::OnecSingle, "single"),
    (Operation::OnecBatch, "batch"),
    (Operation::PaymePayment, "payme"),
    (Operation::OrderPlaced, "order"),
    (Operation::TelegramPayment, "telegram"),
];

/// One HTTP request kind, as the report lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Request {
    OnecSingle,
    OnecBatch,
    PaymeCheck,
    PaymeCreate,
    PaymePerform,
    OrderPlace,
    OrderRead,
    TelegramWebhook,
}

impl Request {
    pub const ALL: [Request; 8] = [
        Request::OnecSingle,
        Request::OnecBatch,
        Request::PaymeCheck,
        Request::PaymeCreate,
        Request::PaymePerform,
        Request::OrderPlace,
        Request::OrderRead,
        Request::TelegramWebhook,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Request::OnecSingle => "1C single accrual",
            Request::OnecBatch => "1C batch (100 items)",
            Request::PaymeCheck => "Payme CheckPerform",
            Request::PaymeCreate => "Payme Create",
            Request::PaymePerform => "Payme Perform",
            Request::OrderPlace => "order placement",
            Request::OrderRead => "order read, min_position",
            Request::TelegramWebhook => "Telegram payment update",
        }
    }
}

/// Weights of the operations.
#[derive(Clone, Debug)]
pub struct Mix {
    weights: Vec<(Operation, u32)>,
}

impl Mix {
    /// `single=50,batch=2,...`; a kind left out weighs 0.
    pub fn parse(text: &str) -> anyhow::Result<Mix> {
        let mut weights = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .with_context(|| format!("--mix: `{part}` is not kind=weight"))?;
            let Some((operation, _)) = OPERATIONS.iter().find(|(_, n)| *n == name.trim()) else {
                bail!("--mix: unknown kind `{name}` (single, batch, payme, order, telegram)");
            };
            let weight: u32 = weight
                .trim()
                .parse()
                .with_context(|| format!("--mix: weight of {name}"))?;
            anyhow::ensure!(weight <= 1_000, "--mix: weights are 0..=1000");
            weights.push((*operation, weight));
        }
        anyhow::ensure!(
            weights.iter().any(|(_, weight)| *weight > 0),
            "--mix: at least one kind needs a weight above 0"
        );
        Ok(Mix { weights })
    }

    /// `count` operations drawn by weight.
    pub fn plan(&self, count: usize, seed: u64) -> Vec<Operation> {
        let total: u32 = self.weights.iter().map(|(_, weight)| weight).sum();
        let mut random = StdRng::seed_from_u64(seed);
        (0..count)
            .map(|_| {
                let mut draw = random.gen_range(0..total);
                for (operation, weight) in &self.weights {
                    if draw < *weight {
                        return *operation;
                    }
                    draw -= weight;
                }
                unreachable!("the draw is below the sum of the weights")
            })
            .collect()
    }

    pub fn describe(&self) -> String {
        self.weights
            .iter()
            .map(|(operation, weight)| {
                let name = OPERATIONS
                    .iter()
                    .find(|(o, _)| o == operation)
                    .map_or("?", |(_, name)| name);
                format!("{name}={weight}")
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}
