//! A phone joins a Telegram customer only with Telegram's own proof: a contact the user shared
//! with the bot (`message.contact`) whose `user_id` is the sender himself. A phone the Mini App
//! merely claims is never taken (the Mini App has no route that sets one).
//!
//! With that proof the phone and the Telegram id are registered together, as the shop's
//! backend may do with `POST /api/customers`: the customer who has the Telegram id gets the
//! phone; a customer known only by that phone (from a 1C register, say) gets the Telegram id;
//! nobody known yet is created with both. When they belong to two different customers, or would
//! replace a phone or Telegram id a customer already has, nothing changes (`customer_conflict`,
//! logged for an operator): customers are never merged automatically.

use ledger_events::EventMetadata;
use sqlx::PgConnection;

use super::charges::{self, Handled};
use crate::command::{Command, CommandError};
use crate::customers::phone;
use crate::customers::register::{self, RegisterCustomer};
use crate::state::AppState;

pub struct LinkSharedPhone<'a> {
    pub update_id: i64,
    pub telegram_id: i64,
    pub phone: &'a str,
    pub metadata: &'a EventMetadata,
}

impl Command for LinkSharedPhone<'_> {
    type Output = Handled;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Handled, CommandError> {
        if charges::seen(connection, self.update_id).await? {
            return Ok(Handled::Before);
        }
        let Some(phone) = phone::normalize(self.phone) else {
            tracing::info!("a shared contact's phone is not Russian or Uzbek; not linked");
            charges::record(connection, self.update_id, "contact_unsupported_phone").await?;
            return Ok(Handled::Now { position: None });
        };
        let input = RegisterCustomer {
            phone: Some(phone),
            telegram_id: Some(self.telegram_id),
            name: None,
        };
        let position = match register::register_in(state, connection, &input, self.metadata).await {
            Ok(registration) => Some(registration.customer.position),
            Err(CommandError::Rejected(rejection)) => {
                tracing::warn!(
                    telegram_id = self.telegram_id,
                    %rejection,
                    "a shared phone was not linked; an operator must reconcile the customers"
                );
                None
            }
            Err(other) => return Err(other),
        };
        charges::record(connection, self.update_id, "contact").await?;
        Ok(Handled::Now { position })
    }
}
