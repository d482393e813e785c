//! Dead letters: what a stage cannot use, kept on the dead-letter stream for inspection,
//! with the reason in a header. A dead letter always fits the server's payload limit: a copy
//! that would not is cut to fit and says so, with a reference to where the whole original
//! can still be found, so keeping it never fails for its size.
//!
//! Every dead letter carries a `Nats-Msg-Id`, so publishing it again after an ack that timed
//! out (the letter may have landed) stores it once. A letter with a reference to its
//! original is named by that reference and its content, so the same original dead-lettered
//! again for the same reason is one letter; one without (a venue frame) is named by when it
//! was made, so two equal frames remain two letters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use bytes::Bytes;

/// Header carrying the reason a message was dead-lettered.
pub const DEADLETTER_ERROR_HEADER: &str = "MarketPrism-Error";

/// Header of a dead letter whose copy was cut to fit: the original length in bytes.
pub const DEADLETTER_TRUNCATED_HEADER: &str = "MarketPrism-Truncated";

/// Header naming where the whole original of a cut dead letter can be found, e.g.
/// `MARKETPRISM:12345` (stream and sequence) or the original `Nats-Msg-Id`.
pub const DEADLETTER_ORIGINAL_HEADER: &str = "MarketPrism-Original";

/// Longest reason kept in the header; longer ones are cut.
const MAX_REASON_BYTES: usize = 1024;

/// Which stage gave up on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterOrigin {
    /// A venue frame the collector could not parse, or an event it could not publish.
    Collector,
    /// A bus message storage could not decode or store.
    Storage,
}

impl DeadLetterOrigin {
    /// The stage's name in subjects and ids.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeadLetterOrigin::Collector => "collector",
            DeadLetterOrigin::Storage => "storage",
        }
    }
}

/// The dead-letter subject for a message: `deadletter.<origin>.<subject>`.
pub fn deadletter_subject(origin: DeadLetterOrigin, subject: &str) -> String {
    format!("deadletter.{}.{subject}", origin.as_str())
}

/// A message for the dead-letter stream.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// `deadletter.<origin>.<subject>`.
    pub subject: String,
    /// The reason, and for a cut copy its original length and reference.
    pub headers: HeaderMap,
    /// The copy of what could not be used, whole or cut to fit.
    pub payload: Bytes,
}

impl DeadLetter {
    /// `payload`, which came on `subject` and cannot be used because of `reason`, as a dead
    /// letter of `origin` no larger than `max_payload` bytes (headers included). A copy that
    /// would not fit keeps its first bytes only and records the original length and
    /// `original`, where the whole of it can still be found.
    pub fn new(
        origin: DeadLetterOrigin,
        subject: &str,
        payload: Bytes,
        reason: &str,
        original: Option<&str>,
        max_payload: usize,
    ) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(DEADLETTER_ERROR_HEADER, header_value(reason).as_str());
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            letter_id(origin, original, &payload, reason).as_str(),
        );
        let subject = deadletter_subject(origin, subject);
        let room = max_payload.saturating_sub(wire_len(&headers));
        if payload.len() <= room {
            return DeadLetter {
                subject,
                headers,
                payload,
            };
        }
        headers.insert(
            DEADLETTER_TRUNCATED_HEADER,
            payload.len().to_string().as_str(),
        );
        if let Some(original) = original {
            headers.insert(DEADLETTER_ORIGINAL_HEADER, header_value(original).as_str());
        }
        let room = max_payload.saturating_sub(wire_len(&headers));
        DeadLetter {
            subject,
            headers,
            payload: payload.slice(..room.min(payload.len())),
        }
    }
}

/// The letter's `Nats-Msg-Id`: its origin and reference with a digest of what it holds, or
/// without a reference, its origin and a time and count unique to this letter.
fn letter_id(
    origin: DeadLetterOrigin,
    original: Option<&str>,
    payload: &[u8],
    reason: &str,
) -> String {
    let origin = origin.as_str();
    match original {
        Some(original) => {
            let mut digest = crc32fast::Hasher::new();
            digest.update(payload);
            digest.update(reason.as_bytes());
            header_value(&format!(
                "deadletter:{origin}:{:08x}:{original}",
                digest.finalize()
            ))
        }
        None => {
            static MADE: AtomicU64 = AtomicU64::new(0);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos());
            let count = MADE.fetch_add(1, Ordering::Relaxed);
            format!("deadletter:{origin}:{nanos}:{count}")
        }
    }
}

