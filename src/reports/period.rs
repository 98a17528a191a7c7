//! The `from` / `to` / `at` query values of the reports: RFC 3339 moments, `from` inclusive and
//! `to` exclusive.

use chrono::{DateTime, Utc};

use crate::http::error::ApiError;
use crate::http::extract::rfc3339;

/// A period of the reports: [from, to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Parses one RFC 3339 value; `name` is the query field named in the error.
pub fn moment(name: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    rfc3339(name, text)
}

impl Period {
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Period, ApiError> {
        let from = from.ok_or_else(|| ApiError::invalid("from", "from is required"))?;
        let to = to.ok_or_else(|| ApiError::invalid("to", "to is required"))?;
        let period = Period {
            from: moment("from", from)?,
            to: moment("to", to)?,
        };
        if period.to < period.from {
            return Err(ApiError::invalid("to", "to must not be before from"));
        }
        Ok(period)
    }

    /// For file names: `20261120T000000Z`.
    pub fn label(&self) -> String {
        format!(
            "{}-{}",
            self.from.format("%Y%m%dT%H%M%SZ"),
            self.to.format("%Y%m%dT%H%M%SZ")
        )
    }
}
