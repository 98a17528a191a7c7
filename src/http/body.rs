//! Request bodies: the JSON extractor (size limit and syntax errors in our own error format)
//! and [`Fields`], which reads and validates values so that every 400 names its `field`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use ledger_events::Currency;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::error::ApiError;

/// Longest text accepted in an ordinary string field.
const MAX_TEXT_CHARS: usize = 1_000;

/// The body parsed as JSON. Bodies above the route's limit get 413 `payload_too_large`.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(request, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The body's bytes: 413 `payload_too_large` above the route's limit, 400 if unreadable.
async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidRequest {
                    field: None,
                    message: format!("could not read the request body: {rejection}"),
                }
            }
        })
}

/// The body as UTF-8 text (an uploaded CSV statement). Same limits and refusals as
/// [`JsonBody`]; bytes that are not UTF-8 are a 400.
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(request, state).await?;
        String::from_utf8(bytes.to_vec())
            .map(TextBody)
            .map_err(|_| ApiError::InvalidRequest {
                field: None,
                message: "the body is not UTF-8 text".into(),
            })
    }
}

/// Parses a body as JSON. A leading UTF-8 byte-order mark is skipped: 1C's JSON writers put
/// one in front of every document, and it carries no meaning. Numbers keep their own text
/// (serde_json's `arbitrary_precision`), so an amount is read exactly as the client wrote it.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";
    let bytes = bytes.strip_prefix(BYTE_ORDER_MARK).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidRequest {
            field: None,
            message: "the request body is empty; a JSON object was expected".into(),
        });
    }
    let value = serde_json::from_slice(bytes).map_err(|error| ApiError::InvalidRequest {
        field: None,
        message: format!("the request body is not valid JSON: {error}"),
    })?;
    if holds_nul(&value) {
        return Err(ApiError::InvalidRequest {
            field: None,
            message: "the request body holds a NUL character (\\u0000), which no text may contain"
                .into(),
        });
    }
    Ok(value)
}

/// Whether any string or member name of `value` holds U+0000. PostgreSQL can store that
/// character in neither `text` nor `jsonb`, so such input is refused at the edge rather than
/// failing (as a 500) wherever it would be written. Recursion is bounded by serde_json's
/// nesting limit.
pub fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(members) => members
            .iter()
            .any(|(name, member)| name.contains('\0') || holds_nul(member)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A JSON object being validated, with its path for error messages (`items[2].price`).
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: String,
}

impl<'a> Fields<'a> {
    /// The body's top-level object.
    pub fn root(value: &'a Value) -> Result<Self, ApiError> {
        Self::at(value, String::new())
    }

    /// An object inside the body, its fields named from `path` (`transactions[3]`).
    pub fn nested(value: &'a Value, path: &str) -> Result<Self, ApiError> {
        Self::at(value, path.to_owned())
    }

    fn at(value: &'a Value, path: String) -> Result<Self, ApiError> {
        match value {
            Value::Object(object) => Ok(Fields { object, path }),
            _ => Err(ApiError::InvalidRequest {
                field: (!path.is_empty()).then(|| path.clone()),
                message: format!(
                    "{} must be a JSON object",
                    if path.is_empty() {
                        "the request body"
                    } else {
                        &path
                    }
                ),
            }),
        }
    }

