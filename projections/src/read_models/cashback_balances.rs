//! Inline cashback balances (`cashback_accounts`) and holds (`cashback_holds`).
//!
//! The balance is folded from the postings on the customer's cashback account, and every event
//! states the balance it left behind (`balance_after_minor`): the two must agree, which is
//! checked on every apply — inline and during a rebuild.
//!
//! Set-based: a batch is folded in memory from the current rows and written back with one
//! statement per table, so a 1C chunk of a thousand operations costs a handful of statements.
//! Writing absolute values is safe because every change to a customer's rows happens under that
//! customer's cashback-stream lock (inline) or in the projector's single runner (rebuild).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_events::accounts::customer_cashback;
use ledger_events::domain::*;
use ledger_events::{Currency, Postings, RecordedEvent};
use sqlx::{PgConnection, Row};

use crate::{ProjectionError, Projector};

pub struct CashbackBalances;

#[async_trait]
impl Projector for CashbackBalances {
    fn name(&self) -> &'static str {
        "cashback_balances"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["cashback"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["cashback_accounts", "cashback_holds"]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(connection, &[event]).await
    }

    async fn apply_batch(
        &self,
        connection: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let keys: BTreeSet<AccountKey> = events
            .iter()
            .filter_map(|e| account_key(&e.event))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let mut fold = BalanceFold::load(connection, &keys).await?;
        for event in events {
            fold.apply(event)?;
        }
        fold.write(connection).await
    }
}

/// (customer id, currency code)
type AccountKey = (String, String);

#[derive(Clone, Debug)]
struct AccountRow {
    balance_minor: i64,
    held_minor: i64,
    updated_at: Option<DateTime<Utc>>,
    touched: bool,
}

struct NewHold {
    hold: CashbackHoldPlaced,
    status: &'static str,
    at: DateTime<Utc>,
}

/// The batch folded in memory, then written back.
struct BalanceFold {
    accounts: BTreeMap<AccountKey, AccountRow>,
    /// Holds placed in this batch (possibly already settled in it).
    new_holds: Vec<NewHold>,
    /// Holds placed before this batch and settled in it: (hold id, new status, at).
    settled: Vec<(String, &'static str, DateTime<Utc>)>,
}

fn account_key(event: &DomainEvent) -> Option<AccountKey> {
    let (customer, currency) = match event {
        DomainEvent::CashbackAccrued(e) => (&e.customer_id, &e.currency),
        DomainEvent::CashbackDebited(e) => (&e.customer_id, &e.currency),
        DomainEvent::CashbackDebitReleased(e) => (&e.customer_id, &e.currency),
        DomainEvent::CashbackAccrualReversed(e) => (&e.customer_id, &e.currency),
        DomainEvent::CashbackRedemptionReturned(e) => (&e.customer_id, &e.currency),
        DomainEvent::CashbackHoldPlaced(e) => (&e.customer_id, &e.currency),
        DomainEvent::CashbackHoldPosted(e) => (&e.customer_id, &e.currency),
        DomainEvent::CashbackHoldVoided(e) => (&e.customer_id, &e.currency),
        _ => return None,
    };
    Some((customer.clone(), currency.code().to_owned()))
}

impl BalanceFold {
    async fn load(
        connection: &mut PgConnection,
        keys: &BTreeSet<AccountKey>,
    ) -> Result<Self, ProjectionError> {
        let (customers, currencies): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(c, k)| (c.as_str(), k.as_str())).unzip();
        let rows = sqlx::query(
            "SELECT a.customer_id, a.currency, a.balance_minor, a.held_minor, a.updated_at \
             FROM cashback_accounts a JOIN unnest($1::text[], $2::text[]) AS k(customer_id, currency) \
               ON a.customer_id = k.customer_id AND a.currency = k.currency",
        )
        .bind(&customers)
        .bind(&currencies)
        .fetch_all(connection)
        .await?;
        let mut accounts: BTreeMap<AccountKey, AccountRow> = keys
            .iter()
            .map(|key| {
                let empty = AccountRow {
                    balance_minor: 0,
                    held_minor: 0,
                    updated_at: None,
                    touched: false,
                };
                (key.clone(), empty)
            })
            .collect();
        for row in rows {
            let key = (row.try_get("customer_id")?, row.try_get("currency")?);
            accounts.insert(
                key,
                AccountRow {
                    balance_minor: row.try_get("balance_minor")?,
                    held_minor: row.try_get("held_minor")?,
                    updated_at: row.try_get("updated_at")?,
                    touched: false,
                },
            );
        }
        Ok(BalanceFold {
            accounts,
            new_holds: Vec::new(),
            settled: Vec::new(),
        })
    }

