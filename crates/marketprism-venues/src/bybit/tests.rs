//! Bybit v5 parser tests: documented frames, real captures and arbitrary input.

use marketprism_book::Sequencer;
use marketprism_capture::{captures, read_capture, RecordKind};
use marketprism_model::Side;
use marketprism_model::{Decimal, Listing};
use proptest::prelude::*;

use crate::Channel;

use super::*;

fn linear() -> Bybit {
    Bybit::linear(SymbolMap::default())
}

/// The linear protocol's subscribe requests for `channels` of BTC-USDT.
fn btc_usdt_linear_requests(channels: &[Channel]) -> Vec<SubscribeRequest> {
    let subscriptions: Vec<Subscription> = channels
        .iter()
        .map(|&channel| Subscription {
            channel,
            symbol: "BTC-USDT".parse().expect("valid"),
        })
        .collect();
    linear()
        .subscribe_requests(&subscriptions)
        .expect("supported")
}

#[test]
fn parses_documented_orderbook_and_trade_frames() {
    let frame = r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"],["16493.00","0.100"]],"a":[["16611.00","0.029"]],"u":18521288,"seq":7961638724},"cts":1672304484976}"#;
    let Ok(Inbound::Book(message)) = linear().parse(frame, 2) else {
        panic!("expected a book");
    };
    assert_eq!(
        (message.market_type, message.symbol.as_str()),
        (MarketType::Perpetual, "BTC-USDT")
    );
    assert_eq!(message.update.kind, UpdateKind::Snapshot);
    assert_eq!(message.update.last_id, 18_521_288);
    assert_eq!(message.update.bids.len(), 2);
    assert_eq!(message.update.exchange_time_ms, Some(1_672_304_484_978));

    let trade = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}"#;
    let Ok(Inbound::Events(events)) = linear().parse(trade, 2) else {
        panic!("expected events");
    };
    let Event::Trade(trade) = &events[0] else {
        panic!("expected a trade");
    };
    assert_eq!(trade.trade_id, "20f43950-d8dd-5b31-9112-a178eb6023af");
    assert_eq!(
        (trade.side, trade.price.to_string()),
        (Side::Buy, "16578.50".into())
    );
}

#[test]
fn subscribe_operations_and_replies() {
    let requests = btc_usdt_linear_requests(&[Channel::Trades, Channel::OrderBook]);
    assert_eq!(
        requests[0].frame,
        r#"{"op":"subscribe","args":["publicTrade.BTCUSDT","orderbook.200.BTCUSDT"],"req_id":"1"}"#
    );
    let ok = r#"{"success":true,"ret_msg":"subscribe","conn_id":"2324d924-aa4d-45b0-a858-7b8be29ab52b","req_id":"1","op":"subscribe"}"#;
    assert_eq!(
        linear().parse(ok, 0).expect("reply"),
        Inbound::SubscribeAck { request_id: 1 }
    );
    let refused = r#"{"success":false,"ret_msg":"error:handler not found","conn_id":"x","req_id":"2","op":"subscribe"}"#;
    assert!(matches!(
        linear().parse(refused, 0),
        Ok(Inbound::Rejected { request_id: Some(2), reason }) if reason.contains("handler not found")
    ));
    let pong = r#"{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}"#;
    assert_eq!(linear().parse(pong, 0).expect("pong"), Inbound::Ignored);
}

#[test]
fn every_v5_capture_frame_parses_and_books_stay_in_sync() {
    let mut deltas = 0;
    for path in captures("bybit.2026").expect("captures directory") {
        let mut sequencers = std::collections::HashMap::new();
        for record in read_capture(&path).expect("readable capture") {
            if record.kind != RecordKind::Ws {
                continue;
            }
            let protocol = if record.url.ends_with("/spot") {
                Bybit::spot(SymbolMap::default())
            } else {
                linear()
            };
            let inbound = protocol
                .parse(&record.payload, 0)
                .unwrap_or_else(|error| panic!("{error}: {}", record.payload));
            if let Inbound::Book(message) = inbound {
                let sequencer = sequencers
                    .entry((record.conn.clone(), message.symbol.clone()))
                    .or_insert_with(|| Sequencer::new(SyncRule::Bybit));
                deltas += usize::from(message.update.kind == UpdateKind::Delta);
                sequencer.apply(message.update).expect("in sync");
            }
        }
    }
    assert!(deltas > 500, "{deltas} deltas");
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(frame in ".{0,200}") {
        let _ = linear().parse(&frame, 0);
    }

    #[test]
    fn unknown_sides_are_typed_errors(side in "[a-z]{1,6}") {
        let frame = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"SIDE","v":"1","p":"1","i":"x"}]}"#
            .replace("SIDE", &side);
        let result = linear().parse(&frame, 0);
        prop_assert!(matches!(result, Err(VenueError::Unrecognized(_))), "{:?}", result);
    }
}

