//! Push frames that say what their payload is before carrying it, decoded in one pass.
//!
//! Binance combined streams (`{"stream":"btcusdt@trade","data":{...}}`), OKX pushes
//! (`{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[...]}`) and Bybit pushes
//! (`{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{...}}`) send the fields
//! that name the payload's type before the payload, `data`. A [`Route`] reads those fields
//! as they come; when `data` arrives it is deserialized straight into the type they select,
//! instead of being captured as text and parsed a second time (which took about a quarter of
//! the time spent on an OKX trade frame). JSON does not fix the order of keys, so a payload
//! that comes before what routes it is captured and decoded once the frame is read.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::Deserializer as _;
use serde_json::value::RawValue;

use crate::decimal::Text;

/// The key of the payload.
const PAYLOAD: &str = "data";

/// The fields of a frame besides its payload, and how they direct the payload's decoding.
pub(crate) trait Route<'de> {
    /// What a decoded payload becomes.
    type Payload;

    /// Reads the value of `key`, which is not the payload's; a key the route does not know is
    /// skipped with `map.next_value::<IgnoredAny>()`.
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;

    /// Whether the fields read so far are all the payload's decoding needs.
    fn is_routed(&self) -> bool;

    /// Decodes the payload as the fields read direct.
    fn payload<D: de::Deserializer<'de>>(&self, deserializer: D)
        -> Result<Self::Payload, D::Error>;
}

/// Reads a string value, borrowed from the frame when it has no escapes.
pub(crate) fn text<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Cow<'de, str>>, A::Error> {
    Ok(map.next_value::<Option<Text<'de>>>()?.map(|text| text.0))
}

/// Decodes `frame`, a JSON object, into `route` and, if it has one, its decoded payload.
pub(crate) fn decode<'de, R: Route<'de>>(
    frame: &'de str,
    route: R,
) -> Result<(R, Option<R::Payload>), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(frame);
    let (route, payload) = deserializer.deserialize_map(Frame { route })?;
    deserializer.end()?;
    let payload = match payload {
        Payload::Absent => None,
        Payload::Decoded(payload) => Some(payload),
        Payload::Unrouted(raw) => {
            let mut deserializer = serde_json::Deserializer::from_str(raw.get());
            let payload = route.payload(&mut deserializer)?;
            deserializer.end()?;
            Some(payload)
        }
    };
    Ok((route, payload))
}

/// The payload as the frame's single pass left it.
enum Payload<'de, P> {
    Absent,
    Decoded(P),
    /// It came before the fields routing it.
    Unrouted(&'de RawValue),
}

/// The whole frame.
struct Frame<R> {
    route: R,
}

impl<'de, R: Route<'de>> Visitor<'de> for Frame<R> {
    type Value = (R, Payload<'de, R::Payload>);

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut payload = Payload::Absent;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key != PAYLOAD {
                self.route.field(&key, &mut map)?;
                continue;
            }
            if !matches!(payload, Payload::Absent) {
                return Err(de::Error::duplicate_field(PAYLOAD));
            }
            payload = if self.route.is_routed() {
                Payload::Decoded(map.next_value_seed(Seed { route: &self.route })?)
            } else {
                Payload::Unrouted(map.next_value()?)
            };
        }
        Ok((self.route, payload))
    }
}

/// The payload, decoded as the route directs.
struct Seed<'r, R> {
    route: &'r R,
}

