//! Strategies for hostile JSON: any shape, numbers written as any text JSON allows (read with
//! the server's own parser, so they keep their digits), and objects that use the field names a
//! parser looks for, with values of every type.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// JSON number text: integers and decimals of any length, with or without an exponent.
pub fn number_text() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,40})?([eE][+-]?[0-9]{1,6})?"
}

/// A JSON number parsed the way the server parses bodies.
pub fn number() -> impl Strategy<Value = Value> {
    number_text().prop_map(|text| {
        ledger::http::body::parse_json(text.as_bytes()).expect("number text is valid JSON")
    })
}

/// Strings that look like what the fields hold, and strings that look like nothing.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[0-9 +()-]{0,24}",
        "-?[0-9]{0,30}(\\.[0-9]{0,30})?",
        "(accrual|debit|release|reversal|CreateTransaction|CheckTransaction|UZS|XTR)",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})?",
        "\\PC{190,260}",
    ]
}

/// Any JSON value, nested a few levels.
pub fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// An object whose members are drawn from `names` (each present or not), holding any value.
pub fn object_with(names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    proptest::collection::vec((proptest::sample::select(names), value()), 0..=names.len()).prop_map(
        |members| {
            let mut object = Map::new();
            for (name, value) in members {
                object.insert(name.to_owned(), value);
            }
            Value::Object(object)
        },
    )
}
