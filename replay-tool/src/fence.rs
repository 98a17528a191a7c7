//! Holding the live writers of a projection back while a rebuild catches up and swaps (or a
//! verify compares), inside the caller's transaction; released when it ends.
//!
//! - An **asynchronous** projector's runner commits each batch after locking its checkpoint row
//!   and checking it still says what the runner last wrote. Holding that row lock pauses the
//!   runner at its next commit; when the swap moves the checkpoint, the runner sees it moved,
//!   re-reads it and carries on from the rebuilt position. Nothing needs restarting.
//! - An **inline** projection is written inside append transactions. Holding its tables in
//!   SHARE ROW EXCLUSIVE mode lets readers in and makes those writers wait; once it is
//!   granted, every append that wrote them has committed, so what is visible in the log is all
//!   the tables reflect.

use ledger_events::FeedPosition;
use ledger_projections::{checkpoint, read_models, Projector};
use sqlx::PgConnection;

use crate::scratch::quoted;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    /// The runner is paused at this checkpoint.
    Runner(FeedPosition),
    /// The inline tables take no writes.
    Tables,
}

pub fn is_inline(projector: &dyn Projector) -> bool {
    read_models::inline()
        .iter()
        .any(|inline| inline.name() == projector.name())
}

/// Takes the fence in the transaction `connection` is in.
pub async fn hold(
    connection: &mut PgConnection,
    projector: &dyn Projector,
) -> Result<Fence, sqlx::Error> {
    if is_inline(projector) {
        let tables: Vec<String> = projector
            .tables()
            .iter()
            .map(|table| format!("public.{}", quoted(table)))
            .collect();
        sqlx::raw_sql(&format!(
            "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE",
            tables.join(", ")
        ))
        .execute(&mut *connection)
        .await?;
        return Ok(Fence::Tables);
    }
    checkpoint::ensure_exists(&mut *connection, projector.name()).await?;
    let position = checkpoint::lock(connection, projector.name()).await?;
    Ok(Fence::Runner(position))
}
