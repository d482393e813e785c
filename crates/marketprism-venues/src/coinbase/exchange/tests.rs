//! Coinbase Exchange parser tests: frames of the capture `coinbase.20210417T1643Z`, the whole
//! capture, and arbitrary input.

use std::collections::HashMap;

use marketprism_book::{Sequencer, UpdateKind};
use marketprism_capture::{captures, read_capture, RecordKind};
use marketprism_model::{Event, Listing, Side, Symbol};
use proptest::prelude::*;

use crate::Channel;

use super::*;

/// A `match` of the capture: the maker sold, so the taker bought.
const MATCH: &str = r#"{"type":"match","trade_id":280232,"maker_order_id":"2a0da34e-61f7-4c36-88e5-c9dd15927b16","taker_order_id":"3c82abaa-c01e-4608-be59-6a1e69742891","side":"sell","size":"985","price":"0.00001305","product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}"#;

/// The capture's BAND-GBP snapshot, cut to two levels a side.
const SNAPSHOT: &str = r#"{"type":"snapshot","product_id":"BAND-GBP","asks":[["14.8024","12.77"],["14.8069","12.49"]],"bids":[["14.7693","27.51"],["14.7659","12.48"]]}"#;

/// An `l2update` of the capture.
const UPDATE: &str = r#"{"type":"l2update","product_id":"SKL-BTC","changes":[["sell","0.00001306","660.5"]],"time":"2021-04-17T16:43:37.075687Z"}"#;

/// The capture's products answer, cut to BTC-USD, ETH-BTC and SKL-GBP.
const PRODUCTS: &str =
    include_str!("../../../fixtures/instruments/coinbase.20210417T1643Z.products.json");

#[test]
fn matches_are_trades_with_the_taker_s_side() {
    let Ok(Inbound::Events(events)) = CoinbaseExchange::new().parse(MATCH, 3) else {
        panic!("expected a trade");
    };
    let [Event::Trade(trade)] = events.as_slice() else {
        panic!("expected one trade: {events:?}");
    };
    assert_eq!(trade.trade_id, "280232");
    assert_eq!(trade.sequence, Some(280_232));
    assert_eq!(trade.side, Side::Buy);
    assert_eq!(
        (trade.price.to_string(), trade.quantity.to_string()),
        ("0.00001305".into(), "985".into())
    );
    assert_eq!(trade.exchange_time_ms, 1_618_677_817_089);
    assert_eq!(
        (trade.symbol.as_str(), trade.received_time_ms),
        ("SKL-BTC", 3)
    );
    let last = MATCH.replace(r#""type":"match""#, r#""type":"last_match""#);
    assert!(matches!(
        CoinbaseExchange::new().parse(&last, 3),
        Ok(Inbound::Events(events)) if events.len() == 1
    ));
}

#[test]
fn snapshots_and_updates_are_book_messages() {
    let Ok(Inbound::Book(snapshot)) = CoinbaseExchange::new().parse(SNAPSHOT, 5) else {
        panic!("expected a book");
    };
    assert_eq!(snapshot.update.kind, UpdateKind::Snapshot);
    assert_eq!(snapshot.update.exchange_time_ms, None);
    assert_eq!(snapshot.update.bids[0].price.to_string(), "14.7693");
    assert_eq!(snapshot.update.asks.len(), 2);
    let Ok(Inbound::Book(update)) = CoinbaseExchange::new().parse(UPDATE, 6) else {
        panic!("expected a book");
    };
    assert_eq!(update.symbol.as_str(), "SKL-BTC");
    assert_eq!(update.update.kind, UpdateKind::Delta);
    assert_eq!(update.update.last_id, 1_618_677_817_075_687);
    assert_eq!(update.update.exchange_time_ms, Some(1_618_677_817_075));
    assert_eq!(update.update.asks[0].quantity.to_string(), "660.5");
    assert!(update.update.bids.is_empty());
}

#[test]
fn subscribe_request_names_each_channel_with_its_products_and_heartbeats() {
    let subscriptions: Vec<Subscription> = [
        (Channel::Trades, "BTC-USD"),
        (Channel::OrderBook, "BTC-USD"),
        (Channel::Trades, "ETH-USD"),
    ]
    .iter()
    .map(|&(channel, symbol)| Subscription {
        channel,
        symbol: symbol.parse().expect("valid"),
    })
    .collect();
    let requests = CoinbaseExchange::new()
        .subscribe_requests(&subscriptions)
        .expect("supported");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].frame,
        r#"{"type":"subscribe","channels":[{"name":"matches","product_ids":["BTC-USD","ETH-USD"]},{"name":"level2_batch","product_ids":["BTC-USD"]},{"name":"heartbeat","product_ids":["BTC-USD","ETH-USD"]}]}"#
    );
    assert_eq!(requests[0].acks, [subscribe::SUBSCRIBE_ACK]);
    assert_eq!(
        CoinbaseExchange::new()
            .resubscribe_frames(&subscriptions[1])
            .expect("frames")[1],
        r#"{"type":"subscribe","channels":[{"name":"level2_batch","product_ids":["BTC-USD"]}]}"#
    );
    let answer = r#"{"type":"subscriptions","channels":[{"name":"level2","product_ids":["BAND-GBP","BAND-BTC"]}]}"#;
    assert_eq!(
        CoinbaseExchange::new().parse(answer, 0).expect("answer"),
        Inbound::SubscribeAck {
            request_id: subscribe::SUBSCRIBE_ACK
        }
    );
    let refused = r#"{"type":"error","message":"Failed to subscribe","reason":"level2, level3, and full channels now require authentication"}"#;
    assert!(matches!(
        CoinbaseExchange::new().parse(refused, 0),
        Ok(Inbound::Rejected { request_id: None, reason }) if reason.ends_with("require authentication")
    ));
    let heartbeat = r#"{"type":"heartbeat","last_trade_id":280232,"product_id":"SKL-BTC","sequence":177100031,"time":"2021-04-17T16:43:38.000000Z"}"#;
    assert_eq!(
        CoinbaseExchange::new()
            .parse(heartbeat, 0)
            .expect("heartbeat"),
        Inbound::Ignored
    );
}

