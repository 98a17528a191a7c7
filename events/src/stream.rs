//! Stream naming: `<type>-<id>`, one stream per consistency boundary (an order, a customer, a
//! customer's cashback, a gateway transaction): what one command must decide atomically lives in
//! one stream and is protected by its expected version.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(String);

impl StreamId {
    fn typed(stream_type: &str, id: &str) -> Self {
        debug_assert!(!stream_type.contains('-'), "stream types never contain '-'");
        StreamId(format!("{stream_type}-{id}"))
    }

    pub fn order(order_id: &str) -> Self {
        Self::typed("order", order_id)
    }

    pub fn customer(customer_id: &str) -> Self {
        Self::typed("customer", customer_id)
    }

    pub fn cashback(customer_id: &str) -> Self {
        Self::typed("cashback", customer_id)
    }

    pub fn payme_transaction(payme_id: &str) -> Self {
        Self::typed("payme_tx", payme_id)
    }

    pub fn crystalpay_invoice(invoice_id: &str) -> Self {
        Self::typed("crystalpay_invoice", invoice_id)
    }

    pub fn telegram_payment(charge_id: &str) -> Self {
        Self::typed("telegram_payment", charge_id)
    }

    /// The outcome of one outgoing message, named by the id of the fact it tells about.
    pub fn outbox(message_id: &str) -> Self {
        Self::typed("outbox", message_id)
    }

    /// One alert raised to operators.
    pub fn operator_alert(alert_id: &str) -> Self {
        Self::typed("operator_alert", alert_id)
    }

    /// Settings that live in the log (the active Payme keys, for instance).
    pub fn settings(name: &str) -> Self {
        Self::typed("settings", name)
    }

    /// A stream id as stored, e.g. from an admin request. Any text is accepted: an unknown id
    /// simply names an empty stream.
    pub fn from_raw(raw: impl Into<String>) -> Self {
        StreamId(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first `-`: `order`, `payme_tx`, ...
    pub fn stream_type(&self) -> &str {
        self.0
            .split_once('-')
            .map_or(self.0.as_str(), |(kind, _)| kind)
    }

    /// The part after the first `-`: the entity's own id.
    pub fn entity_id(&self) -> &str {
        self.0.split_once('-').map_or("", |(_, id)| id)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_and_id_split_at_the_first_dash() {
        let stream = StreamId::order("0190-abc");
        assert_eq!(stream.as_str(), "order-0190-abc");
        assert_eq!(stream.stream_type(), "order");
        assert_eq!(stream.entity_id(), "0190-abc");
        assert_eq!(StreamId::payme_transaction("x").stream_type(), "payme_tx");
    }
}
