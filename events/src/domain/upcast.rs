//! Upcasting: old payloads are transformed on read into the current schema, one version step at
//! a time. The stored JSON is never rewritten.
//!
//! To change an event's shape: bump its version in `domain_events!`, and add an [`Upcaster`]
//! from the old version to the new one here. Every event type is at version 1 today, so the
//! production table is empty; the tests below exercise the mechanism with a table of their own.

use serde_json::Value;

/// Turns a payload of `event_type` at `from_version` into one at `from_version + 1`.
pub struct Upcaster {
    pub event_type: &'static str,
    pub from_version: i32,
    pub transform: fn(Value) -> Value,
}

pub static UPCASTERS: &[Upcaster] = &[];

pub(super) fn upcast(
    upcasters: &[Upcaster],
    event_type: &str,
    stored_version: i32,
    current_version: i32,
    mut payload: Value,
) -> Value {
    for version in stored_version..current_version {
        let step = upcasters
            .iter()
            .find(|upcaster| upcaster.event_type == event_type && upcaster.from_version == version);
        match step {
            Some(upcaster) => payload = (upcaster.transform)(payload),
            None => panic!("no upcaster for {event_type} v{version} → v{}", version + 1),
        }
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DomainEvent;
    use serde_json::json;

    /// A v0 `CustomerRegistered` stored its phone as `phone_number`; pretend the current
    /// version is reached from it by a rename.
    fn rename_phone(mut payload: Value) -> Value {
        let object = payload.as_object_mut().unwrap();
        if let Some(phone) = object.remove("phone_number") {
            object.insert("phone".into(), phone);
        }
        payload
    }

    #[test]
    fn old_payloads_are_upcast_on_read() {
        let table = [Upcaster {
            event_type: "CustomerRegistered",
            from_version: 0,
            transform: rename_phone,
        }];
        let stored = json!({"customer_id": "c1", "phone_number": "79001234567"});
        let event = DomainEvent::decode_with(&table, "CustomerRegistered", 0, stored).unwrap();
        match event {
            DomainEvent::CustomerRegistered(registered) => {
                assert_eq!(registered.phone.as_deref(), Some("79001234567"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    #[should_panic(expected = "no upcaster")]
    fn a_missing_step_is_a_loud_error() {
        DomainEvent::decode_with(&[], "CustomerRegistered", 0, json!({"customer_id": "c"})).ok();
    }
}
