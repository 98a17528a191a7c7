//! Bot API updates as the webhook reads them: only the parts we act on, everything else is
//! ignored. Pure parsing, no I/O.

use serde::Deserialize;

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

impl Update {
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
    fn payments_are_recognised() {
        let paid = update(
            r#"{"update_id":4,"message":{"from":{"id":7},"successful_payment":{"currency":"XTR","total_amount":5,"invoice_payload":"o","telegram_payment_charge_id":"c"}}}"#,
        );
        assert!(matches!(paid.kind(), Kind::Paid { payer: 7, .. }));
        assert_eq!(paid.kind().name(), "successful_payment");
    }
}
