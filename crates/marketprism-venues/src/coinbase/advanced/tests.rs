//! Coinbase Advanced Trade parser tests: frames of the capture `coinbase.20260809T2105Z`,
//! the whole capture, a lost message, and arbitrary input.

use std::collections::HashMap;

use marketprism_book::{DesyncReason, Progress, Sequencer, UpdateKind};
use marketprism_capture::{captures, read_capture, RecordKind};
use marketprism_model::{Event, Listing, Side, Symbol};
use proptest::prelude::*;

use crate::{Channel, RestCall};

use super::*;

/// `market_trades` message 136 of the capture: two trades, the newest first.
const TRADES: &str = r#"{"channel":"market_trades","timestamp":"2026-08-09T21:05:51.452192913Z","sequence_num":136,"events":[{"type":"update","trades":[{"product_id":"BTC-USD","trade_id":"1068572096","price":"65083.66","size":"0.00100346","time":"2026-08-09T21:05:51.426861Z","side":"BUY"},{"product_id":"BTC-USD","trade_id":"1068572095","price":"65083.67","size":"0.00322434","time":"2026-08-09T21:05:51.376358Z","side":"SELL"}]}]}"#;

/// `l2_data` message 15 of the capture.
const BOOK_UPDATE: &str = r#"{"channel":"l2_data","timestamp":"2026-08-09T21:05:48.506659391Z","sequence_num":15,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"offer","event_time":"2026-08-09T21:05:48.264069Z","price_level":"65106.54","new_quantity":"0.15361938"},{"side":"offer","event_time":"2026-08-09T21:05:48.264069Z","price_level":"65155.5","new_quantity":"0.00000011"}]}]}"#;

/// The start of the capture's BTC-USD snapshot (message 13), cut to two levels a side.
const BOOK_SNAPSHOT: &str = r#"{"channel":"l2_data","timestamp":"2026-08-09T21:05:48.483587501Z","sequence_num":13,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2026-08-09T21:05:48.170326Z","price_level":"65083.66","new_quantity":"0.20371215"},{"side":"bid","event_time":"2026-08-09T21:05:48.170326Z","price_level":"65083.27","new_quantity":"0.02244516"},{"side":"offer","event_time":"2026-08-09T21:05:48.170326Z","price_level":"65083.67","new_quantity":"0.24290402"},{"side":"offer","event_time":"2026-08-09T21:05:48.170326Z","price_level":"65083.71","new_quantity":"0.05"}]}]}"#;

/// `subscriptions` message 26 of the capture, the answer to `heartbeats`.
const SUBSCRIPTIONS: &str = r#"{"channel":"subscriptions","timestamp":"2026-08-09T21:05:48.629706932Z","sequence_num":26,"events":[{"subscriptions":{"candles":["ETH-USD","BTC-USD"],"heartbeats":["heartbeats"],"level2":["BTC-USD","ETH-USD"],"market_trades":["BTC-USD","ETH-USD"],"ticker":["BTC-USD","ETH-USD"]}}]}"#;

/// `heartbeats` message 35 of the capture.
const HEARTBEAT: &str = r#"{"channel":"heartbeats","timestamp":"2026-08-09T21:05:48.856364007Z","sequence_num":35,"events":[{"current_time":"2026-08-09 21:05:48.854840045 +0000 UTC m=+41691.260485341","heartbeat_counter":41691}]}"#;

/// The products answer of the capture, cut to BTC-USD, ETH-USD, BTC-USDC (an alias of
/// BTC-USD), DAI-USD (delisted) and ETH-BTC.
const PRODUCTS: &str =
    include_str!("../../../fixtures/instruments/coinbase.20260809T2105Z.products.json");

fn subscriptions(entries: &[(Channel, &str)]) -> Vec<Subscription> {
    entries
        .iter()
        .map(|&(channel, symbol)| Subscription {
            channel,
            symbol: symbol.parse().expect("valid"),
        })
        .collect()
}

#[test]
fn trades_are_oldest_first_with_the_taker_s_side() {
    let Ok(Inbound::Events(events)) = CoinbaseAdvanced::new().parse(TRADES, 7) else {
        panic!("expected trades");
    };
    let trades: Vec<_> = events
        .iter()
        .map(|event| match event {
            Event::Trade(trade) => trade,
            other => panic!("expected a trade, got {other:?}"),
        })
        .collect();
    assert_eq!(trades.len(), 2);
    let (older, newer) = (trades[0], trades[1]);
    assert_eq!(older.trade_id, "1068572095");
    assert_eq!(older.sequence, Some(1_068_572_095));
    // The maker sold: the trade lifted the ask.
    assert_eq!(older.side, Side::Buy);
    assert_eq!(older.price.to_string(), "65083.67");
    assert_eq!(older.quantity.to_string(), "0.00322434");
    assert_eq!(older.exchange_time_ms, 1_786_309_551_376);
    assert_eq!(older.received_time_ms, 7);
    assert_eq!(
        (older.exchange, older.market_type, older.symbol.as_str()),
        (Exchange::Coinbase, MarketType::Spot, "BTC-USD")
    );
    assert_eq!(
        (newer.trade_id.as_str(), newer.side),
        ("1068572096", Side::Sell)
    );
}

