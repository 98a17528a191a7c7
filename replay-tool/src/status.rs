//! `ledger-replay status`: where each projection stands in the log, gathered in one pass and
//! rendered as a plain-text table (what an operator reads on a terminal or pastes in a ticket).

use ledger_events::EventStore;
use ledger_projections::status::{
    projection_statuses, xmin_horizon_age_seconds, ProjectionStatus, LAG_COUNT_CAP,
};
use sqlx::PgPool;

/// Long errors (a stack of causes) are cut here so the table stays one line per projection.
const ERROR_WIDTH: usize = 100;

/// Everything `status` prints.
#[derive(Clone, Debug)]
pub struct StatusReport {
    /// Highest position assigned in the log (0 when empty).
    pub head_position: i64,
    /// Age of the oldest open write transaction: projections cannot pass it.
    pub xmin_horizon_age_seconds: f64,
    pub projections: Vec<ProjectionStatus>,
}

pub async fn gather(pool: &PgPool) -> anyhow::Result<StatusReport> {
    let queried = async {
        let head_position = EventStore::new(pool.clone()).head_position().await?;
        let xmin_horizon_age_seconds = xmin_horizon_age_seconds(pool).await?;
        let projections = projection_statuses(pool).await?;
        Ok::<_, sqlx::Error>(StatusReport {
            head_position,
            xmin_horizon_age_seconds,
            projections,
        })
    };
    queried.await.map_err(|error| {
        let missing_table = error
            .as_database_error()
            .is_some_and(|db| db.code().as_deref() == Some(UNDEFINED_TABLE));
        if missing_table {
            anyhow::anyhow!(
                "this database has no Ledger schema ({error}); apply it with `ledger migrate` \
                 (or start `ledger serve` once)"
            )
        } else {
            anyhow::Error::from(error).context("reading the projections' status")
        }
    })
}

/// SQLSTATE of "relation does not exist": the database was never migrated.
const UNDEFINED_TABLE: &str = "42P01";

pub fn render(report: &StatusReport) -> String {
    let mut text = format!(
        "log head position: {}\nxmin horizon age: {:.1} s (oldest open write transaction; \
         projections cannot pass it)\n\n",
        report.head_position, report.xmin_horizon_age_seconds
    );
    if report.projections.is_empty() {
        text.push_str(
            "no projection checkpoints yet (the server creates them when its projectors start)\n",
        );
        return text;
    }
    let mut rows = vec![HEADER.map(str::to_owned).to_vec()];
    rows.extend(report.projections.iter().map(cells));
    text.push_str(&align(&rows));
    text
}

const HEADER: [&str; 8] = [
    "PROJECTION",
    "POSITION",
    "CHECKPOINT (TX/POSITION)",
    "APPLIED",
    "LAG EVENTS",
    "LAG SECONDS",
    "STATE",
    "LAST ERROR",
];
/// Columns holding numbers are right-aligned.
const NUMERIC: [bool; 8] = [false, true, false, true, true, true, false, false];

fn cells(status: &ProjectionStatus) -> Vec<String> {
    let lag_events = if status.lag_events >= LAG_COUNT_CAP {
        format!(">={LAG_COUNT_CAP}")
    } else {
        status.lag_events.to_string()
    };
    vec![
        status.name.clone(),
        status.position.to_string(),
        format!("{}/{}", status.checkpoint_tx_id, status.checkpoint_position),
        status.events_applied.to_string(),
        lag_events,
        format!("{:.1}", status.lag_seconds),
        status.state.to_owned(),
        status
            .last_error
            .as_deref()
            .map_or("-".to_owned(), one_line),
    ]
}

/// An error message on one line, at most [`ERROR_WIDTH`] characters.
fn one_line(error: &str) -> String {
    let flat = error.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= ERROR_WIDTH {
        return flat;
    }
    let cut: String = flat.chars().take(ERROR_WIDTH - 1).collect();
    format!("{cut}…")
}

/// Pads every column to its widest cell; the last column is not padded.
fn align(rows: &[Vec<String>]) -> String {
    let mut widths = [0_usize; HEADER.len()];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in rows {
        let last = row.len() - 1;
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(column, cell)| match (column == last, NUMERIC[column]) {
                (true, _) => cell.clone(),
                (false, true) => format!("{cell:>width$}", width = widths[column]),
                (false, false) => format!("{cell:<width$}", width = widths[column]),
            })
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn status(name: &str, lag_events: i64, last_error: Option<&str>) -> ProjectionStatus {
        ProjectionStatus {
            name: name.into(),
            position: 7,
            checkpoint_tx_id: 900,
            checkpoint_position: 7,
            events_applied: 7,
            lag_events,
            lag_seconds: 1.25,
            updated_at: Utc::now(),
            runner: None,
            last_error: last_error.map(str::to_owned),
            state: if last_error.is_some() {
                "failing"
            } else {
                "catching_up"
            },
        }
    }

    #[test]
    fn columns_line_up_and_long_errors_stay_on_one_line() {
        let long_error = format!("first line\n{}", "x".repeat(300));
        let report = StatusReport {
            head_position: 10,
            xmin_horizon_age_seconds: 0.0,
            projections: vec![
                status("orders", 3, None),
                status("cashback_history", LAG_COUNT_CAP, Some(&long_error)),
            ],
        };
        let text = render(&report);
        let table: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.starts_with("PROJECTION"))
            .collect();
        assert_eq!(table.len(), 3, "{text}");
        let state_column = table[0].find("STATE").unwrap();
        for line in &table[1..] {
            let state = &line[state_column..];
            assert!(
                state.starts_with("catching_up") || state.starts_with("failing"),
                "{text}"
            );
        }
        assert!(table[2].contains(&format!(">={LAG_COUNT_CAP}")), "{text}");
        assert!(table[2].contains("first line xxx"), "{text}");
        assert!(table[2].ends_with('…'), "{text}");
        assert!(table[2].chars().count() < 250, "{text}");
    }

    #[test]
    fn no_checkpoints_is_said_in_words() {
        let report = StatusReport {
            head_position: 0,
            xmin_horizon_age_seconds: 0.0,
            projections: Vec::new(),
        };
        assert!(render(&report).contains("no projection checkpoints yet"));
    }
}
