//! SetFiscalData: Payme reports the fiscal receipt it printed for a payment (`PERFORM`) or a
//! refund (`CANCEL`). Kept as an event on the transaction's stream, for the accountant.
//!
//! The idempotency key includes a digest of the fiscal data: a repeat of the same data records
//! nothing new, while corrected data sent later is recorded too (nothing Payme says is lost).

use ledger_events::domain::PaymeFiscalDataRecorded;
use ledger_events::idempotency::sha256_hex;
use ledger_events::{
    AppendOutcome, AppendRequest, EventMetadata, ExpectedVersion, Fingerprint, Idempotency,
};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use super::answers::SuccessAnswer;
use super::error::PaymeError;
use super::transaction;
use crate::command::{self, Command, CommandError};
use crate::state::AppState;

/// `type` of SetFiscalData.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FiscalKind {
    #[serde(rename = "PERFORM")]
    Perform,
    #[serde(rename = "CANCEL")]
    Cancel,
}

impl FiscalKind {
    pub fn parse(text: &str) -> Option<FiscalKind> {
        match text {
            "PERFORM" => Some(FiscalKind::Perform),
            "CANCEL" => Some(FiscalKind::Cancel),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            FiscalKind::Perform => "PERFORM",
            FiscalKind::Cancel => "CANCEL",
        }
    }
}

pub struct SetFiscalData<'a> {
    pub payme_id: &'a str,
    pub kind: FiscalKind,
    pub fiscal_data: &'a Value,
    pub metadata: &'a EventMetadata,
}

#[derive(Serialize)]
struct FiscalFields<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: FiscalKind,
    fiscal_data: &'a Value,
}

impl Command for SetFiscalData<'_> {
    type Output = Result<SuccessAnswer, PaymeError>;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Self::Output, CommandError> {
        let Some(known) = transaction::load(state, connection, self.payme_id).await? else {
            return Ok(Err(PaymeError::TransactionNotFound));
        };
        let fields = FiscalFields {
            id: self.payme_id,
            kind: self.kind,
            fiscal_data: self.fiscal_data,
        };
        let data_digest = sha256_hex(
            &serde_json::to_vec(self.fiscal_data).expect("fiscal data serialises to JSON"),
        );
        let idempotency = Idempotency::new(
            format!(
                "payme:fiscal:{}:{}:{data_digest}",
                self.payme_id,
                self.kind.as_str()
            ),
            Fingerprint::of(&fields),
        );
        let request = AppendRequest::new(self.metadata.clone())
            .expect(&known.stream(), ExpectedVersion::Exact(known.version))
            .event(
                &known.stream(),
                PaymeFiscalDataRecorded {
                    payme_id: self.payme_id.to_owned(),
                    kind: self.kind.as_str().to_owned(),
                    fiscal_data: self.fiscal_data.clone(),
                },
            )
            .idempotent(idempotency);
        match command::append(state, connection, &request).await? {
            AppendOutcome::Appended(_) | AppendOutcome::Duplicate(_) => Ok(Ok(SuccessAnswer::YES)),
        }
    }
}
