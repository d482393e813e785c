//! Coinbase times: RFC 3339 UTC text with up to nine fractional digits
//! (`2026-08-09T21:05:48.228568804Z`), read as Unix milliseconds.

use std::time::UNIX_EPOCH;

use crate::VenueError;

/// `text` as Unix milliseconds (fractions below a millisecond are dropped); `field` names the
/// field in errors.
pub(super) fn millis(field: &'static str, text: &str) -> Result<i64, VenueError> {
    micros(field, text).map(|micros| micros / 1_000)
}

/// `text` as Unix microseconds (fractions below a microsecond are dropped).
pub(super) fn micros(field: &'static str, text: &str) -> Result<i64, VenueError> {
    nanos(field, text).map(|nanos| (nanos / 1_000) as i64)
}

/// `text` as Unix nanoseconds.
pub(super) fn nanos(field: &'static str, text: &str) -> Result<u64, VenueError> {
    let invalid = || VenueError::Unrecognized(format!("field {field} is not a UTC time: {text:?}"));
    let time = humantime::parse_rfc3339(text).map_err(|_| invalid())?;
    let since_epoch = time.duration_since(UNIX_EPOCH).map_err(|_| invalid())?;
    u64::try_from(since_epoch.as_nanos()).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nanosecond_and_microsecond_times() {
        assert_eq!(
            millis("timestamp", "2026-08-09T21:05:48.228568804Z").ok(),
            Some(1_786_309_548_228)
        );
        assert_eq!(
            millis("time", "2021-04-17T16:43:37.075687Z").ok(),
            Some(1_618_677_817_075)
        );
        assert_eq!(
            millis("time", "2021-04-17T16:43:37Z").ok(),
            Some(1_618_677_817_000)
        );
        assert_eq!(
            micros("time", "2021-04-17T16:43:37.075687Z").ok(),
            Some(1_618_677_817_075_687)
        );
        assert_eq!(
            nanos("timestamp", "2026-08-09T21:05:48.228568804Z").ok(),
            Some(1_786_309_548_228_568_804)
        );
        for wrong in ["", "yesterday", "2021-04-17 16:43:37", "1618677817"] {
            assert!(millis("time", wrong).is_err(), "{wrong:?}");
        }
    }
}
