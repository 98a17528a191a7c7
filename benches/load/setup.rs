//! What the load starts from: a 1C store with its key, registered customers, and the orders the
//! Payme and Telegram payments of the plan will pay (placed before the clock starts).

use std::time::Instant;

use ledger::onec::stores::{self, NewStore};

use crate::mix::Operation;
use crate::shop::{place_orders, register_customers, Order};
use crate::target::Target;

/// Customers the operations are spread over (each write locks its customer's cashback).
pub const CUSTOMERS: usize = 2_000;

pub struct Fixture {
    pub store_key: String,
    /// One order per Payme payment of the plan, in plan order.
    pub payme_orders: Vec<Order>,
    /// One order per Telegram payment of the plan, in plan order.
    pub telegram_orders: Vec<Order>,
}

pub async fn prepare(
    target: &Target,
    http: &reqwest::Client,
    plan: &[Operation],
) -> anyhow::Result<Fixture> {
    let started = Instant::now();
    // A store of its own per run, so an external server's database can host several runs.
    let store_id = format!("load-{}", chrono::Utc::now().timestamp_millis());
    let store_key = stores::create_store(
        &target.pool,
        "UZS",
        &NewStore {
            store_id,
            name: Some("load generator".into()),
            currency: None,
            timezone: None,
        },
    )
    .await?;
    let base = &target.bases[0];
    let token = &target.credentials.admin_token;
    register_customers(http, base, token, CUSTOMERS).await?;
    let count = |wanted: Operation| plan.iter().filter(|op| **op == wanted).count();
    // Distinct external ids per run, for the same reason as the store.
    let run = chrono::Utc::now().timestamp_millis();
    let payme_orders = place_orders(
        http,
        base,
        token,
        &format!("load-payme-{run}"),
        (count(Operation::PaymePayment), CUSTOMERS),
    )
    .await?;
    let telegram_orders = place_orders(
        http,
        base,
        token,
        &format!("load-telegram-{run}"),
        (count(Operation::TelegramPayment), CUSTOMERS),
    )
    .await?;
    eprintln!(
        "setup: {CUSTOMERS} customers, {} + {} orders to pay, in {:.1} s",
        payme_orders.len(),
        telegram_orders.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(Fixture {
        store_key,
        payme_orders,
        telegram_orders,
    })
}
