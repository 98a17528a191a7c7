//! Registering a customer, or finding the one that already owns a phone / Telegram id.
//!
//! Races between two registrations of the same phone are decided by the unique constraints of
//! the inline `customer_index`: the loser's transaction fails, its command re-runs and finds the
//! winner's customer.

use ledger_events::domain::{CustomerPhoneLinked, CustomerRegistered, CustomerTelegramLinked};
use ledger_events::{AppendRequest, EventMetadata, ExpectedVersion, StreamId};
use sqlx::PgConnection;
use uuid::Uuid;

use super::state::{self, CustomerState};
use crate::command::{self, Command, CommandError, CommandFailure};
use crate::rejection::Rejection;
use crate::state::AppState;

#[derive(Clone, Debug, Default)]
pub struct RegisterCustomer {
    /// Normalised.
    pub phone: Option<String>,
    pub telegram_id: Option<i64>,
    pub name: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Registration {
    pub customer: CustomerState,
    /// False when an existing customer was found (and possibly linked).
    pub created: bool,
}

pub async fn register(
    state: &AppState,
    input: &RegisterCustomer,
    metadata: &EventMetadata,
) -> Result<Registration, CommandFailure> {
    command::execute(state, &Register { input, metadata }).await
}

struct Register<'a> {
    input: &'a RegisterCustomer,
    metadata: &'a EventMetadata,
}

impl Command for Register<'_> {
    type Output = Registration;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Registration, CommandError> {
        register_in(state, connection, self.input, self.metadata).await
    }
}

/// Registers (or finds and links) inside the caller's transaction.
pub async fn register_in(
    state: &AppState,
    connection: &mut PgConnection,
    input: &RegisterCustomer,
    metadata: &EventMetadata,
) -> Result<Registration, CommandError> {
    assert!(
        input.phone.is_some() || input.telegram_id.is_some(),
        "a customer is registered by phone or Telegram id"
    );
    let (by_phone, by_telegram) =
        state::find_ids(connection, input.phone.as_deref(), input.telegram_id).await?;
    let existing_id = match (by_phone, by_telegram) {
        (Some(phone_owner), Some(telegram_owner)) if phone_owner != telegram_owner => {
            return Err(conflict(
                "the phone and the Telegram id belong to two different customers",
            ));
        }
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => return create(state, connection, input, metadata).await,
    };
    let customer = state::load(state, connection, &existing_id)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!("customer_index names {existing_id}, whose stream is empty")
        })?;
    link_missing(state, connection, customer, input, metadata).await
}

async fn create(
    state: &AppState,
    connection: &mut PgConnection,
    input: &RegisterCustomer,
    metadata: &EventMetadata,
) -> Result<Registration, CommandError> {
    let (stream, registered) = new_customer(input);
    let request = AppendRequest::new(metadata.clone())
        .expect(&stream, ExpectedVersion::NoStream)
        .event(&stream, registered.clone());
    let outcome = command::append(state, connection, &request).await?;
    let event = outcome.keyed_event();
    Ok(Registration {
        customer: CustomerState {
            customer_id: registered.customer_id,
            phone: registered.phone,
            telegram_id: registered.telegram_id,
            name: registered.name,
            version: event.stream_version,
            position: event.position,
        },
        created: true,
    })
}

/// A new customer's stream and first event (used alone, or inside another command's append
/// when an order names an unknown phone).
pub fn new_customer(input: &RegisterCustomer) -> (StreamId, CustomerRegistered) {
    let customer_id = Uuid::now_v7().to_string();
    (
        StreamId::customer(&customer_id),
        CustomerRegistered {
            customer_id,
            phone: input.phone.clone(),
            telegram_id: input.telegram_id,
            name: input.name.clone(),
        },
    )
}

/// Adds a phone or Telegram id the existing customer lacks; refuses to overwrite one it has.
async fn link_missing(
    state: &AppState,
    connection: &mut PgConnection,
    mut customer: CustomerState,
    input: &RegisterCustomer,
    metadata: &EventMetadata,
) -> Result<Registration, CommandError> {
    let stream = StreamId::customer(&customer.customer_id);
    let mut request = AppendRequest::new(metadata.clone())
        .expect(&stream, ExpectedVersion::Exact(customer.version));
    if let Some(telegram_id) = input.telegram_id {
        match customer.telegram_id {
            None => request.push_event(
                &stream,
                CustomerTelegramLinked {
                    customer_id: customer.customer_id.clone(),
                    telegram_id,
                },
            ),
            Some(known) if known != telegram_id => {
                return Err(conflict(
                    "the phone belongs to a customer with another Telegram id",
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(phone) = &input.phone {
        match &customer.phone {
            None => request.push_event(
                &stream,
                CustomerPhoneLinked {
                    customer_id: customer.customer_id.clone(),
                    phone: phone.clone(),
                },
            ),
            Some(known) if known != phone => {
                return Err(conflict(
                    "the Telegram id belongs to a customer with another phone",
                ))
            }
            Some(_) => {}
        }
    }
    if !request.is_empty() {
        let outcome = command::append(state, connection, &request).await?;
        customer.telegram_id = customer.telegram_id.or(input.telegram_id);
        customer.phone = customer.phone.or_else(|| input.phone.clone());
        customer.version = outcome.keyed_event().stream_version;
        customer.position = outcome.position();
    }
    Ok(Registration {
        customer,
        created: false,
    })
}

fn conflict(message: &str) -> CommandError {
    Rejection::CustomerConflict {
        message: message.into(),
    }
    .into()
}
