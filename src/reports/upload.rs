//! `POST /api/reports/reconciliation/upload`: a provider's own statement (CSV) matched line by
//! line against our records of the period.
//!
//! The header names the columns (`id`, `amount`, `state` at least; any order, other columns
//! ignored, names compared without case). A line is *matched* when we have a record with its
//! id whose amount (compared as a number in major units: `150`, `150.0` and `150.00` are equal)
//! and state are both equal; *differing* otherwise, one entry per differing field. Lines we
//! have no record of are *missing here*; our records of the period absent from the file are
//! *missing there*. A malformed file is refused whole, naming its first bad line.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::csv;
use super::reconciliation::Record;
use super::trial_balance::amount;

/// One line of the uploaded statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    pub line: usize,
    pub id: String,
    pub amount: Decimal,
    pub amount_text: String,
    pub state: String,
}

/// Why a file was refused: the line (1 = header) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Reads the statement; every line must have the header's number of fields, an id, a decimal
/// amount and a state, and no id may repeat.
pub fn read_statement(text: &str) -> Result<Vec<StatementLine>, Refusal> {
    let records = csv::parse(text).map_err(|malformed| Refusal {
        line: malformed.line,
        message: malformed.message,
    })?;
    let mut records = records.into_iter();
    let Some((header_line, header)) = records.next() else {
        return Err(Refusal {
            line: 1,
            message: "the file is empty: a header row naming id, amount and state is required"
                .into(),
        });
    };
    let column = |name: &str| {
        header
            .iter()
            .position(|field| field.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| Refusal {
                line: header_line,
                message: format!("the header has no {name:?} column (it needs id, amount, state)"),
            })
    };
    let (id, amount_at, state) = (column("id")?, column("amount")?, column("state")?);
    let mut seen = HashSet::new();
    let mut lines = Vec::new();
    for (line, fields) in records {
        if fields.len() != header.len() {
            return Err(Refusal {
                line,
                message: format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    header.len()
                ),
            });
        }
        let id_text = fields[id].trim().to_owned();
        if id_text.is_empty() {
            return Err(Refusal {
                line,
                message: "the id is empty".into(),
            });
        }
        let amount_text = fields[amount_at].trim().to_owned();
        let amount = Decimal::from_str(&amount_text)
            .ok()
            .filter(|value| value.scale() <= 2)
            .ok_or_else(|| Refusal {
                line,
                message: format!("amount {amount_text:?} is not a decimal number of major units (at most 2 decimals)"),
            })?;
        let state_text = fields[state].trim().to_owned();
        if state_text.is_empty() {
            return Err(Refusal {
                line,
                message: "the state is empty".into(),
            });
        }
        if !seen.insert(id_text.clone()) {
            return Err(Refusal {
                line,
                message: format!("id {id_text:?} appears twice"),
            });
        }
        lines.push(StatementLine {
            line,
            id: id_text,
            amount,
            amount_text,
            state: state_text,
        });
    }
    Ok(lines)
}

/// Matches the statement against our records of the period.
pub fn match_statement(lines: &[StatementLine], ours: &[Record]) -> Value {
    let by_id: HashMap<&str, &Record> = ours.iter().map(|r| (r.provider_id.as_str(), r)).collect();
    let mut matched = 0;
    let mut missing_here = Vec::new();
    let mut differing = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for line in lines {
        let Some(record) = by_id.get(line.id.as_str()) else {
            missing_here
                .push(json!({"id": line.id, "amount": line.amount_text, "state": line.state}));
            continue;
        };
        seen.insert(record.provider_id.as_str());
        let ours_text = amount(&record.currency, record.amount_minor);
        let ours_amount = Decimal::from_str(&ours_text).unwrap_or_default();
        let mut same = true;
        if ours_amount != line.amount {
            same = false;
            differing.push(json!({"id": line.id, "field": "amount", "ours": ours_text,
                                  "theirs": line.amount_text}));
        }
        if record.state != line.state {
            same = false;
            differing.push(
                json!({"id": line.id, "field": "state", "ours": record.state,
                                  "theirs": line.state}),
            );
        }
        if same {
            matched += 1;
        }
    }
    let missing_there: Vec<Value> = ours
        .iter()
        .filter(|record| !seen.contains(record.provider_id.as_str()))
        .map(|r| {
            json!({"provider_id": r.provider_id, "amount": amount(&r.currency, r.amount_minor),
                   "state": r.state})
        })
        .collect();
    json!({
        "matched": matched,
        "missing_here": missing_here,
        "missing_there": missing_there,
        "differing": differing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_in_any_order_and_extra_ones_ignored() {
        let lines =
            read_statement("State,comment,ID,Amount\n2,first,p-1,150\n-1,\"a, b\",p-2,75.5\n")
                .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].id, "p-1");
        assert_eq!(lines[1].amount, Decimal::new(755, 1));
        assert_eq!(lines[1].state, "-1");
    }

    #[test]
    fn each_malformed_file_names_its_line() {
        let cases = [
            ("", 1, "empty"),
            ("id,amount\n1,2\n", 1, "\"state\""),
            ("id,amount,state\na,1,2\nb,1\n", 3, "2 fields"),
            ("id,amount,state\na,abc,2\n", 2, "amount"),
            ("id,amount,state\na,1.005,2\n", 2, "amount"),
            ("id,amount,state\n,1,2\n", 2, "id is empty"),
            ("id,amount,state\na,1,\n", 2, "state is empty"),
            ("id,amount,state\na,1,2\na,1,2\n", 3, "twice"),
            ("id,amount,state\n\"a,1,2\n", 2, "not closed"),
        ];
        for (text, line, words) in cases {
            let refusal = read_statement(text).unwrap_err();
            assert_eq!(refusal.line, line, "{text:?}: {refusal}");
            assert!(refusal.message.contains(words), "{text:?}: {refusal}");
        }
    }
}
