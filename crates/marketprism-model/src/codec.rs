//! The JSON wire codec for [`Event`]s on the bus.
//!
//! Each event is one flat JSON object with a `type` field, decimals as strings and times as
//! integer Unix milliseconds:
//!
//! ```json
//! {"type":"trade","exchange":"binance","market_type":"spot","symbol":"BTC-USDT",
//!  "trade_id":"12345","aggregated":false,"price":"58042.29000000","quantity":"0.097",
//!  "side":"buy","exchange_time_ms":1617566591307,"received_time_ms":1617566591326}
//! ```
//!
//! A message carries the events of one subject, in the order the venue sent them: one event
//! is its object, several are a JSON array of their objects. A message of several events
//! has the `Nats-Msg-Id` `{subject}:{first key}..{last key}/{count}` from the events'
//! [`dedup_key`](Event::dedup_key)s, so republishing the same message is deduplicated and
//! two messages that differ in what they hold never share an id.

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::Event;

/// Why a message body could not be decoded into [`Event`]s.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not an event object or an array of them.
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The body is an empty array.
    #[error("message holds no events")]
    Empty,
    /// An event of the message cannot be used.
    #[error("event {index}: {source}")]
    Event {
        /// Its position in the message, from 0.
        index: usize,
        /// Why it cannot be used.
        source: EventError,
    },
}

/// Why one event of a message cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The object is not a well-formed event: unknown type, missing or unknown field, wrong
    /// field type.
    #[error("malformed event: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The event belongs on another subject: its type, venue, market or symbol contradicts
    /// the subject it arrived on.
    #[error("event of {expected} arrived on {subject}")]
    WrongSubject {
        /// The subject the message arrived on.
        subject: String,
        /// The subject the event belongs on.
        expected: String,
    },
    /// The event's values cannot be true of the market, such as a trade of no quantity.
    #[error("invalid event: {0}")]
    Invalid(&'static str),
}

/// One event of a message, as it decoded: its JSON text, and the event or why it cannot be
/// used.
#[derive(Debug)]
pub struct DecodedEvent<'a> {
    /// The event's JSON object, exactly as it arrived.
    pub raw: &'a [u8],
    /// The event, or why it cannot be used.
    pub event: Result<Event, EventError>,
}

/// Encodes an event into its wire form.
pub fn encode(event: &Event) -> Vec<u8> {
    let mut body = Vec::new();
    write_event(&mut body, event);
    body
}

fn write_event(body: &mut Vec<u8>, event: &Event) {
    // Serialization of these plain structs into memory cannot fail: every field is a string,
    // number, bool or unit enum, and no map has non-string keys.
    serde_json::to_writer(body, event).expect("events serialize to JSON");
}

/// Decodes a message body, one event or an array of them, into events that all belong on
/// `subject` and pass [`check`]; the first one that does not fails the whole message.
pub fn decode(subject: &str, body: &[u8]) -> Result<Vec<Event>, DecodeError> {
    decode_each(subject, body)?
        .into_iter()
        .enumerate()
        .map(|(index, decoded)| {
            decoded
                .event
                .map_err(|source| DecodeError::Event { index, source })
        })
        .collect()
}

/// Decodes a message body event by event, so that one unusable event costs that event only:
/// each comes with its JSON text and either the event, which belongs on `subject` and passes
/// [`check`], or why it cannot be used. Fails whole only when the body is not an event
/// object or an array of objects.
pub fn decode_each<'a>(
    subject: &str,
    body: &'a [u8],
) -> Result<Vec<DecodedEvent<'a>>, DecodeError> {
    let objects: Vec<&'a [u8]> = match body.iter().find(|byte| !byte.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice::<Vec<&'a RawValue>>(body)?
            .into_iter()
            .map(|object| object.get().as_bytes())
            .collect(),
        _ => vec![serde_json::from_slice::<&'a RawValue>(body)?
            .get()
            .as_bytes()],
    };
    if objects.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(objects
        .into_iter()
        .map(|raw| DecodedEvent {
            raw,
            event: decode_event(subject, raw),
        })
        .collect())
}

