//! Payme's JSON-RPC dialect (`docs/payme.md`): reading a request's envelope and
//! parameters, writing an answer.
//!
//! Requests are `{"method", "params", "id"}` (no `jsonrpc` member); answers are
//! `{"result", "id"}` or `{"error", "id"}` with the request's `id` echoed, always with HTTP 200.
//! Parameter readers turn every missing or mistyped field into -32600 naming the field, so the
//! methods only ever see well-typed values.

use serde::Serialize;
use serde_json::{Map, Value};

use super::answers::MethodResult;
use super::error::{ErrorBody, PaymeError};
use crate::http::body::whole_number;

/// The methods of the Merchant API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    CheckPerformTransaction,
    CreateTransaction,
    PerformTransaction,
    CancelTransaction,
    CheckTransaction,
    GetStatement,
    SetFiscalData,
    ChangePassword,
}

impl Method {
    const ALL: [Method; 8] = [
        Method::CheckPerformTransaction,
        Method::CreateTransaction,
        Method::PerformTransaction,
        Method::CancelTransaction,
        Method::CheckTransaction,
        Method::GetStatement,
        Method::SetFiscalData,
        Method::ChangePassword,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::CheckPerformTransaction => "CheckPerformTransaction",
            Method::CreateTransaction => "CreateTransaction",
            Method::PerformTransaction => "PerformTransaction",
            Method::CancelTransaction => "CancelTransaction",
            Method::CheckTransaction => "CheckTransaction",
            Method::GetStatement => "GetStatement",
            Method::SetFiscalData => "SetFiscalData",
            Method::ChangePassword => "ChangePassword",
        }
    }

    fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|method| method.name() == name)
    }
}

/// A request whose envelope checked out: a known method and an object of parameters.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: Method,
    pub params: Params<'a>,
}

/// Reads `method` and `params` of a parsed body.
pub fn read_call(body: &Value) -> Result<Call<'_>, PaymeError> {
    let Value::Object(envelope) = body else {
        return Err(PaymeError::invalid("request"));
    };
    let name = match envelope.get("method") {
        Some(Value::String(name)) => name,
        _ => return Err(PaymeError::invalid("method")),
    };
    let method = Method::from_name(name).ok_or_else(|| PaymeError::MethodNotFound {
        method: name.clone(),
    })?;
    match envelope.get("params") {
        Some(Value::Object(params)) => Ok(Call {
            method,
            params: Params { fields: params },
        }),
        _ => Err(PaymeError::invalid("params")),
    }
}

/// The request's `id`, echoed in the answer whatever it is (null when absent).
pub fn request_id(body: &Value) -> Value {
    body.get("id").cloned().unwrap_or(Value::Null)
}

/// An integer parameter that must be a positive whole number to mean anything (an amount).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Amount {
    Tiyin(i64),
    /// A JSON number, but zero, negative, fractional or out of range: a wrong amount (-31001),
    /// not a malformed request.
    NotPositiveWhole,
}

impl Amount {
    pub fn tiyin(self) -> Option<i64> {
        match self {
            Amount::Tiyin(tiyin) => Some(tiyin),
            Amount::NotPositiveWhole => None,
        }
    }
}

/// The `params` object of a call.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a> {
    fields: &'a Map<String, Value>,
}

impl<'a> Params<'a> {
    fn path(name: &str) -> String {
        format!("params.{name}")
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields.get(name).filter(|value| !value.is_null())
    }