impl<'de, R: Route<'de>> DeserializeSeed<'de> for Seed<'_, R> {
    type Value = R::Payload;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<R::Payload, D::Error> {
        self.route.payload(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use serde::de::IgnoredAny;
    use serde::Deserialize;

    use super::*;

    /// `{"kind":"numbers","data":[1,2]}` holds numbers; any other kind is skipped.
    #[derive(Default)]
    struct Kind {
        kind: Option<String>,
    }

    impl<'de> Route<'de> for Kind {
        type Payload = Option<Vec<u32>>;

        fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
            match key {
                "kind" => self.kind = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }

        fn is_routed(&self) -> bool {
            self.kind.is_some()
        }

        fn payload<D: de::Deserializer<'de>>(
            &self,
            deserializer: D,
        ) -> Result<Self::Payload, D::Error> {
            if self.kind.as_deref() == Some("numbers") {
                Vec::deserialize(deserializer).map(Some)
            } else {
                IgnoredAny::deserialize(deserializer).map(|_| None)
            }
        }
    }

    /// The kind, and the payload if the frame has one (numbers, or `None` for another kind).
    type Decoded = (Option<String>, Option<Option<Vec<u32>>>);

    fn numbers(frame: &str) -> Result<Decoded, String> {
        decode(frame, Kind::default())
            .map(|(route, payload)| (route.kind, payload))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn a_payload_is_decoded_whether_it_comes_after_its_route_or_before() {
        let expected = Ok((Some("numbers".to_owned()), Some(Some(vec![1, 2]))));
        assert_eq!(
            numbers(r#"{"kind":"numbers","x":{"y":1},"data":[1,2]}"#),
            expected
        );
        assert_eq!(numbers(r#"{"data":[1,2],"kind":"numbers"}"#), expected);
        assert_eq!(
            numbers(r#"{"kind":"words","data":["a"]}"#),
            Ok((Some("words".to_owned()), Some(None)))
        );
        assert_eq!(
            numbers(r#"{"kind":"numbers"}"#),
            Ok((Some("numbers".to_owned()), None))
        );
    }

    /// `frame` with its `data` moved first, before the fields that route it.
    fn data_first(frame: &str) -> Option<String> {
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(frame).ok()?;
        let data = object.remove(PAYLOAD)?;
        let rest = serde_json::to_string(&object).ok()?;
        let rest = rest.strip_prefix('{')?;
        let separator = if rest == "}" { "" } else { "," };
        Some(format!("{{\"{PAYLOAD}\":{data}{separator}{rest}"))
    }

    /// Every OKX and Bybit capture frame decodes alike through both paths: routed as it came,
    /// and captured first when its `data` is moved ahead of its route.
    #[test]
    fn real_frames_decode_alike_with_data_before_their_route() {
        use crate::concatenated::SymbolMap;
        use crate::{bybit::Bybit, okx::Okx, VenueProtocol};
        use marketprism_capture::{captures, read_capture, RecordKind};
        use marketprism_model::MarketType;

        let venues: [(&str, Box<dyn VenueProtocol>); 3] = [
            ("okx.", Box::new(Okx::new(MarketType::Spot))),
            ("bybit.2026", Box::new(Bybit::linear(SymbolMap::default()))),
            ("bybit.2021", Box::new(Bybit::linear(SymbolMap::default()))),
        ];
        let mut compared = 0;
        for (prefix, protocol) in venues {
            for path in captures(prefix).expect("captures directory") {
                for record in read_capture(&path).expect("readable capture") {
                    let Some(reordered) = (record.kind == RecordKind::Ws)
                        .then(|| data_first(&record.payload))
                        .flatten()
                    else {
                        continue;
                    };
                    let outcome =
                        |frame: &str| protocol.parse(frame, 7).map_err(|error| error.kind());
                    assert_eq!(
                        outcome(&record.payload),
                        outcome(&reordered),
                        "{}",
                        record.payload
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 1000, "{compared} frames compared");
    }

    #[test]
    fn malformed_frames_are_json_errors() {
        for frame in [
            r#"{"kind":"numbers","data":["a"]}"#,
            r#"{"data":["a"],"kind":"numbers"}"#,
            r#"{"kind":"numbers","data":[1],"data":[2]}"#,
            r#"{"kind":"numbers","data":[1]} trailing"#,
            r#"[1,2]"#,
            r#"{"kind":"numbers","data":[1"#,
        ] {
            assert!(numbers(frame).is_err(), "{frame}");
        }
    }
}