    fn account(&mut self, event: &RecordedEvent) -> &mut AccountRow {
        let key = account_key(&event.event).expect("only cashback events reach the fold");
        let row = self.accounts.get_mut(&key).expect("every key was loaded");
        row.touched = true;
        row.updated_at = Some(event.recorded_at);
        row
    }

    fn apply(&mut self, event: &RecordedEvent) -> Result<(), ProjectionError> {
        match &event.event {
            DomainEvent::CashbackAccrued(e) => self.move_balance(
                event,
                &e.customer_id,
                &e.currency,
                &e.postings,
                e.balance_after_minor,
            ),
            DomainEvent::CashbackDebited(e) => self.move_balance(
                event,
                &e.customer_id,
                &e.currency,
                &e.postings,
                e.balance_after_minor,
            ),
            DomainEvent::CashbackDebitReleased(e) => self.move_balance(
                event,
                &e.customer_id,
                &e.currency,
                &e.postings,
                e.balance_after_minor,
            ),
            DomainEvent::CashbackAccrualReversed(e) => self.move_balance(
                event,
                &e.customer_id,
                &e.currency,
                &e.postings,
                e.balance_after_minor,
            ),
            DomainEvent::CashbackRedemptionReturned(e) => self.move_balance(
                event,
                &e.customer_id,
                &e.currency,
                &e.postings,
                e.balance_after_minor,
            ),
            DomainEvent::CashbackHoldPlaced(hold) => {
                self.account(event).held_minor += hold.amount_minor;
                self.new_holds.push(NewHold {
                    hold: hold.clone(),
                    status: "pending",
                    at: event.recorded_at,
                });
                Ok(())
            }
            DomainEvent::CashbackHoldPosted(e) => {
                self.settle(event, &e.hold_id, "posted")?;
                self.change_held(event, -e.amount_minor)?;
                self.move_balance(
                    event,
                    &e.customer_id,
                    &e.currency,
                    &e.postings,
                    e.balance_after_minor,
                )
            }
            DomainEvent::CashbackHoldVoided(e) => {
                self.settle(event, &e.hold_id, "voided")?;
                self.change_held(event, -e.amount_minor)
            }
            _ => Ok(()),
        }
    }

    fn move_balance(
        &mut self,
        event: &RecordedEvent,
        customer_id: &str,
        currency: &Currency,
        postings: &Postings,
        balance_after_minor: i64,
    ) -> Result<(), ProjectionError> {
        // Liability account: credits raise what the customer has.
        let change = -postings.net_for(&customer_cashback(customer_id, currency));
        let row = self.account(event);
        row.balance_minor += change;
        if row.balance_minor != balance_after_minor {
            return Err(ProjectionError::invariant(
                event,
                format!(
                    "cashback balance of {customer_id} in {currency} folds to {}, the event says {balance_after_minor}",
                    row.balance_minor
                ),
            ));
        }
        Ok(())
    }

    fn change_held(&mut self, event: &RecordedEvent, change: i64) -> Result<(), ProjectionError> {
        let row = self.account(event);
        row.held_minor += change;
        if row.held_minor < 0 {
            return Err(ProjectionError::invariant(
                event,
                "held cashback would go negative",
            ));
        }
        Ok(())
    }

    /// A hold is posted or voided exactly once, and only from pending.
    fn settle(
        &mut self,
        event: &RecordedEvent,
        hold_id: &str,
        status: &'static str,
    ) -> Result<(), ProjectionError> {
        if let Some(new) = self
            .new_holds
            .iter_mut()
            .find(|new| new.hold.hold_id == hold_id)
        {
            if new.status != "pending" {
                return Err(ProjectionError::invariant(
                    event,
                    format!("hold {hold_id} settled twice"),
                ));
            }
            new.status = status;
            new.at = event.recorded_at;
            return Ok(());
        }
        if self.settled.iter().any(|(id, _, _)| id == hold_id) {
            return Err(ProjectionError::invariant(
                event,
                format!("hold {hold_id} settled twice"),
            ));
        }
        self.settled
            .push((hold_id.to_owned(), status, event.recorded_at));
        Ok(())
    }

