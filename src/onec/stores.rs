//! 1C stores and their API keys (`ledger keys create-store | revoke-store`).

use sqlx::PgPool;

/// What `ledger keys create-store` was given.
#[derive(Clone, Debug)]
pub struct NewStore {
    pub store_id: String,
    pub name: Option<String>,
    /// ISO code; None = `LEDGER_CASHBACK_CURRENCY`.
    pub currency: Option<String>,
    /// IANA zone for `created_at` values without an offset; None = UTC.
    pub timezone: Option<String>,
}

/// Creates the store (or adds a key to an existing one) and returns the new key, once.
pub async fn create_store(
    _pool: &PgPool,
    _default_currency: &str,
    _store: &NewStore,
) -> anyhow::Result<String> {
    anyhow::bail!("not implemented yet")
}

/// Revokes every key of the store at once; returns how many were revoked.
pub async fn revoke_store(_pool: &PgPool, _store_id: &str) -> anyhow::Result<u64> {
    anyhow::bail!("not implemented yet")
}
