//! `GET /api/reports/reconciliation`: one provider's records of a period set against the orders.
//!
//! - A gateway record belongs to the period by the first event of its stream (when we first
//!   recorded it), `from` inclusive, `to` exclusive; its state and amount are its
//!   `order_payments` row as it stands.
//! - **Paid without a gateway record**: an `OrderPaid` of the period naming this provider whose
//!   record does not exist.
//! - **Records without an order**: a record naming an order the shop never placed.
//! - **Amount mismatches**: a record whose amount is not what the order asked (in the order's
//!   currency, or in UZS at the quoted rate for an FX-priced order), or whose state is the
//!   provider's own "wrong amount".
//! - 1C registers have no orders: their records are the in-store operations of the log, by
//!   operation type; the three lists stay empty.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

use super::period::Period;
use super::providers::{Gateway, Provider};
use super::trial_balance::{self, amount, AccountLine};

/// One gateway record (or 1C operation) of the period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub provider_id: String,
    pub order_id: Option<String>,
    pub state: String,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    /// What the order asked, in the record's currency (None: no such order, or no rate).
    expected_minor: Option<i64>,
    order_exists: bool,
}

#[derive(Clone, Debug)]
pub struct Reconciliation {
    pub provider: Provider,
    pub period: Period,
    pub records: Vec<Record>,
    /// (order id, amount, currency)
    pub paid_without_record: Vec<(String, i64, String)>,
    pub trial_balance: Vec<AccountLine>,
}

pub async fn reconcile(
    pool: &PgPool,
    provider: Provider,
    period: Period,
) -> Result<Reconciliation, sqlx::Error> {
    let (records, paid_without_record) = match provider {
        Provider::Gateway(gateway) => (
            gateway_records(pool, gateway, period).await?,
            paid_without_record(pool, gateway, period).await?,
        ),
        Provider::Onec => (onec_records(pool, period).await?, Vec::new()),
    };
    // `to` is exclusive: the books as they stood just before it.
    let trial_balance =
        trial_balance::from_log(pool, period.to - Duration::microseconds(1)).await?;
    Ok(Reconciliation {
        provider,
        period,
        records,
        paid_without_record,
        trial_balance,
    })
}

async fn gateway_records(
    pool: &PgPool,
    gateway: Gateway,
    period: Period,
) -> Result<Vec<Record>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT p.provider_id, p.order_id, p.state, p.amount_minor, p.currency, r.first_recorded, \
                o.order_id IS NOT NULL AS order_exists, \
                CASE WHEN o.currency = p.currency THEN o.amount_minor \
                     ELSE (o.fx->>'payable_amount_minor')::bigint END AS expected_minor \
         FROM order_payments p \
         LEFT JOIN streams s ON s.stream_id = $2 || '-' || p.provider_id \
         CROSS JOIN LATERAL (SELECT coalesce(s.created_at, p.created_at) AS first_recorded) r \
         LEFT JOIN orders_view o ON o.order_id = p.order_id \
         WHERE p.provider = $1 AND r.first_recorded >= $3 AND r.first_recorded < $4 \
         ORDER BY r.first_recorded, p.provider_id",
    )
    .bind(gateway.name)
    .bind(gateway.stream_type)
    .bind(period.from)
    .bind(period.to)
    .fetch_all(pool)
    .await?;
    rows.iter().map(record).collect()
}

async fn paid_without_record(
    pool: &PgPool,
    gateway: Gateway,
    period: Period,
) -> Result<Vec<(String, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.payload->>'order_id', (e.payload->>'amount_minor')::bigint, e.payload->>'currency' \
         FROM events e \
         WHERE e.stream_id LIKE 'order-%' AND e.event_type = 'OrderPaid' \
           AND e.payload->>'provider' = $1 AND e.recorded_at >= $2 AND e.recorded_at < $3 \
           AND NOT EXISTS (SELECT 1 FROM order_payments p \
                           WHERE p.provider = $1 AND p.provider_id = e.payload->>'provider_id') \
         ORDER BY e.global_position",
    )
    .bind(gateway.name)
    .bind(period.from)
    .bind(period.to)
    .fetch_all(pool)
    .await
}

/// In-store operations of the period: `provider_id` is `<store>/<1C document id>`.
async fn onec_records(pool: &PgPool, period: Period) -> Result<Vec<Record>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT (payload->'origin'->>'store_id') || '/' || (payload->'origin'->>'external_id') AS provider_id, \
                CASE event_type WHEN 'CashbackAccrued' THEN 'accrual' WHEN 'CashbackDebited' THEN 'debit' \
                     WHEN 'CashbackDebitReleased' THEN 'release' ELSE 'reversal' END AS state, \
                (payload->>'amount_minor')::bigint AS amount_minor, payload->>'currency' AS currency, \
                recorded_at AS first_recorded, NULL::text AS order_id, NULL::bigint AS expected_minor, \
                true AS order_exists \
         FROM events \
         WHERE stream_id LIKE 'cashback-%' \
           AND event_type IN ('CashbackAccrued', 'CashbackDebited', 'CashbackDebitReleased', 'CashbackAccrualReversed') \
           AND payload->'origin'->>'channel' = 'in_store' \
           AND recorded_at >= $1 AND recorded_at < $2 \
         ORDER BY global_position",
    )
    .bind(period.from)
    .bind(period.to)
    .fetch_all(pool)
    .await?;
    rows.iter().map(record).collect()
}

