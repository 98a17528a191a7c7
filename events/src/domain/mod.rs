//! The typed event vocabulary: one enum, one variant per past-tense fact.
//!
//! Stored as `event_type` (the variant name) + `schema_version` + `payload` (the variant's
//! fields as JSON). Reading goes through [`DomainEvent::decode`], which upcasts payloads
//! written by older code to the current shape; history is never rewritten in place.

pub mod cashback;
pub mod crystalpay;
pub mod customer;
pub mod order;
pub mod outbox;
pub mod payme;
pub mod telegram;
mod upcast;

use serde::{Deserialize, Serialize};

use crate::postings::Postings;

pub use cashback::*;
pub use crystalpay::*;
pub use customer::*;
pub use order::*;
pub use outbox::*;
pub use payme::*;
pub use telegram::*;
pub use upcast::{Upcaster, UPCASTERS};

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("{event_type} v{stored} was written by newer code (this build knows v{current})")]
    FromTheFuture {
        event_type: String,
        stored: i32,
        current: i32,
    },
    #[error("{event_type} v{schema_version} payload does not match its schema: {source}")]
    Payload {
        event_type: String,
        schema_version: i32,
        source: serde_json::Error,
    },
}

macro_rules! domain_events {
    ($($variant:ident = $version:literal),+ $(,)?) => {
        /// Every fact the ledger records.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "event_type", content = "payload")]
        pub enum DomainEvent {
            $($variant($variant),)+
        }

        impl DomainEvent {
            /// The name stored in `events.event_type`.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(DomainEvent::$variant(_) => stringify!($variant),)+
                }
            }

            /// The schema version this build writes for `event_type`.
            pub fn current_schema_version(event_type: &str) -> Option<i32> {
                match event_type {
                    $(stringify!($variant) => Some($version),)+
                    _ => None,
                }
            }
        }

        $(
            impl From<$variant> for DomainEvent {
                fn from(event: $variant) -> Self {
                    DomainEvent::$variant(event)
                }
            }
        )+
    };
}

domain_events! {
    CustomerRegistered = 1,
    CustomerTelegramLinked = 1,
    CustomerPhoneLinked = 1,
    OrderPlaced = 1,
    OrderPaymentStarted = 1,
    OrderPaymentEnded = 1,
    OrderPaid = 1,
    OrderPaidByCashback = 1,
    OrderCompleted = 1,
    OrderCancelled = 1,
    OrderRefunded = 1,
    CashbackAccrued = 1,
    CashbackDebited = 1,
    CashbackDebitReleased = 1,
    CashbackAccrualReversed = 1,
    CashbackHoldPlaced = 1,
    CashbackHoldPosted = 1,
    CashbackHoldVoided = 1,
    CashbackRedemptionReturned = 1,
    CashbackOperationRejected = 1,
    PaymeTransactionCreated = 1,
    PaymeTransactionPerformed = 1,
    PaymeTransactionCancelled = 1,
    PaymeFiscalDataRecorded = 1,
    PaymeKeysReplaced = 1,
    TelegramPaymentReceived = 1,
    TelegramPaymentRefunded = 1,
    CrystalPayInvoiceCreated = 1,
    CrystalPayCallbackReceived = 1,
    CrystalPayInvoiceChecked = 1,
    OutboxMessageDelivered = 1,
    OutboxMessageFailed = 1,
    OperatorAlertRaised = 1,
}

impl DomainEvent {
    pub fn schema_version(&self) -> i32 {
        Self::current_schema_version(self.event_type()).expect("every variant has a schema version")
    }

    /// The variant's fields as stored in `events.payload`.
    pub fn payload(&self) -> serde_json::Value {
        let mut tagged = serde_json::to_value(self).expect("domain events serialise to JSON");
        tagged
            .get_mut("payload")
            .map(serde_json::Value::take)
            .unwrap_or(serde_json::Value::Null)
    }

    /// Rebuilds an event from its stored form, upcasting older payloads first.
    pub fn decode(
        event_type: &str,
        schema_version: i32,
        payload: serde_json::Value,
    ) -> Result<Self, DecodeError> {
        Self::decode_with(UPCASTERS, event_type, schema_version, payload)
    }

