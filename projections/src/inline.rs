//! Inline projections: applied inside the append transaction, so the next command sees them at
//! once. Only where a write must read its own result (everything else is asynchronous, so
//! appends stay short): lookup indexes and cashback balances. They are the same [`Projector`]s
//! as the asynchronous ones, so the replay tool rebuilds them the same way.

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
    /// Applies freshly appended events, in order, to every inline projector reading them (each
    /// projector gets its events as one batch; inline projectors own disjoint tables).
    pub async fn apply(
        &self,
        connection: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for projector in &self.projectors {
            let mine: Vec<&RecordedEvent> = events
                .iter()
                .filter(|event| projector.reads_stream(event))
                .collect();
            if !mine.is_empty() {
                projector.apply_batch(connection, &mine).await?;
            }
        }
        Ok(())
    }

    pub fn projectors(&self) -> &[Arc<dyn Projector>] {
        &self.projectors
    }
}
