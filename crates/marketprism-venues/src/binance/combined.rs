//! Combined-stream frames, `{"stream":"btcusdt@trade","data":{...}}`, decoded in one pass:
//! the stream name, which Binance writes first, selects the payload's type, so `data` is
//! deserialized straight into it instead of being captured and parsed a second time.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use super::Binance;
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

/// Decodes a frame starting with [`PREFIX`].
pub(super) fn decode(
    protocol: &Binance,
    frame: &str,
    received_time_ms: i64,
) -> Result<Inbound, VenueError> {
    let mut deserializer = serde_json::Deserializer::from_str(frame);
    let inbound = Frame {
        protocol,
        received_time_ms,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    inbound
}

/// The whole frame.
struct Frame<'p> {
    protocol: &'p Binance,
    received_time_ms: i64,
}

impl<'de> DeserializeSeed<'de> for Frame<'_> {
    type Value = Result<Inbound, VenueError>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Frame<'_> {
    type Value = Result<Inbound, VenueError>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a combined-stream frame with `stream` before `data`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut stream: Option<Cow<'de, str>> = None;
        let mut decoded = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "stream" => stream = Some(map.next_value()?),
                "data" => {
                    let stream = stream
                        .as_deref()
                        .ok_or_else(|| de::Error::custom("`data` before `stream`"))?;
                    decoded = Some(map.next_value_seed(Payload {
                        protocol: self.protocol,
                        event_type: event_type(stream),
                        received_time_ms: self.received_time_ms,
                    })?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        decoded.ok_or_else(|| de::Error::missing_field("data"))
    }
}

/// The `data` of a frame, of a known event type.
struct Payload<'p, 's> {
    protocol: &'p Binance,
    event_type: &'s str,
    received_time_ms: i64,
}

impl<'de> DeserializeSeed<'de> for Payload<'_, '_> {
    type Value = Result<Inbound, VenueError>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        self.protocol
            .decode(self.event_type, deserializer, self.received_time_ms)
    }
}
