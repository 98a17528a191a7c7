//! The accepted Payme merchant keys (Basic auth `Paycom:<key>`; `docs/payme.md`).
//!
//! Keys live in the log, on the `settings-payme` stream: each `PaymeKeysReplaced` event holds the
//! SHA-256 digests of the whole accepted set (never a key in clear; Payme keys are long random
//! strings, so a plain digest is not guessable). The last event is the truth:
//! - `LEDGER_PAYME_KEY` seeds the set at start-up only while the stream is empty;
//! - `ledger keys set-payme` replaces the set (operator's rotation);
//! - ChangePassword replaces the key it was called with by the new one.
//!
//! Every server instance reads the set from the log and keeps it at most [`CACHE_FOR`], so a
//! ChangePassword answered by one instance is honoured by all of them a second later (and at once
//! by the one that answered it). A presented key is checked by comparing its digest with every
//! active digest in constant time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ledger_events::domain::PaymeKeysReplaced;
use ledger_events::{
    AppendError, AppendRequest, DomainEvent, EventMetadata, EventStore, ExpectedVersion,
    RecordedEvent, Source, StreamId,
};
use sqlx::PgConnection;

use super::error::PaymeError;
use crate::command::{self, Command, CommandError};
use crate::infra::security::{constant_time_eq, sha256_hex};
use crate::state::AppState;

/// How long an instance trusts the key set it read.
pub const CACHE_FOR: Duration = Duration::from_secs(1);
/// Basic-auth login Payme uses.
const PAYME_LOGIN: &str = "Paycom";
/// Longest key accepted by ChangePassword (Payme's are a few dozen characters).
pub const MAX_KEY_CHARS: usize = 512;

fn keys_stream() -> StreamId {
    StreamId::settings("payme")
}

/// The digests of the accepted keys and the stream version they were read at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActiveKeys {
    pub digests: Vec<String>,
    pub version: i64,
}

fn fold(events: &[RecordedEvent]) -> ActiveKeys {
    let mut active = ActiveKeys::default();
    for event in events {
        if let DomainEvent::PaymeKeysReplaced(replaced) = &event.event {
            active.digests = replaced.key_sha256.clone();
        }
        active.version = event.stream_version;
    }
    active
}

/// Whose key authenticated a call: its digest (ChangePassword replaces exactly this one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerKey {
    pub digest: String,
}

/// Per-instance cache of the active key set, and the check of a request's credentials.
#[derive(Default)]
pub struct KeyRing {
    cached: Mutex<Option<(Instant, ActiveKeys)>>,
}

impl KeyRing {
    /// The active set, from the cache when it is fresh.
    pub async fn active(&self, store: &EventStore) -> Result<ActiveKeys, anyhow::Error> {
        let fresh = self
            .cached
            .lock()
            .expect("key cache lock")
            .as_ref()
            .filter(|(read_at, _)| read_at.elapsed() < CACHE_FOR)
            .map(|(_, keys)| keys.clone());
        if let Some(keys) = fresh {
            return Ok(keys);
        }
        let keys = fold(&store.read_stream(&keys_stream(), 0).await?);
        Ok(self.install(keys))
    }

    /// Caches a set read from (or just written to) the log, unless the cache already holds a
    /// later one: a read that started before this instance's own ChangePassword must not bring
    /// the replaced key back. Returns the set now cached.
    pub fn install(&self, keys: ActiveKeys) -> ActiveKeys {
        let mut cached = self.cached.lock().expect("key cache lock");
        let newest = match cached.take() {
            Some((_, known)) if known.version > keys.version => known,
            _ => keys,
        };
        *cached = Some((Instant::now(), newest.clone()));
        newest
    }

    /// Checks `Authorization: Basic base64("Paycom:" + key)` against the active keys.
    /// Anything missing, malformed or unknown is -32504; no set at all (no key configured) too.
    pub async fn authorize(
        &self,
        store: &EventStore,
        headers: &HeaderMap,
    ) -> Result<CallerKey, PaymeError> {
        let Some(presented) = presented_key(headers) else {
            return Err(PaymeError::InsufficientPrivileges);
        };
        let active = self.active(store).await.map_err(|error| {
            tracing::error!(
                error = format!("{error:#}"),
                "reading the Payme keys failed"
            );
            PaymeError::Internal
        })?;
        let digest = sha256_hex(&presented);
        // Every active digest is compared, so the time taken says nothing about which matched.
        let matched = active.digests.iter().fold(false, |found, active_digest| {
            constant_time_eq(active_digest.as_bytes(), digest.as_bytes()) | found
        });
        if matched {
            Ok(CallerKey { digest })
        } else {
            Err(PaymeError::InsufficientPrivileges)
        }
    }
}

/// The key of a `Basic` credential with login `Paycom`.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    let header = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let credentials = String::from_utf8(decoded).ok()?;
    let (login, key) = credentials.split_once(':')?;
    let login_matches = constant_time_eq(login.as_bytes(), PAYME_LOGIN.as_bytes());
    (login_matches && !key.is_empty()).then(|| key.to_owned())
}

fn digests_of(keys: &[String]) -> Vec<String> {
    let mut digests: Vec<String> = Vec::with_capacity(keys.len());
    for digest in keys.iter().map(|key| sha256_hex(key)) {
        if !digests.contains(&digest) {
            digests.push(digest);
        }
    }
    digests
}

