//! Admission control: how much of each kind of scarce work the process takes on at once.
//!
//! Every limit here refuses at once instead of queueing: a client that is told "busy, retry in a
//! second" costs nothing, while a queue of waiting requests holds connections, memory and, worst,
//! database pool connections that writes need. The counters are shared by every route (one
//! process-wide budget, not one per route) and live in the application state so that tests can
//! hold a permit and observe what is in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;

/// The process's admission counters.
pub struct Admission {
    requests: Bounded,
    waiting_reads: Bounded,
    /// 1C batches in flight per store.
    pub onec_batches: KeyedPermits,
}

impl Admission {
    pub fn new(limits: &Limits) -> Self {
        Admission {
            requests: Bounded::new(limits.max_concurrent_requests),
            waiting_reads: Bounded::new(limits.max_waiting_reads),
            onec_batches: KeyedPermits::new(limits.onec_batches_per_store),
        }
    }

    /// A slot for one request, held until it is answered; `None` when the server is full.
    pub fn try_request(&self) -> Option<OwnedSemaphorePermit> {
        self.requests.try_acquire()
    }

    /// Requests being handled now.
    pub fn requests_in_flight(&self) -> usize {
        self.requests.in_use()
    }

    /// A slot for one read that must wait for a projection; `None` when too many already wait.
    pub fn try_waiting_read(&self) -> Option<OwnedSemaphorePermit> {
        self.waiting_reads.try_acquire()
    }

    /// Reads waiting for a projection now.
    pub fn waiting_reads(&self) -> usize {
        self.waiting_reads.in_use()
    }
}

/// A counting limit that refuses instead of queueing.
struct Bounded {
    capacity: usize,
    permits: Arc<Semaphore>,
}

impl Bounded {
    fn new(capacity: usize) -> Self {
        Bounded {
            capacity,
            permits: Arc::new(Semaphore::new(capacity)),
        }
    }

    fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    fn in_use(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }
}

/// At most `per_key` holders per key (a 1C store's batches). Keys with no holder are forgotten,
/// so the map is as large as the number of keys with work in flight.
pub struct KeyedPermits {
    per_key: usize,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

/// One held slot; dropping it frees the slot.
pub struct KeyedPermit {
    key: String,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl KeyedPermits {
    pub fn new(per_key: usize) -> Self {
        KeyedPermits {
            per_key,
            held: Arc::default(),
        }
    }

    /// How many holders one key may have.
    pub fn per_key(&self) -> usize {
        self.per_key
    }

    /// A slot for `key`, or `None` when it already has `per_key` holders.
    pub fn try_acquire(&self, key: &str) -> Option<KeyedPermit> {
        let mut held = self.held.lock().expect("admission lock");
        let count = held.entry(key.to_owned()).or_default();
        if *count >= self.per_key {
            return None;
        }
        *count += 1;
        Some(KeyedPermit {
            key: key.to_owned(),
            held: self.held.clone(),
        })
    }
}

impl Drop for KeyedPermit {
    fn drop(&mut self) {
        let mut held = self.held.lock().expect("admission lock");
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_permits_limit_each_key_alone_and_free_on_drop() {
        let permits = KeyedPermits::new(2);
        let first = permits.try_acquire("store-a").expect("first slot");
        let _second = permits.try_acquire("store-a").expect("second slot");
        assert!(permits.try_acquire("store-a").is_none());
        assert!(
            permits.try_acquire("store-b").is_some(),
            "other keys are unaffected"
        );
        drop(first);
        assert!(permits.try_acquire("store-a").is_some());
    }

    #[test]
    fn forgotten_keys_leave_nothing_behind() {
        let permits = KeyedPermits::new(1);
        drop(permits.try_acquire("store-a"));
        assert!(permits.held.lock().unwrap().is_empty());
    }

    #[test]
    fn bounded_refuses_when_full_and_counts_use() {
        let bounded = Bounded::new(1);
        let permit = bounded.try_acquire().expect("a slot");
        assert_eq!(bounded.in_use(), 1);
        assert!(bounded.try_acquire().is_none());
        drop(permit);
        assert_eq!(bounded.in_use(), 0);
    }
}
