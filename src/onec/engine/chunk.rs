//! One chunk of operations as one command: lock the chunk's customer streams and load what the
//! decisions need into a [`Book`](super::book::Book) (one statement, [`state::load`]), decide every item in
//! memory, append all events in one statement, update the inline projections set-wise, write
//! the sync log.

use std::time::Instant;

use chrono::{DateTime, Utc};
use ledger_events::store::LockedEvent;
use ledger_events::EventMetadata;
use sqlx::PgConnection;

use super::book::Decision;
use super::outcomes::{resolve, sync_entry, sync_request, ItemOutcome};
use super::state::{self, ChunkState};
use super::Prepared;
use crate::command::{Command, CommandError};
use crate::onec::auth::StoreContext;
use crate::onec::sync_log::{self, SyncEntry};
use crate::state::AppState;

pub(super) struct ApplyChunk<'a> {
    pub store: &'a StoreContext,
    pub items: &'a [Prepared],
    pub metadata: &'a EventMetadata,
    pub request_kind: &'static str,
    pub received: Instant,
    pub received_at: DateTime<Utc>,
}
impl Command for ApplyChunk<'_> {
    type Output = Vec<(usize, ItemOutcome)>;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Self::Output, CommandError> {
        let ChunkState { locked, mut book } =
            state::load(state, connection, self.store, self.items).await?;
        let decisions: Vec<Decision> = self
            .items
            .iter()
            .map(|item| book.decide(self.store, item))
            .collect();

        let to_write: Vec<LockedEvent> = decisions
            .iter()
            .filter_map(|decision| match decision {
                Decision::Record { event, .. } => Some(LockedEvent::clone(event)),
                _ => None,
            })
            .collect();
        let recorded = state
            .store
            .append_locked(connection, &locked, &to_write, self.metadata)
            .await?;
        state.inline.apply(connection, &recorded).await?;

        let outcomes = resolve(self.items, decisions, &recorded);
        let entries: Vec<SyncEntry> = self
            .items
            .iter()
            .zip(&outcomes)
            .map(|(item, (_, outcome))| {
                let ids = (
                    Some(item.operation.external_id.clone()),
                    item.operation.register_id.clone(),
                );
                sync_entry(&ids, outcome)
            })
            .collect();
        let request = sync_request(self.request_kind, self.received, self.received_at);
        sync_log::insert(&mut *connection, self.store, request, &entries).await?;
        Ok(outcomes)
    }
}