    pub(crate) fn decode_with(
        upcasters: &[Upcaster],
        event_type: &str,
        schema_version: i32,
        payload: serde_json::Value,
    ) -> Result<Self, DecodeError> {
        let current = Self::current_schema_version(event_type)
            .ok_or_else(|| DecodeError::UnknownType(event_type.to_owned()))?;
        if schema_version > current {
            return Err(DecodeError::FromTheFuture {
                event_type: event_type.to_owned(),
                stored: schema_version,
                current,
            });
        }
        let payload = upcast::upcast(upcasters, event_type, schema_version, current, payload);
        let tagged = serde_json::json!({ "event_type": event_type, "payload": payload });
        serde_json::from_value(tagged).map_err(|source| DecodeError::Payload {
            event_type: event_type.to_owned(),
            schema_version,
            source,
        })
    }

    /// The double-entry postings this event carries, if it moves money.
    pub fn postings(&self) -> Option<&Postings> {
        match self {
            DomainEvent::OrderPlaced(event) => Some(&event.postings),
            DomainEvent::OrderPaid(event) => Some(&event.postings),
            DomainEvent::OrderCancelled(event) => event.postings.as_ref(),
            DomainEvent::OrderRefunded(event) => Some(&event.postings),
            DomainEvent::CashbackAccrued(event) => Some(&event.postings),
            DomainEvent::CashbackDebited(event) => Some(&event.postings),
            DomainEvent::CashbackDebitReleased(event) => Some(&event.postings),
            DomainEvent::CashbackAccrualReversed(event) => Some(&event.postings),
            DomainEvent::CashbackHoldPosted(event) => Some(&event.postings),
            DomainEvent::CashbackRedemptionReturned(event) => Some(&event.postings),
            DomainEvent::TelegramPaymentReceived(event) => event.postings.as_ref(),
            DomainEvent::TelegramPaymentRefunded(event) => event.postings.as_ref(),
            DomainEvent::CrystalPayInvoiceChecked(event) => event.postings.as_ref(),
            DomainEvent::CustomerRegistered(_)
            | DomainEvent::CustomerTelegramLinked(_)
            | DomainEvent::CustomerPhoneLinked(_)
            | DomainEvent::OrderPaymentStarted(_)
            | DomainEvent::OrderPaymentEnded(_)
            | DomainEvent::OrderPaidByCashback(_)
            | DomainEvent::OrderCompleted(_)
            | DomainEvent::CashbackHoldPlaced(_)
            | DomainEvent::CashbackHoldVoided(_)
            | DomainEvent::CashbackOperationRejected(_)
            | DomainEvent::PaymeTransactionCreated(_)
            | DomainEvent::PaymeTransactionPerformed(_)
            | DomainEvent::PaymeTransactionCancelled(_)
            | DomainEvent::PaymeFiscalDataRecorded(_)
            | DomainEvent::PaymeKeysReplaced(_)
            | DomainEvent::CrystalPayInvoiceCreated(_)
            | DomainEvent::CrystalPayCallbackReceived(_)
            | DomainEvent::OutboxMessageDelivered(_)
            | DomainEvent::OutboxMessageFailed(_)
            | DomainEvent::OperatorAlertRaised(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_is_identity() {
        let event: DomainEvent = CustomerRegistered {
            customer_id: "c1".into(),
            phone: Some("998901234567".into()),
            telegram_id: None,
            name: Some("Aziz".into()),
        }
        .into();
        let decoded =
            DomainEvent::decode(event.event_type(), event.schema_version(), event.payload())
                .unwrap();
        assert_eq!(decoded, event);
    }

    #[test]
    fn unknown_and_future_events_are_refused_loudly() {
        let payload = serde_json::json!({});
        assert!(matches!(
            DomainEvent::decode("Nope", 1, payload.clone()),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            DomainEvent::decode("CustomerRegistered", 99, payload),
            Err(DecodeError::FromTheFuture { .. })
        ));
    }
}