fn decode_event(subject: &str, raw: &[u8]) -> Result<Event, EventError> {
    let event: Event = serde_json::from_slice(raw)?;
    let expected = event.subject();
    if expected != subject {
        return Err(EventError::WrongSubject {
            subject: subject.to_owned(),
            expected,
        });
    }
    check(&event).map_err(EventError::Invalid)?;
    Ok(event)
}

/// Checks what no market can produce: a trade or liquidation of no positive price and
/// quantity, a book level of no positive price or (in a book's top levels) no positive
/// quantity, a negative open interest or ratio, a gap that ends before it starts, an
/// instrument delisted before it was listed or trading once delisted, an option strike that
/// is not positive.
pub fn check(event: &Event) -> Result<(), &'static str> {
    let positive = |value: &Decimal| value.is_sign_positive() && !value.is_zero();
    match event {
        Event::Trade(trade) if !positive(&trade.price) => Err("trade price must be positive"),
        Event::Trade(trade) if !positive(&trade.quantity) => Err("trade quantity must be positive"),
        Event::Liquidation(liquidation) if !positive(&liquidation.price) => {
            Err("liquidation price must be positive")
        }
        Event::Liquidation(liquidation) if !positive(&liquidation.quantity) => {
            Err("liquidation quantity must be positive")
        }
        Event::OrderBook(book)
            if book
                .bids
                .iter()
                .chain(&book.asks)
                .any(|level| !positive(&level.price) || !positive(&level.quantity)) =>
        {
            Err("book levels must have a positive price and quantity")
        }
        Event::OrderBookDelta(delta)
            if delta
                .bids
                .iter()
                .chain(&delta.asks)
                .any(|level| !positive(&level.price) || level.quantity.is_sign_negative()) =>
        {
            Err("book updates must have a positive price and no negative quantity")
        }
        Event::OpenInterest(interest) if interest.open_interest.is_sign_negative() => {
            Err("open interest must not be negative")
        }
        Event::LongShortRatio(ratio) if ratio.ratio.is_sign_negative() => {
            Err("a long/short ratio must not be negative")
        }
        Event::Gap(gap) if gap.to_ms < gap.from_ms => Err("a gap must not end before it starts"),
        Event::Listing(listing)
            if listing
                .delisted_ms
                .is_some_and(|delisted_ms| delisted_ms < listing.listed_ms) =>
        {
            Err("an instrument must not be delisted before it is listed")
        }
        Event::Listing(listing) if listing.trading && listing.delisted_ms.is_some() => {
            Err("a delisted instrument does not trade")
        }
        Event::Listing(listing) if listing.strike.is_some_and(|strike| !positive(&strike)) => {
            Err("an option's strike must be positive")
        }
        _ => Ok(()),
    }
}

/// A message ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedMessage {
    /// The subject shared by its events.
    pub subject: String,
    /// Its `Nats-Msg-Id`.
    pub msg_id: String,
    /// The body: one event object, or an array of several.
    pub body: Vec<u8>,
    /// How many events it carries.
    pub events: usize,
}

/// Builds one message from events of one subject, encoding each as it is pushed.
///
/// The message's `Nats-Msg-Id` depends only on the events it holds, never on when or by whom
/// it was made: `{subject}:{key}` for one event (the event's own [`Event::msg_id`]), and
/// `{subject}:{first key}..{last key}/{count}#{crc}` for several, where `crc` is the CRC-32 of
/// every event's key. Two collectors that cut the same events into a message therefore give
/// it the same id, and the stream keeps one copy; messages that differ in any event differ in
/// id, so neither is taken for the other.
#[derive(Debug)]
pub struct MessageEncoder {
    subject: String,
    first_key: String,
    /// The key of the latest event pushed after the first.
    last_key: String,
    /// CRC-32 over every event's key, each followed by a newline.
    keys: crc32fast::Hasher,
    events: usize,
    /// `[` followed by the comma-separated event objects.
    body: Vec<u8>,
}

impl MessageEncoder {
    /// Starts a message with its first event.
    pub fn new(event: Event) -> Self {
        let mut body = vec![b'['];
        write_event(&mut body, &event);
        let first_key = event.dedup_key();
        let mut keys = crc32fast::Hasher::new();
        hash_key(&mut keys, &first_key);
        MessageEncoder {
            subject: event.subject(),
            first_key,
            last_key: String::new(),
            keys,
            events: 1,
            body,
        }
    }