    /// The full path of a field of this object.
    pub fn path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// A present, non-null value.
    pub fn value(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|value| !value.is_null())
    }

    fn missing(&self, name: &str) -> ApiError {
        ApiError::invalid(self.path(name), format!("{} is required", self.path(name)))
    }

    pub fn string(&self, name: &str) -> Result<String, ApiError> {
        self.optional_string(name)?
            .ok_or_else(|| self.missing(name))
    }

    /// A string of 1..=MAX_TEXT_CHARS characters, or absent/null.
    pub fn optional_string(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.optional_string_up_to(name, MAX_TEXT_CHARS)
    }

    pub fn optional_string_up_to(
        &self,
        name: &str,
        max_chars: usize,
    ) -> Result<Option<String>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::String(text)) => {
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    Err(ApiError::invalid(
                        self.path(name),
                        format!("{} must not be empty", self.path(name)),
                    ))
                } else if trimmed.chars().count() > max_chars {
                    Err(ApiError::invalid(
                        self.path(name),
                        format!("{} is longer than {max_chars} characters", self.path(name)),
                    ))
                } else {
                    Ok(Some(trimmed.to_owned()))
                }
            }
            Some(_) => Err(ApiError::invalid(
                self.path(name),
                format!("{} must be a string", self.path(name)),
            )),
        }
    }

    /// An integer given as a JSON number or as a string of digits. A number written with a zero
    /// fraction or an exponent (`2.0`, `1e3`) is the same integer: JSON (and its schema language)
    /// does not tell them apart, so neither do we.
    pub fn optional_integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        let invalid = || {
            ApiError::invalid(
                self.path(name),
                format!("{} must be an integer", self.path(name)),
            )
        };
        match self.value(name) {
            None => Ok(None),
            Some(Value::Number(number)) => whole_number(number).map(Some).ok_or_else(invalid),
            Some(Value::String(text)) => text.trim().parse().map(Some).map_err(|_| invalid()),
            Some(_) => Err(invalid()),
        }
    }

    pub fn positive_integer(&self, name: &str, max: i64) -> Result<i64, ApiError> {
        let value = self
            .optional_integer(name)?
            .ok_or_else(|| self.missing(name))?;
        if value < 1 || value > max {
            return Err(ApiError::invalid(
                self.path(name),
                format!("{} must be an integer from 1 to {max}", self.path(name)),
            ));
        }
        Ok(value)
    }

    /// A money amount in `currency`: a decimal string or JSON number, > 0, at most the
    /// currency's fractional digits. Anything else is `invalid_amount`.
    pub fn amount(&self, name: &str, currency: &Currency) -> Result<i64, ApiError> {
        self.optional_amount(name, currency)?
            .ok_or_else(|| ApiError::InvalidAmount {
                field: self.path(name),
                message: "an amount is required".into(),
            })
    }

    pub fn optional_amount(
        &self,
        name: &str,
        currency: &Currency,
    ) -> Result<Option<i64>, ApiError> {
        let Some(value) = self.value(name) else {
            return Ok(None);
        };
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => String::new(),
        };
        currency
            .parse_amount(&text)
            .map(Some)
            .map_err(|error| ApiError::InvalidAmount {
                field: self.path(name),
                message: error.to_string(),
            })
    }

    /// A decimal number (JSON number or string), for percentages and rates.
    pub fn optional_decimal(&self, name: &str) -> Result<Option<Decimal>, ApiError> {
        let invalid = || {
            ApiError::invalid(
                self.path(name),
                format!("{} must be a decimal number", self.path(name)),
            )
        };
        match self.value(name) {
            None => Ok(None),
            Some(Value::Number(number)) => {
                number.to_string().parse().map(Some).map_err(|_| invalid())
            }
            Some(Value::String(text)) => text.trim().parse().map(Some).map_err(|_| invalid()),
            Some(_) => Err(invalid()),
        }
    }

    /// A non-empty array of objects (at most `max` of them).
    pub fn objects(&self, name: &str, max: usize) -> Result<Vec<Fields<'a>>, ApiError> {
        let path = self.path(name);
        let items = match self.value(name) {
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(ApiError::invalid(
                    path.clone(),
                    format!("{path} must be an array"),
                ))
            }
            None => return Err(self.missing(name)),
        };
        if items.is_empty() || items.len() > max {
            return Err(ApiError::invalid(
                path.clone(),
                format!(
                    "{path} must hold 1 to {max} entries, it holds {}",
                    items.len()
                ),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(index, item)| Fields::at(item, format!("{path}[{index}]")))
            .collect()
    }
}