/// The symbol the stream parser gives a match of `product_id`.
fn match_symbol(product_id: &str) -> Symbol {
    let frame = MATCH.replace("SKL-BTC", product_id);
    match CoinbaseExchange::new().parse(&frame, 1).expect("a match") {
        Inbound::Events(events) => match events.as_slice() {
            [Event::Trade(trade)] => trade.symbol.clone(),
            other => panic!("expected a trade, got {other:?}"),
        },
        other => panic!("expected events, got {other:?}"),
    }
}

#[test]
fn products_lists_every_product_with_its_state() {
    assert_eq!(
        CoinbaseExchange::new()
            .instruments_url("https://api.exchange.coinbase.com")
            .as_deref(),
        Some("https://api.exchange.coinbase.com/products")
    );
    let listings = CoinbaseExchange::new()
        .parse_instruments(PRODUCTS, 5)
        .expect("products");
    let names: Vec<&str> = listings.iter().map(|l| l.venue_symbol.as_str()).collect();
    assert_eq!(names, ["BTC-USD", "ETH-BTC", "SKL-GBP"]);
    let skl_gbp = Listing {
        exchange: Exchange::Coinbase,
        market_type: MarketType::Spot,
        symbol: "SKL-GBP".parse().expect("valid"),
        venue_symbol: "SKL-GBP".into(),
        base: "SKL".into(),
        quote: "GBP".into(),
        settle: None,
        expiry_ms: None,
        strike: None,
        option_kind: None,
        trading: true,
        // Coinbase gives no listing time.
        listed_ms: 5,
        delisted_ms: None,
        received_time_ms: 5,
    };
    assert_eq!(listings[2], skl_gbp);
    for listing in &listings {
        assert_eq!(listing.symbol, match_symbol(&listing.venue_symbol));
    }
    // The capture holds only online products; a delisted one stays listed, not trading.
    let delisted = PRODUCTS.replacen(r#""status":"online""#, r#""status":"delisted""#, 1);
    let listings = CoinbaseExchange::new()
        .parse_instruments(&delisted, 5)
        .expect("products");
    assert_eq!(
        listings.iter().map(|l| l.trading).collect::<Vec<_>>(),
        [false, true, true]
    );
    let no_quote = PRODUCTS.replacen(r#""quote_currency":"USD","#, "", 1);
    let error = CoinbaseExchange::new()
        .parse_instruments(&no_quote, 5)
        .expect_err("no quote");
    assert!(error.to_string().contains("quote_currency"), "{error}");
}

/// Every frame of the capture parses, every book stays in sync, and the messages each book
/// applies have strictly increasing ids, its snapshot's given from the update after it.
#[test]
fn every_capture_frame_parses_and_books_stay_in_sync() {
    let mut updates = 0;
    let mut trades = 0;
    let mut snapshots = 0;
    for path in captures("coinbase.2021").expect("captures directory") {
        let protocol = CoinbaseExchange::new();
        let mut sequencers = HashMap::new();
        let mut last_ids: HashMap<Symbol, u64> = HashMap::new();
        for record in read_capture(&path).expect("readable capture") {
            if record.kind != RecordKind::Ws {
                continue;
            }
            match protocol.parse(&record.payload, 0) {
                Ok(Inbound::Book(message)) => {
                    updates += usize::from(message.update.kind == UpdateKind::Delta);
                    let sequencer = sequencers.entry(message.symbol.clone()).or_insert_with(|| {
                        Sequencer::new(SyncRule::CoinbaseExchange).record_applied()
                    });
                    sequencer.apply(message.update).expect("in sync");
                    for applied in sequencer.take_applied() {
                        let id = applied.update.last_id;
                        snapshots += usize::from(applied.update.kind == UpdateKind::Snapshot);
                        let last = last_ids.insert(message.symbol.clone(), id);
                        assert!(
                            last.is_none_or(|last| last < id),
                            "{}: id {id} after {last:?}",
                            message.symbol
                        );
                    }
                }
                Ok(Inbound::Events(events)) => trades += events.len(),
                Ok(_) => {}
                Err(error) => panic!("{error}: {:.200}", record.payload),
            }
        }
    }
    assert_eq!((updates, trades, snapshots), (2_414, 30, 10));
}

/// A snapshot takes the id just before the first update applied on top of it, after every
/// id the book had before it: a second snapshot of a book never reuses the first's id.
#[test]
fn each_snapshot_gets_an_id_of_its_own_from_the_update_after_it() {
    let protocol = CoinbaseExchange::new();
    let mut sequencer = Sequencer::new(SyncRule::CoinbaseExchange).record_applied();
    // Three updates of the snapshot's book, all at the time of `UPDATE`.
    let update = UPDATE
        .replace("SKL-BTC", "BAND-GBP")
        .replace("0.00001306", "14.9");
    let mut ids = Vec::new();
    for frame in [SNAPSHOT, &update, &update, SNAPSHOT, &update] {
        let Ok(Inbound::Book(message)) = protocol.parse(frame, 0) else {
            panic!("expected a book: {frame}");
        };
        sequencer.apply(message.update).expect("in sync");
        ids.extend(
            sequencer
                .take_applied()
                .into_iter()
                .map(|applied| (applied.update.kind, applied.update.last_id)),
        );
    }
    let time = 1_618_677_817_075_687;
    assert_eq!(
        ids,
        [
            (UpdateKind::Snapshot, time - 1),
            (UpdateKind::Delta, time),
            (UpdateKind::Delta, time + 1),
            (UpdateKind::Snapshot, time + 2),
            (UpdateKind::Delta, time + 3),
        ]
    );
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(frame in ".{0,200}") {
        let _ = CoinbaseExchange::new().parse(&frame, 0);
    }
}

#[test]
fn unsubscribe_request_names_the_channels_and_their_heartbeats() {
    let frames = CoinbaseExchange::new()
        .unsubscribe_frames(&[Subscription {
            channel: Channel::Trades,
            symbol: "ETH-USD".parse().expect("valid"),
        }])
        .expect("supported");
    assert_eq!(
        frames,
        [
            r#"{"type":"unsubscribe","channels":[{"name":"matches","product_ids":["ETH-USD"]},{"name":"heartbeat","product_ids":["ETH-USD"]}]}"#
        ]
    );
}
