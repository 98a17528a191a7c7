//! The checks of CheckPerformTransaction, also run by CreateTransaction for a new id: the
//! account names an order, the order awaits payment, is payable in UZS, and the amount is
//! exactly its amount in tiyin. Checked in that order; the first failure is the answer.

use ledger_events::domain::OrderPlaced;
use serde_json::Value;
use sqlx::PgConnection;

use super::error::PaymeError;
use super::protocol::Amount;
use crate::command::CommandError;
use crate::orders::state::{self as orders, OrderState, OrderStatus};
use crate::state::AppState;

/// Longest account value looked up (our order ids are 36 characters).
const MAX_ACCOUNT_VALUE_CHARS: usize = 200;
/// Largest `account` object accepted, as JSON text. The account is stored verbatim with the
/// transaction (Payme echoes it back in GetStatement), so its size is bounded like any echo.
pub const MAX_ACCOUNT_JSON_BYTES: usize = 2_048;
/// Most fields an `account` object may carry.
const MAX_ACCOUNT_FIELDS: usize = 16;

/// An order Payme may pay now, with the amount it must pay.
#[derive(Clone, Debug)]
pub struct PayableOrder {
    pub order: OrderState,
    pub amount_tiyin: i64,
}

/// The order id `account[field]` names. Any shape that names no order (no account object,
/// no such field, a value of another type, an empty or absurdly long one, an account too big
/// to keep) gives None, which is answered -31050, never -32600: Payme's sandbox sends all sorts
/// there.
pub fn named_order_id(account: Option<&Value>, field: &str) -> Option<String> {
    let object = account?.as_object()?;
    let storable = object.len() <= MAX_ACCOUNT_FIELDS
        && serde_json::to_vec(object).is_ok_and(|text| text.len() <= MAX_ACCOUNT_JSON_BYTES);
    if !storable {
        return None;
    }
    let value = object.get(field)?;
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    let usable = !text.is_empty() && text.chars().count() <= MAX_ACCOUNT_VALUE_CHARS;
    usable.then_some(text)
}

/// What Payme must pay for `placed`, in tiyin: the amount of a UZS order; for a USD/EUR order
/// the UZS amount fixed at the rate stored when it was placed. None: Payme cannot pay it.
pub fn payme_amount(placed: &OrderPlaced) -> Option<i64> {
    match placed.currency.code() {
        "UZS" => Some(placed.amount_minor),
        code if crate::infra::fx_rates::CONVERTIBLE.contains(&code) => {
            placed.fx.as_ref().map(|quote| quote.payable_amount_minor)
        }
        _ => None,
    }
}

/// Runs the checks. The inner error is Payme's answer; the outer one a failure of ours.
pub async fn payable_order(
    state: &AppState,
    connection: &mut PgConnection,
    account: Option<&Value>,
    amount: Amount,
) -> Result<Result<PayableOrder, PaymeError>, CommandError> {
    let Some(order_id) = named_order_id(account, &state.config.payme_account_field) else {
        return Ok(Err(PaymeError::OrderNotFound));
    };
    let Some(order) = orders::load(state, connection, &order_id).await? else {
        return Ok(Err(PaymeError::OrderNotFound));
    };
    if order.status != OrderStatus::AwaitingPayment {
        return Ok(Err(PaymeError::OrderNotAwaitingPayment));
    }
    let Some(expected) = payme_amount(&order.placed) else {
        return Ok(Err(PaymeError::CurrencyNotPayable));
    };
    if amount.tiyin() != Some(expected) {
        return Ok(Err(PaymeError::WrongAmount));
    }
    Ok(Ok(PayableOrder {
        order,
        amount_tiyin: expected,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_string_or_number_in_the_named_field_names_an_order() {
        let field = "order_id";
        assert_eq!(
            named_order_id(Some(&json!({"order_id": "0190-a"})), field).as_deref(),
            Some("0190-a")
        );
        assert_eq!(
            named_order_id(Some(&json!({"order_id": 42})), field).as_deref(),
            Some("42")
        );
        for shape in [
            json!({"order_id": ""}),
            json!({"order_id": null}),
            json!({"order_id": {"id": "x"}}),
            json!({"order_id": ["x"]}),
            json!({"other": "x"}),
            json!("x"),
            json!(7),
            json!({"order_id": "x".repeat(MAX_ACCOUNT_VALUE_CHARS + 1)}),
        ] {
            assert_eq!(named_order_id(Some(&shape), field), None, "{shape}");
        }
        assert_eq!(named_order_id(None, field), None);
    }

    #[test]
    fn an_account_too_big_to_keep_names_no_order() {
        let named = |account: Value| named_order_id(Some(&account), "order_id");
        let padding = "x".repeat(MAX_ACCOUNT_JSON_BYTES);
        assert_eq!(named(json!({"order_id": "o-1", "note": padding})), None);
        let many: serde_json::Map<String, Value> = (0..=MAX_ACCOUNT_FIELDS)
            .map(|n| (format!("f{n}"), json!(n)))
            .chain([("order_id".to_owned(), json!("o-1"))])
            .collect();
        assert_eq!(named(Value::Object(many)), None);
    }
}
