//! API bearer tokens with scopes: created once and printed once, stored only as a SHA-256,
//! looked up by that digest (kept in the credential cache for a second once found valid, so a
//! revocation is felt within a second); the bootstrap admin token from the settings has every
//! scope.

use std::fmt;
use std::str::FromStr;

use sqlx::{PgPool, Row};

use crate::config::Secret;
use crate::infra::credential_cache::CredentialCache;
use crate::infra::security::{new_secret_token, secrets_match, sha256_hex};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    OrdersWrite,
    OrdersRead,
    CashbackRead,
    ReportsRead,
    /// Everything, including `/api/admin/...`.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::OrdersWrite,
        Scope::OrdersRead,
        Scope::CashbackRead,
        Scope::ReportsRead,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OrdersWrite => "orders:write",
            Scope::OrdersRead => "orders:read",
            Scope::CashbackRead => "cashback:read",
            Scope::ReportsRead => "reports:read",
            Scope::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope {text:?}; known scopes: {}", known.join(", "))
            })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling, once a bearer token checked out.
#[derive(Clone, Debug)]
pub struct ApiClient {
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl ApiClient {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }
}

/// Creates a token and returns it (the only time it exists in clear).
pub async fn create_token(pool: &PgPool, name: &str, scopes: &[Scope]) -> anyhow::Result<String> {
    anyhow::ensure!(!scopes.is_empty(), "a token needs at least one scope");
    anyhow::ensure!(!name.trim().is_empty(), "a token needs a name");
    let token = new_secret_token("ldg_");
    let scope_names: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
    sqlx::query("INSERT INTO api_tokens (token_sha256, name, scopes) VALUES ($1, $2, $3)")
        .bind(sha256_hex(&token))
        .bind(name.trim())
        .bind(&scope_names)
        .execute(pool)
        .await?;
    Ok(token)
}

/// Resolves a presented bearer token: the bootstrap admin token (compared by digest, so neither
/// its bytes nor its length show in the time taken), or a stored token found by its hash.
pub async fn authenticate(
    pool: &PgPool,
    cache: &CredentialCache,
    admin_token: Option<&Secret>,
    presented: &str,
) -> Result<Option<ApiClient>, sqlx::Error> {
    if let Some(admin) = admin_token {
        if secrets_match(admin.expose(), presented) {
            return Ok(Some(ApiClient {
                name: "bootstrap admin".into(),
                scopes: vec![Scope::Admin],
            }));
        }
    }
    let digest = sha256_hex(presented);
    if let Some(client) = cache.get::<ApiClient>(CACHE_KIND, &digest) {
        return Ok(Some(client));
    }
    let row = sqlx::query(
        "SELECT name, scopes FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(&digest)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let scopes: Vec<String> = row.try_get("scopes")?;
    let client = ApiClient {
        name: row.try_get("name")?,
        // A scope name this build does not know grants nothing.
        scopes: scopes
            .iter()
            .filter_map(|scope| scope.parse().ok())
            .collect(),
    };
    cache.put(CACHE_KIND, &digest, client.clone());
    Ok(Some(client))
}

/// The credential cache's name for bearer tokens.
const CACHE_KIND: &str = "token";
