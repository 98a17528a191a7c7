//! What the outbox tells people: which facts make a message, for whom, and its text.
//!
//! Pure functions of the event, so that a rebuild renders the same words for the same fact
//! (messages already delivered are never sent again either way). Texts are English and plain;
//! amounts are shown in major units with the currency code.

use ledger_events::domain::CashbackOrigin;
use ledger_events::{Currency, DomainEvent};

/// The customer a fact concerns.
pub enum Whom<'a> {
    Customer(&'a str),
    /// The customer who placed this order (none for a guest order).
    OrderOf(&'a str),
}

/// A fact worth telling its customer: to whom, and the text given the order's external id
/// (known only for order facts).
pub struct Subject<'a> {
    pub whom: Whom<'a>,
    pub render: Render<'a>,
}

fn money(amount_minor: i64, currency: &Currency) -> String {
    format!(
        "{} {}",
        currency.format_minor(amount_minor),
        currency.code()
    )
}

fn order_label(external_id: Option<&str>) -> String {
    match external_id {
        Some(external_id) => format!("Order {external_id}"),
        None => "Your order".to_owned(),
    }
}

fn store_of(origin: &CashbackOrigin) -> Option<&str> {
    match origin {
        CashbackOrigin::InStore(operation) => Some(&operation.store_id),
        CashbackOrigin::Online { .. } => None,
    }
}

type Render<'a> = Box<dyn Fn(Option<&str>) -> String + Send + Sync + 'a>;

fn subject<'a>(whom: Whom<'a>, render: Render<'a>) -> Option<Subject<'a>> {
    Some(Subject { whom, render })
}

/// The message a fact makes, or None for facts nobody is told about.
pub fn subject_of(event: &DomainEvent) -> Option<Subject<'_>> {
    match event {
        DomainEvent::OrderPaid(paid) => subject(
            Whom::OrderOf(&paid.order_id),
            Box::new(move |external| {
                format!(
                    "{}: payment of {} received.",
                    order_label(external),
                    money(paid.amount_minor, &paid.currency)
                )
            }),
        ),
        DomainEvent::OrderPaidByCashback(paid) => subject(
            Whom::OrderOf(&paid.order_id),
            Box::new(move |external| {
                format!(
                    "{} is paid with {} of cashback.",
                    order_label(external),
                    money(paid.cashback_redeemed_minor, &paid.currency)
                )
            }),
        ),
        DomainEvent::OrderCompleted(done) => subject(
            Whom::OrderOf(&done.order_id),
            Box::new(|external| format!("{} is completed. Thank you!", order_label(external))),
        ),
        DomainEvent::OrderRefunded(refunded) => subject(
            Whom::OrderOf(&refunded.order_id),
            Box::new(|external| format!("{} was refunded.", order_label(external))),
        ),
        DomainEvent::OrderCancelled(cancelled) => subject(
            Whom::OrderOf(&cancelled.order_id),
            Box::new(move |external| {
                if cancelled.reason == "expired" {
                    format!(
                        "{} was cancelled: it was not paid in time.",
                        order_label(external)
                    )
                } else {
                    format!("{} was cancelled.", order_label(external))
                }
            }),
        ),
        DomainEvent::CashbackAccrued(accrued) => subject(
            Whom::Customer(&accrued.customer_id),
            Box::new(move |_| {
                let why = match store_of(&accrued.origin) {
                    Some(store) => format!("a purchase at store {store}"),
                    None => "your order".to_owned(),
                };
                format!(
                    "+{} cashback for {why}. Balance: {}.",
                    money(accrued.amount_minor, &accrued.currency),
                    money(accrued.balance_after_minor, &accrued.currency)
                )
            }),
        ),
        DomainEvent::CashbackDebited(debited) => {
            let store = store_of(&debited.origin)?;
            subject(
                Whom::Customer(&debited.customer_id),
                Box::new(move |_| {
                    format!(
                        "{} of cashback spent at store {store}. Balance: {}.",
                        money(debited.amount_minor, &debited.currency),
                        money(debited.balance_after_minor, &debited.currency)
                    )
                }),
            )
        }
        DomainEvent::CashbackDebitReleased(released) => {
            let store = store_of(&released.origin)?;
            subject(
                Whom::Customer(&released.customer_id),
                Box::new(move |_| {
                    format!(
                        "{} of cashback returned to you (a receipt was voided at store {store}). \
                         Balance: {}.",
                        money(released.amount_minor, &released.currency),
                        money(released.balance_after_minor, &released.currency)
                    )
                }),
            )
        }
        // An online claw-back comes with a refund, whose own message says so.
        DomainEvent::CashbackAccrualReversed(reversed) => {
            let store = store_of(&reversed.origin)?;
            subject(
                Whom::Customer(&reversed.customer_id),
                Box::new(move |_| {
                    format!(
                        "{} of cashback taken back (a receipt was voided at store {store}). \
                         Balance: {}.",
                        money(reversed.amount_minor, &reversed.currency),
                        money(reversed.balance_after_minor, &reversed.currency)
                    )
                }),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_events::accounts::{customer_cashback, shop_cashback_issued};
    use ledger_events::domain::{CashbackAccrued, InStoreOperation, OrderCompleted};
    use ledger_events::Postings;

    fn uzs() -> Currency {
        Currency::uzs()
    }

    #[test]
    fn order_facts_name_the_order_by_its_external_id() {
        let event = DomainEvent::OrderCompleted(OrderCompleted {
            order_id: "o-1".into(),
        });
        let subject = subject_of(&event).unwrap();
        assert!(matches!(subject.whom, Whom::OrderOf("o-1")));
        assert_eq!(
            (subject.render)(Some("web-17")),
            "Order web-17 is completed. Thank you!"
        );
    }

    #[test]
    fn in_store_accruals_name_the_store_and_the_balance() {
        let event = DomainEvent::CashbackAccrued(CashbackAccrued {
            customer_id: "c-1".into(),
            currency: uzs(),
            amount_minor: 150_000,
            origin: CashbackOrigin::InStore(InStoreOperation {
                store_id: "tashkent-1".into(),
                register_id: None,
                external_id: "Sale_1_2026".into(),
                performed_at: chrono::Utc::now(),
                description: None,
            }),
            balance_after_minor: 450_000,
            postings: Postings::transfer(
                shop_cashback_issued(),
                customer_cashback("c-1", &uzs()),
                150_000,
                &uzs(),
            ),
        });
        let subject = subject_of(&event).unwrap();
        assert!(matches!(subject.whom, Whom::Customer("c-1")));
        assert_eq!(
            (subject.render)(None),
            "+1500.00 UZS cashback for a purchase at store tashkent-1. Balance: 4500.00 UZS."
        );
    }

    #[test]
    fn facts_nobody_is_told_about_make_no_message() {
        let event = DomainEvent::OrderPaymentEnded(ledger_events::domain::OrderPaymentEnded {
            order_id: "o".into(),
            provider: ledger_events::domain::PaymentProvider::Payme,
            provider_id: "p".into(),
            reason: "4".into(),
        });
        assert!(subject_of(&event).is_none());
    }
}
