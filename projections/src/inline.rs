//! Inline projections: applied inside the append transaction, so the next command sees them at
//! once. Only where a write must read its own result (DESIGN §5): lookup indexes and cashback
//! balances. They are the same [`Projector`]s as the asynchronous ones, so the replay tool
//! rebuilds them the same way.

use std::sync::Arc;

use ledger_events::RecordedEvent;
use sqlx::PgConnection;

use crate::projector::{ProjectionError, Projector};
use crate::read_models;

#[derive(Clone)]
pub struct InlineProjections {
    projectors: Vec<Arc<dyn Projector>>,
}

impl Default for InlineProjections {
    fn default() -> Self {
        InlineProjections {
            projectors: read_models::inline(),
        }
    }
}

impl InlineProjections {
    /// Applies freshly appended events, in order, to every inline projector reading them.
    pub async fn apply(
        &self,
        connection: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            for projector in self.projectors.iter().filter(|p| p.reads_stream(event)) {
                projector.apply(connection, event).await?;
            }
        }
        Ok(())
    }

    pub fn projectors(&self) -> &[Arc<dyn Projector>] {
        &self.projectors
    }
}
