//! OKX parser tests: documented frames, real captures and arbitrary input.

use marketprism_book::{okx_checksum, Book, Sequencer};
use marketprism_capture::{captures, read_capture, RecordKind};
use marketprism_model::{Decimal, Liquidation, Listing, OptionKind, Side, Trade, TradeSource};
use proptest::prelude::*;

use crate::Channel;

use super::*;

fn protocol() -> Okx {
    Okx::new(MarketType::Spot)
}

#[test]
fn parses_documented_trade_frame() {
    let frame = r#"{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897"}]}"#;
    let Ok(Inbound::Events(events)) = protocol().parse(frame, 5) else {
        panic!("expected events");
    };
    let expected = Trade {
        exchange: Exchange::Okx,
        market_type: MarketType::Perpetual,
        symbol: "BTC-USDT".parse().expect("valid"),
        trade_id: "130639474".into(),
        aggregated: false,
        price: "42219.9".parse().expect("valid"),
        quantity: "0.12060306".parse().expect("valid"),
        side: Side::Buy,
        exchange_time_ms: 1_630_048_897_897,
        received_time_ms: 5,
        sequence: None,
        source: TradeSource::Ws,
    };
    assert_eq!(events, vec![Event::Trade(expected)]);
}

#[test]
fn parses_documented_book_frames_with_sequence_ids() {
    let snapshot = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"],["8477","7","0","2"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":123456}]}"#;
    let Ok(Inbound::Book(message)) = protocol().parse(snapshot, 1) else {
        panic!("expected a book");
    };
    assert_eq!(message.symbol.as_str(), "BTC-USDT");
    assert_eq!(message.update.kind, UpdateKind::Snapshot);
    assert_eq!(
        (message.update.last_id, message.update.prev_id),
        (123_456, None)
    );
    assert_eq!(message.update.checksum, None, "a zero checksum is not sent");
    assert_eq!(message.update.asks.len(), 2);
    assert_eq!(message.update.exchange_time_ms, Some(1_597_026_383_085));

    let update = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8477","0","0","0"]],"bids":[],"ts":"1597026383185","checksum":-855196043,"prevSeqId":123456,"seqId":123457}]}"#;
    let Ok(Inbound::Book(message)) = protocol().parse(update, 2) else {
        panic!("expected a book");
    };
    assert_eq!(message.update.kind, UpdateKind::Delta);
    assert_eq!(
        (message.update.last_id, message.update.prev_id),
        (123_457, Some(123_456))
    );
    assert_eq!(message.update.checksum, Some(-855_196_043));
}

#[test]
fn subscribe_requests_batch_channels_and_acks_name_each() {
    let subscriptions = [Channel::Trades, Channel::OrderBook].map(|channel| Subscription {
        channel,
        symbol: "BTC-USDT".parse().expect("valid"),
    });
    let requests = Okx::new(MarketType::Perpetual)
        .subscribe_requests(&subscriptions)
        .expect("supported");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].frame,
        r#"{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT-SWAP"},{"channel":"books","instId":"BTC-USDT-SWAP"}]}"#
    );
    let ack = r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"connId":"a4d3ae55"}"#;
    let Ok(Inbound::SubscribeAck { request_id }) = protocol().parse(ack, 0) else {
        panic!("expected an ack");
    };
    assert_eq!(request_id, requests[0].acks[1]);
    assert_ne!(requests[0].acks[0], requests[0].acks[1]);

    let error = r#"{"event":"error","code":"60012","msg":"Invalid request: {\"op\": \"subscribe\"}","connId":"a4d3ae55"}"#;
    assert!(matches!(
        protocol().parse(error, 0),
        Ok(Inbound::Rejected { reason, .. }) if reason.starts_with("code 60012")
    ));
    assert!(matches!(
        protocol().subscribe_requests(&[Subscription {
            channel: Channel::AggregateTrades,
            symbol: "BTC-USDT".parse().expect("valid"),
        }]),
        Err(VenueError::UnsupportedChannel { .. })
    ));
}

