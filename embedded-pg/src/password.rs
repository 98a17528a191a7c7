//! The password of the `ledger` role: made, read from its file, put into a URL, and kept out
//! of every log line and error message (its `Debug` shows `***`; URLs are logged redacted).

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use rand::RngCore;

/// 256 bits: as strong as anything else guarding the ledger.
const PASSWORD_BYTES: usize = 32;

pub(crate) struct Password(String);

impl Password {
    /// 32 random bytes from the operating system, hex-encoded: nothing in it needs escaping in
    /// a URL, a SQL string or a shell.
    pub(crate) fn generate() -> Self {
        let mut bytes = [0_u8; PASSWORD_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// The first line of a password file (as `initdb --pwfile` reads it).
    pub(crate) fn from_text(text: &str) -> Result<Self> {
        match text.lines().next() {
            Some(line) if !line.is_empty() => Ok(Self(line.to_owned())),
            _ => bail!("the password file is empty"),
        }
    }

    /// The password kept in `path`, or `None` if there is no such file.
    pub(crate) async fn read(path: &Path) -> Result<Option<Self>> {
        match tokio::fs::read_to_string(path).await {
            Ok(text) => Self::from_file_text(path, &text).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("could not read {}", path.display())),
        }
    }

    /// [`Password::read`] for callers outside an async runtime.
    pub(crate) fn read_blocking(path: &Path) -> Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_file_text(path, &text).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("could not read {}", path.display())),
        }
    }

    fn from_file_text(path: &Path, text: &str) -> Result<Self> {
        Self::from_text(text).with_context(|| format!("{} holds no password", path.display()))
    }

    /// What a password file holds.
    pub(crate) fn file_contents(&self) -> String {
        format!("{}\n", self.0)
    }

    /// The password itself, for `PGPASSWORD` and the SCRAM verifier only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Percent-encoded for the user-information part of a URL (RFC 3986: only unreserved
    /// characters stay as they are).
    pub(crate) fn url_encoded(&self) -> String {
        let mut encoded = String::with_capacity(self.0.len());
        for byte in self.0.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                encoded.push(char::from(byte));
            } else {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
        encoded
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Password(***)")
    }
}

/// `url` with `***` in place of the password, if it has one.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + "://".len();
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |end| authority_start + end);
    let authority = &url[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}:***{}",
        &url[..authority_start + colon],
        &url[authority_start + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_64_hex_digits_and_differ() {
        let (first, second) = (Password::generate(), Password::generate());
        assert_eq!(first.expose().len(), 2 * PASSWORD_BYTES);
        assert!(first.expose().bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(first.expose(), second.expose());
        assert_eq!(first.url_encoded(), first.expose());
    }

    #[test]
    fn the_password_is_the_first_line_of_its_file() {
        assert_eq!(Password::from_text("abc\n").unwrap().expose(), "abc");
        assert_eq!(Password::from_text("abc\r\nrest").unwrap().expose(), "abc");
        assert!(Password::from_text("").is_err());
        assert!(Password::from_text("\nabc").is_err());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let password = Password::from_text("s3cret").unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
    }

    #[test]
    fn url_encoding_escapes_everything_but_unreserved_characters() {
        let password = Password::from_text("a b/c@d:e%f~g-h.i_j").unwrap();
        assert_eq!(password.url_encoded(), "a%20b%2Fc%40d%3Ae%25f~g-h.i_j");
    }

    #[test]
    fn redaction_replaces_only_the_password() {
        assert_eq!(
            redact_url("postgres://ledger:s3cret@127.0.0.1:5432/ledger"),
            "postgres://ledger:***@127.0.0.1:5432/ledger"
        );
        assert_eq!(
            redact_url("postgres://ledger@127.0.0.1:5432/ledger"),
            "postgres://ledger@127.0.0.1:5432/ledger"
        );
        assert_eq!(
            redact_url("postgres://127.0.0.1:5432/ledger?user=a"),
            "postgres://127.0.0.1:5432/ledger?user=a"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