    /// A string of 1..=`max_chars` characters.
    pub fn string(&self, name: &str, max_chars: usize) -> Result<&'a str, PaymeError> {
        match self.get(name) {
            Some(Value::String(text)) if !text.is_empty() && text.chars().count() <= max_chars => {
                Ok(text)
            }
            _ => Err(PaymeError::invalid(Self::path(name))),
        }
    }

    /// Any string (a lookup key: an unknown one is the method's business, not a malformed
    /// request).
    pub fn any_string(&self, name: &str) -> Result<&'a str, PaymeError> {
        match self.get(name) {
            Some(Value::String(text)) => Ok(text),
            _ => Err(PaymeError::invalid(Self::path(name))),
        }
    }

    /// A whole JSON number (`1700000000000` or `1700000000000.0`).
    pub fn integer(&self, name: &str) -> Result<i64, PaymeError> {
        let invalid = || PaymeError::invalid(Self::path(name));
        let number = match self.get(name) {
            Some(Value::Number(number)) => number,
            _ => return Err(invalid()),
        };
        whole_number(number).ok_or_else(invalid)
    }

    /// A Payme time: epoch milliseconds from 1970 to the end of year 9999 (anything else is not
    /// a time Payme sends, and could not be shown back as one).
    pub fn epoch_millis(&self, name: &str) -> Result<i64, PaymeError> {
        const LAST_MILLISECOND_OF_9999: i64 = 253_402_300_799_999;
        let millis = self.integer(name)?;
        if (0..=LAST_MILLISECOND_OF_9999).contains(&millis) {
            Ok(millis)
        } else {
            Err(PaymeError::invalid(Self::path(name)))
        }
    }

    /// An amount in tiyin: must be a JSON number (else -32600); its value is judged later.
    pub fn amount(&self, name: &str) -> Result<Amount, PaymeError> {
        match self.get(name) {
            Some(Value::Number(number)) => Ok(whole_number(number)
                .filter(|tiyin| *tiyin > 0)
                .map_or(Amount::NotPositiveWhole, Amount::Tiyin)),
            _ => Err(PaymeError::invalid(Self::path(name))),
        }
    }

    pub fn object(&self, name: &str) -> Result<&'a Value, PaymeError> {
        match self.get(name) {
            Some(value @ Value::Object(_)) => Ok(value),
            _ => Err(PaymeError::invalid(Self::path(name))),
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Envelope<'a> {
    Result {
        result: &'a MethodResult,
        id: &'a Value,
    },
    Error {
        error: ErrorBody,
        id: &'a Value,
    },
}

/// The answer's bytes. Field order is fixed by the answer types, so the same stored facts always
/// give the same bytes (Payme compares repeated answers).
pub fn render(
    outcome: &Result<MethodResult, PaymeError>,
    id: &Value,
    account_field: &str,
) -> Vec<u8> {
    let envelope = match outcome {
        Ok(result) => Envelope::Result { result, id },
        Err(error) => Envelope::Error {
            error: error.body(account_field),
            id,
        },
    };
    serde_json::to_vec(&envelope).expect("answers serialise to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_are_checked_in_order() {
        let not_object = json!([1]);
        assert_eq!(
            read_call(&not_object).unwrap_err(),
            PaymeError::invalid("request")
        );
        let no_method = json!({"params": {}});
        assert_eq!(
            read_call(&no_method).unwrap_err(),
            PaymeError::invalid("method")
        );
        let unknown = json!({"method": "Refund", "params": "x"});
        assert_eq!(
            read_call(&unknown).unwrap_err(),
            PaymeError::MethodNotFound {
                method: "Refund".into()
            }
        );
        let bad_params = json!({"method": "CheckTransaction", "params": [1]});
        assert_eq!(
            read_call(&bad_params).unwrap_err(),
            PaymeError::invalid("params")
        );
        let good = json!({"method": "CheckTransaction", "params": {"id": "a"}, "id": 7});
        assert_eq!(read_call(&good).unwrap().method, Method::CheckTransaction);
        assert_eq!(request_id(&good), json!(7));
        assert_eq!(request_id(&json!({})), Value::Null);
    }

    #[test]
    fn numbers_are_read_exactly() {
        let body = json!({"a": 1700000000000_i64, "b": 15.0, "c": 1.5, "d": "15", "e": -3, "f": 1e30, "g": 0});
        let params = Params {
            fields: body.as_object().unwrap(),
        };
        assert_eq!(params.integer("a"), Ok(1_700_000_000_000));
        assert_eq!(params.integer("b"), Ok(15));
        assert!(params.integer("c").is_err());
        assert!(params.integer("d").is_err(), "strings are not numbers");
        assert_eq!(params.integer("e"), Ok(-3));
        assert_eq!(params.amount("a"), Ok(Amount::Tiyin(1_700_000_000_000)));
        assert_eq!(params.amount("c"), Ok(Amount::NotPositiveWhole));
        assert_eq!(params.amount("e"), Ok(Amount::NotPositiveWhole));
        assert_eq!(params.amount("f"), Ok(Amount::NotPositiveWhole));
        assert_eq!(params.amount("g"), Ok(Amount::NotPositiveWhole));
        assert_eq!(
            params.amount("d"),
            Err(PaymeError::invalid("params.d")),
            "a string amount is a malformed request"
        );
        assert_eq!(
            params.amount("missing"),
            Err(PaymeError::invalid("params.missing"))
        );
    }
}
