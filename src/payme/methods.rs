//! One function per Merchant API method: read its parameters (every type error is -32600
//! before anything else is looked at), then decide — writes through [`command::execute`], reads
//! on one pooled connection.

use ledger_events::EventMetadata;
use sqlx::PgConnection;

use super::answers::{CheckPerformAnswer, MethodResult, StatementAnswer, SuccessAnswer};
use super::cancel::CancelTransaction;
use super::create::CreateTransaction;
use super::error::PaymeError;
use super::fiscal::{FiscalKind, SetFiscalData};
use super::keys::{self, CallerKey, ChangePassword, KeyRing};
use super::order_check;
use super::perform::PerformTransaction;
use super::protocol::{Call, Method, Params};
use super::receipt;
use super::statement::{self, StatementError};
use super::transaction::{self, MAX_PAYME_ID_CHARS};
use crate::command::{self, Command, CommandError};
use crate::state::AppState;

/// Everything a method may need besides its parameters.
pub struct Context<'a> {
    pub state: &'a AppState,
    pub keys: &'a KeyRing,
    pub caller: &'a CallerKey,
    pub metadata: &'a EventMetadata,
}

pub async fn dispatch(context: &Context<'_>, call: &Call<'_>) -> Result<MethodResult, PaymeError> {
    let params = &call.params;
    match call.method {
        Method::CheckPerformTransaction => check_perform(context, params).await,
        Method::CreateTransaction => {
            let command = CreateTransaction {
                payme_id: params.string("id", MAX_PAYME_ID_CHARS)?,
                payme_time_ms: params.epoch_millis("time")?,
                amount: params.amount("amount")?,
                account: params.get("account"),
                metadata: context.metadata,
            };
            run(context, &command).await.map(MethodResult::Create)
        }
        Method::PerformTransaction => {
            let command = PerformTransaction {
                payme_id: params.any_string("id")?,
                metadata: context.metadata,
            };
            run(context, &command).await.map(MethodResult::Perform)
        }
        Method::CancelTransaction => {
            let payme_id = params.any_string("id")?;
            let reason = i32::try_from(params.integer("reason")?)
                .map_err(|_| PaymeError::invalid("params.reason"))?;
            let command = CancelTransaction {
                payme_id,
                reason,
                metadata: context.metadata,
            };
            run(context, &command).await.map(MethodResult::Cancel)
        }
        Method::CheckTransaction => check_transaction(context, params).await,
        Method::GetStatement => get_statement(context, params).await,
        Method::SetFiscalData => {
            let payme_id = params.any_string("id")?;
            let kind = FiscalKind::parse(params.any_string("type")?)
                .ok_or_else(|| PaymeError::invalid("params.type"))?;
            let command = SetFiscalData {
                payme_id,
                kind,
                fiscal_data: params.object("fiscal_data")?,
                metadata: context.metadata,
            };
            run(context, &command).await.map(MethodResult::Success)
        }
        Method::ChangePassword => {
            let new_key = params.string("password", keys::MAX_KEY_CHARS)?;
            // The body holds the new key: its digest stays out of the event metadata.
            let mut metadata = context.metadata.clone();
            metadata.raw_body_sha256 = None;
            let command = ChangePassword {
                caller: context.caller,
                new_key,
                metadata: &metadata,
            };
            let replaced = run(context, &command).await?;
            // This instance honours the change at once; the others within `keys::CACHE_FOR`.
            context.keys.install(replaced);
            Ok(MethodResult::Success(SuccessAnswer::YES))
        }
    }
}

/// Runs a write. Its own refusals come back as they are; our failures become -32400, logged
/// here (never sent).
async fn run<C, A>(context: &Context<'_>, command: &C) -> Result<A, PaymeError>
where
    C: Command<Output = Result<A, PaymeError>>,
{
    match command::execute(context.state, command).await {
        Ok(decided) => decided,
        Err(error) => {
            tracing::error!(error = %error, "Payme method failed");
            Err(PaymeError::Internal)
        }
    }
}

/// A read on one pooled connection; our failures become -32400.
async fn on_connection<T>(
    context: &Context<'_>,
    read: impl AsyncFnOnce(&mut PgConnection) -> Result<Result<T, PaymeError>, CommandError>,
) -> Result<T, PaymeError> {
    let outcome = match context.state.pool.acquire().await {
        Ok(mut connection) => read(&mut connection).await,
        Err(error) => Err(CommandError::from(error)),
    };
    outcome.unwrap_or_else(|error| {
        let description = match &error {
            CommandError::Rejected(error) => error.to_string(),
            CommandError::Retry(conflict) => conflict.to_string(),
            CommandError::Failed(error) => format!("{error:#}"),
        };
        tracing::error!(error = %description, "Payme read failed");
        Err(PaymeError::Internal)
    })
}

async fn check_perform(
    context: &Context<'_>,
    params: &Params<'_>,
) -> Result<MethodResult, PaymeError> {
    let amount = params.amount("amount")?;
    let account = params.get("account");
    let payable = on_connection(context, async |connection| {
        order_check::payable_order(context.state, connection, account, amount).await
    })
    .await?;
    Ok(MethodResult::CheckPerform(CheckPerformAnswer {
        allow: true,
        detail: receipt::receipt(&payable.order.placed, payable.amount_tiyin),
    }))
}

async fn check_transaction(
    context: &Context<'_>,
    params: &Params<'_>,
) -> Result<MethodResult, PaymeError> {
    let payme_id = params.any_string("id")?;
    let known = on_connection(context, async |connection| {
        let known = transaction::load(context.state, connection, payme_id).await?;
        Ok(known.ok_or(PaymeError::TransactionNotFound))
    })
    .await?;
    Ok(MethodResult::Check(known.check_answer()))
}

async fn get_statement(
    context: &Context<'_>,
    params: &Params<'_>,
) -> Result<MethodResult, PaymeError> {
    let from = params.epoch_millis("from")?;
    let to = params.epoch_millis("to")?;
    let lines = statement::lines(&context.state.pool, from, to)
        .await
        .map_err(|error| {
            if let StatementError::Database(error) = &error {
                tracing::error!(%error, "reading the Payme statement failed");
            }
            PaymeError::Internal
        })?;
    Ok(MethodResult::Statement(StatementAnswer {
        transactions: lines.into_iter().map(|line| line.entry).collect(),
    }))
}
