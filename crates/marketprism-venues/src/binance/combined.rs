//! Combined-stream frames, `{"stream":"btcusdt@trade","data":{...}}`, decoded in one pass:
//! the stream name, which Binance writes first, selects the payload's type, so `data` is
//! deserialized straight into it instead of being captured and parsed a second time.

use std::borrow::Cow;

use serde::de::{Deserializer, IgnoredAny, MapAccess};

use super::Binance;
use crate::envelope::{self, text, Route};
use crate::{Inbound, VenueError};

/// How a combined-stream frame starts when its stream name comes first.
pub(super) const PREFIX: &str = r#"{"stream":""#;

/// The event type of a stream's payload: the name's suffix for trade streams
/// (`btcusdt@trade`, `btcusdt@aggTrade`); depth streams are `btcusdt@depth@100ms`, mark prices
/// `btcusdt@markPrice@1s`, liquidations `!forceOrder@arr` or `btcusdt@forceOrder`.
pub(super) fn event_type(stream: &str) -> &str {
    match stream.split_once('@').unwrap_or_default() {
        ("!forceOrder", _) => "forceOrder",
        (_, depth) if depth.starts_with("depth") => "depthUpdate",
        (_, mark) if mark.starts_with("markPrice") => "markPriceUpdate",
        (_, kind) => kind,
    }
}

/// Decodes a frame starting with [`PREFIX`] in one pass (see [`crate::envelope`]).
pub(super) fn decode(
    protocol: &Binance,
    frame: &str,
    received_time_ms: i64,
) -> Result<Inbound, VenueError> {
    let stream = Stream {
        protocol,
        received_time_ms,
        name: None,
    };
    let (_, payload) = envelope::decode(frame, stream)?;
    payload.unwrap_or_else(|| Err(VenueError::unrecognized(frame)))
}

/// What routes a combined-stream frame's `data`: its stream name.
struct Stream<'p, 'de> {
    protocol: &'p Binance,
    received_time_ms: i64,
    name: Option<Cow<'de, str>>,
}

impl<'de> Route<'de> for Stream<'_, 'de> {
    /// The outer error is the JSON's, the inner one the venue data's.
    type Payload = Result<Inbound, VenueError>;

    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        if key == "stream" {
            self.name = text(map)?;
        } else {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn is_routed(&self) -> bool {
        self.name.is_some()
    }

    fn payload<D: Deserializer<'de>>(&self, deserializer: D) -> Result<Self::Payload, D::Error> {
        let event_type = self.name.as_deref().map_or("", event_type);
        self.protocol
            .decode(event_type, deserializer, self.received_time_ms)
    }
}
