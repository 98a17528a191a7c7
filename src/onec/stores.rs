//! 1C stores and their API keys (`ledger keys create-store | revoke-store`). A key is printed
//! once and kept only as a SHA-256.

use chrono_tz::Tz;
use ledger_events::Currency;
use sqlx::{PgPool, Row};

use crate::infra::security::{new_secret_token, sha256_hex};

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

/// Store ids appear in account names (`store:<id>:...`) and idempotency keys
/// (`1c:<id>:<external id>`), so they are kept to a plain alphabet.
pub fn valid_store_id(store_id: &str) -> bool {
    !store_id.is_empty()
        && store_id.len() <= 64
        && store_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Creates the store (or adds a key to an existing one) and returns the new key, once.
pub async fn create_store(
    pool: &PgPool,
    default_currency: &str,
    store: &NewStore,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        valid_store_id(&store.store_id),
        "--store must be 1 to 64 characters of A-Z a-z 0-9 _ - ."
    );
    let currency = Currency::new(store.currency.as_deref().unwrap_or(default_currency))
        .map_err(|error| anyhow::anyhow!("--currency: {error}"))?;
    let timezone = store.timezone.as_deref().unwrap_or("UTC");
    timezone.parse::<Tz>().map_err(|_| {
        anyhow::anyhow!("--timezone {timezone:?} is not an IANA time zone (e.g. Asia/Tashkent)")
    })?;

    let mut transaction = pool.begin().await?;
    let existing = sqlx::query("SELECT currency FROM onec_stores WHERE store_id = $1 FOR UPDATE")
        .bind(&store.store_id)
        .fetch_optional(&mut *transaction)
        .await?;
    match existing {
        Some(row) => {
            let known: String = row.try_get("currency")?;
            anyhow::ensure!(
                store.currency.is_none() || known == currency.code(),
                "store {} keeps its balances in {known}; its currency cannot change",
                store.store_id
            );
            sqlx::query(
                "UPDATE onec_stores SET name = coalesce($2, name), timezone = coalesce($3, timezone) WHERE store_id = $1",
            )
            .bind(&store.store_id)
            .bind(&store.name)
            .bind(&store.timezone)
            .execute(&mut *transaction)
            .await?;
        }
        None => {
            sqlx::query("INSERT INTO onec_stores (store_id, name, currency, timezone) VALUES ($1, $2, $3, $4)")
                .bind(&store.store_id)
                .bind(&store.name)
                .bind(currency.code())
                .bind(timezone)
                .execute(&mut *transaction)
                .await?;
        }
    }
    let key = new_secret_token("ldg_store_");
    sqlx::query("INSERT INTO onec_store_keys (key_sha256, store_id) VALUES ($1, $2)")
        .bind(sha256_hex(&key))
        .bind(&store.store_id)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(key)
}

/// Revokes every key of the store at once; returns how many were revoked.
pub async fn revoke_store(pool: &PgPool, store_id: &str) -> anyhow::Result<u64> {
    let known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM onec_stores WHERE store_id = $1)")
            .bind(store_id)
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(known, "no store {store_id:?}");
    let revoked = sqlx::query(
        "UPDATE onec_store_keys SET revoked_at = now() WHERE store_id = $1 AND revoked_at IS NULL",
    )
    .bind(store_id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::valid_store_id;

    #[test]
    fn store_ids_use_a_plain_alphabet() {
        for good in ["tashkent-01", "Store_7", "a.b"] {
            assert!(valid_store_id(good), "{good}");
        }
        for bad in ["", "has space", "colon:inside", "слово", &"x".repeat(65)] {
            assert!(!valid_store_id(bad), "{bad}");
        }
    }
}
