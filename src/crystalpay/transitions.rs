//! The invoice's finite-state machine, as a pure decision:
//! `notpayed → processing? → payed | wrongamount | failed | expired`.
//!
//! The input is CrystalPay's own `invoice/info` state — never a callback's claim. A step
//! forward is applied; the state we already have changes nothing; anything else (a step out of
//! a final state, `processing → notpayed`, a name CrystalPay does not use) is an anomaly:
//! recorded for an operator, never applied. Order of arrival is not order of truth, so a late
//! `processing` after `payed` is simply not a step forward.

use ledger_events::domain::{CrystalPayCheckOutcome, CrystalPayState};

/// What CrystalPay's answer means for an invoice in `current`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: CrystalPayCheckOutcome,
    pub after: CrystalPayState,
    pub note: Option<String>,
}

/// CrystalPay's state name read in our terms. `failed` is `expired` when the invoice's lifetime
/// is over (`lifetime_over`); so is `notpayed` under the test-mode expiry emulation, which
/// plays the lifetime running out.
pub fn reported(name: &str, lifetime_over: bool, emulated_expiry: bool) -> Option<CrystalPayState> {
    match CrystalPayState::parse(name)? {
        CrystalPayState::Failed if lifetime_over || emulated_expiry => {
            Some(CrystalPayState::Expired)
        }
        CrystalPayState::Notpayed if emulated_expiry => Some(CrystalPayState::Expired),
        // `expired` is our name, not CrystalPay's: it never reports it.
        CrystalPayState::Expired => None,
        other => Some(other),
    }
}

pub fn decide(
    current: CrystalPayState,
    reported_name: &str,
    reported: Option<CrystalPayState>,
) -> Decision {
    let keep = |outcome, note: Option<String>| Decision {
        outcome,
        after: current,
        note,
    };
    let Some(reported) = reported else {
        return keep(
            CrystalPayCheckOutcome::Anomaly,
            Some(format!(
                "CrystalPay reported an unknown state {reported_name:?}"
            )),
        );
    };
    if reported == current {
        return keep(CrystalPayCheckOutcome::Unchanged, None);
    }
    if current.is_final() {
        return keep(
            CrystalPayCheckOutcome::Anomaly,
            Some(format!(
                "CrystalPay reported {} after the final {}; not applied",
                reported.as_str(),
                current.as_str()
            )),
        );
    }
    if current == CrystalPayState::Processing && reported == CrystalPayState::Notpayed {
        return keep(
            CrystalPayCheckOutcome::Anomaly,
            Some("CrystalPay went back from processing to notpayed; not applied".to_owned()),
        );
    }
    Decision {
        outcome: CrystalPayCheckOutcome::Applied,
        after: reported,
        note: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CrystalPayState::*;

    fn step(current: CrystalPayState, name: &str) -> Decision {
        decide(current, name, reported(name, false, false))
    }

    #[test]
    fn steps_forward_are_applied() {
        for (from, to) in [
            (Notpayed, "processing"),
            (Notpayed, "payed"),
            (Processing, "payed"),
            (Processing, "wrongamount"),
            (Notpayed, "failed"),
        ] {
            let decision = step(from, to);
            assert_eq!(
                decision.outcome,
                CrystalPayCheckOutcome::Applied,
                "{from:?} → {to}"
            );
            assert_eq!(decision.after.as_str(), to);
        }
    }

    #[test]
    fn nothing_leaves_a_final_state() {
        for from in [Payed, Wrongamount, Failed, Expired] {
            for to in ["notpayed", "processing", "payed", "wrongamount", "failed"] {
                let decision = step(from, to);
                assert_eq!(decision.after, from, "{from:?} → {to}");
                let expected = if from.as_str() == to {
                    CrystalPayCheckOutcome::Unchanged
                } else {
                    CrystalPayCheckOutcome::Anomaly
                };
                assert_eq!(decision.outcome, expected, "{from:?} → {to}");
            }
        }
    }

    #[test]
    fn backwards_and_unknown_states_are_anomalies() {
        assert_eq!(
            step(Processing, "notpayed").outcome,
            CrystalPayCheckOutcome::Anomaly
        );
        assert_eq!(
            step(Notpayed, "refunded").outcome,
            CrystalPayCheckOutcome::Anomaly
        );
        assert_eq!(
            step(Notpayed, "expired").outcome,
            CrystalPayCheckOutcome::Anomaly
        );
    }

    #[test]
    fn a_failed_invoice_past_its_lifetime_is_expired() {
        assert_eq!(reported("failed", true, false), Some(Expired));
        assert_eq!(reported("failed", false, false), Some(Failed));
        assert_eq!(reported("notpayed", false, true), Some(Expired));
        assert_eq!(
            reported("payed", true, true),
            Some(Payed),
            "a payment wins over the clock"
        );
    }
}