/// At start-up: `LEDGER_PAYME_KEY` seeds the keys only while the log holds no Payme key event.
pub async fn seed_from_environment(state: &AppState) -> anyhow::Result<()> {
    let keys: Vec<String> = state
        .config
        .payme_keys
        .iter()
        .map(|key| key.expose().to_owned())
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let digests = digests_of(&keys);
    let request = AppendRequest::new(EventMetadata::new(Source::System, "environment"))
        .expect(&keys_stream(), ExpectedVersion::NoStream)
        .event(
            &keys_stream(),
            PaymeKeysReplaced {
                key_sha256: digests.clone(),
                origin: "environment".into(),
            },
        );
    match state.store.append(&request).await {
        Ok(_) => {
            tracing::info!(
                keys = digests.len(),
                "Payme keys seeded from LEDGER_PAYME_KEY"
            );
            Ok(())
        }
        Err(AppendError::VersionConflict(_)) => {
            let active = fold(&state.store.read_stream(&keys_stream(), 0).await?);
            let mut configured = digests;
            let mut logged = active.digests;
            configured.sort();
            logged.sort();
            if configured != logged {
                tracing::warn!(
                    "LEDGER_PAYME_KEY differs from the Payme keys in the log; the log wins \
                     (rotate with `ledger keys set-payme`)"
                );
            }
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// `ledger keys set-payme`: replaces the active keys (operator's rotation).
pub async fn replace_keys_from_operator(store: &EventStore, keys: &[String]) -> anyhow::Result<()> {
    anyhow::ensure!(!keys.is_empty(), "give at least one key");
    anyhow::ensure!(
        keys.iter()
            .all(|key| !key.is_empty() && key.chars().count() <= MAX_KEY_CHARS),
        "keys must be 1 to {MAX_KEY_CHARS} characters long"
    );
    let request = AppendRequest::new(EventMetadata::new(
        Source::Operator,
        "ledger keys set-payme",
    ))
    .event(
        &keys_stream(),
        PaymeKeysReplaced {
            key_sha256: digests_of(keys),
            origin: "operator".into(),
        },
    );
    store.append(&request).await?;
    Ok(())
}

/// ChangePassword: the new key replaces the one the call was made with; the other active keys
/// (a rotation in progress) stay.
pub struct ChangePassword<'a> {
    pub caller: &'a CallerKey,
    pub new_key: &'a str,
    pub metadata: &'a EventMetadata,
}

impl Command for ChangePassword<'_> {
    /// The new active set.
    type Output = Result<ActiveKeys, PaymeError>;

    async fn run(
        &self,
        state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<Self::Output, CommandError> {
        let stream = keys_stream();
        state
            .store
            .lock_streams(connection, std::slice::from_ref(&stream))
            .await?;
        let active = fold(&state.store.read_stream_in(connection, &stream, 0).await?);
        if !active.digests.contains(&self.caller.digest) {
            // Replaced by a concurrent change since the call was authenticated.
            return Ok(Err(PaymeError::InsufficientPrivileges));
        }
        let new_digest = sha256_hex(self.new_key);
        let mut digests: Vec<String> = active
            .digests
            .into_iter()
            .filter(|digest| *digest != self.caller.digest && *digest != new_digest)
            .collect();
        digests.push(new_digest);
        let request = AppendRequest::new(self.metadata.clone())
            .expect(&stream, ExpectedVersion::after(active.version))
            .event(
                &stream,
                PaymeKeysReplaced {
                    key_sha256: digests.clone(),
                    origin: "change_password".into(),
                },
            );
        let outcome = command::append(state, connection, &request).await?;
        Ok(Ok(ActiveKeys {
            digests,
            version: outcome.keyed_event().stream_version,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_basic_paycom_credentials_present_a_key() {
        let basic = |text: &str| format!("Basic {}", STANDARD.encode(text));
        assert_eq!(
            presented_key(&headers(&basic("Paycom:s3cr:et"))).as_deref(),
            Some("s3cr:et")
        );
        assert_eq!(presented_key(&headers(&basic("paycom:key"))), None);
        assert_eq!(presented_key(&headers(&basic("Paycom:"))), None);
        assert_eq!(presented_key(&headers(&basic("Paycom"))), None);
        assert_eq!(presented_key(&headers("Bearer abc")), None);
        assert_eq!(presented_key(&headers("Basic !!!not-base64")), None);
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn a_stale_read_never_replaces_a_newer_set() {
        let ring = KeyRing::default();
        let set = |digest: &str, version| ActiveKeys {
            digests: vec![digest.into()],
            version,
        };
        assert_eq!(ring.install(set("b", 3)), set("b", 3));
        assert_eq!(
            ring.install(set("a", 2)),
            set("b", 3),
            "a read begun earlier"
        );
        assert_eq!(ring.install(set("c", 4)), set("c", 4));
    }

    #[test]
    fn digests_never_hold_the_key() {
        let digests = digests_of(&["k-1".into(), "k-2".into(), "k-1".into()]);
        assert_eq!(digests.len(), 2);
        assert_eq!(digests[0].len(), 64);
        assert!(!digests[0].contains("k-1"));
    }
}
