//! The accepted Payme merchant keys (kept in the log as digests; `specs/payme.md`).

use ledger_events::EventStore;

use crate::app::AppState;

/// At start-up: `LEDGER_PAYME_KEY` seeds the keys only while the log holds no Payme key event.
pub async fn seed_from_environment(_state: &AppState) -> anyhow::Result<()> {
    Ok(())
}

/// `ledger keys set-payme`: replaces the active keys (operator's rotation).
pub async fn replace_keys_from_operator(
    _store: &EventStore,
    keys: &[String],
) -> anyhow::Result<()> {
    anyhow::ensure!(!keys.is_empty(), "give at least one key");
    anyhow::bail!("not implemented yet")
}
