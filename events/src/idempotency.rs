//! Idempotency keys and fingerprints.
//!
//! A key names the external fact (`payme:create:<id>`, `1c:<store>:<external_id>`); the
//! fingerprint is a hash of the *client's own* request fields, never of anything the server
//! generates, so a faithful retry always matches and a reused key with other content never does.

use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Hash of the canonical JSON of `fields` (serde_json writes struct fields in declaration
    /// order and maps in key order, so equal inputs always give equal text).
    pub fn of(fields: &impl Serialize) -> Self {
        let canonical = serde_json::to_vec(fields).expect("fingerprint fields serialise to JSON");
        Fingerprint(sha256_hex(&canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An idempotency key with the fingerprint of the request that used it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: Fingerprint,
}

impl Idempotency {
    pub fn new(key: impl Into<String>, fingerprint: Fingerprint) -> Self {
        Idempotency {
            key: key.into(),
            fingerprint,
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Request<'a> {
        kind: &'a str,
        amount: &'a str,
    }

    #[test]
    fn equal_fields_give_equal_fingerprints() {
        let a = Fingerprint::of(&Request {
            kind: "debit",
            amount: "3.00",
        });
        let b = Fingerprint::of(&Request {
            kind: "debit",
            amount: "3.00",
        });
        let c = Fingerprint::of(&Request {
            kind: "debit",
            amount: "3.01",
        });
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.as_str().len(), 64);
    }
}
