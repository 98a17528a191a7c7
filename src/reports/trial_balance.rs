//! The trial balance: debits and credits of every account per currency, at a moment.
//!
//! At a past moment it is summed from the postings in the log (every event that moves money
//! carries them), so it is exact for any moment without a projection kept per day; now, it is
//! the `account_balances` projection. Every event's postings balance per currency, so `net` is
//! zero for every currency whatever the moment: a report that shows otherwise has found a bug.

use chrono::{DateTime, Utc};
use ledger_events::Currency;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

/// One account's sums in one currency, in minor units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountLine {
    pub account: String,
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
}

/// Sums of the postings recorded up to and including `at`.
pub async fn from_log(pool: &PgPool, at: DateTime<Utc>) -> Result<Vec<AccountLine>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT p->>'account' AS account, p->>'currency' AS currency, \
             coalesce(sum((p->>'amount_minor')::bigint) FILTER (WHERE p->>'side' = 'debit'), 0)::bigint AS debit_minor, \
             coalesce(sum((p->>'amount_minor')::bigint) FILTER (WHERE p->>'side' = 'credit'), 0)::bigint AS credit_minor \
         FROM events CROSS JOIN LATERAL jsonb_array_elements(events.payload->'postings') AS p \
         WHERE events.recorded_at <= $1 AND jsonb_typeof(events.payload->'postings') = 'array' \
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(at)
    .fetch_all(pool)
    .await?;
    rows.iter().map(line).collect()
}

/// The `account_balances` projection as it stands.
pub async fn current(pool: &PgPool) -> Result<Vec<AccountLine>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT account, currency, debit_minor, credit_minor FROM account_balances \
         ORDER BY account, currency",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(line).collect()
}

fn line(row: &sqlx::postgres::PgRow) -> Result<AccountLine, sqlx::Error> {
    Ok(AccountLine {
        account: row.try_get("account")?,
        currency: row.try_get("currency")?,
        debit_minor: row.try_get("debit_minor")?,
        credit_minor: row.try_get("credit_minor")?,
    })
}

/// Decimal text of minor units in a recorded currency (a code the log holds is always known).
pub fn amount(currency: &str, minor: i64) -> String {
    match Currency::recorded(currency) {
        Ok(currency) => currency.format_minor(minor),
        Err(_) => minor.to_string(),
    }
}

/// `[{currency, debits, credits, net}]`, one per currency.
pub fn per_currency(lines: &[AccountLine]) -> Vec<Value> {
    let mut totals: std::collections::BTreeMap<&str, (i64, i64)> = Default::default();
    for line in lines {
        let total = totals.entry(line.currency.as_str()).or_default();
        total.0 = total.0.saturating_add(line.debit_minor);
        total.1 = total.1.saturating_add(line.credit_minor);
    }
    totals
        .into_iter()
        .map(|(currency, (debits, credits))| {
            json!({
                "currency": currency,
                "debits": amount(currency, debits),
                "credits": amount(currency, credits),
                "net": amount(currency, debits.saturating_sub(credits)),
            })
        })
        .collect()
}

/// `[{account, currency, balance}]`: debits minus credits.
pub fn per_account(lines: &[AccountLine]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            json!({
                "account": line.account,
                "currency": line.currency,
                "debits": amount(&line.currency, line.debit_minor),
                "credits": amount(&line.currency, line.credit_minor),
                "balance": amount(&line.currency, line.debit_minor.saturating_sub(line.credit_minor)),
            })
        })
        .collect()
}

/// The CSV rows of `per_account`.
pub fn csv_rows(lines: &[AccountLine]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|line| {
            vec![
                line.account.clone(),
                line.currency.clone(),
                amount(&line.currency, line.debit_minor),
                amount(&line.currency, line.credit_minor),
                amount(
                    &line.currency,
                    line.debit_minor.saturating_sub(line.credit_minor),
                ),
            ]
        })
        .collect()
}

pub const CSV_HEADER: &[&str] = &["account", "currency", "debits", "credits", "balance"];
