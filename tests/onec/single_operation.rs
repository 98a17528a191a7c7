//! Every status a single operation can end in, as one table walked in order: each row is the
//! state it needs, the operation a register sends, and what the register must see — HTTP
//! status, `status`, error code, `balance_after`, further fields of the answer, and the
//! customer's balance afterwards. The rows share one customer and run in order, so a row may
//! depend on the rows above it (a repeat, a reference to an earlier operation).

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::onec::{operation, referring};
use crate::common::{spawn_app, TestApp};
use crate::support::{balance, single, PHONE};

/// The other customers the table touches.
const OTHER_CUSTOMER: &str = "79001112233";
const LATE_CUSTOMER: &str = "998909999999";

/// What must hold before a row's operation is sent (beyond what the rows above it did).
enum Given {
    Nothing,
    /// A customer with this phone is registered through the shop API.
    Registered(&'static str),
}

/// An expected field of the answer beyond the table's fixed columns.
enum Field {
    Is(Value),
    /// A number above zero (a log position).
    Positive,
    /// Equal to the same field of the answer to the row named here.
    SameAsRow(&'static str),
}

struct Row {
    /// Named, with the row's number, in every failure message.
    name: &'static str,
    given: Given,
    send: Value,
    http: StatusCode,
    /// `status` of an answer that applied or recognised the operation; `None` for a refusal,
    /// whose body has no `status`.
    status: Option<&'static str>,
    /// Error code of a refusal; `None` for a success, whose body has no `error`.
    error: Option<&'static str>,
    /// `balance_after` of the answer; `None` where the answer has none (refusals).
    balance_after: Option<&'static str>,
    /// Further fields of the answer.
    fields: Vec<(&'static str, Field)>,
    /// The main customer's balance after the row, as `GET /balance` shows it.
    balance: &'static str,
}

/// A valid accrual with one field replaced.
fn accrual_with(field: &str, value: Value) -> Value {
    let mut item = operation("Accrual_13", "accrual", "5", PHONE);
    item[field] = value;
    item
}

/// One row per invalid field: refused as a bad request naming the field, nothing recorded.
fn invalid_field(name: &'static str, field: &'static str, value: Value, code: &'static str) -> Row {
    Row {
        name,
        given: Given::Nothing,
        send: accrual_with(field, value),
        http: StatusCode::BAD_REQUEST,
        status: None,
        error: Some(code),
        balance_after: None,
        fields: vec![("field", Field::Is(json!(field)))],
        balance: "500.00",
    }
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "an accrual (the phone as the register formats it)",
            given: Given::Nothing,
            send: operation(
                "Accrual_1_20261120",
                "accrual",
                "1000.00",
                "+998 90 123 45 67",
            ),
            http: StatusCode::CREATED,
            status: Some("ok"),
            error: None,
            balance_after: Some("1000.00"),
            fields: vec![("position", Field::Positive)],
            balance: "1000.00",
        },
        Row {
            name: "the same accrual again: the original answer, no second credit",
            given: Given::Nothing,
            send: operation("Accrual_1_20261120", "accrual", "1000", PHONE),
            http: StatusCode::OK,
            status: Some("already_exists"),
            error: None,
            balance_after: Some("1000.00"),
            fields: vec![
                ("idempotent", Field::Is(json!(true))),
                (
                    "transaction_id",
                    Field::SameAsRow("an accrual (the phone as the register formats it)"),
                ),
            ],
            balance: "1000.00",
        },
        Row {
            name: "the same external id with a different amount",
            given: Given::Nothing,
            send: operation("Accrual_1_20261120", "accrual", "999.00", PHONE),
            http: StatusCode::CONFLICT,
            status: None,
            error: Some("idempotency_conflict"),
            balance_after: None,
            fields: vec![],
            balance: "1000.00",
        },
        Row {
            name: "a debit within the balance",
            given: Given::Nothing,
            send: operation("Debit_2_20261120", "debit", "300.00", PHONE),
            http: StatusCode::CREATED,
            status: Some("ok"),
            error: None,
            balance_after: Some("700.00"),
            fields: vec![],
            balance: "700.00",
        },
        Row {
            name: "a debit above what is available",
            given: Given::Nothing,
            send: operation("Debit_3_20261120", "debit", "701.00", PHONE),
            http: StatusCode::UNPROCESSABLE_ENTITY,
            status: None,
            error: Some("insufficient_balance"),
            balance_after: None,
            fields: vec![
                ("balance", Field::Is(json!("700.00"))),
                ("requested", Field::Is(json!("701.00"))),
            ],
            balance: "700.00",
        },
        Row {
            name: "an accrual that would make the refused debit affordable",
            given: Given::Nothing,
            send: operation("Accrual_4_20261120", "accrual", "100.00", PHONE),
            http: StatusCode::CREATED,
            status: Some("ok"),
            error: None,
            balance_after: Some("800.00"),
            fields: vec![],
            balance: "800.00",
        },
        Row {
            name: "the refused debit repeated: the original refusal, word for word",
            given: Given::Nothing,
            send: operation("Debit_3_20261120", "debit", "701.00", PHONE),
            http: StatusCode::UNPROCESSABLE_ENTITY,
            status: None,
            error: Some("insufficient_balance"),
            balance_after: None,
            fields: vec![
                ("balance", Field::Is(json!("700.00"))),
                ("requested", Field::Is(json!("701.00"))),
            ],
            balance: "800.00",
        },
        Row {
            name: "a release of part of the debit",
            given: Given::Nothing,
            send: referring("Release_5", "release", "100.00", PHONE, "Debit_2_20261120"),
            http: StatusCode::CREATED,
            status: Some("ok"),
            error: None,
            balance_after: Some("900.00"),
            fields: vec![],
            balance: "900.00",
        },
        Row {
            name: "a release of more than is left of the debit",
            given: Given::Nothing,
            send: referring("Release_6", "release", "250.00", PHONE, "Debit_2_20261120"),
            http: StatusCode::UNPROCESSABLE_ENTITY,
            status: None,
            error: Some("exceeds_remaining"),
            balance_after: None,
            fields: vec![("remaining", Field::Is(json!("200.00")))],
            balance: "900.00",
        },
        Row {
            name: "a reversal of part of an accrual",
            given: Given::Nothing,
            send: referring(
                "Reversal_7",
                "reversal",
                "400.00",
                PHONE,
                "Accrual_1_20261120",
            ),
            http: StatusCode::CREATED,
            status: Some("ok"),
            error: None,
            balance_after: Some("500.00"),
            fields: vec![],
            balance: "500.00",
        },
        Row {
            name: "a release of an unknown operation",
            given: Given::Nothing,
            send: referring("Release_8", "release", "1", PHONE, "Nope_1"),
            http: StatusCode::NOT_FOUND,
            status: None,
            error: Some("operation_not_found"),
            balance_after: None,
            fields: vec![],
            balance: "500.00",
        },
        Row {
            name: "a release of an accrual (a reference of the wrong kind)",
            given: Given::Nothing,
            send: referring("Release_9", "release", "1", PHONE, "Accrual_1_20261120"),
            http: StatusCode::CONFLICT,
            status: None,
            error: Some("invalid_reference"),
            balance_after: None,
            fields: vec![],
            balance: "500.00",
        },
        Row {
            name: "an accrual for another customer",
            given: Given::Registered(OTHER_CUSTOMER),
            send: operation("Accrual_10", "accrual", "50", OTHER_CUSTOMER),
            http: StatusCode::CREATED,
            status: Some("ok"),
            error: None,
            balance_after: Some("50.00"),
            fields: vec![],
            balance: "500.00",
        },
        Row {
            name: "a reversal of another customer's accrual",
            given: Given::Nothing,
            send: referring("Reversal_11", "reversal", "1", PHONE, "Accrual_10"),
            http: StatusCode::CONFLICT,
            status: None,
            error: Some("invalid_reference"),
            balance_after: None,
            fields: vec![],
            balance: "500.00",
        },
        Row {
            name: "an unknown customer: not recorded",
            given: Given::Nothing,
            send: operation("Accrual_12", "accrual", "1", LATE_CUSTOMER),
            http: StatusCode::NOT_FOUND,
            status: None,
            error: Some("user_not_found"),
            balance_after: None,
            fields: vec![],
            balance: "500.00",
        },
        Row {
            name: "the same operation resent once the customer exists",
            given: Given::Registered(LATE_CUSTOMER),
            send: operation("Accrual_12", "accrual", "1", LATE_CUSTOMER),
            http: StatusCode::CREATED,
            status: Some("ok"),
            error: None,
            balance_after: Some("1.00"),
            fields: vec![],
            balance: "500.00",
        },
        invalid_field(
            "a phone too short",
            "user_phone",
            json!("12345"),
            "invalid_phone",
        ),
        invalid_field(
            "an amount with three decimals",
            "amount",
            json!("1.005"),
            "invalid_amount",
        ),
        invalid_field("a negative amount", "amount", json!("-3"), "invalid_amount"),
        invalid_field(
            "an amount that is not a number",
            "amount",
            json!("abc"),
            "invalid_amount",
        ),
        invalid_field("an unknown type", "type", json!("gift"), "invalid_request"),
        invalid_field(
            "a time that is not a time",
            "created_at",
            json!("yesterday"),
            "invalid_request",
        ),
        Row {
            name: "the valid operation after the invalid attempts: the external id is unused",
            given: Given::Nothing,
            send: operation("Accrual_13", "accrual", "5", PHONE),
            http: StatusCode::CREATED,
            status: Some("ok"),
            error: None,
            balance_after: Some("505.00"),
            fields: vec![],
            balance: "505.00",
        },
    ]
}

#[sqlx::test]
async fn every_single_operation_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.store_key("tashkent-1", "UZS", "Asia/Tashkent").await;
    let customer = app.customer_with_phone(PHONE).await;

