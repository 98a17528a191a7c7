//! Double-entry account balances: sums of postings per account and currency.
//!
//! The postings invariant (every event's postings balance per currency) is checked when an
//! event is built and again here, before anything is added: the trial balance of this table
//! must always be zero per currency.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ledger_events::postings::Side;
use ledger_events::{Postings, RecordedEvent};
use sqlx::PgConnection;

use crate::{ProjectionError, Projector};

pub struct AccountBalances;

#[async_trait]
impl Projector for AccountBalances {
    fn name(&self) -> &'static str {
        "account_balances"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &["order", "cashback", "telegram_payment"]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["account_balances"]
    }

    /// Sums the batch's postings per account first: a batch of a thousand 1C operations touches
    /// the store's account once, not a thousand times.
    async fn apply_batch(
        &self,
        connection: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut totals: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
        for event in events {
            let Some(postings) = event.event.postings() else {
                continue;
            };
            // Re-check the invariant on the data as stored (it was checked when decoded, too).
            Postings::new(postings.iter().cloned().collect())
                .map_err(|error| ProjectionError::invariant(event, error.to_string()))?;
            for posting in postings.iter() {
                let entry = totals
                    .entry((posting.account.as_str(), posting.currency.code()))
                    .or_default();
                match posting.side {
                    Side::Debit => entry.0 += posting.amount_minor,
                    Side::Credit => entry.1 += posting.amount_minor,
                }
            }
        }
        if totals.is_empty() {
            return Ok(());
        }
        let mut accounts = Vec::with_capacity(totals.len());
        let mut currencies = Vec::with_capacity(totals.len());
        let mut debits = Vec::with_capacity(totals.len());
        let mut credits = Vec::with_capacity(totals.len());
        for ((account, currency), (debit, credit)) in totals {
            accounts.push(account);
            currencies.push(currency);
            debits.push(debit);
            credits.push(credit);
        }
        sqlx::query(
            "INSERT INTO account_balances (account, currency, debit_minor, credit_minor) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) \
             ON CONFLICT (account, currency) DO UPDATE \
             SET debit_minor = account_balances.debit_minor + excluded.debit_minor, \
                 credit_minor = account_balances.credit_minor + excluded.credit_minor",
        )
        .bind(&accounts)
        .bind(&currencies)
        .bind(&debits)
        .bind(&credits)
        .execute(connection)
        .await?;
        Ok(())
    }
}