#[test]
fn tickers_give_funding_and_open_interest_and_liquidations_their_side() {
    let mut funding = 0;
    let mut interest = 0;
    for path in captures("bybit.2026").expect("captures directory") {
        for record in read_capture(&path).expect("readable capture") {
            if record.kind != RecordKind::Ws || !record.url.ends_with("/linear") {
                continue;
            }
            if let Ok(Inbound::Events(events)) = linear().parse(&record.payload, 0) {
                for event in events {
                    match event {
                        Event::FundingRate(rate) => {
                            assert!(rate.funding_rate.abs() < Decimal::ONE);
                            funding += 1;
                        }
                        Event::OpenInterest(open_interest) => {
                            assert!(open_interest.open_interest > Decimal::ZERO);
                            interest += 1;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    assert!(
        funding >= 4 && interest >= 4,
        "{funding} funding, {interest} open interest"
    );

    let snapshot = r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","markPrice":"65117.44","indexPrice":"65137.76","openInterest":"59891.732","openInterestValue":"3899996265.01","nextFundingTime":"1786320000000","fundingRate":"0.0001"},"cs":1,"ts":1786310819126}"#;
    let Ok(Inbound::Events(events)) = linear().parse(snapshot, 0) else {
        panic!("expected events");
    };
    let Event::FundingRate(rate) = &events[0] else {
        panic!("expected a funding rate first");
    };
    assert_eq!(rate.next_funding_time_ms, Some(1_786_320_000_000));
    assert_eq!(rate.exchange_time_ms, 1_786_310_819_126);
    let delta = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","bid1Price":"65114.20"},"cs":2,"ts":1786310819226}"#;
    assert_eq!(
        linear().parse(delta, 0).expect("delta"),
        Inbound::Events(Vec::new())
    );

    let liquidation = r#"{"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,"data":[{"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}]}"#;
    let Ok(Inbound::Events(events)) = linear().parse(liquidation, 0) else {
        panic!("expected events");
    };
    let Event::Liquidation(liquidation) = &events[0] else {
        panic!("expected a liquidation");
    };
    assert_eq!(
        liquidation.side,
        Side::Buy,
        "a short position is closed by a buy"
    );
    assert_eq!(liquidation.symbol.as_str(), "ROSE-USDT");

    let requests = btc_usdt_linear_requests(&[Channel::FundingRate, Channel::OpenInterest]);
    assert_eq!(
        requests[0].frame, r#"{"op":"subscribe","args":["tickers.BTCUSDT"],"req_id":"1"}"#,
        "one ticker topic serves both channels"
    );
}

#[test]
fn polls_the_account_ratio() {
    let poll = crate::Poll {
        kind: crate::PollKind::LongShortRatio(marketprism_model::RatioKind::AllAccounts),
        symbol: "BTC-USDT".parse().expect("valid"),
        period: "5m".into(),
    };
    assert_eq!(
        linear().poll_url("https://api.bybit.com", &poll, 0).expect("offered"),
        "https://api.bybit.com/v5/market/account-ratio?category=linear&symbol=BTCUSDT&period=5min&limit=1"
    );
    let body = r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"symbol":"BTCUSDT","buyRatio":"0.6","sellRatio":"0.4","timestamp":"1695772800000"}]},"retExtInfo":{},"time":1695772800100}"#;
    let events = linear().parse_poll(&poll, body, 0).expect("parses");
    let [Event::LongShortRatio(ratio)] = events.as_slice() else {
        panic!("expected one ratio");
    };
    assert_eq!(ratio.ratio.to_string(), "1.5");
    assert_eq!(ratio.exchange_time_ms, 1_695_772_800_000);
    let zero = body.replace(r#""sellRatio":"0.4""#, r#""sellRatio":"0""#);
    assert!(linear().parse_poll(&poll, &zero, 0).is_err());
}

fn window(from_ms: i64, to_ms: i64) -> crate::HistoryRange {
    crate::HistoryRange {
        symbol: "BTC-USDT".parse().expect("valid"),
        wanted: crate::Wanted::Window {
            from_ms,
            to_ms,
            aggregated: false,
        },
    }
}

#[test]
fn recent_trades_answer_the_window_as_live_trades_are_normalized() {
    let mut pager = Bybit::spot(SymbolMap::default())
        .trade_history(
            "https://venue",
            window(1_672_052_955_000, 1_672_052_956_000),
        )
        .expect("windows are served");
    assert_eq!(
        pager.next_url().as_deref(),
        Some("https://venue/v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=1000")
    );
    let body = r#"{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"execId":"2100000000007764263","symbol":"BTCUSDT","price":"16618.49","size":"0.00012","side":"Buy","time":"1672052955758","isBlockTrade":false}]},"time":1672053054358}"#;
    let trades = pager.accept(body, 3).expect("documented answer");
    assert_eq!(pager.next_url(), None, "one page is all Bybit serves");
    assert_eq!(
        pager.shortfall(),
        None,
        "fewer than 1000 trades is the whole history"
    );
    let live = Bybit::spot(SymbolMap::default())
        .parse(
            r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672052955758,"data":[{"T":1672052955758,"s":"BTCUSDT","S":"Buy","v":"0.00012","p":"16618.49","L":"PlusTick","i":"2100000000007764263","BT":false}]}"#,
            3,
        )
        .expect("live frame");
    let Inbound::Events(live) = live else {
        panic!("expected events");
    };
    let marketprism_model::Event::Trade(live) = &live[0] else {
        panic!("expected a trade");
    };
    assert_eq!(
        trades,
        vec![marketprism_model::Trade {
            source: marketprism_model::TradeSource::Rest,
            ..live.clone()
        }]
    );
}

#[test]
fn a_window_older_than_the_latest_1000_trades_is_a_shortfall() {
    let mut pager = linear()
        .trade_history("https://venue", window(1_000, 2_000))
        .expect("windows are served");
    assert!(pager
        .next_url()
        .is_some_and(|url| url.contains("category=linear")));
    let list: Vec<String> = (0..1000)
        .map(|index| {
            format!(
                r#"{{"execId":"id-{index}","symbol":"BTCUSDT","price":"1","size":"1","side":"Sell","time":"{}","isBlockTrade":false}}"#,
                5_000 + index
            )
        })
        .collect();
    let body = format!(
        r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"linear","list":[{}]}}}}"#,
        list.join(",")
    );
    assert!(pager.accept(&body, 3).expect("answer").is_empty());
    assert_eq!(
        pager.shortfall().as_deref(),
        Some("Bybit serves only its latest 1000 trades; the oldest, at 5000 ms, is not before the gap's start at 1000 ms")
    );
}