    /// Appends an event; the caller keeps to events of [`subject`](Self::subject).
    pub fn push(&mut self, event: Event) {
        debug_assert_eq!(event.subject(), self.subject);
        self.body.push(b',');
        write_event(&mut self.body, &event);
        self.last_key.clear();
        // Writing into a `String` cannot fail.
        let _ = event.write_dedup_key(&mut self.last_key);
        hash_key(&mut self.keys, &self.last_key);
        self.events += 1;
    }

    /// The subject of every event in the message.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Events pushed so far.
    pub fn events(&self) -> usize {
        self.events
    }

    /// The size of the body so far, bytes.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// The finished message.
    pub fn finish(self) -> EncodedMessage {
        let MessageEncoder {
            subject,
            first_key,
            last_key,
            keys,
            events,
            mut body,
        } = self;
        let msg_id = if events == 1 {
            body.remove(0);
            format!("{subject}:{first_key}")
        } else {
            body.push(b']');
            format!(
                "{subject}:{first_key}..{last_key}/{events}#{:08x}",
                keys.finalize()
            )
        };
        EncodedMessage {
            subject,
            msg_id,
            body,
            events,
        }
    }
}

/// Adds one event's key to a message's key checksum.
fn hash_key(keys: &mut crc32fast::Hasher, key: &str) {
    keys.update(key.as_bytes());
    keys.update(b"\n");
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::*;
    use crate::{
        Exchange, FundingRate, Gap, GapReason, GapState, GapStatus, Liquidation, Listing,
        MarketType, OpenInterest, OptionKind, OrderBook, OrderBookDelta, PriceLevel, RatioKind,
        Side, Symbol, Trade, TradeSource, VolatilityIndex,
    };

    fn symbol_strategy() -> impl Strategy<Value = Symbol> {
        ("[A-Z0-9]{1,8}", "[A-Z0-9]{1,8}").prop_map(|(base, quote)| {
            Symbol::from_pair(&base, &quote).expect("strategy yields valid segments")
        })
    }

    fn decimal_strategy() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..=18).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
    }

    /// Decimals above zero: what [`check`] requires of prices and quantities.
    fn positive_decimal_strategy() -> impl Strategy<Value = Decimal> {
        (1..=i64::MAX, 0u32..=18).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
    }

    fn event_strategy() -> impl Strategy<Value = Event> {
        let trade = (
            symbol_strategy(),
            "[0-9a-z-]{1,36}",
            any::<bool>(),
            positive_decimal_strategy(),
            positive_decimal_strategy(),
            any::<bool>(),
            any::<i64>(),
            any::<i64>(),
        )
            .prop_map(
                |(symbol, trade_id, aggregated, price, quantity, buy, exchange_ms, received_ms)| {
                    Event::Trade(Trade {
                        exchange: Exchange::Binance,
                        market_type: MarketType::Spot,
                        symbol,
                        trade_id: trade_id.into(),
                        aggregated,
                        price,
                        quantity,
                        side: if buy { Side::Buy } else { Side::Sell },
                        exchange_time_ms: exchange_ms,
                        received_time_ms: received_ms,
                        sequence: None,
                        source: TradeSource::Ws,
                    })
                },
            );
        let gap = (symbol_strategy(), any::<i64>(), any::<i64>(), any::<bool>()).prop_map(
            |(symbol, time_ms, other_ms, stale)| {
                let (from_ms, to_ms) = (time_ms.min(other_ms), time_ms.max(other_ms));
                Event::Gap(Gap {
                    exchange: Exchange::Binance,
                    market_type: MarketType::Spot,
                    symbol,
                    from_ms,
                    to_ms,
                    reason: if stale {
                        GapReason::Stale
                    } else {
                        GapReason::Disconnect
                    },
                    received_time_ms: to_ms,
                    missing_ids: None,
                    state: GapState::default(),
                    collector: None,
                })
            },
        );
        let levels = || {
            proptest::collection::vec(
                (positive_decimal_strategy(), positive_decimal_strategy())
                    .prop_map(|(price, quantity)| PriceLevel::new(price, quantity)),
                0..5,
            )
        };
        let exchange = prop_oneof![
            Just(Exchange::Binance),
            Just(Exchange::Okx),
            Just(Exchange::Deribit),
            Just(Exchange::Bybit),
            Just(Exchange::Coinbase),
        ];
        let market_type = prop_oneof![
            Just(MarketType::Spot),
            Just(MarketType::Perpetual),
            Just(MarketType::Futures),
            Just(MarketType::Options),
        ];
        let book = (
            exchange,
            market_type,
            symbol_strategy(),
            any::<u64>(),
            any::<i64>(),
            levels(),
            levels(),
        )
            .prop_map(
                |(exchange, market_type, symbol, update_id, time_ms, bids, asks)| {
                    Event::OrderBook(OrderBook {
                        exchange,
                        market_type,
                        symbol,
                        update_id,
                        exchange_time_ms: time_ms,
                        received_time_ms: time_ms,
                        bids,
                        asks,
                    })
                },
            );
        let delta = (
            symbol_strategy(),
            any::<bool>(),
            any::<u64>(),
            levels(),
            levels(),
        )
            .prop_map(|(symbol, snapshot, update_id, bids, asks)| {
                Event::OrderBookDelta(OrderBookDelta {
                    exchange: Exchange::Bybit,
                    market_type: MarketType::Spot,
                    symbol,
                    snapshot,
                    first_update_id: update_id / 2,
                    update_id,
                    exchange_time_ms: 1,
                    received_time_ms: 2,
                    bids,
                    asks,
                })
            });
        let optional = || proptest::option::of(decimal_strategy());
        let funding = (
            symbol_strategy(),
            decimal_strategy(),
            optional(),
            proptest::option::of(any::<i64>()),
            optional(),
            optional(),
            any::<i64>(),
        )
            .prop_map(|(symbol, rate, predicted, next, mark, index, time)| {
                Event::FundingRate(FundingRate {
                    exchange: Exchange::Binance,
                    market_type: MarketType::Perpetual,
                    symbol,
                    funding_rate: rate,
                    predicted_rate: predicted,
                    next_funding_time_ms: next,
                    mark_price: mark,
                    index_price: index,
                    exchange_time_ms: time,
                    received_time_ms: time,
                })
            });
        let interest = (
            symbol_strategy(),
            positive_decimal_strategy(),
            optional(),
            any::<i64>(),
        )
            .prop_map(|(symbol, open_interest, value, time)| {
                Event::OpenInterest(OpenInterest {
                    exchange: Exchange::Okx,
                    market_type: MarketType::Perpetual,
                    symbol,
                    open_interest,
                    open_interest_value: value,
                    exchange_time_ms: time,
                    received_time_ms: time,
                })
            });
        let liquidation = (
            symbol_strategy(),
            any::<bool>(),
            positive_decimal_strategy(),
            positive_decimal_strategy(),
        )
            .prop_map(|(symbol, buy, price, quantity)| {
                Event::Liquidation(Liquidation {
                    exchange: Exchange::Bybit,
                    market_type: MarketType::Perpetual,
                    symbol,
                    side: if buy { Side::Buy } else { Side::Sell },
                    price,
                    quantity,
                    exchange_time_ms: 1,
                    received_time_ms: 2,
                })
            });
        let volatility = (symbol_strategy(), decimal_strategy()).prop_map(|(symbol, value)| {
            Event::VolatilityIndex(VolatilityIndex {
                exchange: Exchange::Deribit,
                market_type: MarketType::Options,
                symbol,
                value,
                exchange_time_ms: 1,
                received_time_ms: 2,
            })
        });
        let ratio = (
            symbol_strategy(),
            positive_decimal_strategy(),
            optional(),
            optional(),
            0..3u8,
        )
            .prop_map(|(symbol, ratio, long_share, short_share, kind)| {
                Event::LongShortRatio(crate::LongShortRatio {
                    exchange: Exchange::Binance,
                    market_type: MarketType::Perpetual,
                    symbol,
                    kind: [
                        RatioKind::TopPositions,
                        RatioKind::TopAccounts,
                        RatioKind::AllAccounts,
                    ][usize::from(kind)],
                    period: "5m".into(),
                    ratio,
                    long_share,
                    short_share,
                    exchange_time_ms: 1,
                    received_time_ms: 2,
                })
            });
        let listing = (
            symbol_strategy(),
            proptest::option::of((positive_decimal_strategy(), any::<bool>(), any::<i64>())),
            any::<bool>(),
            0..i64::MAX / 2,
            proptest::option::of(0..i64::MAX / 2),
        )
            .prop_map(|(symbol, option, trading, listed_ms, delisted_after)| {
                Event::Listing(Listing {
                    exchange: Exchange::Deribit,
                    market_type: MarketType::Options,
                    venue_symbol: symbol.as_str().to_owned(),
                    base: symbol.base().to_owned(),
                    quote: symbol.quote().unwrap_or_default().to_owned(),
                    symbol,
                    settle: option.map(|_| "BTC".to_owned()),
                    expiry_ms: option.map(|(_, _, expiry_ms)| expiry_ms),
                    strike: option.map(|(strike, _, _)| strike),
                    option_kind: option.map(|(_, call, _)| {
                        if call {
                            OptionKind::Call
                        } else {
                            OptionKind::Put
                        }
                    }),
                    trading: trading && delisted_after.is_none(),
                    listed_ms,
                    delisted_ms: delisted_after.map(|after| listed_ms + after),
                    received_time_ms: listed_ms,
                })
            });
        prop_oneof![
            trade,
            gap,
            book,
            delta,
            funding,
            interest,
            liquidation,
            volatility,
            ratio,
            listing
        ]
    }

    #[test]
    fn books_carry_levels_as_string_pairs() {
        let level = |price: &str, quantity: &str| {
            PriceLevel::new(
                price.parse().expect("valid"),
                quantity.parse().expect("valid"),
            )
        };
        let event = Event::OrderBook(OrderBook {
            exchange: Exchange::Okx,
            market_type: MarketType::Perpetual,
            symbol: "BTC-USDT".parse().expect("valid"),
            update_id: 42,
            exchange_time_ms: 10,
            received_time_ms: 11,
            bids: vec![level("100.10", "2")],
            asks: vec![level("100.2", "0.5")],
        });
        let json: serde_json::Value = serde_json::from_slice(&encode(&event)).expect("json");
        assert_eq!(json["type"], "orderbook");
        assert_eq!(json["bids"], serde_json::json!([["100.10", "2"]]));
        assert_eq!(event.subject(), "orderbook.okx.perpetual.BTC-USDT");
        assert_eq!(event.msg_id(), "orderbook.okx.perpetual.BTC-USDT:42");
    }

    proptest! {
        #[test]
        fn round_trips_every_event(event in event_strategy()) {
            let body = encode(&event);
            let decoded = decode(&event.subject(), &body).expect("own encoding decodes");
            prop_assert_eq!(decoded.len(), 1);
            let decoded = &decoded[0];
            prop_assert_eq!(decoded, &event);
            // Scale survives, not only the numeric value: "1.10" stays "1.10".
            if let (Event::Trade(original), Event::Trade(back)) = (&event, decoded) {
                prop_assert_eq!(original.price.to_string(), back.price.to_string());
            }
        }

        #[test]
        fn a_message_of_several_events_decodes_to_them_in_order(
            symbol in symbol_strategy(),
            fills in proptest::collection::vec(
                (
                    "[0-9a-z-]{1,36}",
                    positive_decimal_strategy(),
                    positive_decimal_strategy(),
                    any::<i64>(),
                ),
                1..12,
            ),
        ) {
            let events: Vec<Event> = fills
                .into_iter()
                .map(|(trade_id, price, quantity, time_ms)| {
                    Event::Trade(Trade {
                        exchange: Exchange::Okx,
                        market_type: MarketType::Perpetual,
                        symbol: symbol.clone(),
                        trade_id: trade_id.into(),
                        aggregated: false,
                        price,
                        quantity,
                        side: Side::Buy,
                        exchange_time_ms: time_ms,
                        received_time_ms: time_ms,
                        sequence: None,
                        source: TradeSource::Ws,
                    })
                })
                .collect();
            let mut encoder = MessageEncoder::new(events[0].clone());
            for event in &events[1..] {
                encoder.push(event.clone());
            }
            let message = encoder.finish();
            prop_assert_eq!(message.events, events.len());
            prop_assert_eq!(&message.subject, &events[0].subject());
            let decoded = decode(&message.subject, &message.body).expect("own encoding decodes");
            prop_assert_eq!(decoded, events);
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode("trade.binance.spot.BTC-USDT", &body);
        }
    }

    #[test]
    fn wire_form_is_a_flat_object() {
        let event = Event::Trade(Trade {
            exchange: Exchange::Binance,
            market_type: MarketType::Spot,
            symbol: "BTC-USDT".parse().expect("valid"),
            trade_id: "12345".into(),
            aggregated: false,
            price: "58042.29000000".parse().expect("valid"),
            quantity: "0.097".parse().expect("valid"),
            side: Side::Buy,
            exchange_time_ms: 1_617_566_591_307,
            received_time_ms: 1_617_566_591_326,
            sequence: None,
            source: TradeSource::Ws,
        });
        let json: serde_json::Value = serde_json::from_slice(&encode(&event)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "type": "trade", "exchange": "binance", "market_type": "spot",
                "symbol": "BTC-USDT", "trade_id": "12345", "aggregated": false,
                "price": "58042.29000000", "quantity": "0.097", "side": "buy",
                "exchange_time_ms": 1_617_566_591_307_i64, "received_time_ms": 1_617_566_591_326_i64
            })
        );
        assert_eq!(event.subject(), "trade.binance.spot.BTC-USDT");
        assert_eq!(event.msg_id(), "trade.binance.spot.BTC-USDT:t:12345");
    }

    fn trade(trade_id: u64) -> Event {
        Event::Trade(Trade {
            exchange: Exchange::Binance,
            market_type: MarketType::Spot,
            symbol: "BTC-USDT".parse().expect("valid"),
            trade_id: trade_id.to_string().into(),
            aggregated: false,
            price: "58042.29".parse().expect("valid"),
            quantity: "0.097".parse().expect("valid"),
            side: Side::Sell,
            exchange_time_ms: 1_617_566_591_307,
            received_time_ms: 1_617_566_591_326,
            sequence: None,
            source: TradeSource::Ws,
        })
    }

    fn gap() -> Event {
        Event::Gap(Gap {
            exchange: Exchange::Binance,
            market_type: MarketType::Spot,
            symbol: "BTC-USDT".parse().expect("valid"),
            from_ms: 1,
            to_ms: 2,
            reason: GapReason::Disconnect,
            received_time_ms: 2,
            missing_ids: None,
            state: GapState::default(),
            collector: None,
        })
    }

    #[test]
    fn a_live_trade_and_a_new_gap_leave_out_source_and_state() {
        let json: serde_json::Value = serde_json::from_slice(&encode(&trade(7))).expect("json");
        assert!(json.get("source").is_none(), "{json}");
        let json: serde_json::Value = serde_json::from_slice(&encode(&gap())).expect("json");
        assert!(json.get("state").is_none(), "{json}");
    }

    #[test]
    fn a_recovered_trade_and_a_gap_status_round_trip_under_their_own_ids() {
        let Event::Trade(mut recovered) = trade(7) else {
            unreachable!("a trade")
        };
        recovered.source = TradeSource::Rest;
        let recovered = Event::Trade(recovered);
        assert_eq!(recovered.msg_id(), trade(7).msg_id(), "same key as live");
        let decoded = decode(&recovered.subject(), &encode(&recovered)).expect("decodes");
        assert_eq!(decoded, [recovered]);

        let Event::Gap(mut partial) = gap() else {
            unreachable!("a gap")
        };
        partial.state = GapState {
            status: GapStatus::Partial,
            recovered: Some(998),
            unrecovered: Some(2),
            detail: Some("the venue keeps its latest 1000 trades".into()),
        };
        let partial = Event::Gap(partial);
        assert_ne!(
            partial.msg_id(),
            gap().msg_id(),
            "a status is a new message"
        );
        assert_eq!(
            decode(&partial.subject(), &encode(&partial)).expect("decodes"),
            [partial]
        );
    }

    fn listing() -> Listing {
        Listing {
            exchange: Exchange::Deribit,
            market_type: MarketType::Options,
            symbol: "BTC-USD-261225-60000-C".parse().expect("valid"),
            venue_symbol: "BTC-25DEC26-60000-C".into(),
            base: "BTC".into(),
            quote: "USD".into(),
            settle: Some("BTC".into()),
            expiry_ms: Some(1_798_185_600_000),
            strike: Some("60000".parse().expect("valid")),
            option_kind: Some(OptionKind::Call),
            trading: true,
            listed_ms: 1_700_000_000_000,
            delisted_ms: None,
            received_time_ms: 1_700_000_000_500,
        }
    }

    #[test]
    fn a_listing_is_keyed_by_when_it_was_seen_and_what_it_said() {
        let listed = Event::Listing(listing());
        let json: serde_json::Value = serde_json::from_slice(&encode(&listed)).expect("json");
        assert_eq!(json["type"], "listing");
        assert_eq!(json["strike"], "60000");
        assert_eq!(json["option_kind"], "call");
        assert_eq!(
            listed.msg_id(),
            "listing.deribit.options.BTC-USD-261225-60000-C:1700000000500:trading"
        );
        assert_eq!(listed.exchange_time_ms(), None);
        assert_eq!(listed.received_time_ms(), 1_700_000_000_500);
        assert_eq!(
            decode(&listed.subject(), &encode(&listed)).expect("decodes"),
            std::slice::from_ref(&listed)
        );
        assert_eq!(listed.msg_id(), Event::Listing(listing()).msg_id());

        let halted = Event::Listing(Listing {
            trading: false,
            ..listing()
        });
        let delisted = Event::Listing(Listing {
            trading: false,
            delisted_ms: Some(1_700_000_000_400),
            ..listing()
        });
        let seen_again = Event::Listing(Listing {
            received_time_ms: 1_700_000_060_500,
            ..listing()
        });
        let ids = [&listed, &halted, &delisted, &seen_again].map(Event::msg_id);
        for (index, id) in ids.iter().enumerate() {
            assert!(!ids[index + 1..].contains(id), "{id} repeats");
        }
    }

    #[test]
    fn rejects_listings_no_venue_can_publish() {
        let invalid = |listing: Listing| {
            let event = Event::Listing(listing);
            match decode(&event.subject(), &encode(&event)) {
                Err(DecodeError::Event {
                    source: EventError::Invalid(reason),
                    ..
                }) => reason,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            invalid(Listing {
                trading: false,
                delisted_ms: Some(1_699_999_999_999),
                ..listing()
            }),
            "an instrument must not be delisted before it is listed"
        );
        assert_eq!(
            invalid(Listing {
                delisted_ms: Some(1_700_000_000_000),
                ..listing()
            }),
            "a delisted instrument does not trade"
        );
        assert_eq!(
            invalid(Listing {
                strike: Some(Decimal::ZERO),
                ..listing()
            }),
            "an option's strike must be positive"
        );
    }

    #[test]
    fn a_message_of_one_event_is_the_event_alone() {
        let message = MessageEncoder::new(trade(7)).finish();
        assert_eq!(message.body, encode(&trade(7)));
        assert_eq!(message.msg_id, trade(7).msg_id());
        assert_eq!(message.events, 1);
    }

    #[test]
    fn a_message_of_several_events_is_an_array_named_by_its_ends_and_count() {
        let mut encoder = MessageEncoder::new(trade(7));
        encoder.push(trade(8));
        encoder.push(trade(9));
        assert_eq!(encoder.events(), 3);
        assert_eq!(encoder.body_len(), 1 + 3 * encode(&trade(7)).len() + 2);
        let message = encoder.finish();
        let mut keys = crc32fast::Hasher::new();
        keys.update(b"t:7\nt:8\nt:9\n");
        assert_eq!(
            message.msg_id,
            format!(
                "trade.binance.spot.BTC-USDT:t:7..t:9/3#{:08x}",
                keys.finalize()
            )
        );
        let json: serde_json::Value = serde_json::from_slice(&message.body).expect("json");
        let ids: Vec<&str> = json
            .as_array()
            .expect("an array")
            .iter()
            .filter_map(|event| event["trade_id"].as_str())
            .collect();
        assert_eq!(ids, ["7", "8", "9"]);
    }

    /// Two collectors receive the same trades at their own times: the same trades make the
    /// same id, and a message missing any one of them another id.
    #[test]
    fn a_message_id_depends_on_every_event_and_on_nothing_local() {
        let id = |ids: &[u64], received_time_ms: i64| {
            let events: Vec<Event> = ids
                .iter()
                .map(|&id| match trade(id) {
                    Event::Trade(trade) => Event::Trade(Trade {
                        received_time_ms,
                        ..trade
                    }),
                    other => other,
                })
                .collect();
            let mut encoder = MessageEncoder::new(events[0].clone());
            for event in &events[1..] {
                encoder.push(event.clone());
            }
            encoder.finish().msg_id
        };
        assert_eq!(id(&[1, 2, 4, 5], 10), id(&[1, 2, 4, 5], 99));
        assert_ne!(id(&[1, 2, 4, 5], 10), id(&[1, 3, 4, 5], 10));
        assert_ne!(id(&[1, 2, 5], 10), id(&[1, 2, 4, 5], 10));
    }

    #[test]
    fn rejects_an_empty_array_and_an_array_holding_a_foreign_event() {
        let subject = "trade.binance.spot.BTC-USDT";
        assert!(matches!(decode(subject, b" [ ]"), Err(DecodeError::Empty)));
        let gap = gap();
        let mut body = b"[".to_vec();
        body.extend(encode(&trade(1)));
        body.push(b',');
        body.extend(encode(&gap));
        body.push(b']');
        assert!(matches!(
            decode(subject, &body),
            Err(DecodeError::Event {
                index: 1,
                source: EventError::WrongSubject { .. }
            })
        ));
        assert!(matches!(
            decode(subject, b"[{\"type\":\"trade\"}]"),
            Err(DecodeError::Event {
                index: 0,
                source: EventError::Malformed(_)
            })
        ));
        assert!(matches!(
            decode(subject, b"{\"type\":"),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_body_on_the_wrong_subject() {
        let gap = gap();
        let error = decode("trade.binance.spot.BTC-USDT", &encode(&gap)).expect_err("mismatch");
        assert!(matches!(
            error,
            DecodeError::Event {
                source: EventError::WrongSubject { .. },
                ..
            }
        ));
        // Same type, another symbol: also the wrong subject.
        let error = decode("trade.binance.spot.ETH-USDT", &encode(&trade(1))).expect_err("symbol");
        assert!(matches!(
            error,
            DecodeError::Event {
                source: EventError::WrongSubject { .. },
                ..
            }
        ));
    }

    #[test]
    fn decodes_each_event_alone_so_one_bad_event_costs_only_itself() {
        let subject = "trade.binance.spot.BTC-USDT";
        let Event::Trade(mut no_quantity) = trade(2) else {
            unreachable!("trade() builds a trade")
        };
        no_quantity.quantity = Decimal::ZERO;
        let mut unknown_field = encode(&trade(3));
        unknown_field.pop();
        unknown_field.extend(b",\"venue_note\":\"x\"}");
        let mut body = b"[".to_vec();
        for (index, event) in [
            encode(&trade(1)),
            encode(&Event::Trade(no_quantity)),
            unknown_field.clone(),
            b"{\"type\":\"trade\",\"price\":1}".to_vec(),
            encode(&trade(5)),
        ]
        .iter()
        .enumerate()
        {
            if index > 0 {
                body.push(b',');
            }
            body.extend(event);
        }
        body.push(b']');
        let decoded = decode_each(subject, &body).expect("an array of objects");
        assert_eq!(decoded.len(), 5);
        assert_eq!(decoded[0].event.as_ref().ok(), Some(&trade(1)));
        assert!(matches!(
            decoded[1].event,
            Err(EventError::Invalid("trade quantity must be positive"))
        ));
        assert!(matches!(decoded[2].event, Err(EventError::Malformed(_))));
        assert_eq!(decoded[2].raw, &unknown_field[..]);
        assert!(matches!(decoded[3].event, Err(EventError::Malformed(_))));
        assert_eq!(decoded[4].event.as_ref().ok(), Some(&trade(5)));
        assert!(matches!(
            decode(subject, &body),
            Err(DecodeError::Event { index: 1, .. })
        ));
    }
}