/// A JSON number's exact integer value, read from its own text (never through a float), when it
/// has no fractional part and fits an i64 (`2.0` and `2e0` are 2).
pub fn whole_number(number: &serde_json::Number) -> Option<i64> {
    if let Some(integer) = number.as_i64() {
        return Some(integer);
    }
    let text = number.to_string();
    let decimal = text
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()?;
    if decimal.fract() != Decimal::ZERO {
        return None;
    }
    rust_decimal::prelude::ToPrimitive::to_i64(&decimal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_nested_field() {
        let body = json!({"items": [{"qty": 1}, {"qty": 0}]});
        let root = Fields::root(&body).unwrap();
        let items = root.objects("items", 10).unwrap();
        assert!(items[0].positive_integer("qty", 100).is_ok());
        match items[1].positive_integer("qty", 100) {
            Err(ApiError::InvalidRequest { field, .. }) => {
                assert_eq!(field.as_deref(), Some("items[1].qty"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn amounts_accept_strings_and_numbers_only_when_exact() {
        let body =
            json!({"a": "150.00", "b": 12.5, "c": 1.005, "d": "abc", "e": 0, "f": -1, "g": true});
        let fields = Fields::root(&body).unwrap();
        let uzs = Currency::uzs();
        assert_eq!(fields.amount("a", &uzs).unwrap(), 15_000);
        assert_eq!(fields.amount("b", &uzs).unwrap(), 1_250);
        for bad in ["c", "d", "e", "f", "g", "missing"] {
            match fields.amount(bad, &uzs) {
                Err(ApiError::InvalidAmount { field, .. }) => assert_eq!(field, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn amounts_are_read_from_the_numbers_own_text() {
        let body = parse_json(
            br#"{"a": 1.0000000000000001, "b": 1e27, "c": 12.50, "d": 1000000000000000000000000000}"#,
        )
        .unwrap();
        let fields = Fields::root(&body).unwrap();
        let uzs = Currency::uzs();
        assert_eq!(fields.amount("c", &uzs).unwrap(), 1_250);
        for bad in ["a", "b", "d"] {
            match fields.amount(bad, &uzs) {
                Err(ApiError::InvalidAmount { field, .. }) => assert_eq!(field, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn integers_may_be_written_as_whole_numbers_in_any_notation() {
        let body = parse_json(
            br#"{"a": 2.0, "b": 1e3, "c": "7", "d": 2.5, "e": 1e40, "f": 9223372036854775808}"#,
        )
        .unwrap();
        let fields = Fields::root(&body).unwrap();
        assert_eq!(fields.optional_integer("a").unwrap(), Some(2));
        assert_eq!(fields.optional_integer("b").unwrap(), Some(1_000));
        assert_eq!(fields.optional_integer("c").unwrap(), Some(7));
        for bad in ["d", "e", "f"] {
            assert!(fields.optional_integer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_holding_nul_is_refused() {
        for body in [&br#"{"a": "x\u0000y"}"#[..], br#"{"a": [{"b\u0000": 1}]}"#] {
            match parse_json(body) {
                Err(ApiError::InvalidRequest { message, .. }) => assert!(message.contains("NUL")),
                other => panic!("{other:?}"),
            }
        }
        assert!(
            parse_json(br#"{"a": "x\\u0000"}"#).is_ok(),
            "an escaped backslash is text"
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let body = parse_json(b"\xEF\xBB\xBF{\"x\": 1}").unwrap();
        assert_eq!(body["x"], 1);
        assert!(
            parse_json(b"\xEF\xBB\xBF").is_err(),
            "a mark alone is an empty body"
        );
    }

    #[test]
    fn the_body_must_be_an_object() {
        assert!(Fields::root(&json!([1])).is_err());
        assert!(parse_json(b"").is_err());
        assert!(parse_json(b"{").is_err());
    }
}
