//! API keys, stored hashed: a file of SHA-256 digests (64 hex digits a line, optionally
//! followed by whitespace and the key's name; `#` starts a comment). A request presents its
//! key as `Authorization: Bearer <key>` or `X-API-Key: <key>`; the gateway compares the
//! key's digest with the file's, so the file never holds a usable key.

use std::collections::HashSet;
use std::path::Path;

use axum::http::HeaderMap;
use sha2::{Digest as _, Sha256};

use crate::ApiError;

/// A key's SHA-256 digest.
type KeyDigest = [u8; 32];

/// The accepted keys.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    digests: HashSet<KeyDigest>,
}

/// The key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// It could not be read.
    #[error("cannot read API key file {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A line is not a digest.
    #[error("API key file {path}, line {line}: expected the SHA-256 of a key as 64 hex digits")]
    Line {
        /// The file.
        path: std::path::PathBuf,
        /// The line number, from 1.
        line: usize,
    },
    /// It lists no key: nothing could ever be read.
    #[error("API key file {0} lists no key")]
    Empty(std::path::PathBuf),
}

impl ApiKeys {
    /// The keys of the file at `path`.
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut digests = HashSet::new();
        for (index, line) in text.lines().enumerate() {
            let content = line.split('#').next().unwrap_or_default().trim();
            let Some(hex) = content.split_whitespace().next() else {
                continue;
            };
            let digest = parse_hex(hex).ok_or_else(|| KeyFileError::Line {
                path: path.to_owned(),
                line: index + 1,
            })?;
            digests.insert(digest);
        }
        if digests.is_empty() {
            return Err(KeyFileError::Empty(path.to_owned()));
        }
        Ok(ApiKeys { digests })
    }

    /// Checks the key a request presents.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let bearer = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let header = headers
            .get("x-api-key")
            .and_then(|value| value.to_str().ok());
        let Some(key) = bearer.or(header) else {
            return Err(ApiError::Unauthorized(
                "an API key is required (Authorization: Bearer <key>, or X-API-Key)",
            ));
        };
        if self.digests.contains(&digest(key.trim())) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized("unknown API key"))
        }
    }
}

/// The SHA-256 of `key`.
pub fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// `key`'s digest as the file lists it: 64 lowercase hex digits.
pub fn digest_hex(key: &str) -> String {
    digest(key)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn parse_hex(text: &str) -> Option<KeyDigest> {
    if text.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (index, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn keys_are_checked_against_their_digests() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("keys");
        std::fs::write(
            &path,
            format!(
                "# analysts\n{} alice\n\n{}\n",
                digest_hex("secret-a"),
                digest_hex("secret-b").to_uppercase()
            ),
        )
        .expect("write");
        let keys = ApiKeys::load(&path).expect("loads");
        let mut headers = HeaderMap::new();
        assert!(keys.check(&headers).is_err());
        headers.insert("x-api-key", HeaderValue::from_static("secret-b"));
        assert!(keys.check(&headers).is_ok());
        headers.insert("authorization", HeaderValue::from_static("Bearer secret-c"));
        assert!(keys.check(&headers).is_err());
        headers.insert("authorization", HeaderValue::from_static("Bearer secret-a"));
        assert!(keys.check(&headers).is_ok());

        std::fs::write(&path, "secret-a\n").expect("write");
        assert!(matches!(
            ApiKeys::load(&path),
            Err(KeyFileError::Line { line: 1, .. })
        ));
        std::fs::write(&path, "# none\n").expect("write");
        assert!(matches!(ApiKeys::load(&path), Err(KeyFileError::Empty(_))));
    }
}