/// `instruments-info` answers of `spot` and `linear` cut from the capture
/// `bybit.20260809T2126Z` (three and four instruments, as Bybit wrote them).
const SPOT_INSTRUMENTS: &str =
    include_str!("../../fixtures/instruments/bybit.20260809T2126Z.instruments-info-spot.json");
const LINEAR_INSTRUMENTS: &str =
    include_str!("../../fixtures/instruments/bybit.20260809T2126Z.instruments-info-linear.json");

#[test]
fn instruments_urls_name_the_category_and_the_largest_page() {
    let spot = Bybit::spot(SymbolMap::default());
    assert_eq!(
        spot.instruments_url("https://api.bybit.com/").as_deref(),
        Some("https://api.bybit.com/v5/market/instruments-info?category=spot")
    );
    assert_eq!(
        linear().instruments_url("https://api.bybit.com").as_deref(),
        Some("https://api.bybit.com/v5/market/instruments-info?category=linear&limit=1000")
    );
    let cost = linear().request_cost(RestCall::Instruments);
    assert_eq!((cost.bucket, cost.weight), ("ip", 1));
}

/// The symbol `protocol`'s stream parser gives a trade of the Bybit symbol `native`, or its
/// refusal.
fn trade_symbol(protocol: &Bybit, native: &str) -> Result<Symbol, VenueError> {
    let frame = format!(
        r#"{{"topic":"publicTrade.{native}","type":"snapshot","ts":1,"data":[{{"T":1,"s":"{native}","S":"Buy","v":"1","p":"1","i":"x"}}]}}"#
    );
    match protocol.parse(&frame, 1)? {
        Inbound::Events(events) => match events.as_slice() {
            [Event::Trade(trade)] => Ok(trade.symbol.clone()),
            other => panic!("expected a trade, got {other:?}"),
        },
        other => panic!("expected events, got {other:?}"),
    }
}

/// The venue symbols of `listings`.
fn names(listings: &[Listing]) -> Vec<&str> {
    listings.iter().map(|l| l.venue_symbol.as_str()).collect()
}

