//! One register operation as 1C sends it, parsed and validated (`docs/onec.md`).

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use ledger_events::{Fingerprint, Idempotency};
use serde::Serialize;
use serde_json::Value;

use super::auth::StoreContext;
use crate::customers::phone;
use crate::http::body::Fields;
use crate::http::error::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Cashback credited for a purchase.
    Accrual,
    /// Cashback spent at the register.
    Debit,
    /// A voided receipt gives back (part of) a debit.
    Release,
    /// A voided receipt takes back (part of) an accrual.
    Reversal,
}

impl OperationKind {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "accrual" => Some(OperationKind::Accrual),
            "debit" => Some(OperationKind::Debit),
            "release" => Some(OperationKind::Release),
            "reversal" => Some(OperationKind::Reversal),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Accrual => "accrual",
            OperationKind::Debit => "debit",
            OperationKind::Release => "release",
            OperationKind::Reversal => "reversal",
        }
    }

    fn refers_to_another(self) -> bool {
        matches!(self, OperationKind::Release | OperationKind::Reversal)
    }
}

#[derive(Clone, Debug)]
pub struct Operation {
    /// 1C's document id, `{OperationType}_{DocumentNumber}_{Date}`.
    pub external_id: String,
    pub kind: OperationKind,
    /// In the store's currency.
    pub amount_minor: i64,
    /// Normalised.
    pub phone: String,
    pub performed_at: DateTime<Utc>,
    pub description: Option<String>,
    pub register_id: Option<String>,
    pub ref_external_id: Option<String>,
}

/// What a repeat of the same external id is compared on: type, amount (as a decimal), the
/// normalised phone and the reference.
#[derive(Serialize)]
struct FingerprintFields<'a> {
    kind: &'a str,
    amount_minor: i64,
    phone: &'a str,
    ref_external_id: Option<&'a str>,
}

impl Operation {
    /// `1c:<store>:<external id>`, unique per store.
    pub fn idempotency(&self, store_id: &str) -> Idempotency {
        Idempotency::new(
            format!("1c:{store_id}:{}", self.external_id),
            Fingerprint::of(&FingerprintFields {
                kind: self.kind.as_str(),
                amount_minor: self.amount_minor,
                phone: &self.phone,
                ref_external_id: self.ref_external_id.as_deref(),
            }),
        )
    }
}

/// Longest id echoed back in a batch result or kept in the sync log. Accepted items have ids of
/// at most 200 (`external_id`) and 100 (`register_id`) characters; a refused item may carry
/// anything, and is echoed cut to this length.
const MAX_ECHOED_ID_CHARS: usize = 200;

/// The external id of an item, when it has a usable one (for batch results and the sync log).
pub fn external_id_of(item: &Value) -> Option<String> {
    item.get("external_id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(bounded_echo)
}

pub fn register_id_of(item: &Value) -> Option<String> {
    item.get("register_id")
        .and_then(Value::as_str)
        .map(bounded_echo)
}

fn bounded_echo(text: &str) -> String {
    text.chars().take(MAX_ECHOED_ID_CHARS).collect()
}

/// Parses one operation; errors name the offending field.
pub fn parse(item: &Value, store: &StoreContext, path: &str) -> Result<Operation, ApiError> {
    let fields = Fields::nested(item, path)?;
    let external_id = fields
        .optional_string_up_to("external_id", 200)?
        .ok_or_else(|| ApiError::invalid(fields.path("external_id"), "external_id is required"))?;
    let kind_text = fields.string("type")?;
    let kind = OperationKind::parse(&kind_text).ok_or_else(|| {
        ApiError::invalid(
            fields.path("type"),
            "type must be accrual, debit, release or reversal",
        )
    })?;
    let amount_minor = fields.amount("amount", &store.currency)?;
    let raw_phone = fields
        .optional_string("user_phone")?
        .ok_or_else(|| ApiError::invalid(fields.path("user_phone"), "user_phone is required"))?;
    let phone = phone::normalize(&raw_phone).ok_or(ApiError::InvalidPhone {
        field: fields.path("user_phone"),
    })?;
    let created_at = fields.string("created_at")?;
    let performed_at = parse_time(&created_at, store.timezone).ok_or_else(|| {
        ApiError::invalid(
            fields.path("created_at"),
            "created_at must be an RFC 3339 time (without an offset it is the store's local time)",
        )
    })?;
    let ref_external_id = fields.optional_string_up_to("ref_external_id", 200)?;
    match (kind.refers_to_another(), &ref_external_id) {
        (true, None) => {
            return Err(ApiError::invalid(
                fields.path("ref_external_id"),
                format!("a {} needs ref_external_id", kind.as_str()),
            ))
        }
        (false, Some(_)) => {
            return Err(ApiError::invalid(
                fields.path("ref_external_id"),
                format!(
                    "ref_external_id is only for release and reversal, not {}",
                    kind.as_str()
                ),
            ))
        }
        _ => {}
    }
    Ok(Operation {
        external_id,
        kind,
        amount_minor,
        phone,
        performed_at,
        description: fields.optional_string("description")?,
        register_id: fields.optional_string_up_to("register_id", 100)?,
        ref_external_id,
    })
}

/// RFC 3339 with an offset, or a local date-time in the store's zone.
fn parse_time(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Some(with_offset.with_timezone(&Utc));
    }
    let local = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())?;
    // In a DST gap there is no such local time; in an overlap take the earlier instant.
    zone.from_local_datetime(&local)
        .earliest()
        .map(|time| time.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_use_the_store_zone() {
        let tashkent: Tz = "Asia/Tashkent".parse().unwrap();
        let utc = parse_time("2026-11-20T15:00:00", tashkent).unwrap();
        assert_eq!(utc.to_rfc3339(), "2026-11-20T10:00:00+00:00");
        let explicit = parse_time("2026-11-20T15:00:00+03:00", tashkent).unwrap();
        assert_eq!(explicit.to_rfc3339(), "2026-11-20T12:00:00+00:00");
        assert!(parse_time("yesterday", tashkent).is_none());
        assert!(parse_time("2026-13-01T00:00:00", tashkent).is_none());
    }
}