    async fn write(self, connection: &mut PgConnection) -> Result<(), ProjectionError> {
        self.write_accounts(connection).await?;
        self.write_new_holds(connection).await?;
        self.write_settled_holds(connection).await
    }

    async fn write_accounts(&self, connection: &mut PgConnection) -> Result<(), ProjectionError> {
        let touched: Vec<(&AccountKey, &AccountRow)> = self
            .accounts
            .iter()
            .filter(|(_, row)| row.touched)
            .collect();
        let customers: Vec<&str> = touched.iter().map(|((c, _), _)| c.as_str()).collect();
        let currencies: Vec<&str> = touched.iter().map(|((_, k), _)| k.as_str()).collect();
        let balances: Vec<i64> = touched.iter().map(|(_, r)| r.balance_minor).collect();
        let held: Vec<i64> = touched.iter().map(|(_, r)| r.held_minor).collect();
        let updated: Vec<DateTime<Utc>> = touched
            .iter()
            .map(|(_, r)| r.updated_at.expect("touched rows have a time"))
            .collect();
        sqlx::query(
            "INSERT INTO cashback_accounts (customer_id, currency, balance_minor, held_minor, updated_at) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[]) \
             ON CONFLICT (customer_id, currency) DO UPDATE SET balance_minor = excluded.balance_minor, \
                 held_minor = excluded.held_minor, updated_at = excluded.updated_at",
        )
        .bind(&customers)
        .bind(&currencies)
        .bind(&balances)
        .bind(&held)
        .bind(&updated)
        .execute(connection)
        .await?;
        Ok(())
    }

    async fn write_new_holds(&self, connection: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.new_holds.is_empty() {
            return Ok(());
        }
        let holds = &self.new_holds;
        sqlx::query(
            "INSERT INTO cashback_holds (hold_id, customer_id, order_id, currency, amount_minor, status, created_at, updated_at) \
             SELECT h, c, o, k, a, s, t, u FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                 $6::text[], $7::timestamptz[], $8::timestamptz[]) AS x(h, c, o, k, a, s, t, u)",
        )
        .bind(holds.iter().map(|n| n.hold.hold_id.as_str()).collect::<Vec<_>>())
        .bind(holds.iter().map(|n| n.hold.customer_id.as_str()).collect::<Vec<_>>())
        .bind(holds.iter().map(|n| n.hold.order_id.as_str()).collect::<Vec<_>>())
        .bind(holds.iter().map(|n| n.hold.currency.code()).collect::<Vec<_>>())
        .bind(holds.iter().map(|n| n.hold.amount_minor).collect::<Vec<_>>())
        .bind(holds.iter().map(|n| n.status).collect::<Vec<_>>())
        .bind(holds.iter().map(|n| n.at).collect::<Vec<_>>())
        .bind(holds.iter().map(|n| n.at).collect::<Vec<_>>())
        .execute(connection)
        .await?;
        Ok(())
    }

    async fn write_settled_holds(
        &self,
        connection: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        if self.settled.is_empty() {
            return Ok(());
        }
        let result = sqlx::query(
            "UPDATE cashback_holds SET status = s.status, updated_at = s.at \
             FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS s(hold_id, status, at) \
             WHERE cashback_holds.hold_id = s.hold_id AND cashback_holds.status = 'pending'",
        )
        .bind(
            self.settled
                .iter()
                .map(|(id, _, _)| id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            self.settled
                .iter()
                .map(|(_, status, _)| *status)
                .collect::<Vec<_>>(),
        )
        .bind(
            self.settled
                .iter()
                .map(|(_, _, at)| *at)
                .collect::<Vec<_>>(),
        )
        .execute(connection)
        .await?;
        if result.rows_affected() != self.settled.len() as u64 {
            return Err(ProjectionError::Invariant {
                position: 0,
                message: format!(
                    "{} holds were to be settled from pending, {} were pending",
                    self.settled.len(),
                    result.rows_affected()
                ),
            });
        }
        Ok(())
    }
}
