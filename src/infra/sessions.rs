//! Mini App session tokens: issued after a valid Telegram `initData`, random, stored only as a
//! SHA-256, with an expiry and revocation (logout). Credentials, not facts: they live in the
//! `telegram_sessions` table, not in the event log.
//!
//! Session tokens carry their own prefix and live in their own table, so a session token is
//! never found where a shop's or an operator's bearer token is looked up, and the other way
//! round.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgPool, Row};

use super::security::{new_secret_token, sha256_hex};

/// Prefix of every session token.
pub const SESSION_TOKEN_PREFIX: &str = "tgs_";

/// Who a valid session token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiniAppUser {
    pub customer_id: String,
    pub telegram_id: i64,
    pub expires_at: DateTime<Utc>,
    /// The token's digest: what logout revokes.
    pub token_sha256: String,
}

/// A new session for the customer, valid for `ttl_s` seconds. Returns the token, the only
/// time it exists in clear, and its expiry.
pub async fn create(
    pool: &PgPool,
    customer_id: &str,
    telegram_id: i64,
    ttl_s: u64,
) -> Result<(String, DateTime<Utc>), sqlx::Error> {
    let token = new_secret_token(SESSION_TOKEN_PREFIX);
    let ttl = Duration::seconds(i64::try_from(ttl_s).unwrap_or(i64::MAX).min(3_650 * 86_400));
    let expires_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO telegram_sessions (token_sha256, customer_id, telegram_id, expires_at) \
         VALUES ($1, $2, $3, now() + $4) RETURNING expires_at",
    )
    .bind(sha256_hex(&token))
    .bind(customer_id)
    .bind(telegram_id)
    .bind(ttl)
    .fetch_one(pool)
    .await?;
    Ok((token, expires_at))
}

/// The session of a presented token, if it exists, has not expired and was not revoked.
pub async fn authenticate(
    pool: &PgPool,
    presented: &str,
) -> Result<Option<MiniAppUser>, sqlx::Error> {
    if !presented.starts_with(SESSION_TOKEN_PREFIX) {
        return Ok(None);
    }
    let digest = sha256_hex(presented);
    let row = sqlx::query(
        "SELECT customer_id, telegram_id, expires_at FROM telegram_sessions \
         WHERE token_sha256 = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(&digest)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(MiniAppUser {
            customer_id: row.try_get("customer_id")?,
            telegram_id: row.try_get("telegram_id")?,
            expires_at: row.try_get("expires_at")?,
            token_sha256: digest.clone(),
        })
    })
    .transpose()
}

/// Revokes a session at once (logout).
pub async fn revoke(pool: &PgPool, token_sha256: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE telegram_sessions SET revoked_at = now() \
         WHERE token_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(token_sha256)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes sessions that ended more than a week ago (expired or revoked), at most `limit`.
pub async fn delete_ended(pool: &PgPool, limit: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM telegram_sessions WHERE token_sha256 IN (SELECT token_sha256 \
         FROM telegram_sessions WHERE least(expires_at, coalesce(revoked_at, expires_at)) \
         < now() - interval '7 days' LIMIT $1)",
    )
    .bind(limit)
    .execute(pool)
    .await?
    .rows_affected())
}