    let fresh = balance(&app, &key, PHONE).await;
    assert_eq!(
        fresh["balance"], "0.00",
        "a known customer with no operations"
    );
    assert_eq!(fresh["user_id"], customer.as_str());

    let mut answers: HashMap<&str, Value> = HashMap::new();
    for (index, row) in rows().into_iter().enumerate() {
        let label = format!("row {} ({})", index + 1, row.name);
        let answer = run_row(&app, &key, &row, &label, &answers).await;
        answers.insert(row.name, answer);
    }

    let final_balance = balance(&app, &key, "901234567").await;
    assert_eq!(
        final_balance["balance"], "505.00",
        "the balance under the phone's short form"
    );
    app.stop().await;
}

/// Sets up the row's given state, sends its operation and checks every column; returns the
/// answer's body for the rows below that refer to it.
async fn run_row(
    app: &TestApp,
    key: &str,
    row: &Row,
    label: &str,
    earlier: &HashMap<&str, Value>,
) -> Value {
    if let Given::Registered(phone) = row.given {
        app.customer_with_phone(phone).await;
    }
    let answer = single(app, key, &row.send).await;
    let body = &answer.body;
    assert_eq!(answer.status, row.http, "{label}: HTTP status; {body}");
    assert_eq!(
        body["status"].as_str(),
        row.status,
        "{label}: status; {body}"
    );
    assert_eq!(
        body["error"].as_str(),
        row.error,
        "{label}: error code; {body}"
    );
    assert_eq!(
        body["balance_after"].as_str(),
        row.balance_after,
        "{label}: balance_after; {body}"
    );
    for (field, expected) in &row.fields {
        match expected {
            Field::Is(value) => assert_eq!(&body[field], value, "{label}: {field}; {body}"),
            Field::Positive => assert!(
                body[field].as_i64().is_some_and(|number| number > 0),
                "{label}: {field} above zero; {body}"
            ),
            Field::SameAsRow(other) => assert_eq!(
                body[field], earlier[other][field],
                "{label}: {field} as in the answer to \"{other}\"; {body}"
            ),
        }
    }
    let after = balance(app, key, PHONE).await;
    assert_eq!(
        after["balance"], row.balance,
        "{label}: the customer's balance after the row"
    );
    answer.body
}
