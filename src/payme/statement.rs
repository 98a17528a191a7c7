//! GetStatement and its report twin (`GET /api/reports/payme/statement`): every transaction
//! whose Payme `time` lies in `[from, to]` (inclusive), ascending by `time`, in every state —
//! read from the inline `payme_transactions` projection, which holds every transition already
//! acknowledged to Payme.

use serde_json::Value;
use sqlx::{PgPool, Row};

use super::answers::StatementEntry;

/// Most transactions one statement may hold. Payme's statement has no paging, so a window
/// holding more is refused (and logged) rather than cut short: a truncated statement would be
/// silently wrong for reconciliation.
pub const MAX_STATEMENT_ROWS: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("the window holds more than {MAX_STATEMENT_ROWS} transactions")]
    TooManyRows,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// A statement line with the order it pays (for the report).
#[derive(Clone, Debug, PartialEq)]
pub struct StatementLine {
    pub entry: StatementEntry,
    pub order_id: String,
}

pub async fn lines(
    pool: &PgPool,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<StatementLine>, StatementError> {
    if from_ms > to_ms {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(MAX_STATEMENT_ROWS + 1).expect("a small bound");
    let rows = sqlx::query(
        "SELECT payme_id, payme_time_ms, amount_tiyin, account, create_time_ms, perform_time_ms, \
                cancel_time_ms, transaction_id, state, reason, order_id \
         FROM payme_transactions WHERE payme_time_ms BETWEEN $1 AND $2 \
         ORDER BY payme_time_ms, payme_id LIMIT $3",
    )
    .bind(from_ms)
    .bind(to_ms)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    if rows.len() > MAX_STATEMENT_ROWS {
        tracing::error!(
            from_ms,
            to_ms,
            "a Payme statement window holds more than {MAX_STATEMENT_ROWS} transactions; refused"
        );
        return Err(StatementError::TooManyRows);
    }
    rows.iter()
        .map(|row| {
            Ok(StatementLine {
                entry: StatementEntry {
                    id: row.try_get("payme_id")?,
                    time: row.try_get("payme_time_ms")?,
                    amount: row.try_get("amount_tiyin")?,
                    account: row.try_get::<Value, _>("account")?,
                    create_time: row.try_get("create_time_ms")?,
                    perform_time: row.try_get("perform_time_ms")?,
                    cancel_time: row.try_get("cancel_time_ms")?,
                    transaction: row.try_get("transaction_id")?,
                    state: i32::from(row.try_get::<i16, _>("state")?),
                    reason: row.try_get("reason")?,
                    receivers: None,
                },
                order_id: row.try_get("order_id")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(StatementError::from)
}
