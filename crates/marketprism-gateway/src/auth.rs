//! API keys, stored hashed: a file of SHA-256 digests, one key a line: 64 hex digits,
//! optionally followed by the key's name and its limit, `requests_per_minute=N`; `#` starts
//! a comment:
//!
//! ```text
//! # analysts
//! 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 alice requests_per_minute=60
//! ```
//!
//! A request presents its key as `Authorization: Bearer <key>` or `X-API-Key: <key>`; the
//! gateway compares the key's digest with the file's, so the file never holds a usable key.
//! A key's requests beyond its limit (a bucket of N requests, refilled at N a minute) are
//! answered 429.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use sha2::{Digest as _, Sha256};

use crate::ApiError;

/// A key's SHA-256 digest.
type KeyDigest = [u8; 32];

/// The accepted keys.
#[derive(Debug)]
pub struct ApiKeys {
    keys: HashMap<KeyDigest, Key>,
}

/// One listed key.
#[derive(Debug)]
struct Key {
    /// Its name in the file, for messages; empty when unnamed.
    name: String,
    /// Its limit, with the requests it has left.
    limit: Option<Mutex<Bucket>>,
}

/// Requests left of a key's limit: `per_minute` at most, one more every `60 s / per_minute`.
#[derive(Debug)]
struct Bucket {
    per_minute: u32,
    left: f64,
    updated: Instant,
}

impl Bucket {
    fn new(per_minute: u32) -> Self {
        Bucket {
            per_minute,
            left: f64::from(per_minute),
            updated: Instant::now(),
        }
    }

    /// Takes one request; `Err` with the wait for the next when none is left.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.left = (self.left + elapsed * per_second).min(capacity);
        self.updated = now;
        if self.left >= 1.0 {
            self.left -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.left) / per_second))
        }
    }
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
    /// A line is not a digest, optionally followed by a name and a limit.
    #[error(
        "API key file {path}, line {line}: expected the SHA-256 of a key as 64 hex digits, \
         then optionally a name and requests_per_minute=N (N at least 1)"
    )]
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
        let mut keys = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let content = line.split('#').next().unwrap_or_default();
            let mut words = content.split_whitespace();
            let Some(hex) = words.next() else {
                continue;
            };
            let bad_line = || KeyFileError::Line {
                path: path.to_owned(),
                line: index + 1,
            };
            let digest = parse_hex(hex).ok_or_else(bad_line)?;
            let mut key = Key {
                name: String::new(),
                limit: None,
            };
            for word in words {
                if let Some(value) = word.strip_prefix("requests_per_minute=") {
                    let per_minute = value
                        .parse::<u32>()
                        .ok()
                        .filter(|per_minute| *per_minute >= 1)
                        .ok_or_else(bad_line)?;
                    key.limit = Some(Mutex::new(Bucket::new(per_minute)));
                } else if key.name.is_empty() && !word.contains('=') {
                    key.name = word.to_owned();
                } else {
                    return Err(bad_line());
                }
            }
            keys.insert(digest, key);
        }
        if keys.is_empty() {
            return Err(KeyFileError::Empty(path.to_owned()));
        }
        Ok(ApiKeys { keys })
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
        let Some(listed) = self.keys.get(&digest(key.trim())) else {
            return Err(ApiError::Unauthorized("unknown API key"));
        };
        let Some(limit) = &listed.limit else {
            return Ok(());
        };
        let mut bucket = limit.lock().unwrap_or_else(PoisonError::into_inner);
        bucket
            .take(Instant::now())
            .map_err(|wait| ApiError::RateLimited {
                key: listed.name.clone(),
                per_minute: bucket.per_minute,
                // Rounded up, so that a client waiting as told is let through.
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            })
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
    fn a_bucket_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket {
            per_minute: 2,
            left: 2.0,
            updated: start,
        };
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start), Err(Duration::from_secs(30)));
        assert_eq!(bucket.take(start + Duration::from_secs(30)), Ok(()));
        assert!(bucket.take(start + Duration::from_secs(30)).is_err());
    }

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
        std::fs::write(
            &path,
            format!("{} a requests_per_minute=0\n", digest_hex("k")),
        )
        .expect("write");
        assert!(matches!(
            ApiKeys::load(&path),
            Err(KeyFileError::Line { line: 1, .. })
        ));
        std::fs::write(&path, "# none\n").expect("write");
        assert!(matches!(ApiKeys::load(&path), Err(KeyFileError::Empty(_))));
    }
}