#[test]
fn book_messages_carry_their_place_on_the_connection() {
    let protocol = CoinbaseAdvanced::new();
    let Ok(Inbound::Book(snapshot)) = protocol.parse(BOOK_SNAPSHOT, 1) else {
        panic!("expected a book");
    };
    assert_eq!(snapshot.symbol.as_str(), "BTC-USD");
    assert_eq!(snapshot.update.kind, UpdateKind::Snapshot);
    // Books are named by send time (2026-08-09T21:05:48.483587501Z), not by message number,
    // which restarts on every connection; the book's first message follows nothing.
    let snapshot_id = 1_786_309_548_483_587_501;
    assert_eq!(
        (
            snapshot.update.first_id,
            snapshot.update.last_id,
            snapshot.update.prev_id
        ),
        (snapshot_id, snapshot_id, None)
    );
    assert_eq!(snapshot.update.bids.len(), 2);
    assert_eq!(snapshot.update.asks.len(), 2);
    assert_eq!(snapshot.update.exchange_time_ms, Some(1_786_309_548_170));
    // Message 14 was not seen: the update follows no message of its book.
    let Ok(Inbound::Book(update)) = protocol.parse(BOOK_UPDATE, 2) else {
        panic!("expected a book");
    };
    assert_eq!(update.update.kind, UpdateKind::Delta);
    let update_id = 1_786_309_548_506_659_391;
    assert_eq!(
        (update.update.last_id, update.update.prev_id),
        (update_id, None)
    );
    assert_eq!(update.update.asks[0].price.to_string(), "65106.54");
    let mut sequencer = Sequencer::new(SyncRule::CoinbaseAdvanced);
    sequencer.apply(snapshot.update).expect("snapshot");
    let desync = sequencer
        .apply(update.update.clone())
        .expect_err("message 14 is missing");
    assert!(matches!(desync.reason, DesyncReason::Sequence { .. }));
    // With message 14 seen, of whatever channel, the update follows the snapshot.
    let protocol = CoinbaseAdvanced::new();
    let numbered = |number: u64| {
        HEARTBEAT.replace(
            r#""sequence_num":35"#,
            &format!(r#""sequence_num":{number}"#),
        )
    };
    let Ok(Inbound::Book(_)) = protocol.parse(BOOK_SNAPSHOT, 1) else {
        panic!("expected a book");
    };
    protocol.parse(&numbered(14), 2).expect("heartbeat");
    let Ok(Inbound::Book(update)) = protocol.parse(BOOK_UPDATE, 3) else {
        panic!("expected a book");
    };
    assert_eq!(
        (update.update.last_id, update.update.prev_id),
        (update_id, Some(snapshot_id))
    );
}

/// A book message that cannot be read may have been any book's: no book continues across it.
#[test]
fn an_unreadable_book_message_breaks_every_book() {
    let protocol = CoinbaseAdvanced::new();
    let Ok(Inbound::Book(_)) = protocol.parse(BOOK_SNAPSHOT, 1) else {
        panic!("expected a book");
    };
    let unreadable = BOOK_UPDATE
        .replace(r#""sequence_num":15"#, r#""sequence_num":14"#)
        .replace(r#""side":"offer""#, r#""side":"sideways""#);
    assert!(protocol.parse(&unreadable, 2).is_err());
    let Ok(Inbound::Book(update)) = protocol.parse(BOOK_UPDATE, 3) else {
        panic!("expected a book");
    };
    assert_eq!(update.update.prev_id, None);
}

#[test]
fn the_answer_listing_heartbeats_confirms_the_subscription() {
    let protocol = CoinbaseAdvanced::new();
    assert_eq!(
        protocol.parse(SUBSCRIPTIONS, 0).expect("answer"),
        Inbound::SubscribeAck {
            request_id: subscribe::HEARTBEATS_ACK
        }
    );
    let earlier = r#"{"channel":"subscriptions","timestamp":"2026-08-09T21:05:48.228846629Z","sequence_num":2,"events":[{"subscriptions":{"market_trades":["BTC-USD","ETH-USD"]}}]}"#;
    assert_eq!(
        protocol.parse(earlier, 0).expect("answer"),
        Inbound::Ignored
    );
    assert_eq!(
        protocol.parse(HEARTBEAT, 0).expect("heartbeat"),
        Inbound::Ignored
    );
    let error = r#"{"type":"error","message":"failure to subscribe"}"#;
    assert_eq!(
        protocol.parse(error, 0).expect("error"),
        Inbound::Rejected {
            request_id: None,
            reason: "failure to subscribe".into()
        }
    );
}

#[test]
fn subscribe_requests_name_one_channel_each_and_end_with_heartbeats() {
    let protocol = CoinbaseAdvanced::new();
    let requests = protocol
        .subscribe_requests(&subscriptions(&[
            (Channel::Trades, "BTC-USD"),
            (Channel::OrderBook, "BTC-USD"),
            (Channel::Trades, "ETH-USD"),
        ]))
        .expect("supported");
    let frames: Vec<_> = requests
        .iter()
        .map(|request| request.frame.as_str())
        .collect();
    assert_eq!(
        frames,
        [
            r#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"market_trades"}"#,
            r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}"#,
            r#"{"type":"subscribe","channel":"heartbeats"}"#,
        ]
    );
    let acks: Vec<_> = requests
        .iter()
        .map(|request| request.acks.clone())
        .collect();
    assert_eq!(acks, [vec![], vec![], vec![subscribe::HEARTBEATS_ACK]]);
    assert_eq!(
        protocol
            .resubscribe_frames(&subscriptions(&[(Channel::OrderBook, "ETH-USD")])[0])
            .expect("frames"),
        [
            r#"{"type":"unsubscribe","product_ids":["ETH-USD"],"channel":"level2"}"#,
            r#"{"type":"subscribe","product_ids":["ETH-USD"],"channel":"level2"}"#,
        ]
    );
    let error = protocol
        .subscribe_requests(&subscriptions(&[(Channel::FundingRate, "BTC-USD")]))
        .expect_err("spot only");
    assert_eq!(error.kind(), crate::VenueErrorKind::Unsupported);
}

/// The symbols a fresh protocol's stream parser gives the trades of `product_id`.
fn trade_symbols(product_id: &str) -> Vec<Symbol> {
    let frame = TRADES.replace("BTC-USD", product_id);
    match CoinbaseAdvanced::new().parse(&frame, 1).expect("trades") {
        Inbound::Events(events) => events
            .iter()
            .map(|event| match event {
                Event::Trade(trade) => trade.symbol.clone(),
                other => panic!("expected a trade, got {other:?}"),
            })
            .collect(),
        other => panic!("expected events, got {other:?}"),
    }
}

#[test]
fn products_lists_every_product_that_is_not_an_alias() {
    let protocol = CoinbaseAdvanced::new();
    assert_eq!(
        protocol
            .instruments_url("https://api.coinbase.com/")
            .as_deref(),
        Some("https://api.coinbase.com/api/v3/brokerage/market/products")
    );
    // BTC-USDC is an alias of BTC-USD; DAI-USD is `delisted`.
    let listings = protocol.parse_instruments(PRODUCTS, 5).expect("products");
    let names: Vec<&str> = listings.iter().map(|l| l.venue_symbol.as_str()).collect();
    assert_eq!(names, ["BTC-USD", "ETH-USD", "DAI-USD", "ETH-BTC"]);
    let product = |id: &str, base: &str, quote: &str, trading: bool| Listing {
        exchange: Exchange::Coinbase,
        market_type: MarketType::Spot,
        symbol: id.parse().expect("valid"),
        venue_symbol: id.into(),
        base: base.into(),
        quote: quote.into(),
        settle: None,
        expiry_ms: None,
        strike: None,
        option_kind: None,
        trading,
        // Coinbase gives no listing time.
        listed_ms: 5,
        delisted_ms: None,
        received_time_ms: 5,
    };
    assert_eq!(listings[0], product("BTC-USD", "BTC", "USD", true));
    assert_eq!(listings[2], product("DAI-USD", "DAI", "USD", false));
    assert_eq!(listings[3], product("ETH-BTC", "ETH", "BTC", true));
    for listing in &listings {
        assert_eq!(
            trade_symbols(&listing.venue_symbol),
            [listing.symbol.clone(), listing.symbol.clone()]
        );
    }
    // Halted or disabled products stay listed, not trading.
    for flag in ["trading_disabled", "is_disabled"] {
        let halted = PRODUCTS.replacen(
            &format!(r#""{flag}":false"#),
            &format!(r#""{flag}":true"#),
            1,
        );
        let listings = protocol.parse_instruments(&halted, 5).expect("products");
        assert_eq!(
            listings[0],
            product("BTC-USD", "BTC", "USD", false),
            "{flag}"
        );
    }
    let cost = protocol.request_cost(RestCall::Instruments);
    assert_eq!((cost.bucket, cost.weight), ("public", 1));
}

#[test]
fn products_errors_are_typed_errors() {
    let protocol = CoinbaseAdvanced::new();
    let paged = PRODUCTS.replace(r#""has_next":false"#, r#""has_next":true"#);
    assert!(protocol.parse_instruments(&paged, 5).is_err());
    let no_base = PRODUCTS.replacen(r#""base_currency_id":"BTC","#, "", 1);
    let error = protocol
        .parse_instruments(&no_base, 5)
        .expect_err("no base");
    assert!(error.to_string().contains("base_currency_id"), "{error}");
}

#[test]
fn every_capture_frame_parses_and_books_stay_in_sync() {
    let mut books = 0;
    let mut trades = 0;
    for path in captures("coinbase.2026").expect("captures directory") {
        let protocol = CoinbaseAdvanced::new();
        let mut sequencers = HashMap::new();
        for record in read_capture(&path).expect("readable capture") {
            if record.kind != RecordKind::Ws {
                continue;
            }
            match protocol.parse(&record.payload, 0) {
                Ok(Inbound::Book(message)) => {
                    books += 1;
                    sequencers
                        .entry(message.symbol.clone())
                        .or_insert_with(|| Sequencer::new(SyncRule::CoinbaseAdvanced))
                        .apply(message.update)
                        .expect("in sync");
                }
                Ok(Inbound::Events(events)) => trades += events.len(),
                Ok(_) => {}
                Err(error) => panic!("{error}: {:.200}", record.payload),
            }
        }
    }
    assert_eq!(books, 185);
    assert!(trades > 200, "{trades} trades");
}

/// A message lost anywhere on the connection (here a `ticker` message, number 39) breaks
/// every book at its next message; each recovers from the snapshot its resubscription brings.
#[test]
fn a_lost_message_of_any_channel_breaks_every_book() {
    let path = captures("coinbase.2026")
        .expect("captures directory")
        .remove(0);
    let protocol = CoinbaseAdvanced::new();
    let mut sequencers = HashMap::new();
    let mut broken = Vec::new();
    for record in read_capture(&path).expect("readable capture") {
        if record.kind != RecordKind::Ws || record.payload.contains(r#""sequence_num":39,"#) {
            continue;
        }
        if let Ok(Inbound::Book(message)) = protocol.parse(&record.payload, 0) {
            let sequencer = sequencers
                .entry(message.symbol.clone())
                .or_insert_with(|| Sequencer::new(SyncRule::CoinbaseAdvanced));
            if let Err(desync) = sequencer.apply(message.update.clone()) {
                let number = serde_json::from_str::<serde_json::Value>(&record.payload)
                    .ok()
                    .and_then(|frame| frame["sequence_num"].as_u64());
                broken.push((message.symbol.to_string(), number));
                // What the resubscription's snapshot would do: the book is valid again.
                let mut snapshot = message.update;
                snapshot.kind = UpdateKind::Snapshot;
                assert!(matches!(desync.reason, DesyncReason::Sequence { .. }));
                assert!(matches!(
                    sequencer.apply(snapshot),
                    Ok(Progress::Recovered(_))
                ));
            }
        }
    }
    broken.sort();
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(
        broken
            .iter()
            .all(|(_, number)| number.is_some_and(|number| number > 39)),
        "{broken:?}"
    );
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(frame in ".{0,200}") {
        let _ = CoinbaseAdvanced::new().parse(&frame, 0);
    }

    #[test]
    fn unknown_sides_are_typed_errors(side in "[a-z]{1,6}") {
        let frame = TRADES.replace(r#""side":"BUY""#, &format!(r#""side":"{side}""#));
        let result = CoinbaseAdvanced::new().parse(&frame, 0);
        prop_assert!(side == "buy" || side == "sell" || result.is_err());
    }
}

#[test]
fn unsubscribe_requests_name_one_channel_each_and_keep_heartbeats() {
    let frames = CoinbaseAdvanced::new()
        .unsubscribe_frames(&subscriptions(&[
            (Channel::Trades, "ETH-USD"),
            (Channel::OrderBook, "ETH-USD"),
        ]))
        .expect("supported");
    assert_eq!(
        frames,
        [
            r#"{"type":"unsubscribe","product_ids":["ETH-USD"],"channel":"market_trades"}"#,
            r#"{"type":"unsubscribe","product_ids":["ETH-USD"],"channel":"level2"}"#,
        ]
    );
}