/// `text` as a header value: one line, at most [`MAX_REASON_BYTES`] bytes.
fn header_value(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() <= MAX_REASON_BYTES {
        return line;
    }
    let mut end = MAX_REASON_BYTES;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// The size of `headers` on the wire, as the server counts it against `max_payload`:
/// `NATS/1.0\r\n`, each `name: value\r\n`, and a closing `\r\n`.
fn wire_len(headers: &HeaderMap) -> usize {
    let fields: usize = headers
        .iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |value| AsRef::<[u8]>::as_ref(name).len() + 2 + value.as_str().len() + 2)
        })
        .sum();
    "NATS/1.0\r\n".len() + fields + "\r\n".len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letter_is_named_by_its_reference_and_content_or_else_uniquely() {
        let id = |original: Option<&str>, payload: &'static [u8]| {
            let letter = DeadLetter::new(
                DeadLetterOrigin::Storage,
                "trade.binance.spot.BTC-USDT",
                Bytes::from_static(payload),
                "invalid event",
                original,
                1 << 20,
            );
            letter
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|id| id.to_string())
                .expect("an id")
        };
        assert_eq!(
            id(Some("MARKETPRISM:7"), b"{}"),
            id(Some("MARKETPRISM:7"), b"{}")
        );
        assert_ne!(
            id(Some("MARKETPRISM:7"), b"{}"),
            id(Some("MARKETPRISM:7"), b"[]")
        );
        assert_ne!(
            id(Some("MARKETPRISM:7"), b"{}"),
            id(Some("MARKETPRISM:8"), b"{}")
        );
        assert_ne!(id(None, b"{}"), id(None, b"{}"));
    }

    #[test]
    fn a_copy_that_fits_is_kept_whole() {
        let letter = DeadLetter::new(
            DeadLetterOrigin::Storage,
            "trade.binance.spot.BTC-USDT",
            Bytes::from_static(b"{\"type\":\"trade\"}"),
            "quantity must be positive",
            Some("MARKETPRISM:7"),
            1024,
        );
        assert_eq!(
            letter.subject,
            "deadletter.storage.trade.binance.spot.BTC-USDT"
        );
        assert_eq!(&letter.payload[..], b"{\"type\":\"trade\"}");
        assert_eq!(
            letter
                .headers
                .get(DEADLETTER_ERROR_HEADER)
                .map(|value| value.as_str()),
            Some("quantity must be positive")
        );
        assert!(letter.headers.get(DEADLETTER_TRUNCATED_HEADER).is_none());
    }

    #[test]
    fn a_copy_too_large_is_cut_to_fit_with_its_length_and_reference() {
        let max_payload = 1_048_576;
        let letter = DeadLetter::new(
            DeadLetterOrigin::Storage,
            "trade.binance.spot.BTC-USDT",
            Bytes::from(vec![b'x'; max_payload]),
            &"a very long reason\n".repeat(200),
            Some("MARKETPRISM:42"),
            max_payload,
        );
        assert_eq!(
            letter.payload.len() + wire_len(&letter.headers),
            max_payload
        );
        assert_eq!(
            letter
                .headers
                .get(DEADLETTER_TRUNCATED_HEADER)
                .map(|value| value.as_str()),
            Some("1048576")
        );
        assert_eq!(
            letter
                .headers
                .get(DEADLETTER_ORIGINAL_HEADER)
                .map(|value| value.as_str()),
            Some("MARKETPRISM:42")
        );
        let reason = letter
            .headers
            .get(DEADLETTER_ERROR_HEADER)
            .map(|value| value.to_string())
            .unwrap_or_default();
        assert!(
            reason.len() <= MAX_REASON_BYTES + '…'.len_utf8(),
            "{}",
            reason.len()
        );
        assert!(!reason.contains('\n'));
    }
}