#[test]
fn instruments_info_lists_the_symbols_with_their_state() {
    let spot = Bybit::spot(SymbolMap::default());
    let listings = spot
        .parse_instruments(SPOT_INSTRUMENTS, 5)
        .expect("spot instruments");
    assert_eq!(names(&listings), ["BTCUSDT", "ETHUSDT", "ETHBTC"]);
    assert_eq!(
        listings[2],
        Listing {
            exchange: Exchange::Bybit,
            market_type: MarketType::Spot,
            symbol: "ETH-BTC".parse().expect("valid"),
            venue_symbol: "ETHBTC".into(),
            base: "ETH".into(),
            quote: "BTC".into(),
            settle: None,
            expiry_ms: None,
            strike: None,
            option_kind: None,
            trading: true,
            // Spot lists no launch time.
            listed_ms: 5,
            delisted_ms: None,
            received_time_ms: 5,
        }
    );
    for listing in &listings {
        assert_eq!(
            listing.symbol,
            trade_symbol(&spot, &listing.venue_symbol).expect("a trade")
        );
    }
    // BTCUSDT-14AUG26 trades, but is a dated future; BTCPERP, the USDC perpetual, is a name
    // the stream parser cannot normalize (its coins make `BTCUSDC`).
    let listings = linear()
        .parse_instruments(LINEAR_INSTRUMENTS, 5)
        .expect("linear instruments");
    assert_eq!(names(&listings), ["BTCUSDT", "ETHUSDT"]);
    let btcusdt = Listing {
        exchange: Exchange::Bybit,
        market_type: MarketType::Perpetual,
        symbol: "BTC-USDT".parse().expect("valid"),
        venue_symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        settle: Some("USDT".into()),
        // `deliveryTime` is `0`.
        expiry_ms: None,
        strike: None,
        option_kind: None,
        trading: true,
        // `launchTime`.
        listed_ms: 1_584_230_400_000,
        delisted_ms: None,
        received_time_ms: 5,
    };
    assert_eq!(listings[0], btcusdt);
    for listing in &listings {
        assert_eq!(
            listing.symbol,
            trade_symbol(&linear(), &listing.venue_symbol).expect("a trade")
        );
    }
    assert!(trade_symbol(&linear(), "BTCPERP").is_err());
    // The captures asked for `status=Trading`; Bybit documents `PreLaunch`, `Delivering`
    // and `Closed` too. BTCPERP comes first.
    let pre_launch =
        LINEAR_INSTRUMENTS.replacen(r#""status":"Trading""#, r#""status":"PreLaunch""#, 2);
    let listings = linear().parse_instruments(&pre_launch, 5).expect("parses");
    assert_eq!(
        listings[0],
        Listing {
            trading: false,
            ..btcusdt
        }
    );
    assert!(listings[1].trading);
}

#[test]
fn instruments_info_errors_are_typed_errors() {
    // A page naming a next one is part of the market only.
    let paged = LINEAR_INSTRUMENTS.replace(
        r#""nextPageCursor":"""#,
        r#""nextPageCursor":"first%3D2449""#,
    );
    assert!(linear().parse_instruments(&paged, 5).is_err());
    let error = linear()
        .parse_instruments(r#"{"retCode":10001,"retMsg":"params error: Category is invalid","result":{},"retExtInfo":{},"time":1786310817197}"#, 5)
        .expect_err("an error answer");
    assert_eq!(
        error.to_string(),
        "unrecognized frame: retCode 10001: params error: Category is invalid"
    );
    // An entry without its quote coin, or with a launch time that is no number.
    let no_quote = SPOT_INSTRUMENTS.replacen(r#""quoteCoin":"USDT","#, "", 1);
    let error = Bybit::spot(SymbolMap::default())
        .parse_instruments(&no_quote, 5)
        .expect_err("no quoteCoin");
    assert!(error.to_string().contains("quoteCoin"), "{error}");
    let bad_time = LINEAR_INSTRUMENTS.replacen(
        r#""launchTime":"1584230400000""#,
        r#""launchTime":"soon""#,
        1,
    );
    assert!(linear().parse_instruments(&bad_time, 5).is_err());
}

#[test]
fn unsubscribe_operations_name_each_topic_once() {
    let subscriptions = [Channel::FundingRate, Channel::OpenInterest].map(|channel| Subscription {
        channel,
        symbol: "BTC-USDT".parse().expect("valid"),
    });
    let frames = linear()
        .unsubscribe_frames(&subscriptions)
        .expect("supported");
    assert_eq!(
        frames,
        [r#"{"op":"unsubscribe","args":["tickers.BTCUSDT"],"req_id":"un1"}"#]
    );
}
