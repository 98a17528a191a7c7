//! `GET /api/reports/payme/statement?from=<ms>&to=<ms>` (`reports:read`, `docs/api.md`):
//! the rows GetStatement answers Payme for the same window, each with its order and its amount in
//! UZS, plus totals per state — what an accountant puts next to Payme's own statement.
//!
//! The view is the inline `payme_transactions` projection, so it is always caught up; the
//! answer's `position` is the log's head when it was read.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use ledger_events::Currency;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::statement::{self, StatementError, StatementLine};
use super::transaction::{
    STATE_CANCELLED, STATE_CANCELLED_AFTER_PERFORM, STATE_CREATED, STATE_PERFORMED,
};
use crate::http::auth::{Authorized, ReportsRead};
use crate::http::error::ApiError;
use crate::http::extract::Query;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct WindowQuery {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Default, Serialize)]
struct Total {
    count: i64,
    amount_tiyin: i64,
    amount: String,
}

fn window_bound(name: &str, text: Option<&str>) -> Result<i64, ApiError> {
    let text = text.ok_or_else(|| {
        ApiError::invalid(name, format!("{name} (epoch milliseconds) is required"))
    })?;
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| {
            ApiError::invalid(
                name,
                format!("{name} must be a non-negative integer (epoch milliseconds)"),
            )
        })
}

pub async fn statement_report(
    State(state): State<AppState>,
    _auth: Authorized<ReportsRead>,
    Query(query): Query<WindowQuery>,
) -> Result<Json<Value>, ApiError> {
    let from = window_bound("from", query.from.as_deref())?;
    let to = window_bound("to", query.to.as_deref())?;
    if from > to {
        return Err(ApiError::invalid("to", "to must not be before from"));
    }
    let position = state.store.head_position().await?;
    let lines = statement::lines(&state.pool, from, to)
        .await
        .map_err(|error| match error {
            StatementError::TooManyRows => ApiError::invalid("to", error.to_string()),
            StatementError::Database(error) => error.into(),
        })?;
    Ok(Json(report_json(from, to, position, &lines)))
}

fn report_json(from: i64, to: i64, position: i64, lines: &[StatementLine]) -> Value {
    let uzs = Currency::uzs();
    let states = [
        STATE_CREATED,
        STATE_PERFORMED,
        STATE_CANCELLED,
        STATE_CANCELLED_AFTER_PERFORM,
    ];
    let mut per_state: HashMap<i32, Total> = HashMap::new();
    let mut all = Total::default();
    let transactions: Vec<Value> = lines
        .iter()
        .map(|line| {
            let entry = &line.entry;
            let total = per_state.entry(entry.state).or_default();
            for total in [total, &mut all] {
                total.count += 1;
                total.amount_tiyin += entry.amount;
            }
            let mut row = serde_json::to_value(entry).expect("statement entries serialise");
            row["order_id"] = json!(line.order_id);
            row["amount_uzs"] = json!(uzs.format_minor(entry.amount));
            row
        })
        .collect();
    let totals: Vec<Value> = states
        .iter()
        .map(|state| {
            let total = per_state.remove(state).unwrap_or_default();
            json!({
                "state": state,
                "count": total.count,
                "amount_tiyin": total.amount_tiyin,
                "amount": uzs.format_minor(total.amount_tiyin),
            })
        })
        .collect();
    assert!(per_state.is_empty(), "every Payme state is one of the four");
    all.amount = uzs.format_minor(all.amount_tiyin);
    json!({
        "from": from,
        "to": to,
        "currency": "UZS",
        "transactions": transactions,
        "totals": totals,
        "total": all,
        "position": position,
    })
}
