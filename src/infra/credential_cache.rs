//! Credentials recently found valid, kept in memory for a second so that authentication is not a
//! database query on every request.
//!
//! Only positive answers are kept (an unknown or revoked credential is looked up every time, so
//! guessing cannot fill the cache), entries live [`TIME_TO_LIVE`] — a revoked token or store key
//! stops working within that — and the cache holds at most [`CAPACITY`] entries. Keys are the
//! credential's SHA-256, never the secret. One cache serves every kind of credential; each kind
//! (`"token"`, `"onec_store"`) stores its own type, so this module knows no area.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a valid credential is trusted without asking the database again: the longest a
/// revocation takes to be felt.
pub const TIME_TO_LIVE: Duration = Duration::from_secs(1);
/// Most credentials kept at once.
pub const CAPACITY: usize = 10_000;

type Entry = (Instant, Arc<dyn Any + Send + Sync>);

#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<(&'static str, String), Entry>>,
}

impl CredentialCache {
    /// The value kept for `(kind, digest)`, if it is still fresh.
    pub fn get<T: Any + Clone>(&self, kind: &'static str, digest: &str) -> Option<T> {
        let entries = self.entries.lock().expect("credential cache lock");
        let (stored_at, value) = entries.get(&(kind, digest.to_owned()))?;
        if stored_at.elapsed() >= TIME_TO_LIVE {
            return None;
        }
        value.downcast_ref::<T>().cloned()
    }

    /// Keeps a credential found valid just now.
    pub fn put<T: Any + Send + Sync>(&self, kind: &'static str, digest: &str, value: T) {
        let mut entries = self.entries.lock().expect("credential cache lock");
        if entries.len() >= CAPACITY {
            entries.retain(|_, (stored_at, _)| stored_at.elapsed() < TIME_TO_LIVE);
            if entries.len() >= CAPACITY {
                return;
            }
        }
        entries.insert((kind, digest.to_owned()), (Instant::now(), Arc::new(value)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_per_kind_and_type() {
        let cache = CredentialCache::default();
        cache.put("token", "abc", 7_u32);
        assert_eq!(cache.get::<u32>("token", "abc"), Some(7));
        assert_eq!(cache.get::<u32>("store", "abc"), None, "another kind");
        assert_eq!(cache.get::<String>("token", "abc"), None, "another type");
        assert_eq!(cache.get::<u32>("token", "abd"), None);
    }

    #[test]
    fn entries_expire() {
        let cache = CredentialCache::default();
        cache.put("token", "abc", 7_u32);
        {
            let mut entries = cache.entries.lock().unwrap();
            let entry = entries.get_mut(&("token", "abc".to_owned())).unwrap();
            entry.0 -= TIME_TO_LIVE;
        }
        assert_eq!(cache.get::<u32>("token", "abc"), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = CredentialCache::default();
        for n in 0..CAPACITY + 10 {
            cache.put("token", &n.to_string(), n);
        }
        assert_eq!(cache.entries.lock().unwrap().len(), CAPACITY);
    }
}