#[test]
fn checksums_of_the_captures_match_books_built_from_their_frames() {
    // Every OKX capture frame carries a checksum; a sequencer accepting every update means
    // each parsed level (scale included) matches what OKX hashed. The captures hold several
    // connections subscribed to the same instruments: each has its own book.
    let mut books = 0;
    for path in captures("okx.").expect("captures directory") {
        let mut sequencers = std::collections::HashMap::new();
        for record in read_capture(&path).expect("readable capture") {
            if record.kind != RecordKind::Ws {
                continue;
            }
            if let Inbound::Book(message) = protocol()
                .parse(&record.payload, 0)
                .expect("every OKX capture frame parses")
            {
                assert!(message.update.checksum.is_some());
                let sequencer = sequencers
                    .entry((record.conn.clone(), message.symbol.clone()))
                    .or_insert_with(|| Sequencer::new(SyncRule::Okx));
                sequencer
                    .apply(message.update)
                    .unwrap_or_else(|desync| panic!("{}: {desync}", message.symbol));
                books += 1;
            }
        }
    }
    assert!(books > 1_800, "only {books} book frames found");
    // The checksum is not vacuous: a changed level changes it.
    let mut book = Book::new();
    let level =
        |price: &str| marketprism_model::PriceLevel::new(price.parse().expect("p"), 1.into());
    book.apply_snapshot(&[level("1")], &[level("2")]);
    let before = okx_checksum(&book);
    book.apply_snapshot(&[level("1.0")], &[level("2")]);
    assert_ne!(
        before,
        okx_checksum(&book),
        "the scale is part of the checksum"
    );
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(frame in ".{0,200}") {
        let _ = protocol().parse(&frame, 0);
    }

    #[test]
    fn mangled_book_frames_give_typed_errors(price in "[a-z.-]{1,6}") {
        let frame = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["PRICE","1","0","1"]],"bids":[],"ts":"1","checksum":5}]}"#
            .replace("PRICE", &price);
        let result = protocol().parse(&frame, 0);
        prop_assert!(matches!(result, Err(VenueError::Decimal { .. })), "{:?}", result);
    }
}

