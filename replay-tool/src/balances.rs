//! `ledger-replay balances --until-time T`: every customer's cashback balance per currency as
//! it stood at T, for an accountant. The cashback projector itself folds the log up to T into
//! scratch tables (each stream stops at its first event after T), so the figures are the ones
//! the live balances went through, not a second implementation of the rules.

use chrono::{DateTime, Utc};
use ledger_events::{Currency, FeedPosition, FeedWindow};
use ledger_projections::read_models::cashback_balances::CashbackBalances;
use serde::Serialize;
use sqlx::{PgPool, Row};

use crate::fold::{fold, FoldPlan};
use crate::progress::Progress;
use crate::rebuild::{scratch_connection, DEFAULT_BATCH_SIZE};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub customer_id: String,
    pub currency: String,
    /// Decimal string in major units.
    pub balance: String,
}

pub async fn balances_at(pool: &PgPool, at: DateTime<Utc>) -> anyhow::Result<Vec<Balance>> {
    let projector = CashbackBalances;
    // Everything recorded up to `at` is committed once this returns, so no horizon is needed
    // (and an unrelated open transaction cannot hide part of the moment).
    crate::moment::wait_until_settled(pool, at).await?;
    let mut connection = scratch_connection(pool, &projector).await?;
    let plan = FoldPlan {
        window: FeedWindow {
            until_time: Some(at),
            horizon: false,
            ..FeedWindow::of(ledger_projections::Projector::stream_types(&projector))
        },
        batch_size: DEFAULT_BATCH_SIZE,
        point_in_time: true,
    };
    fold(
        &mut connection,
        pool,
        &projector,
        &plan,
        FeedPosition::START,
        &mut Progress::quiet("balances"),
    )
    .await?;
    let rows = sqlx::query(
        "SELECT customer_id, currency, balance_minor FROM pg_temp.cashback_accounts \
         ORDER BY customer_id, currency",
    )
    .fetch_all(&mut connection)
    .await?;
    rows.iter()
        .map(|row| {
            let code: String = row.try_get("currency")?;
            let currency = Currency::recorded(&code)?;
            Ok(Balance {
                customer_id: row.try_get("customer_id")?,
                balance: currency.format_minor(row.try_get("balance_minor")?),
                currency: code,
            })
        })
        .collect()
}

/// The CSV of the contract: header `customer_id,currency,balance`, one line per balance.
pub fn to_csv(balances: &[Balance]) -> String {
    let mut text = String::from("customer_id,currency,balance\n");
    for balance in balances {
        text.push_str(&format!(
            "{},{},{}\n",
            csv_field(&balance.customer_id),
            csv_field(&balance.currency),
            balance.balance
        ));
    }
    text
}

/// Quotes a field that holds a comma, a quote or a line break (RFC 4180).
pub fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}
