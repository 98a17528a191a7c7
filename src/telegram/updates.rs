//! Bot API updates as the webhook reads them: only the parts we act on, everything else is
//! ignored. Pure parsing, no I/O.

use serde::Deserialize;
use serde_json::Value;

use crate::http::body::whole_number;

/// One update (`POST /api/telegram/webhook` body).
#[derive(Clone, Debug, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub pre_checkout_query: Option<PreCheckoutQuery>,
    #[serde(default)]
    pub message: Option<Message>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct User {
    pub id: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PreCheckoutQuery {
    pub id: String,
    pub from: User,
    pub currency: String,
    pub total_amount: i64,
    pub invoice_payload: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Message {
    #[serde(default)]
    pub from: Option<User>,
    #[serde(default)]
    pub successful_payment: Option<Charge>,
    #[serde(default)]
    pub refunded_payment: Option<Charge>,
    #[serde(default)]
    pub contact: Option<Contact>,
}

/// `successful_payment` and `refunded_payment` carry the same fields.
#[derive(Clone, Debug, Deserialize)]
pub struct Charge {
    pub currency: String,
    pub total_amount: i64,
    pub invoice_payload: String,
    pub telegram_payment_charge_id: String,
    #[serde(default)]
    pub provider_payment_charge_id: Option<String>,
}

/// A phone number shared through the bot's "share contact" button (or any contact card).
#[derive(Clone, Debug, Deserialize)]
pub struct Contact {
    pub phone_number: String,
    /// The contact's own Telegram user, when it has one.
    #[serde(default)]
    pub user_id: Option<i64>,
}

/// What an update asks of us.
#[derive(Clone, Debug)]
pub enum Kind<'a> {
    PreCheckout(&'a PreCheckoutQuery),
    Paid {
        payer: i64,
        charge: &'a Charge,
    },
    Refunded {
        charge: &'a Charge,
    },
    /// A contact whose user is the sender: Telegram's own proof that the phone is theirs.
    OwnContact {
        telegram_id: i64,
        phone: &'a str,
    },
    /// Anything else (chat messages, someone else's contact card, ...).
    Ignored(&'static str),
}

/// Members of an update read as objects, parents first. serde would also take an array for one
/// (a struct's fields in order), which the Bot API never sends and `/openapi.json` does not
/// allow.
const OBJECT_MEMBERS: [&[&str]; 8] = [
    &[],
    &["pre_checkout_query"],
    &["pre_checkout_query", "from"],
    &["message"],
    &["message", "from"],
    &["message", "successful_payment"],
    &["message", "refunded_payment"],
    &["message", "contact"],
];

impl Update {
    /// Reads a webhook body: the members above must be objects (or null, or absent), and an
    /// integer may be written as any whole JSON number (`5.0`), as JSON does not tell them apart.
    pub fn read(mut body: Value) -> Result<Update, String> {
        for path in OBJECT_MEMBERS {
            let member = path.iter().try_fold(&body, |value, name| value.get(name));
            if member.is_some_and(|member| !member.is_object() && !member.is_null()) {
                let name = if path.is_empty() {
                    "the update".to_owned()
                } else {
                    path.join(".")
                };
                return Err(format!("{name} must be an object"));
            }
        }
        whole_numbers_as_integers(&mut body);
        serde_json::from_value(body).map_err(|error| error.to_string())
    }

    pub fn kind(&self) -> Kind<'_> {
        if let Some(query) = &self.pre_checkout_query {
            return Kind::PreCheckout(query);
        }
        let Some(message) = &self.message else {
            return Kind::Ignored("other_update");
        };
        let sender = message.from.as_ref().map(|user| user.id);
        if let Some(charge) = &message.successful_payment {
            return match sender {
                Some(payer) => Kind::Paid { payer, charge },
                None => Kind::Ignored("payment_without_sender"),
            };
        }
        if let Some(charge) = &message.refunded_payment {
            return Kind::Refunded { charge };
        }
        if let Some(contact) = &message.contact {
            return match (sender, contact.user_id) {
                (Some(sender), Some(owner)) if sender == owner => Kind::OwnContact {
                    telegram_id: sender,
                    phone: &contact.phone_number,
                },
                _ => Kind::Ignored("foreign_contact"),
            };
        }
        Kind::Ignored("other_message")
    }
}

/// Rewrites every whole JSON number that is not written as an integer (`5.0`, `5e0`) as one, so
/// serde reads it into an integer field.
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) if number.as_i64().is_none() => {
            if let Some(integer) = whole_number(number) {
                *value = Value::from(integer);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(members) => members.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

impl Kind<'_> {
    /// Recorded with the update id.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::PreCheckout(_) => "pre_checkout_query",
            Kind::Paid { .. } => "successful_payment",
            Kind::Refunded { .. } => "refunded_payment",
            Kind::OwnContact { .. } => "contact",
            Kind::Ignored(what) => what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: &str) -> Update {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_contact_counts_only_when_it_is_the_senders_own() {
        let own = update(
            r#"{"update_id":1,"message":{"from":{"id":7},"contact":{"phone_number":"+998901234567","user_id":7}}}"#,
        );
        assert!(matches!(
            own.kind(),
            Kind::OwnContact { telegram_id: 7, .. }
        ));
        let foreign = update(
            r#"{"update_id":2,"message":{"from":{"id":7},"contact":{"phone_number":"+998901234567","user_id":8}}}"#,
        );
        assert!(matches!(foreign.kind(), Kind::Ignored("foreign_contact")));
        let no_owner = update(
            r#"{"update_id":3,"message":{"from":{"id":7},"contact":{"phone_number":"+998901234567"}}}"#,
        );
        assert!(matches!(no_owner.kind(), Kind::Ignored("foreign_contact")));
    }

    #[test]
    fn a_webhook_body_is_read_strictly_as_objects_and_loosely_as_numbers() {
        let read = |text: &str| Update::read(serde_json::from_str(text).unwrap());
        let whole = read(r#"{"update_id": 5.0, "message": {"from": {"id": 7e0}}}"#).unwrap();
        assert_eq!(whole.update_id, 5);
        assert_eq!(whole.message.unwrap().from.unwrap().id, 7);
        for bad in [
            r#"[1]"#,
            r#"{"update_id": 1, "message": [null, null]}"#,
            r#"{"update_id": 1, "message": {"contact": ["+998901234567"]}}"#,
            r#"{"update_id": 1.5}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        assert!(read(r#"{"update_id": 1, "message": null}"#).is_ok());
    }

    #[test]
    fn payments_are_recognised() {
        let paid = update(
            r#"{"update_id":4,"message":{"from":{"id":7},"successful_payment":{"currency":"XTR","total_amount":5,"invoice_payload":"o","telegram_payment_charge_id":"c"}}}"#,
        );
        assert!(matches!(paid.kind(), Kind::Paid { payer: 7, .. }));
        assert_eq!(paid.kind().name(), "successful_payment");
    }
}