#[test]
fn parses_documented_funding_rate_and_open_interest_frames() {
    let funding = r#"{"arg":{"channel":"funding-rate","instId":"BTC-USD-SWAP"},"data":[{"fundingRate":"0.0001515","fundingTime":"1700726400000","instId":"BTC-USD-SWAP","instType":"SWAP","method":"next_period","nextFundingRate":"","nextFundingTime":"1700755200000","ts":"1700724675402"}]}"#;
    let Ok(Inbound::Events(events)) = protocol().parse(funding, 0) else {
        panic!("expected events");
    };
    let Event::FundingRate(rate) = &events[0] else {
        panic!("expected a funding rate");
    };
    assert_eq!(
        (rate.market_type, rate.symbol.as_str()),
        (MarketType::Perpetual, "BTC-USD")
    );
    assert_eq!(rate.funding_rate.to_string(), "0.0001515");
    assert_eq!(
        rate.predicted_rate, None,
        "an empty forecast is absent, not zero"
    );
    assert_eq!(rate.next_funding_time_ms, Some(1_700_726_400_000));
    assert_eq!(rate.exchange_time_ms, 1_700_724_675_402);

    let interest = r#"{"arg":{"channel":"open-interest","instId":"LTC-USD-SWAP"},"data":[{"instId":"LTC-USD-SWAP","instType":"SWAP","oi":"5000","oiCcy":"555.55","oiUsd":"50000","ts":"1597026383085"}]}"#;
    let Ok(Inbound::Events(events)) = protocol().parse(interest, 0) else {
        panic!("expected events");
    };
    let Event::OpenInterest(open_interest) = &events[0] else {
        panic!("expected open interest");
    };
    assert_eq!(open_interest.open_interest.to_string(), "5000");
    assert_eq!(
        open_interest
            .open_interest_value
            .map(|value| value.to_string())
            .as_deref(),
        Some("50000")
    );
    let subscription = Subscription {
        channel: Channel::FundingRate,
        symbol: "BTC-USD".parse().expect("valid"),
    };
    let requests = Okx::new(MarketType::Perpetual)
        .subscribe_requests(&[subscription])
        .expect("supported");
    assert!(requests[0]
        .frame
        .contains(r#"{"channel":"funding-rate","instId":"BTC-USD-SWAP"}"#));
}

#[test]
fn polls_top_trader_and_all_account_ratios_from_different_endpoints() {
    let swap = Okx::new(MarketType::Perpetual);
    let poll = |kind| crate::Poll {
        kind,
        symbol: "BTC-USDT".parse().expect("valid"),
        period: "1h".into(),
    };
    let top = poll(crate::PollKind::LongShortRatio(
        marketprism_model::RatioKind::TopAccounts,
    ));
    let all = poll(crate::PollKind::LongShortRatio(
        marketprism_model::RatioKind::AllAccounts,
    ));
    let top_url = swap
        .poll_url("https://www.okx.com", &top, 0)
        .expect("offered");
    let all_url = swap
        .poll_url("https://www.okx.com", &all, 0)
        .expect("offered");
    assert_eq!(top_url, "https://www.okx.com/api/v5/rubik/stat/contracts/long-short-account-ratio-contract-top-trader?instId=BTC-USDT-SWAP&period=1H");
    assert_eq!(all_url, "https://www.okx.com/api/v5/rubik/stat/contracts/long-short-account-ratio?ccy=BTC&period=1H");
    let body = r#"{"code":"0","msg":"","data":[["1701417600000","1.25"],["1701414000000","1.2"]]}"#;
    let events = swap.parse_poll(&all, body, 0).expect("parses");
    assert_eq!(events.len(), 2);
    let Event::LongShortRatio(ratio) = &events[0] else {
        panic!("expected a ratio");
    };
    assert_eq!(
        ratio.symbol.as_str(),
        "BTC",
        "the all-account series is per currency"
    );
    assert_eq!(ratio.exchange_time_ms, 1_701_417_600_000);
    assert!(swap
        .parse_poll(
            &all,
            r#"{"code":"50011","msg":"Too Many Requests","data":[]}"#,
            0
        )
        .is_err());
}

#[test]
fn subscribes_liquidations_once_per_instrument_type_and_parses_the_documented_frame() {
    let swap = Okx::new(MarketType::Perpetual);
    let subscriptions = ["BTC-USDT", "ETH-USDT"].map(|symbol| Subscription {
        channel: Channel::Liquidations,
        symbol: symbol.parse().expect("valid"),
    });
    let requests = swap.subscribe_requests(&subscriptions).expect("supported");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].frame,
        r#"{"op":"subscribe","args":[{"channel":"liquidation-orders","instType":"SWAP"}]}"#
    );
    assert_eq!(
        requests[0].acks.len(),
        1,
        "one subscription serves both symbols"
    );
    let ack = r#"{"event":"subscribe","arg":{"channel":"liquidation-orders","instType":"SWAP"},"connId":"a4d3ae55"}"#;
    assert!(matches!(
        swap.parse(ack, 0),
        Ok(Inbound::SubscribeAck { request_id }) if request_id == requests[0].acks[0]
    ));
    assert!(matches!(
        protocol().subscribe_requests(&subscriptions[..1]),
        Err(VenueError::UnsupportedChannel { .. })
    ));

    let frame = r#"{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0","bkPx":"0.007831","ccy":"","posSide":"short","side":"buy","sz":"13","ts":"1692266434010"},{"bkLoss":"0","bkPx":"0.00783","ccy":"","posSide":"long","side":"sell","sz":"2","ts":"1692266434011"}],"instFamily":"IOST-USDT","instId":"IOST-USDT-SWAP","instType":"SWAP","uly":"IOST-USDT"}]}"#;
    let Ok(Inbound::Events(events)) = swap.parse(frame, 9) else {
        panic!("expected events");
    };
    let liquidation = |side, price: &str, quantity: &str, time| {
        Event::Liquidation(Liquidation {
            exchange: Exchange::Okx,
            market_type: MarketType::Perpetual,
            symbol: "IOST-USDT".parse().expect("valid"),
            side,
            price: price.parse().expect("valid"),
            quantity: quantity.parse().expect("valid"),
            exchange_time_ms: time,
            received_time_ms: 9,
        })
    };
    assert_eq!(
        events,
        vec![
            liquidation(Side::Buy, "0.007831", "13", 1_692_266_434_010),
            liquidation(Side::Sell, "0.00783", "2", 1_692_266_434_011),
        ]
    );
    let unknown_side = frame.replace(r#""side":"buy""#, r#""side":"long""#);
    assert!(matches!(
        swap.parse(&unknown_side, 0),
        Err(VenueError::Unrecognized(_))
    ));
    let bad_price = frame.replace("0.007831", "n/a");
    assert!(matches!(
        swap.parse(&bad_price, 0),
        Err(VenueError::Decimal { .. })
    ));
}

#[test]
fn history_pages_backwards_from_the_window_end_until_it_passes_the_start() {
    let range = crate::HistoryRange {
        symbol: "BTC-USDT".parse().expect("valid"),
        wanted: crate::Wanted::Window {
            from_ms: 1_654_161_646_000,
            to_ms: 1_654_161_647_000,
            aggregated: false,
        },
    };
    let mut pager = Okx::new(MarketType::Perpetual)
        .trade_history("https://venue", range)
        .expect("windows are served");
    assert_eq!(
        pager.next_url().as_deref(),
        Some("https://venue/api/v5/market/history-trades?instId=BTC-USDT-SWAP&type=2&after=1654161647001&limit=100")
    );
    let first = r#"{"code":"0","msg":"","data":[{"instId":"BTC-USDT-SWAP","side":"sell","sz":"0.00001","px":"29963.2","source":"0","tradeId":"242720720","ts":"1654161646974"}]}"#;
    let trades = pager.accept(first, 7).expect("documented answer");
    assert_eq!(trades.len(), 1);
    let live = protocol()
        .parse(
            r#"{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"242720720","px":"29963.2","sz":"0.00001","side":"sell","ts":"1654161646974"}]}"#,
            7,
        )
        .expect("live frame");
    let Inbound::Events(live) = live else {
        panic!("expected events");
    };
    assert_eq!(
        live,
        vec![Event::Trade(Trade {
            source: TradeSource::Ws,
            ..trades[0].clone()
        })],
        "recovered as it was streamed, but for its source"
    );
    assert_eq!(trades[0].source, TradeSource::Rest);
    assert_eq!(
        pager.next_url().as_deref(),
        Some("https://venue/api/v5/market/history-trades?instId=BTC-USDT-SWAP&type=1&after=242720720&limit=100")
    );
    assert!(pager.shortfall().is_some(), "the start is not reached yet");
    let second = r#"{"code":"0","msg":"","data":[{"instId":"BTC-USDT-SWAP","side":"buy","sz":"1","px":"29963.1","source":"0","tradeId":"242720719","ts":"1654161645000"}]}"#;
    assert_eq!(pager.accept(second, 8).expect("answer"), Vec::new());
    assert_eq!(pager.next_url(), None);
    assert_eq!(pager.shortfall(), None);
}

#[test]
fn history_ending_inside_the_window_is_a_shortfall() {
    let range = crate::HistoryRange {
        symbol: "BTC-USDT".parse().expect("valid"),
        wanted: crate::Wanted::Window {
            from_ms: 10,
            to_ms: 20,
            aggregated: false,
        },
    };
    let mut pager = protocol()
        .trade_history("https://venue", range)
        .expect("window");
    let trades = pager
        .accept(r#"{"code":"0","msg":"","data":[]}"#, 1)
        .expect("empty page");
    assert!(trades.is_empty());
    assert_eq!(pager.next_url(), None);
    assert_eq!(
        pager.shortfall().as_deref(),
        Some("OKX's history holds no trade of BTC-USDT in the gap")
    );
    let error = protocol()
        .trade_history(
            "https://venue",
            crate::HistoryRange {
                symbol: "BTC-USDT".parse().expect("valid"),
                wanted: crate::Wanted::Ids {
                    first: 1,
                    last: 2,
                    aggregated: false,
                },
            },
        )
        .err()
        .expect("ids are not counters");
    assert_eq!(error.kind(), crate::VenueErrorKind::Unsupported);
}

/// `public/instruments` answers of `SPOT` and `SWAP` cut from the capture
/// `okx.20220513T1627Z` (three instruments each, as OKX wrote them).
const SPOT_INSTRUMENTS: &str =
    include_str!("../../fixtures/instruments/okx.20220513T1627Z.instruments-spot.json");
const SWAP_INSTRUMENTS: &str =
    include_str!("../../fixtures/instruments/okx.20220513T1627Z.instruments-swap.json");

#[test]
fn instruments_urls_name_the_market_s_instrument_type() {
    let swap = Okx::new(MarketType::Perpetual);
    assert_eq!(
        protocol()
            .instruments_url("https://www.okx.com/")
            .as_deref(),
        Some("https://www.okx.com/api/v5/public/instruments?instType=SPOT")
    );
    assert_eq!(
        swap.instruments_url("https://www.okx.com").as_deref(),
        Some("https://www.okx.com/api/v5/public/instruments?instType=SWAP")
    );
    assert_eq!(
        Okx::new(MarketType::Futures)
            .instruments_url("https://www.okx.com")
            .as_deref(),
        Some("https://www.okx.com/api/v5/public/instruments?instType=FUTURES")
    );
    // Options are listed per instrument family only: one list per configured family.
    let options = crate::VenueKind::OkxOptions.protocol(&[
        "BTC-USD-250328-60000-C".parse().expect("valid"),
        "BTC-USD-250328-50000-P".parse().expect("valid"),
        "ETH-USD-250328-3000-C".parse().expect("valid"),
    ]);
    assert_eq!(options.instruments_url("https://www.okx.com"), None);
    assert_eq!(
        options.instruments_urls("https://www.okx.com/"),
        [
            "https://www.okx.com/api/v5/public/instruments?instType=OPTION&instFamily=BTC-USD",
            "https://www.okx.com/api/v5/public/instruments?instType=OPTION&instFamily=ETH-USD",
        ]
    );
    assert_eq!(
        swap.instruments_urls("https://www.okx.com"),
        ["https://www.okx.com/api/v5/public/instruments?instType=SWAP"]
    );
    let cost = swap.request_cost(RestCall::Instruments);
    assert_eq!((cost.bucket, cost.weight), ("instruments", 1));
    assert_eq!(
        swap.rest_limits()
            .bucket("instruments")
            .map(|bucket| bucket.limit),
        Some(20)
    );
}

/// The symbol `protocol`'s stream parser gives a trade of the OKX instrument `inst_id`.
fn trade_symbol(protocol: &Okx, inst_id: &str) -> Symbol {
    let frame = format!(
        r#"{{"arg":{{"channel":"trades","instId":"{inst_id}"}},"data":[{{"instId":"{inst_id}","tradeId":"1","px":"1","sz":"1","side":"buy","ts":"1"}}]}}"#
    );
    match protocol.parse(&frame, 1).expect("a trade") {
        Inbound::Events(events) => match events.as_slice() {
            [Event::Trade(trade)] => trade.symbol.clone(),
            other => panic!("expected a trade, got {other:?}"),
        },
        other => panic!("expected events, got {other:?}"),
    }
}

/// The ids of `listings`.
fn names(listings: &[Listing]) -> Vec<&str> {
    listings.iter().map(|l| l.venue_symbol.as_str()).collect()
}

/// The swap list's BTC-USD-SWAP made the futures BTC-USD-220527 (expiring 2022-05-27
/// 08:00 UTC), or with `option` the call BTC-USD-220527-20000-C, in OKX's shape.
fn dated(option: bool) -> String {
    let (inst_id, inst_type) = if option {
        ("BTC-USD-220527-20000-C", "OPTION")
    } else {
        ("BTC-USD-220527", "FUTURES")
    };
    let body = SWAP_INSTRUMENTS.replacen(
        r#""expTime":"","instId":"BTC-USD-SWAP","instType":"SWAP""#,
        &format!(r#""expTime":"1653638400000","instId":"{inst_id}","instType":"{inst_type}""#),
        1,
    );
    if !option {
        return body;
    }
    body.replacen(
        r#""optType":"","quoteCcy":"","settleCcy":"BTC","state":"live","stk":"""#,
        r#""optType":"C","quoteCcy":"","settleCcy":"BTC","state":"live","stk":"20000""#,
        1,
    )
}

#[test]
fn instruments_lists_every_instrument_with_its_state() {
    let spot = protocol();
    let listings = spot
        .parse_instruments(SPOT_INSTRUMENTS, 5)
        .expect("spot instruments");
    assert_eq!(names(&listings), ["BTC-USDT", "ETH-USDT", "ETH-BTC"]);
    assert_eq!(
        listings[2],
        Listing {
            exchange: Exchange::Okx,
            market_type: MarketType::Spot,
            symbol: "ETH-BTC".parse().expect("valid"),
            venue_symbol: "ETH-BTC".into(),
            base: "ETH".into(),
            quote: "BTC".into(),
            settle: None,
            expiry_ms: None,
            strike: None,
            option_kind: None,
            trading: true,
            listed_ms: 1_548_133_413_000,
            delisted_ms: None,
            received_time_ms: 5,
        }
    );
    let swap = Okx::new(MarketType::Perpetual);
    let swaps = swap
        .parse_instruments(SWAP_INSTRUMENTS, 5)
        .expect("swap instruments");
    assert_eq!(
        names(&swaps),
        ["BTC-USD-SWAP", "BTC-USDT-SWAP", "ETH-USDT-SWAP"]
    );
    let btc_usd_swap = Listing {
        exchange: Exchange::Okx,
        market_type: MarketType::Perpetual,
        symbol: "BTC-USD".parse().expect("valid"),
        venue_symbol: "BTC-USD-SWAP".into(),
        // The underlying (`uly`) names the currencies of a derivative.
        base: "BTC".into(),
        quote: "USD".into(),
        settle: Some("BTC".into()),
        expiry_ms: None,
        strike: None,
        option_kind: None,
        trading: true,
        listed_ms: 1_611_916_828_000,
        delisted_ms: None,
        received_time_ms: 5,
    };
    assert_eq!(swaps[0], btc_usd_swap);
    // The captures hold only live instruments; OKX documents `suspend`, `preopen` and `test`.
    let suspended = SWAP_INSTRUMENTS.replacen(r#""state":"live""#, r#""state":"suspend""#, 1);
    let suspended = swap.parse_instruments(&suspended, 5).expect("parses");
    assert_eq!(
        suspended[0],
        Listing {
            trading: false,
            ..btc_usd_swap.clone()
        }
    );
    // Futures and options: an expiry, and an option's strike and kind. The other swaps of
    // the list are of another market.
    let futures = Okx::new(MarketType::Futures);
    let listed_futures = futures
        .parse_instruments(&dated(false), 5)
        .expect("futures");
    let btc_usd_future = Listing {
        market_type: MarketType::Futures,
        symbol: "BTC-USD-220527".parse().expect("valid"),
        venue_symbol: "BTC-USD-220527".into(),
        expiry_ms: Some(1_653_638_400_000),
        ..btc_usd_swap
    };
    assert_eq!(listed_futures, std::slice::from_ref(&btc_usd_future));
    let options = Okx::options(&["BTC-USD-220527-20000-C".parse().expect("valid")]);
    let listed_options = options.parse_instruments(&dated(true), 5).expect("options");
    assert_eq!(
        listed_options,
        [Listing {
            market_type: MarketType::Options,
            symbol: "BTC-USD-220527-20000-C".parse().expect("valid"),
            venue_symbol: "BTC-USD-220527-20000-C".into(),
            strike: Some(Decimal::from(20_000)),
            option_kind: Some(OptionKind::Call),
            ..btc_usd_future
        }]
    );
    // Each is named as the stream parser names its trades.
    for (market, listings) in [
        (spot, &listings),
        (swap, &swaps),
        (futures, &listed_futures),
        (options, &listed_options),
    ] {
        for listing in listings {
            assert_eq!(listing.symbol, trade_symbol(&market, &listing.venue_symbol));
            assert_eq!(market.native_symbol(&listing.symbol), listing.venue_symbol);
        }
    }
}

#[test]
fn instruments_errors_are_typed_errors() {
    let swap = Okx::new(MarketType::Perpetual);
    let error = swap
        .parse_instruments(
            r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#,
            5,
        )
        .expect_err("an error answer");
    assert_eq!(
        error.to_string(),
        "unrecognized frame: code 51001: Instrument ID does not exist"
    );
    // An instrument without its state, with an option kind OKX does not document, or with
    // no currencies at all.
    let no_state = SWAP_INSTRUMENTS.replacen(r#""state":"live","#, "", 1);
    let error = swap.parse_instruments(&no_state, 5).expect_err("no state");
    assert!(error.to_string().contains("state"), "{error}");
    let odd_kind = dated(true).replacen(r#""optType":"C""#, r#""optType":"X""#, 1);
    let options = Okx::options(&["BTC-USD-220527-20000-C".parse().expect("valid")]);
    assert!(options.parse_instruments(&odd_kind, 5).is_err());
    let no_underlying = SWAP_INSTRUMENTS.replacen(r#""uly":"BTC-USD""#, r#""uly":"""#, 1);
    let error = swap
        .parse_instruments(&no_underlying, 5)
        .expect_err("no currencies");
    assert!(error.to_string().contains("BTC-USD-SWAP"), "{error}");
}

/// The captures hold futures (`BTC-USD-220527`) and options (`BTC-USD-220325-40000-C`)
/// frames: their trades and books parse as of their market, named by their id, and their
/// books stay in sequence with every checksum matching.
#[test]
fn futures_and_options_frames_of_the_captures_parse_to_their_market() {
    let mut trades = std::collections::BTreeMap::new();
    let mut books = 0;
    for kind in [crate::VenueKind::OkxFutures, crate::VenueKind::OkxOptions] {
        let protocol = kind.protocol(&[]);
        for path in captures("okx.").expect("captures directory") {
            let mut sequencers = std::collections::HashMap::new();
            for record in read_capture(&path).expect("readable capture") {
                if record.kind != RecordKind::Ws {
                    continue;
                }
                match protocol.parse(&record.payload, 0).expect("parses") {
                    Inbound::Events(events) => {
                        for event in events {
                            if let Event::Trade(trade) = event {
                                if trade.market_type == kind.market_type() {
                                    assert_eq!(
                                        symbol::from_native(trade.symbol.as_str())
                                            .expect("an OKX id")
                                            .0,
                                        kind.market_type()
                                    );
                                    *trades.entry(kind.market_type()).or_insert(0) += 1;
                                }
                            }
                        }
                    }
                    Inbound::Book(message) if message.market_type == kind.market_type() => {
                        let sequencer = sequencers
                            .entry((record.conn.clone(), message.symbol.clone()))
                            .or_insert_with(|| Sequencer::new(SyncRule::Okx));
                        sequencer
                            .apply(message.update)
                            .unwrap_or_else(|desync| panic!("{}: {desync}", message.symbol));
                        books += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    // The captures hold a few of each.
    assert!(trades.get(&MarketType::Futures) >= Some(&3), "{trades:?}");
    assert!(trades.get(&MarketType::Options) >= Some(&3), "{trades:?}");
    assert!(books > 100, "only {books} futures book frames");
}

#[test]
fn futures_and_options_subscribe_by_id_without_swap_only_channels() {
    let subscription = |channel, symbol: &str| Subscription {
        channel,
        symbol: symbol.parse().expect("valid"),
    };
    let options = crate::VenueKind::OkxOptions.protocol(&[]);
    let requests = options
        .subscribe_requests(&[
            subscription(Channel::Trades, "BTC-USD-250328-60000-C"),
            subscription(Channel::OrderBook, "BTC-USD-250328-60000-C"),
        ])
        .expect("supported");
    assert_eq!(
        requests[0].frame,
        r#"{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USD-250328-60000-C"},{"channel":"books","instId":"BTC-USD-250328-60000-C"}]}"#
    );
    let futures = crate::VenueKind::OkxFutures.protocol(&[]);
    assert_eq!(
        futures
            .streams(&subscription(Channel::OrderBook, "BTC-USD-250328"))
            .expect("supported"),
        ["books:BTC-USD-250328"]
    );
    assert!(futures
        .subscribe_requests(&[subscription(Channel::OpenInterest, "BTC-USD-250328")])
        .is_ok());
    // Funding rates are of swaps only.
    for protocol in [&futures, &options] {
        assert!(matches!(
            protocol.subscribe_requests(&[subscription(Channel::FundingRate, "BTC-USD-250328")]),
            Err(VenueError::UnsupportedChannel { .. })
        ));
    }
    assert_eq!(futures.ws_limits(), WS_LIMITS);
    assert_eq!(options.rest_limits(), protocol().rest_limits());
}

#[test]
fn unsubscribe_frames_name_the_subscribed_arguments() {
    let subscriptions = [Channel::Trades, Channel::OrderBook].map(|channel| Subscription {
        channel,
        symbol: "BTC-USDT".parse().expect("valid"),
    });
    let frames = Okx::new(MarketType::Perpetual)
        .unsubscribe_frames(&subscriptions)
        .expect("supported");
    assert_eq!(
        frames,
        [
            r#"{"op":"unsubscribe","args":[{"channel":"trades","instId":"BTC-USDT-SWAP"},{"channel":"books","instId":"BTC-USDT-SWAP"}]}"#
        ]
    );
}
