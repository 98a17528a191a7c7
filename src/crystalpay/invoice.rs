//! An invoice's state, folded from its stream (`crystalpay_invoice-<id>`): what the callback
//! and re-check commands decide on.

use ledger_events::domain::{CallbackSignature, CrystalPayInvoiceCreated, CrystalPayState};
use ledger_events::{DomainEvent, RecordedEvent, StreamId};
use sqlx::PgConnection;

use crate::command::CommandError;
use crate::state::AppState;

/// A recorded callback still waiting for its `invoice/info` re-check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCheck {
    pub claimed_state: String,
    pub signature: CallbackSignature,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Invoice {
    pub created: CrystalPayInvoiceCreated,
    pub state: CrystalPayState,
    pub pending: Option<PendingCheck>,
    pub version: i64,
}

impl Invoice {
    pub fn id(&self) -> &str {
        &self.created.invoice_id
    }

    pub fn stream(&self) -> StreamId {
        StreamId::crystalpay_invoice(&self.created.invoice_id)
    }

    /// Still payable at CrystalPay (not in a final state).
    pub fn is_live(&self) -> bool {
        !self.state.is_final()
    }
}

pub fn fold(events: &[RecordedEvent]) -> Option<Invoice> {
    let mut invoice: Option<Invoice> = None;
    for event in events {
        if let DomainEvent::CrystalPayInvoiceCreated(created) = &event.event {
            invoice = Some(Invoice {
                created: created.clone(),
                state: CrystalPayState::Notpayed,
                pending: None,
                version: 0,
            });
        }
        let Some(state) = invoice.as_mut() else {
            continue;
        };
        state.version = event.stream_version;
        match &event.event {
            DomainEvent::CrystalPayCallbackReceived(received) => {
                state.pending = Some(PendingCheck {
                    claimed_state: received.claimed_state.clone(),
                    signature: received.signature,
                });
            }
            DomainEvent::CrystalPayInvoiceChecked(checked) => {
                state.pending = None;
                state.state = checked.state_after;
            }
            _ => {}
        }
    }
    invoice
}

/// Reads and folds an invoice inside a command's transaction (or on any connection).
pub async fn load(
    state: &AppState,
    connection: &mut PgConnection,
    invoice_id: &str,
) -> Result<Option<Invoice>, CommandError> {
    let events = state
        .store
        .read_stream_in(connection, &StreamId::crystalpay_invoice(invoice_id), 0)
        .await?;
    Ok(fold(&events))
}
