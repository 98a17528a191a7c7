//! The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802, RFC 7677).
//!
//! Setting a password with `ALTER ROLE ... PASSWORD '<verifier>'` instead of the plain text
//! means the password itself never reaches the server: a statement that shows up in the
//! server log (an error, `log_statement`) carries only the salted hash.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// PostgreSQL's own default (`scram_iterations`).
const ITERATIONS: u32 = 4096;
const SALT_BYTES: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for `password`, with a fresh
/// random salt.
pub(crate) fn verifier(password: &str) -> String {
    let mut salt = [0_u8; SALT_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    verifier_with_salt(password, &salt)
}

/// PostgreSQL applies SASLprep to the password first; it leaves printable ASCII (every
/// password this crate makes) unchanged, so the bytes are used as they are.
fn verifier_with_salt(password: &str, salt: &[u8]) -> String {
    let salted_password = salted_password(password.as_bytes(), salt, ITERATIONS);
    let client_key = hmac(&salted_password, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted_password, b"Server Key");
    format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

/// `Hi(password, salt, iterations)`: PBKDF2-HMAC-SHA-256 with one 32-byte block.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut salt_and_block_index = salt.to_vec();
    salt_and_block_index.extend_from_slice(&1_u32.to_be_bytes());
    let mut previous = hmac(password, &salt_and_block_index);
    let mut result = previous;
    for _ in 1..iterations {
        previous = hmac(password, &previous);
        for (accumulated, byte) in result.iter_mut().zip(previous) {
            *accumulated ^= byte;
        }
    }
    result
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_the_published_test_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256, P = "passwd", S = "salt", c = 1 (first block).
        assert_eq!(
            hex::encode(salted_password(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn verifier_matches_an_independent_computation() {
        // Computed with Python's hashlib.pbkdf2_hmac and hmac for the same inputs.
        assert_eq!(
            verifier_with_salt("pencil", b"0123456789abcdef"),
            "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$nQpbZ77WudtqufPwikHXGRt6g2QJ4zns8bZLw273DRM=:jn2amWP1q1h+jgjy0YTO14S6/F02SV7taipOeB7ef20="
        );
    }

    #[test]
    fn every_verifier_has_its_own_salt() {
        assert_ne!(verifier("pencil"), verifier("pencil"));
    }
}