/// A row of either query: both name their columns alike.
fn record(row: &sqlx::postgres::PgRow) -> Result<Record, sqlx::Error> {
    Ok(Record {
        provider_id: row.try_get("provider_id")?,
        order_id: row.try_get("order_id")?,
        state: row.try_get("state")?,
        amount_minor: row.try_get("amount_minor")?,
        currency: row.try_get("currency")?,
        created_at: row.try_get("first_recorded")?,
        expected_minor: row.try_get("expected_minor")?,
        order_exists: row.try_get("order_exists")?,
    })
}

impl Reconciliation {
    fn gateway(&self) -> Option<Gateway> {
        match self.provider {
            Provider::Gateway(gateway) => Some(gateway),
            Provider::Onec => None,
        }
    }

    /// (state, currency) → (count, amount in minor units).
    pub fn by_state(&self) -> BTreeMap<(String, String), (i64, i64)> {
        let mut totals: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for record in &self.records {
            let total = totals
                .entry((record.state.clone(), record.currency.clone()))
                .or_default();
            total.0 += 1;
            total.1 = total.1.saturating_add(record.amount_minor);
        }
        totals
    }

    pub fn without_order(&self) -> Vec<&Record> {
        if self.gateway().is_none() {
            return Vec::new();
        }
        self.records.iter().filter(|r| !r.order_exists).collect()
    }

    pub fn mismatches(&self) -> Vec<&Record> {
        let Some(gateway) = self.gateway() else {
            return Vec::new();
        };
        self.records
            .iter()
            .filter(|record| record.order_exists)
            .filter(|record| {
                gateway.mismatch_states.contains(&record.state.as_str())
                    || record.expected_minor != Some(record.amount_minor)
            })
            .collect()
    }

    /// Everything that needs an accountant's look: the three lists, and a trial balance that
    /// does not net to zero.
    pub fn problems(&self) -> usize {
        let mut nets: BTreeMap<&str, i64> = BTreeMap::new();
        for line in &self.trial_balance {
            let net = nets.entry(line.currency.as_str()).or_default();
            *net = net.saturating_add(line.debit_minor.saturating_sub(line.credit_minor));
        }
        let unbalanced = nets.values().filter(|net| **net != 0).count();
        self.paid_without_record.len()
            + self.without_order().len()
            + self.mismatches().len()
            + unbalanced
    }

    pub fn to_json(&self, position: i64) -> Value {
        let by_state: Vec<Value> = self
            .by_state()
            .into_iter()
            .map(|((state, currency), (count, total))| {
                json!({"state": state, "count": count, "amount": amount(&currency, total),
                       "currency": currency})
            })
            .collect();
        let paid: Vec<Value> = self
            .paid_without_record
            .iter()
            .map(|(order_id, minor, currency)| {
                json!({"order_id": order_id, "amount": amount(currency, *minor), "currency": currency})
            })
            .collect();
        let orphans: Vec<Value> = self
            .without_order()
            .into_iter()
            .map(|r| {
                json!({"provider_id": r.provider_id, "order_id": r.order_id,
                       "amount": amount(&r.currency, r.amount_minor), "currency": r.currency})
            })
            .collect();
        let mismatches: Vec<Value> = self
            .mismatches()
            .into_iter()
            .map(|r| {
                json!({"order_id": r.order_id, "provider_id": r.provider_id, "state": r.state,
                       "order_amount": r.expected_minor.map(|m| amount(&r.currency, m)),
                       "gateway_amount": amount(&r.currency, r.amount_minor),
                       "currency": r.currency})
            })
            .collect();
        json!({
            "provider": self.provider.name(),
            "from": self.period.from,
            "to": self.period.to,
            "by_state": by_state,
            "paid_without_gateway_record": paid,
            "gateway_records_without_order": orphans,
            "amount_mismatches": mismatches,
            "trial_balance": trial_balance::per_currency(&self.trial_balance),
            "position": position,
        })
    }

    pub const CSV_HEADER: &'static [&'static str] = &[
        "provider_id",
        "order_id",
        "state",
        "amount",
        "currency",
        "created_at",
    ];

    pub fn csv_rows(&self) -> Vec<Vec<String>> {
        self.records
            .iter()
            .map(|r| {
                vec![
                    r.provider_id.clone(),
                    r.order_id.clone().unwrap_or_default(),
                    r.state.clone(),
                    amount(&r.currency, r.amount_minor),
                    r.currency.clone(),
                    r.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                ]
            })
            .collect()
    }
}
