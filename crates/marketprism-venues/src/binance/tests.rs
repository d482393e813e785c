//! Binance spot parser tests: documented frames, real captures and arbitrary input.

use std::collections::BTreeMap;

use marketprism_capture::{captures, read_capture, RecordKind};
use marketprism_model::{Event, Listing, Side, Symbol, Trade, TradeSource};
use proptest::prelude::*;

use crate::Channel;

use super::*;

fn spot() -> Binance {
    let symbols: Vec<Symbol> = ["BTC-USDT", "ETH-USDT", "BNB-BTC"]
        .iter()
        .map(|text| text.parse().expect("valid"))
        .collect();
    Binance::spot(SymbolMap::new(&symbols))
}

fn single_trade(inbound: Inbound) -> Trade {
    match inbound {
        Inbound::Events(mut events) if events.len() == 1 => match events.remove(0) {
            Event::Trade(trade) => trade,
            other => panic!("expected a trade, got {other:?}"),
        },
        other => panic!("expected one event, got {other:?}"),
    }
}

#[test]
fn parses_documented_trade_frame_raw_and_combined() {
    let raw = r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.00100000","q":"100.00000000","T":1672515782134,"m":true,"M":true}"#;
    let combined = format!(r#"{{"stream":"bnbbtc@trade","data":{raw}}}"#);
    let expected = Trade {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        symbol: "BNB-BTC".parse().expect("valid"),
        trade_id: "12345".into(),
        aggregated: false,
        price: "0.00100000".parse().expect("valid"),
        quantity: "100.00000000".parse().expect("valid"),
        side: Side::Sell,
        exchange_time_ms: 1_672_515_782_134,
        received_time_ms: 7,
        sequence: Some(12345),
        source: TradeSource::Ws,
    };
    assert_eq!(single_trade(spot().parse(raw, 7).expect("raw")), expected);
    assert_eq!(
        single_trade(spot().parse(&combined, 7).expect("combined")),
        expected
    );
}

#[test]
fn parses_documented_agg_trade_frame() {
    let raw = r#"{"e":"aggTrade","E":1672515782136,"s":"BTCUSDT","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":false,"M":true}"#;
    let trade = single_trade(spot().parse(raw, 9).expect("aggTrade"));
    assert!(trade.aggregated);
    assert_eq!(trade.trade_id, "12345");
    assert_eq!(trade.side, Side::Buy);
    assert_eq!(trade.symbol.as_str(), "BTC-USDT");
    assert_eq!(
        Event::Trade(trade).msg_id(),
        "trade.binance.spot.BTC-USDT:a:12345"
    );
}

#[test]
fn parses_method_replies() {
    assert_eq!(
        spot().parse(r#"{"result":null,"id":3}"#, 0).expect("ack"),
        Inbound::SubscribeAck { request_id: 3 }
    );
    assert_eq!(
        spot()
            .parse(
                r#"{"error":{"code":2,"msg":"Invalid request: unknown stream"},"id":4}"#,
                0
            )
            .expect("error"),
        Inbound::Rejected {
            request_id: Some(4),
            reason: "code 2: Invalid request: unknown stream".into()
        }
    );
    assert!(matches!(
        spot()
            .parse(r#"{"code":3,"msg":"Invalid JSON"}"#, 0)
            .expect("legacy error"),
        Inbound::Rejected {
            request_id: None,
            ..
        }
    ));
}

#[test]
fn subscribe_frames_name_every_stream() {
    let subscriptions = vec![
        Subscription {
            channel: Channel::Trades,
            symbol: "BTC-USDT".parse().expect("valid"),
        },
        Subscription {
            channel: Channel::AggregateTrades,
            symbol: "ETH-BTC".parse().expect("valid"),
        },
    ];
    let requests = spot()
        .subscribe_requests(&subscriptions)
        .expect("supported");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].acks, vec![1]);
    assert_eq!(
        requests[0].frame,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","ethbtc@aggTrade"],"id":1}"#
    );
    assert_eq!(
        spot().connect_url("ws://127.0.0.1:9/"),
        "ws://127.0.0.1:9/stream"
    );
}

#[test]
fn malformed_frames_are_typed_errors() {
    let cases = [
        ("not json", crate::VenueErrorKind::Malformed),
        (r#"{"hello":1}"#, crate::VenueErrorKind::Malformed),
        (
            r#"{"e":"trade","s":"BTCUSDT","t":1,"p":"abc","q":"1","T":1,"m":true}"#,
            crate::VenueErrorKind::Malformed,
        ),
        (
            r#"{"e":"trade","s":"BTCUSDT","t":-1,"p":"1","q":"1","T":1,"m":true}"#,
            crate::VenueErrorKind::Malformed,
        ),
        (
            r#"{"stream":"x@aggTrade","data":{"e":"aggTrade","s":"QQQQ","a":1,"p":"1","q":"1","T":1,"m":true}}"#,
            crate::VenueErrorKind::UnknownSymbol,
        ),
    ];
    for (frame, kind) in cases {
        let error = spot().parse(frame, 0).expect_err(frame);
        assert_eq!(error.kind(), kind, "{frame}: {error}");
    }
}

/// Every Binance spot capture parses without error; trades and book messages are summarized
/// per file and compared with reviewed snapshots (counts per symbol, first and last trade in
/// full). Book sync over these captures is checked by the replay tests.
#[test]
fn parses_every_binance_spot_capture() {
    let captures = captures("binance-spot.")
        .expect("captures directory (set MARKETPRISM_CAPTURES to override)");
    assert!(!captures.is_empty(), "no binance-spot captures found");

    for path in captures {
        let protocol = Binance::spot(SymbolMap::default());
        let mut trades = Vec::new();
        let mut book_messages: BTreeMap<String, usize> = BTreeMap::new();
        let mut ignored = 0usize;
        for record in read_capture(&path).expect("capture reads") {
            if record.kind != RecordKind::Ws {
                continue;
            }
            match protocol.parse(&record.payload, record.received_time_ms()) {
                Ok(Inbound::Events(events)) => trades.extend(events),
                Ok(Inbound::Book(message)) => {
                    *book_messages.entry(message.symbol.to_string()).or_default() += 1;
                }
                Ok(Inbound::Ignored) => ignored += 1,
                Ok(other) => panic!("{}: unexpected {other:?}", path.display()),
                Err(error) => panic!("{}: {error}: {}", path.display(), record.payload),
            }
        }
        let mut per_symbol: BTreeMap<String, usize> = BTreeMap::new();
        for event in &trades {
            *per_symbol.entry(event.subject()).or_default() += 1;
        }
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().replace(".jsonl.gz", ""))
            .unwrap_or_default();
        insta::assert_json_snapshot!(
            name,
            serde_json::json!({
                "trades_per_subject": per_symbol,
                "book_messages_per_symbol": book_messages,
                "ignored_frames": ignored,
                "first": trades.first(),
                "last": trades.last(),
            })
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = spot().parse(&text, 0);
    }

    #[test]
    fn mangled_trade_frames_never_panic(
        price in "\\PC{0,12}",
        quantity in "\\PC{0,12}",
        symbol in "[A-Za-z0-9]{0,10}",
        id in any::<i128>(),
        time in any::<i128>(),
    ) {
        let frame = serde_json::json!({
            "stream": "x@trade",
            "data": {"e": "trade", "s": symbol, "t": id.to_string().parse::<serde_json::Number>().ok(),
                     "p": price, "q": quantity, "T": time.to_string().parse::<serde_json::Number>().ok(), "m": true}
        })
        .to_string();
        match spot().parse(&frame, 0) {
            Ok(Inbound::Events(events)) => prop_assert_eq!(events.len(), 1),
            Ok(other) => prop_assert!(false, "unexpected {:?}", other),
            Err(error) => prop_assert_ne!(error.kind(), crate::VenueErrorKind::Unsupported),
        }
    }
}

#[test]
fn parses_documented_depth_frames_and_snapshots() {
    let spot_update = r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0"]]}}"#;
    let Ok(Inbound::Book(message)) = spot().parse(spot_update, 8) else {
        panic!("expected a book message");
    };
    assert_eq!(message.symbol.as_str(), "BNB-BTC");
    let update = message.update;
    assert_eq!(
        (update.first_id, update.last_id, update.prev_id),
        (157, 160, None)
    );
    assert_eq!(update.asks.len(), 2);
    assert!(update.asks[1].quantity.is_zero());
    assert_eq!(update.exchange_time_ms, Some(1_672_515_782_136));

    let usdm = Binance::usdm(SymbolMap::default());
    let futures_update = r#"{"e":"depthUpdate","E":123456789,"T":123456788,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}"#;
    let Ok(Inbound::Book(message)) = usdm.parse(futures_update, 8) else {
        panic!("expected a book message");
    };
    assert_eq!(message.market_type, MarketType::Perpetual);
    assert_eq!(message.update.prev_id, Some(149));
    assert_eq!(
        message.update.exchange_time_ms,
        Some(123_456_788),
        "transaction time"
    );

    let snapshot = usdm
        .parse_book_snapshot(
            r#"{"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#,
            9,
        )
        .expect("snapshot");
    assert_eq!(snapshot.last_id, 1_027_024);
    assert_eq!(snapshot.exchange_time_ms, Some(1_589_436_922_959));
    let spot_snapshot = spot()
        .parse_book_snapshot(r#"{"lastUpdateId":5,"bids":[],"asks":[]}"#, 9)
        .expect("snapshot");
    assert_eq!(
        spot_snapshot.exchange_time_ms, None,
        "spot snapshots carry no time"
    );
    assert!(spot().parse_book_snapshot(r#"{"bids":[]}"#, 9).is_err());

    let symbol: Symbol = "BTC-USDT".parse().expect("valid");
    assert_eq!(
        spot().book_snapshot_url("https://api.binance.com/", &symbol, 50),
        Some("https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=50".into())
    );
    assert_eq!(
        usdm.book_snapshot_url("https://fapi.binance.com", &symbol, 1_500),
        Some("https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000".into())
    );
    assert!(matches!(
        usdm.subscribe_requests(&[Subscription {
            channel: Channel::Trades,
            symbol,
        }]),
        Err(VenueError::UnsupportedChannel { .. })
    ));
}

#[test]
fn parses_documented_mark_price_and_force_order_frames() {
    let usdm = Binance::usdm(SymbolMap::default());
    let mark = r#"{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}}"#;
    let Ok(Inbound::Events(events)) = usdm.parse(mark, 3) else {
        panic!("expected events");
    };
    let Event::FundingRate(rate) = &events[0] else {
        panic!("expected a funding rate");
    };
    assert_eq!(rate.funding_rate.to_string(), "0.00038167");
    assert_eq!(rate.next_funding_time_ms, Some(1_562_306_400_000));
    assert_eq!(
        rate.mark_price.map(|price| price.to_string()).as_deref(),
        Some("11794.15000000")
    );
    assert_eq!(rate.exchange_time_ms, 1_562_305_380_000);

    let force = r#"{"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.014","p":"9910","ap":"9910.5","X":"FILLED","l":"0.014","z":"0.014","T":1568014460893}}}"#;
    let Ok(Inbound::Events(events)) = usdm.parse(force, 3) else {
        panic!("expected events");
    };
    let Event::Liquidation(liquidation) = &events[0] else {
        panic!("expected a liquidation");
    };
    assert_eq!(liquidation.side, Side::Sell);
    assert_eq!(
        (
            liquidation.price.to_string(),
            liquidation.quantity.to_string()
        ),
        ("9910.5".to_owned(), "0.014".to_owned())
    );
    let subscriptions = [
        (Channel::FundingRate, "BTC-USDT"),
        (Channel::Liquidations, "BTC-USDT"),
        (Channel::Liquidations, "ETH-USDT"),
    ]
    .map(|(channel, symbol)| Subscription {
        channel,
        symbol: symbol.parse().expect("valid"),
    });
    let requests = usdm.subscribe_requests(&subscriptions).expect("supported");
    assert_eq!(
        requests[0].frame,
        r#"{"method":"SUBSCRIBE","params":["btcusdt@markPrice@1s","!forceOrder@arr"],"id":1}"#,
        "one market-wide liquidation stream for both symbols"
    );
    // With symbols configured, other contracts' liquidations are not recorded (and a
    // delivery contract Binance lists is no error).
    let configured: Vec<Symbol> = vec!["ETH-USDT".parse().expect("valid")];
    let eth_only = Binance::usdm(SymbolMap::new(&configured));
    assert!(matches!(eth_only.parse(force, 3), Ok(Inbound::Ignored)));
    let delivery = force.replace("\"s\":\"BTCUSDT\"", "\"s\":\"BTCUSDT_240628\"");
    assert!(matches!(eth_only.parse(&delivery, 3), Ok(Inbound::Ignored)));
    let eth = force.replace("\"s\":\"BTCUSDT\"", "\"s\":\"ETHUSDT\"");
    assert!(matches!(
        eth_only.parse(&eth, 3),
        Ok(Inbound::Events(events)) if matches!(&events[0], Event::Liquidation(l) if l.symbol.as_str() == "ETH-USDT")
    ));
    assert!(matches!(
        spot().subscribe_requests(&subscriptions),
        Err(VenueError::UnsupportedChannel { .. })
    ));
}

#[test]
fn polls_funding_open_interest_and_long_short_ratios() {
    let usdm = Binance::usdm(SymbolMap::default());
    let poll = |kind| crate::Poll {
        kind,
        symbol: "BTC-USDT".parse().expect("valid"),
        period: "5m".into(),
    };
    let funding = poll(crate::PollKind::FundingRate);
    assert_eq!(
        usdm.poll_url("https://fapi.binance.com", &funding, 0)
            .expect("offered"),
        "https://fapi.binance.com/fapi/v1/premiumIndex?symbol=BTCUSDT"
    );
    let body = r#"{"symbol":"BTCUSDT","markPrice":"11793.63104562","indexPrice":"11781.80495970","estimatedSettlePrice":"11781.16138815","lastFundingRate":"0.00038246","interestRate":"0.00010000","nextFundingTime":1597392000000,"time":1597370495002}"#;
    let events = usdm.parse_poll(&funding, body, 9).expect("parses");
    let [Event::FundingRate(rate)] = events.as_slice() else {
        panic!("expected one funding rate");
    };
    assert_eq!(
        rate.exchange_time_ms, 1_597_370_495_002,
        "the venue's time, not now"
    );
    assert_eq!(rate.funding_rate.to_string(), "0.00038246");

    let interest = poll(crate::PollKind::OpenInterest);
    let events = usdm
        .parse_poll(
            &interest,
            r#"{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}"#,
            9,
        )
        .expect("parses");
    assert!(
        matches!(events.as_slice(), [Event::OpenInterest(oi)] if oi.exchange_time_ms == 1_589_437_530_011)
    );

    let ratio = poll(crate::PollKind::LongShortRatio(
        marketprism_model::RatioKind::TopPositions,
    ));
    assert_eq!(
        usdm.poll_url("https://fapi.binance.com/", &ratio, 0).expect("offered"),
        "https://fapi.binance.com/futures/data/topLongShortPositionRatio?symbol=BTCUSDT&period=5m&limit=1"
    );
    let body = r#"[{"symbol":"BTCUSDT","longShortRatio":"1.4342","longAccount":"0.5891","shortAccount":"0.4108","timestamp":"1583139600000"}]"#;
    let events = usdm.parse_poll(&ratio, body, 9).expect("parses");
    let [Event::LongShortRatio(ratio_event)] = events.as_slice() else {
        panic!("expected one ratio");
    };
    assert_eq!(ratio_event.exchange_time_ms, 1_583_139_600_000);
    assert_eq!(ratio_event.ratio.to_string(), "1.4342");
    assert!(usdm
        .parse_poll(&ratio, r#"{"code":-1121,"msg":"Invalid symbol."}"#, 9)
        .is_err());
    assert!(spot()
        .poll_url("https://api.binance.com", &funding, 0)
        .is_err());
}

/// The one-pass decoding of combined-stream frames agrees with capturing `data` and parsing
/// it on its own, on every frame of every Binance capture and on reordered or padded frames.
#[test]
fn one_pass_combined_frames_decode_as_the_two_pass_path() {
    let two_pass = |protocol: &Binance, frame: &str| -> Result<Inbound, VenueError> {
        let envelope: BinanceEnvelope<'_> = serde_json::from_str(frame)?;
        match (&envelope.stream, envelope.data) {
            (Some(stream), Some(data)) => {
                protocol.market_event(combined::event_type(stream), data.get(), 1)
            }
            _ => Err(VenueError::unrecognized(frame)),
        }
    };
    let mut compared = 0;
    for path in captures("binance-").expect("captures directory") {
        let protocol = if path.to_string_lossy().contains("usdm") {
            Binance::usdm(SymbolMap::default())
        } else {
            Binance::spot(SymbolMap::default())
        };
        for record in read_capture(&path).expect("capture reads") {
            if record.kind != RecordKind::Ws || !record.payload.starts_with(combined::PREFIX) {
                continue;
            }
            let one = protocol
                .parse(&record.payload, 1)
                .map_err(|error| error.to_string());
            let two = two_pass(&protocol, &record.payload).map_err(|error| error.to_string());
            assert_eq!(one, two, "{}", record.payload);
            compared += 1;
        }
    }
    assert!(
        compared > 1_000,
        "only {compared} combined frames in the captures"
    );

    let usdm = Binance::usdm(SymbolMap::default());
    let trade = r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":5,"p":"1.5","q":"2","f":1,"l":1,"T":1,"m":true}}"#;
    let expected = usdm.parse(trade, 1).expect("parses");
    assert!(matches!(expected, Inbound::Events(_)));
    let padded = trade.replace(r#""data":"#, r#""extra":[1,{"x":null}],"data":"#);
    assert_eq!(usdm.parse(&padded, 1).expect("parses"), expected);
    let reordered = r#"{"data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":5,"p":"1.5","q":"2","f":1,"l":1,"T":1,"m":true},"stream":"btcusdt@aggTrade"}"#;
    assert_eq!(usdm.parse(reordered, 1).expect("parses"), expected);
    for broken in [
        trade.replace(r#""p":"1.5""#, r#""p":"one""#),
        trade.replace(r#","data":{"#, r#","data":[{"#),
        trade.trim_end_matches('}').to_owned(),
        format!("{trade} trailing"),
    ] {
        assert!(usdm.parse(&broken, 1).is_err(), "{broken}");
    }
}

fn history_range(wanted: crate::Wanted) -> crate::HistoryRange {
    crate::HistoryRange {
        symbol: "BTC-USDT".parse().expect("valid"),
        wanted,
    }
}

#[test]
fn aggregate_history_pages_by_id_and_keeps_the_range_normalized_as_live() {
    let wanted = crate::Wanted::Ids {
        first: 26129,
        last: 26130,
        aggregated: true,
    };
    let mut pager = spot()
        .trade_history("http://venue/", history_range(wanted))
        .expect("spot aggregates");
    assert_eq!(
        pager.next_url().as_deref(),
        Some("http://venue/api/v3/aggTrades?symbol=BTCUSDT&fromId=26129&limit=1000")
    );
    let page = r#"[{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true,"M":true},
                  {"a":26130,"p":"0.01633103","q":"1.00000000","f":27782,"l":27783,"T":1498793709154,"m":false,"M":true},
                  {"a":26131,"p":"0.01633104","q":"2.00000000","f":27784,"l":27784,"T":1498793709155,"m":false,"M":true}]"#;
    let trades = pager.accept(page, 9).expect("documented answer");
    assert_eq!(pager.next_url(), None, "a short page is the newest");
    assert_eq!(pager.shortfall(), None);
    let live = spot()
        .parse(
            r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true,"M":true}"#,
            9,
        )
        .map(single_trade)
        .expect("live frame");
    assert_eq!(trades.len(), 2);
    assert_eq!(
        trades[0],
        Trade {
            source: TradeSource::Rest,
            ..live
        }
    );
    assert_eq!(trades[1].trade_id, "26130");
    assert_eq!(trades[1].side, Side::Buy);
}

#[test]
fn single_trade_window_is_located_by_aggregate_time_then_paged_by_trade_id() {
    let wanted = crate::Wanted::Window {
        from_ms: 1_000,
        to_ms: 9_000_000,
        aggregated: false,
    };
    let mut pager = spot()
        .trade_history("http://venue", history_range(wanted))
        .expect("spot trades");
    assert_eq!(
        pager.next_url().as_deref(),
        Some("http://venue/api/v3/aggTrades?symbol=BTCUSDT&startTime=1000&endTime=3600999&limit=1000")
    );
    // Nothing in the first hour: the next hour is searched.
    assert_eq!(pager.accept("[]", 9).expect("empty page"), Vec::new());
    assert_eq!(
        pager.next_url().as_deref(),
        Some("http://venue/api/v3/aggTrades?symbol=BTCUSDT&startTime=3601000&endTime=7200999&limit=1000")
    );
    let located = r#"[{"a":7,"p":"1.0","q":"1.0","f":70,"l":71,"T":4000000,"m":true,"M":true}]"#;
    assert_eq!(pager.accept(located, 9).expect("aggregate"), Vec::new());
    assert_eq!(
        pager.next_url().as_deref(),
        Some("http://venue/api/v3/historicalTrades?symbol=BTCUSDT&fromId=70&limit=1000")
    );
    let page = r#"[{"id":70,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","time":4000000,"isBuyerMaker":true,"isBestMatch":true},
                  {"id":71,"price":"4.00000200","qty":"1.00000000","quoteQty":"4.000002","time":9000001,"isBuyerMaker":false,"isBestMatch":true}]"#;
    let trades = pager.accept(page, 9).expect("documented answer");
    assert_eq!(pager.next_url(), None);
    assert_eq!(
        trades.len(),
        1,
        "a trade past the window's end is not inside it"
    );
    assert_eq!(trades[0].trade_id, "70");
    assert!(!trades[0].aggregated);
    assert_eq!(trades[0].sequence, Some(70));
    assert_eq!(trades[0].side, Side::Sell);
    assert_eq!(trades[0].source, TradeSource::Rest);
}

#[test]
fn history_starting_after_the_first_missing_id_is_a_shortfall() {
    let wanted = crate::Wanted::Ids {
        first: 5,
        last: 8,
        aggregated: true,
    };
    let mut pager = Binance::usdm(SymbolMap::default())
        .trade_history("http://venue", history_range(wanted))
        .expect("usdm aggregates");
    assert_eq!(
        pager.next_url().as_deref(),
        Some("http://venue/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=5&limit=1000")
    );
    let page = r#"[{"a":7,"p":"1.0","q":"1.0","f":70,"l":71,"T":4000000,"m":true}]"#;
    let trades = pager.accept(page, 9).expect("answer");
    assert_eq!(trades.len(), 1);
    assert_eq!(
        pager.shortfall().as_deref(),
        Some("Binance's history starts at id 7, after 5")
    );
    let single = crate::Wanted::Ids {
        first: 5,
        last: 8,
        aggregated: false,
    };
    let refused = Binance::usdm(SymbolMap::default())
        .trade_history("http://venue", history_range(single))
        .err()
        .expect("USDⓈ-M records aggregates only");
    assert_eq!(refused.kind(), crate::VenueErrorKind::Unsupported);
}

/// `exchangeInfo` answers cut from the captures `binance-spot.20210814T1446Z` and
/// `binance-usdm.20210722T2225Z` (four symbols each, as Binance wrote them).
const SPOT_EXCHANGE_INFO: &str =
    include_str!("../../fixtures/instruments/binance-spot.20210814T1446Z.exchangeInfo.json");
const USDM_EXCHANGE_INFO: &str =
    include_str!("../../fixtures/instruments/binance-usdm.20210722T2225Z.exchangeInfo.json");

#[test]
fn instruments_urls_are_the_documented_exchange_info_endpoints() {
    let usdm = Binance::usdm(SymbolMap::default());
    assert_eq!(
        spot()
            .instruments_url("https://api.binance.com/")
            .as_deref(),
        Some("https://api.binance.com/api/v3/exchangeInfo")
    );
    assert_eq!(
        usdm.instruments_url("https://fapi.binance.com").as_deref(),
        Some("https://fapi.binance.com/fapi/v1/exchangeInfo")
    );
    assert_eq!(spot().request_cost(RestCall::Instruments).weight, 20);
    assert_eq!(usdm.request_cost(RestCall::Instruments).weight, 1);
}

/// The symbol `protocol`'s stream parser gives a trade of the Binance symbol `native`.
fn trade_symbol(protocol: &Binance, native: &str) -> Symbol {
    let frame = format!(
        r#"{{"stream":"{}@trade","data":{{"e":"trade","E":1,"s":"{native}","t":1,"p":"1","q":"1","T":1,"m":true,"M":true}}}}"#,
        native.to_ascii_lowercase()
    );
    single_trade(protocol.parse(&frame, 1).expect("a trade")).symbol
}

#[test]
fn exchange_info_lists_every_symbol_with_its_state() {
    let listings = spot()
        .parse_instruments(SPOT_EXCHANGE_INFO, 5)
        .expect("spot exchangeInfo");
    let names: Vec<&str> = listings.iter().map(|l| l.venue_symbol.as_str()).collect();
    assert_eq!(names, ["ETHBTC", "BCCBTC", "BTCUSDT", "ETHUSDT"]);
    let spot_listing = |symbol: &str, venue_symbol: &str, base: &str, quote: &str| Listing {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        symbol: symbol.parse().expect("valid"),
        venue_symbol: venue_symbol.into(),
        base: base.into(),
        quote: quote.into(),
        settle: None,
        expiry_ms: None,
        strike: None,
        option_kind: None,
        trading: true,
        // Spot lists no listing time.
        listed_ms: 5,
        delisted_ms: None,
        received_time_ms: 5,
    };
    assert_eq!(listings[0], spot_listing("ETH-BTC", "ETHBTC", "ETH", "BTC"));
    // BCCBTC is in `BREAK`: listed, not trading.
    assert_eq!(
        listings[1],
        Listing {
            trading: false,
            ..spot_listing("BCC-BTC", "BCCBTC", "BCC", "BTC")
        }
    );
    for listing in &listings {
        assert_eq!(listing.symbol, trade_symbol(&spot(), &listing.venue_symbol));
        assert_eq!(spot().native_symbol(&listing.symbol), listing.venue_symbol);
    }
}

#[test]
fn usdm_exchange_info_lists_the_perpetuals() {
    let usdm = Binance::usdm(SymbolMap::default());
    let listings = usdm
        .parse_instruments(USDM_EXCHANGE_INFO, 5)
        .expect("USDⓈ-M exchangeInfo");
    // BTCSTUSDT (`PENDING_TRADING`) has an empty contract type and BTCUSDT_210924 is a
    // quarterly contract: neither is a perpetual.
    let names: Vec<&str> = listings.iter().map(|l| l.venue_symbol.as_str()).collect();
    assert_eq!(names, ["BTCUSDT", "ETHUSDT"]);
    let btcusdt = Listing {
        exchange: Exchange::Binance,
        market_type: MarketType::Perpetual,
        symbol: "BTC-USDT".parse().expect("valid"),
        venue_symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        settle: Some("USDT".into()),
        expiry_ms: None,
        strike: None,
        option_kind: None,
        trading: true,
        // `onboardDate`.
        listed_ms: 1_569_398_400_000,
        delisted_ms: None,
        received_time_ms: 5,
    };
    assert_eq!(listings[0], btcusdt);
    for listing in &listings {
        assert_eq!(listing.symbol, trade_symbol(&usdm, &listing.venue_symbol));
    }
    // A perpetual no longer trading stays listed.
    let settling =
        USDM_EXCHANGE_INFO.replacen(r#""status":"TRADING""#, r#""status":"SETTLING""#, 1);
    let listings = usdm.parse_instruments(&settling, 5).expect("parses");
    assert_eq!(
        listings[0],
        Listing {
            trading: false,
            ..btcusdt
        }
    );
}

#[test]
fn a_configured_split_names_the_listing_as_it_names_frames() {
    // Configured as `ABCUSD-T`, `ABCUSDT` is that symbol in frames and in the list alike.
    let odd: Symbol = "ABCUSD-T".parse().expect("valid");
    let protocol = Binance::spot(SymbolMap::new([&odd]));
    let body = r#"{"symbols":[{"symbol":"ABCUSDT","status":"TRADING","baseAsset":"ABC","quoteAsset":"USDT"},
        {"symbol":"XYZUSDS","status":"TRADING","baseAsset":"XYZ","quoteAsset":"USDS"}]}"#;
    let listings = protocol.parse_instruments(body, 5).expect("parses");
    assert_eq!(listings[0].symbol, odd);
    assert_eq!(listings[0].symbol, trade_symbol(&protocol, "ABCUSDT"));
    assert_eq!(
        (listings[0].base.as_str(), listings[0].quote.as_str()),
        ("ABC", "USDT")
    );
    // A quote asset the protocol does not know is named from the list's assets.
    assert_eq!(listings[1].symbol.as_str(), "XYZ-USDS");
}

#[test]
fn exchange_info_errors_are_typed_errors() {
    let error = spot()
        .parse_instruments(r#"{"code":-1003,"msg":"Too many requests."}"#, 5)
        .expect_err("an error answer");
    assert_eq!(
        error.to_string(),
        "unrecognized frame: code -1003: Too many requests."
    );
    assert!(spot().parse_instruments("[]", 5).is_err());
    assert!(spot()
        .parse_instruments(r#"{"symbols":[{"symbol":"BTCUSDT"}]}"#, 5)
        .is_err());
    // An entry without its quote asset, or with a listing time that is no number.
    let error = spot()
        .parse_instruments(
            r#"{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC"}]}"#,
            5,
        )
        .expect_err("no quoteAsset");
    assert!(error.to_string().contains("quoteAsset"), "{error}");
    assert!(Binance::usdm(SymbolMap::default())
        .parse_instruments(
            r#"{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","contractType":"PERPETUAL","baseAsset":"BTC","quoteAsset":"USDT","onboardDate":"soon"}]}"#,
            5,
        )
        .is_err());
}

#[test]
fn unsubscribe_frames_name_each_stream_once() {
    let subscriptions = ["BTC-USDT", "ETH-USDT"].map(|symbol| Subscription {
        channel: Channel::Liquidations,
        symbol: symbol.parse().expect("valid"),
    });
    let frames = Binance::usdm(SymbolMap::default())
        .unsubscribe_frames(&subscriptions)
        .expect("supported");
    assert_eq!(
        frames,
        [r#"{"method":"UNSUBSCRIBE","params":["!forceOrder@arr"],"id":1}"#]
    );
}
