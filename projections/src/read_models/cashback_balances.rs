//! Inline cashback balances (`cashback_accounts`) and holds (`cashback_holds`).
//!
//! The balance is folded from the postings on the customer's cashback account, and every event
//! states the balance it left behind (`balance_after_minor`): the two must agree, which is
//! checked on every apply — inline and during a rebuild.
//!
//! Set-based: a batch's changes are summed per account and written with one statement that adds
//! them and returns the new values; the balance before the batch is the returned value minus
//! the batch's changes, from which every event's `balance_after_minor` is checked in order. A 1C
//! chunk of a thousand operations costs a handful of statements.

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
        let mut fold = BalanceFold::new(&keys);
        for event in events {
            fold.apply(event)?;
        }
        fold.write(connection).await
    }
}

/// (customer id, currency code)
type AccountKey = (String, String);

fn held_below_zero(error: sqlx::Error) -> ProjectionError {
    match error.as_database_error().and_then(|db| db.constraint()) {
        Some(_) => ProjectionError::Invariant {
            position: 0,
            message: format!("held cashback would go negative: {error}"),
        },
        None => ProjectionError::Database(error),
    }
}

/// One account's changes in the batch, relative to its balance before the batch.
#[derive(Clone, Debug, Default)]
struct AccountRow {
    balance_minor: i64,
    held_minor: i64,
    updated_at: Option<DateTime<Utc>>,
    touched: bool,
    /// (relative balance after the event, what the event says the balance is, its position)
    checks: Vec<(i64, i64, i64)>,
    /// Lowest relative held amount reached in the batch.
    lowest_held_minor: i64,
}

struct NewHold {
    hold: CashbackHoldPlaced,
    status: &'static str,
    /// When it was placed: kept apart from `at` so a hold placed and settled in one batch (as a
    /// rebuild folds them) is dated as it was when applied one transaction at a time.
    created_at: DateTime<Utc>,
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
    fn new(keys: &BTreeSet<AccountKey>) -> Self {
        BalanceFold {
            accounts: keys
                .iter()
                .map(|key| (key.clone(), AccountRow::default()))
                .collect(),
            new_holds: Vec::new(),
            settled: Vec::new(),
        }
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
                    created_at: event.recorded_at,
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
        let position = event.position;
        let row = self.account(event);
        row.balance_minor += change;
        let relative = row.balance_minor;
        row.checks.push((relative, balance_after_minor, position));
        Ok(())
    }

    fn change_held(&mut self, event: &RecordedEvent, change: i64) -> Result<(), ProjectionError> {
        let row = self.account(event);
        row.held_minor += change;
        row.lowest_held_minor = row.lowest_held_minor.min(row.held_minor);
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

    /// Adds the batch's changes and checks them against the values that come back: the balance
    /// before the batch is the new balance minus the batch's change, and folding forward from it
    /// must give every event's `balance_after_minor`; held cashback never goes below zero.
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
        // Existing accounts first: add the changes and return the new values. (Not as an upsert:
        // PostgreSQL checks `held_minor >= 0` on the row proposed for insertion before it looks
        // for a conflict, and a batch that releases holds proposes a negative held amount.)
        let mut rows = sqlx::query(
            "UPDATE cashback_accounts AS a SET \
                 balance_minor = a.balance_minor + d.balance, \
                 held_minor = a.held_minor + d.held, updated_at = d.updated_at \
             FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[]) \
                 AS d(customer_id, currency, balance, held, updated_at) \
             WHERE a.customer_id = d.customer_id AND a.currency = d.currency \
             RETURNING a.customer_id, a.currency, a.balance_minor, a.held_minor",
        )
        .bind(&customers)
        .bind(&currencies)
        .bind(&balances)
        .bind(&held)
        .bind(&updated)
        .fetch_all(&mut *connection)
        .await
        .map_err(held_below_zero)?;
        if rows.len() < touched.len() {
            // Accounts seen for the first time (their stream lock is held: nobody else creates them).
            let found: BTreeSet<(String, String)> = rows
                .iter()
                .map(|row| Ok((row.try_get("customer_id")?, row.try_get("currency")?)))
                .collect::<Result<_, sqlx::Error>>()?;
            let new: Vec<usize> = (0..touched.len())
                .filter(|&index| !found.contains(touched[index].0))
                .collect();
            rows.extend(
                sqlx::query(
                    "INSERT INTO cashback_accounts (customer_id, currency, balance_minor, held_minor, updated_at) \
                     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[]) \
                     RETURNING customer_id, currency, balance_minor, held_minor",
                )
                .bind(new.iter().map(|&i| customers[i]).collect::<Vec<_>>())
                .bind(new.iter().map(|&i| currencies[i]).collect::<Vec<_>>())
                .bind(new.iter().map(|&i| balances[i]).collect::<Vec<_>>())
                .bind(new.iter().map(|&i| held[i]).collect::<Vec<_>>())
                .bind(new.iter().map(|&i| updated[i]).collect::<Vec<_>>())
                .fetch_all(&mut *connection)
                .await
                .map_err(held_below_zero)?,
            );
        }
        for row in rows {
            let key: AccountKey = (row.try_get("customer_id")?, row.try_get("currency")?);
            let account = &self.accounts[&key];
            let before = row.try_get::<i64, _>("balance_minor")? - account.balance_minor;
            for (relative, stated, position) in &account.checks {
                if before + relative != *stated {
                    return Err(ProjectionError::Invariant {
                        position: *position,
                        message: format!(
                            "cashback balance of {} in {} folds to {}, the event says {stated}",
                            key.0,
                            key.1,
                            before + relative
                        ),
                    });
                }
            }
            let held_before = row.try_get::<i64, _>("held_minor")? - account.held_minor;
            if held_before + account.lowest_held_minor < 0 {
                return Err(ProjectionError::Invariant {
                    position: 0,
                    message: format!("held cashback of {} in {} would go negative", key.0, key.1),
                });
            }
        }
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
        .bind(holds.iter().map(|n| n.created_at).collect::<Vec<_>>())
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
