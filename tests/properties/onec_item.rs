//! One 1C register operation (`/api/cashback/v1/transactions` and each item of a batch): any
//! item is a valid operation or a 400 naming the field, and the ids echoed back for a refused
//! item are bounded.

use chrono_tz::Tz;
use ledger::onec::auth::StoreContext;
use ledger::onec::operation;
use ledger_events::money::MAX_AMOUNT_MINOR;
use ledger_events::Currency;
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::json;

const FIELDS: &[&str] = &[
    "external_id",
    "type",
    "amount",
    "user_phone",
    "created_at",
    "ref_external_id",
    "description",
    "register_id",
];

fn store(currency: &str, zone: &str) -> StoreContext {
    StoreContext {
        store_id: "store-1".into(),
        currency: Currency::new(currency).expect("a known currency"),
        timezone: zone.parse::<Tz>().expect("a time zone"),
    }
}

fn any_store() -> impl Strategy<Value = StoreContext> {
    (
        proptest::sample::select(&["UZS", "RUB", "XTR"][..]),
        proptest::sample::select(&["Asia/Tashkent", "Europe/Moscow", "UTC"][..]),
    )
        .prop_map(|(currency, zone)| store(currency, zone))
}

/// Items 1C could plausibly send: right field names, values that are mostly of the right shape.
fn plausible_item() -> impl Strategy<Value = Value> {
    (
        prop_oneof![json::text().prop_map(Value::String), json::value()],
        prop_oneof![
            proptest::sample::select(&["accrual", "debit", "release", "reversal", "refund"][..])
                .prop_map(Value::from),
            json::value(),
        ],
        prop_oneof![json::number(), json::text().prop_map(Value::String)],
        prop_oneof!["[+]?[0-9 ()-]{9,16}".prop_map(Value::String), json::value()],
        json::text().prop_map(Value::String),
        proptest::option::of(json::text().prop_map(Value::String)),
    )
        .prop_map(
            |(external_id, kind, amount, phone, created_at, reference)| {
                let mut item = json!({
                    "external_id": external_id,
                    "type": kind,
                    "amount": amount,
                    "user_phone": phone,
                    "created_at": created_at,
                });
                if let Some(reference) = reference {
                    item["ref_external_id"] = reference;
                }
                item
            },
        )
}

/// Parses `item` and checks what any answer must satisfy.
fn check(item: &Value, store: &StoreContext) -> Result<(), TestCaseError> {
    for echoed in [
        operation::external_id_of(item),
        operation::register_id_of(item),
    ]
    .into_iter()
    .flatten()
    {
        prop_assert!(echoed.chars().count() <= 200, "{} characters", echoed.len());
    }
    match operation::parse(item, store, "items[3]") {
        Ok(parsed) => {
            prop_assert!((1..=MAX_AMOUNT_MINOR).contains(&parsed.amount_minor));
            prop_assert!(
                !parsed.external_id.is_empty() && parsed.external_id.chars().count() <= 200
            );
            prop_assert!(parsed.phone.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(matches!(parsed.phone.len(), 11 | 12));
            let refers = matches!(parsed.kind.as_str(), "release" | "reversal");
            prop_assert_eq!(refers, parsed.ref_external_id.is_some());
        }
        Err(error) => {
            prop_assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            if let Some(field) = error.body().get("field").and_then(Value::as_str) {
                prop_assert!(field.starts_with("items[3]"), "{field}");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn any_json_is_an_operation_or_a_400(store in any_store(), item in json::value()) {
        check(&item, &store)?;
    }

    #[test]
    fn items_with_the_right_names_are_an_operation_or_a_400(
        store in any_store(),
        item in json::object_with(FIELDS),
    ) {
        check(&item, &store)?;
    }

    #[test]
    fn plausible_items_are_an_operation_or_a_400(store in any_store(), item in plausible_item()) {
        check(&item, &store)?;
    }
}

/// The plausible strategy does reach accepted operations (the properties above are not only
/// about refusals).
#[test]
fn a_well_formed_item_is_accepted() {
    let item = json!({
        "external_id": "Sale_0001_20261120", "type": "accrual", "amount": 1500.5,
        "user_phone": "+998 90 123 45 67", "created_at": "2026-11-20T15:00:00",
    });
    let parsed = operation::parse(&item, &store("UZS", "Asia/Tashkent"), "").expect("valid");
    assert_eq!(parsed.amount_minor, 150_050);
}
