//! Small security primitives used by every credential check.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// differ, so a caller cannot learn a secret byte by byte from response times.
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.iter()
        .zip(right)
        .fold(0_u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

/// Compares a configured secret with a presented one by their SHA-256 digests, in constant time:
/// both sides are 32 bytes whatever their lengths, so the time taken reveals neither where they
/// differ nor how long the secret is.
pub fn secrets_match(expected: &str, presented: &str) -> bool {
    constant_time_eq(
        &Sha256::digest(expected.as_bytes()),
        &Sha256::digest(presented.as_bytes()),
    )
}

/// Hex SHA-256, the form in which credentials are stored and looked up. Our credentials are
/// 256-bit random strings, so a fast unsalted hash is not guessable.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh credential: `prefix` + 32 random bytes in unpadded base64url.
pub fn new_secret_token(prefix: &str) -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn secrets_match_exactly_whatever_their_lengths() {
        assert!(secrets_match(
            "a-long-enough-admin-token",
            "a-long-enough-admin-token"
        ));
        assert!(!secrets_match(
            "a-long-enough-admin-token",
            "a-long-enough-admin-toke"
        ));
        assert!(!secrets_match(
            "a-long-enough-admin-token",
            "a-long-enough-admin-tokeN"
        ));
        assert!(!secrets_match("a-long-enough-admin-token", ""));
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let (a, b) = (new_secret_token("ldg_"), new_secret_token("ldg_"));
        assert_ne!(a, b);
        assert!(a.starts_with("ldg_"));
        assert_eq!(a.len(), 4 + 43);
    }
}
