//! Deribit parser tests: documented frames, real captures and arbitrary input.

use marketprism_book::{Sequencer, UpdateKind};
use marketprism_capture::{captures, read_capture, RecordKind};
use marketprism_model::{Decimal, Listing, OptionKind, PriceLevel, Side, VolatilityIndex};
use proptest::prelude::*;

use crate::{Channel, PollKind};

use super::*;

fn protocol() -> Deribit {
    Deribit::new(MarketType::Perpetual)
}

#[test]
fn parses_documented_book_change_with_exact_decimals() {
    let frame = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms","data":{"type":"change","timestamp":1554373911330,"prev_change_id":297217,"instrument_name":"BTC-PERPETUAL","change_id":297218,"bids":[["delete",5042.64,0],["change",5041.94,20.0]],"asks":[["new",5043.5,10]]}}}"#;
    let Ok(Inbound::Book(message)) = protocol().parse(frame, 3) else {
        panic!("expected a book");
    };
    assert_eq!(
        (message.market_type, message.symbol.as_str()),
        (MarketType::Perpetual, "BTC-USD")
    );
    let update = message.update;
    assert_eq!(update.kind, UpdateKind::Delta);
    assert_eq!((update.last_id, update.prev_id), (297_218, Some(297_217)));
    let price = |text: &str| text.parse::<Decimal>().expect("valid");
    assert_eq!(
        update.bids,
        vec![
            PriceLevel::new(price("5042.64"), Decimal::ZERO),
            PriceLevel::new(price("5041.94"), price("20.0")),
        ]
    );
    assert_eq!(update.bids[1].quantity.to_string(), "20.0", "scale kept");
    assert_eq!(update.exchange_time_ms, Some(1_554_373_911_330));
}

#[test]
fn parses_documented_trade_and_replies() {
    let frame = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.100ms","data":[{"trade_seq":30289432,"trade_id":"48079254","timestamp":1590484156350,"tick_direction":0,"state":"closed","price":8950.0,"mark_price":8948.9,"instrument_name":"BTC-PERPETUAL","index_price":8955.88,"direction":"sell","amount":10.0}]}}"#;
    let Ok(Inbound::Events(events)) = protocol().parse(frame, 4) else {
        panic!("expected events");
    };
    let Event::Trade(trade) = &events[0] else {
        panic!("expected a trade");
    };
    assert_eq!(trade.trade_id, "48079254");
    assert_eq!(trade.side, Side::Sell);
    assert_eq!(trade.price.to_string(), "8950.0");

    let requests = protocol()
        .subscribe_requests(&[Subscription {
            channel: Channel::OrderBook,
            symbol: "BTC-USD".parse().expect("valid"),
        }])
        .expect("supported");
    assert_eq!(
        requests[0].frame,
        r#"{"jsonrpc":"2.0","id":1,"method":"public/subscribe","params":{"channels":["book.BTC-PERPETUAL.100ms"]}}"#
    );
    assert_eq!(
        protocol()
            .parse(
                r#"{"jsonrpc":"2.0","id":1,"result":["book.BTC-PERPETUAL.100ms"]}"#,
                0
            )
            .expect("reply"),
        Inbound::SubscribeAck { request_id: 1 }
    );
    assert!(matches!(
        protocol().parse(
            r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"Invalid params"}}"#,
            0
        ),
        Ok(Inbound::Rejected {
            request_id: Some(2),
            ..
        })
    ));
    assert_eq!(
        protocol()
            .parse(
                r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#,
                0
            )
            .expect("heartbeat"),
        Inbound::Ignored
    );
}

#[test]
fn every_deribit_capture_frame_parses_and_books_sync() {
    let mut snapshots = 0;
    for path in captures("deribit.").expect("captures directory") {
        let mut sequencers = std::collections::HashMap::new();
        for record in read_capture(&path).expect("readable capture") {
            if record.kind != RecordKind::Ws {
                continue;
            }
            let inbound = protocol()
                .parse(&record.payload, 0)
                .unwrap_or_else(|error| panic!("{error}: {}", record.payload));
            if let Inbound::Book(message) = inbound {
                let sequencer = sequencers
                    .entry((record.conn.clone(), message.symbol.clone()))
                    .or_insert_with(|| Sequencer::new(SyncRule::Deribit));
                snapshots += usize::from(message.update.kind == UpdateKind::Snapshot);
                sequencer.apply(message.update).expect("in sync");
            }
        }
    }
    assert!(snapshots >= 30, "{snapshots} snapshots");
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(frame in ".{0,200}") {
        let _ = protocol().parse(&frame, 0);
    }

    #[test]
    fn unknown_book_actions_are_typed_errors(action in "[a-z]{1,8}") {
        prop_assume!(!["new", "change", "delete"].contains(&action.as_str()));
        let frame = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms","data":{"type":"change","timestamp":1,"prev_change_id":1,"instrument_name":"BTC-PERPETUAL","change_id":2,"bids":[["ACTION",1.5,1]],"asks":[]}}}"#
            .replace("ACTION", &action);
        let result = protocol().parse(&frame, 0);
        prop_assert!(matches!(result, Err(VenueError::Unrecognized(_))), "{:?}", result);
    }
}

#[test]
fn parses_documented_volatility_index_frame() {
    let frame = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"deribit_volatility_index.btc_usd","data":{"volatility":129.36,"timestamp":1619777946007,"index_name":"btc_usd"}}}"#;
    let Ok(Inbound::Events(events)) = protocol().parse(frame, 0) else {
        panic!("expected events");
    };
    let Event::VolatilityIndex(index) = &events[0] else {
        panic!("expected a volatility index");
    };
    assert_eq!(
        (index.market_type, index.symbol.as_str()),
        (MarketType::Options, "BTC")
    );
    assert_eq!(index.value.to_string(), "129.36");
    assert_eq!(index.exchange_time_ms, 1_619_777_946_007);
    let symbol = symbol::parse_configured(MarketType::Options, "btc").expect("a currency");
    let requests = Deribit::new(MarketType::Options)
        .subscribe_requests(&[Subscription {
            channel: Channel::VolatilityIndex,
            symbol,
        }])
        .expect("supported");
    assert!(requests[0]
        .frame
        .contains("deribit_volatility_index.btc_usd"));
}

#[test]
fn polls_volatility_index_history_as_values_at_candle_starts() {
    let options = Deribit::new(MarketType::Options);
    let poll = |period: &str| Poll {
        kind: PollKind::VolatilityIndex,
        symbol: "BTC".parse().expect("valid"),
        period: period.into(),
    };
    let now = 1_599_376_800_000;
    assert_eq!(
        options
            .poll_url("https://www.deribit.com/", &poll("1m"), now)
            .expect("offered"),
        "https://www.deribit.com/api/v2/public/get_volatility_index_data?currency=BTC&start_timestamp=1599316800000&end_timestamp=1599376800000&resolution=60"
    );
    assert!(matches!(
        options.poll_url("https://www.deribit.com", &poll("5m"), now),
        Err(VenueError::UnsupportedPeriod { .. })
    ));
    let funding = Poll {
        kind: PollKind::FundingRate,
        ..poll("1m")
    };
    assert!(matches!(
        options.poll_url("https://www.deribit.com", &funding, now),
        Err(VenueError::UnsupportedChannel { .. })
    ));

    let body = r#"{"jsonrpc":"2.0","id":5,"result":{"data":[[1598019300000,0.210084879,0.212860821,0.210084879,0.212860821],[1598019360000,0.212869011,0.212987527,0.212869011,0.212987527]],"continuation":null}}"#;
    let events = options.parse_poll(&poll("1m"), body, 77).expect("parses");
    let value = |time, value: &str| {
        Event::VolatilityIndex(VolatilityIndex {
            exchange: Exchange::Deribit,
            market_type: MarketType::Options,
            symbol: "BTC".parse().expect("valid"),
            value: value.parse().expect("valid"),
            exchange_time_ms: time,
            received_time_ms: 77,
        })
    };
    assert_eq!(
        events,
        vec![
            value(1_598_019_300_000, "0.210084879"),
            value(1_598_019_360_000, "0.212869011"),
        ]
    );
    let error = r#"{"jsonrpc":"2.0","id":5,"error":{"code":10029,"message":"too_many_requests"}}"#;
    assert!(matches!(
        options.parse_poll(&poll("1m"), error, 0),
        Err(VenueError::Unrecognized(reason)) if reason.contains("10029")
    ));
    let short_candle = body.replace(",0.212860821,0.210084879,0.212860821]", "]");
    assert!(matches!(
        options.parse_poll(&poll("1m"), &short_candle, 0),
        Err(VenueError::Json(_))
    ));
}

#[test]
fn history_pages_a_trade_seq_range_while_more_match() {
    let range = crate::HistoryRange {
        symbol: "ETH-USD".parse().expect("valid"),
        wanted: crate::Wanted::Ids {
            first: 1_966_031,
            last: 1_966_033,
            aggregated: false,
        },
    };
    let mut pager = protocol()
        .trade_history("https://venue", range)
        .expect("ids are served");
    assert_eq!(
        pager.next_url().as_deref(),
        Some("https://venue/api/v2/public/get_last_trades_by_instrument?instrument_name=ETH-PERPETUAL&start_seq=1966031&end_seq=1966033&count=1000&sorting=asc")
    );
    let page = r#"{"jsonrpc":"2.0","result":{"trades":[{"trade_seq":1966031,"trade_id":"ETH-2696097","timestamp":1590486335742,"tick_direction":0,"price":202.8,"mark_price":202.91,"instrument_name":"ETH-PERPETUAL","index_price":202.9,"direction":"sell","amount":10.0}],"has_more":true}}"#;
    let trades = pager.accept(page, 4).expect("documented answer");
    let live = protocol()
        .parse(
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.ETH-PERPETUAL.100ms","data":[{"trade_seq":1966031,"trade_id":"ETH-2696097","timestamp":1590486335742,"tick_direction":0,"price":202.8,"mark_price":202.91,"instrument_name":"ETH-PERPETUAL","index_price":202.9,"direction":"sell","amount":10.0}]}}"#,
            4,
        )
        .expect("live frame");
    let Inbound::Events(live) = live else {
        panic!("expected events");
    };
    let marketprism_model::Event::Trade(live) = &live[0] else {
        panic!("expected a trade");
    };
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0].source, marketprism_model::TradeSource::Rest);
    assert_eq!(
        trades[0],
        marketprism_model::Trade {
            source: marketprism_model::TradeSource::Rest,
            ..live.clone()
        }
    );
    assert_eq!(
        pager.next_url().as_deref(),
        Some("https://venue/api/v2/public/get_last_trades_by_instrument?instrument_name=ETH-PERPETUAL&start_seq=1966032&end_seq=1966033&count=1000&sorting=asc")
    );
    let last = r#"{"jsonrpc":"2.0","result":{"trades":[],"has_more":false}}"#;
    assert!(pager.accept(last, 5).expect("empty page").is_empty());
    assert_eq!(pager.next_url(), None);
    assert_eq!(pager.shortfall(), None);
}

#[test]
fn history_window_starts_by_time() {
    let range = crate::HistoryRange {
        symbol: "ETH-USD".parse().expect("valid"),
        wanted: crate::Wanted::Window {
            from_ms: 100,
            to_ms: 200,
            aggregated: false,
        },
    };
    let pager = protocol()
        .trade_history("https://venue", range)
        .expect("windows are served");
    assert_eq!(
        pager.next_url().as_deref(),
        Some("https://venue/api/v2/public/get_last_trades_by_instrument_and_time?instrument_name=ETH-PERPETUAL&start_timestamp=100&end_timestamp=200&count=1000&sorting=asc")
    );
}

/// `public/get_instruments` answers cut from the capture `deribit.20210722T2242Z`
/// (`currency=BTC`: a put, a future, a call and the perpetual; `currency=USDC`: two linear
/// perpetuals), as Deribit wrote them.
const BTC_INSTRUMENTS: &str =
    include_str!("../../fixtures/instruments/deribit.20210722T2242Z.get_instruments-btc.json");
const USDC_INSTRUMENTS: &str =
    include_str!("../../fixtures/instruments/deribit.20210722T2242Z.get_instruments-usdc.json");

#[test]
fn instruments_urls_ask_every_currency_of_the_market_s_kind() {
    assert_eq!(
        protocol()
            .instruments_url("https://www.deribit.com/")
            .as_deref(),
        Some("https://www.deribit.com/api/v2/public/get_instruments?currency=any&kind=future")
    );
    assert_eq!(
        Deribit::new(MarketType::Options)
            .instruments_url("https://www.deribit.com")
            .as_deref(),
        Some("https://www.deribit.com/api/v2/public/get_instruments?currency=any&kind=option")
    );
    let cost = protocol().request_cost(RestCall::Instruments);
    assert_eq!((cost.bucket, cost.weight), ("get_instruments", 1));
    assert_eq!(
        protocol()
            .rest_limits()
            .bucket("get_instruments")
            .map(|bucket| bucket.limit),
        Some(1)
    );
}

/// The symbol `protocol`'s stream parser gives a trade of the Deribit instrument `name`.
fn trade_symbol(protocol: &Deribit, name: &str) -> Symbol {
    let frame = format!(
        r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.{name}.100ms","data":[{{"trade_seq":1,"trade_id":"1","timestamp":1,"tick_direction":0,"price":1.0,"mark_price":1.0,"instrument_name":"{name}","index_price":1.0,"direction":"sell","amount":1.0}}]}}}}"#
    );
    match protocol.parse(&frame, 1).expect("a trade") {
        Inbound::Events(events) => match events.as_slice() {
            [Event::Trade(trade)] => trade.symbol.clone(),
            other => panic!("expected a trade, got {other:?}"),
        },
        other => panic!("expected events, got {other:?}"),
    }
}

/// The names of `listings`.
fn names(listings: &[Listing]) -> Vec<&str> {
    listings.iter().map(|l| l.venue_symbol.as_str()).collect()
}

#[test]
fn instruments_lists_the_instruments_of_the_market() {
    let perpetuals = protocol()
        .parse_instruments(BTC_INSTRUMENTS, 5)
        .expect("BTC instruments");
    assert_eq!(names(&perpetuals), ["BTC-PERPETUAL"]);
    let perpetual = |symbol: &str, name: &str, base: &str, quote: &str| Listing {
        exchange: Exchange::Deribit,
        market_type: MarketType::Perpetual,
        symbol: symbol.parse().expect("valid"),
        venue_symbol: name.into(),
        base: base.into(),
        quote: quote.into(),
        settle: None,
        // `expiration_timestamp` is in the year 3000.
        expiry_ms: None,
        strike: None,
        option_kind: None,
        trading: true,
        listed_ms: 0,
        delisted_ms: None,
        received_time_ms: 5,
    };
    assert_eq!(
        perpetuals[0],
        Listing {
            listed_ms: 1_534_242_287_000,
            ..perpetual("BTC-USD", "BTC-PERPETUAL", "BTC", "USD")
        }
    );
    let linear = protocol()
        .parse_instruments(USDC_INSTRUMENTS, 5)
        .expect("USDC instruments");
    assert_eq!(names(&linear), ["SOL_USDC-PERPETUAL", "BTC_USDC-PERPETUAL"]);
    assert_eq!(
        linear[0],
        Listing {
            settle: Some("USDC".into()),
            listed_ms: 1_647_349_200_000,
            ..perpetual("SOL-USDC", "SOL_USDC-PERPETUAL", "SOL", "USDC")
        }
    );
    let options = Deribit::new(MarketType::Options);
    let listed_options = options
        .parse_instruments(BTC_INSTRUMENTS, 5)
        .expect("BTC instruments");
    assert_eq!(
        names(&listed_options),
        ["BTC-30JUL21-40000-P", "BTC-30JUL21-40000-C"]
    );
    let put = Listing {
        exchange: Exchange::Deribit,
        market_type: MarketType::Options,
        symbol: "BTC-30JUL21-40000-P".parse().expect("valid"),
        venue_symbol: "BTC-30JUL21-40000-P".into(),
        base: "BTC".into(),
        // BTC options are priced in BTC.
        quote: "BTC".into(),
        settle: None,
        expiry_ms: Some(1_627_632_000_000),
        strike: Some(Decimal::from(40_000)),
        option_kind: Some(OptionKind::Put),
        trading: true,
        listed_ms: 1_619_690_416_000,
        delisted_ms: None,
        received_time_ms: 5,
    };
    assert_eq!(listed_options[0], put);
    assert_eq!(listed_options[1].option_kind, Some(OptionKind::Call));
    let futures = Deribit::new(MarketType::Futures);
    let listed_futures = futures
        .parse_instruments(BTC_INSTRUMENTS, 5)
        .expect("BTC instruments");
    assert_eq!(names(&listed_futures), ["BTC-24SEP21"]);
    assert_eq!(
        listed_futures[0],
        Listing {
            market_type: MarketType::Futures,
            expiry_ms: Some(1_632_470_400_000),
            listed_ms: 1_608_883_556_000,
            ..perpetual("BTC-24SEP21", "BTC-24SEP21", "BTC", "USD")
        }
    );
    // Each is named as the market's stream parser names its trades.
    for (market, listings) in [
        (protocol(), &perpetuals),
        (protocol(), &linear),
        (options, &listed_options),
        (futures, &listed_futures),
    ] {
        for listing in listings {
            assert_eq!(listing.symbol, trade_symbol(&market, &listing.venue_symbol));
            assert_eq!(market.native_symbol(&listing.symbol), listing.venue_symbol);
        }
    }
    // The captures list only active instruments (`expired=false`).
    let inactive = USDC_INSTRUMENTS.replacen(r#""is_active":true"#, r#""is_active":false"#, 1);
    let listings = protocol().parse_instruments(&inactive, 5).expect("parses");
    assert_eq!(
        names(&listings),
        ["SOL_USDC-PERPETUAL", "BTC_USDC-PERPETUAL"]
    );
    assert!(!listings[0].trading && listings[1].trading);
}

#[test]
fn instruments_errors_are_typed_errors() {
    let error = protocol()
        .parse_instruments(
            r#"{"jsonrpc":"2.0","error":{"message":"Invalid params","code":-32602},"testnet":false}"#,
            5,
        )
        .expect_err("an error answer");
    assert_eq!(
        error.to_string(),
        "unrecognized frame: code -32602: Invalid params"
    );
    // An option without its strike, or an instrument without its currencies.
    let options = Deribit::new(MarketType::Options);
    let no_strike = BTC_INSTRUMENTS.replacen(r#""strike":40000.0,"#, "", 1);
    let error = options
        .parse_instruments(&no_strike, 5)
        .expect_err("no strike");
    assert!(
        error.to_string().contains("BTC-30JUL21-40000-P: no strike"),
        "{error}"
    );
    let no_base = BTC_INSTRUMENTS.replace(r#","base_currency":"BTC""#, "");
    assert!(protocol().parse_instruments(&no_base, 5).is_err());
}

/// Options trades and books subscribe to the `100ms` channels of the option's name, and
/// options trades and the captures' options books parse as of the options market.
#[test]
fn options_trades_and_books_subscribe_and_parse() {
    let options = crate::VenueKind::DeribitOptions.protocol(&[]);
    let subscriptions = [Channel::Trades, Channel::OrderBook].map(|channel| Subscription {
        channel,
        symbol: "BTC-27DEC24-100000-C".parse().expect("valid"),
    });
    let requests = options
        .subscribe_requests(&subscriptions)
        .expect("supported");
    assert_eq!(
        requests[0].frame,
        r#"{"jsonrpc":"2.0","id":1,"method":"public/subscribe","params":{"channels":["trades.BTC-27DEC24-100000-C.100ms","book.BTC-27DEC24-100000-C.100ms"]}}"#
    );
    assert!(options.in_instrument_list(&subscriptions[0].symbol));

    // The captures hold options books but no options trade: a frame as Deribit documents it.
    let frame = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.BTC-27DEC24-100000-C.100ms","data":[{"trade_seq":12,"trade_id":"ETH-123","timestamp":1700000000123,"tick_direction":0,"price":0.0215,"mark_price":0.0213,"iv":55.2,"instrument_name":"BTC-27DEC24-100000-C","index_price":37000.5,"direction":"sell","amount":1.5}]}}"#;
    let Ok(Inbound::Events(events)) = options.parse(frame, 7) else {
        panic!("expected events");
    };
    let [Event::Trade(trade)] = events.as_slice() else {
        panic!("expected one trade: {events:?}");
    };
    assert_eq!(
        (
            trade.market_type,
            trade.symbol.as_str(),
            trade.price.to_string()
        ),
        (
            MarketType::Options,
            "BTC-27DEC24-100000-C",
            "0.0215".to_owned()
        )
    );
    assert_eq!(trade.side, Side::Sell);

    let mut books = 0;
    for path in captures("deribit.").expect("captures directory") {
        for record in read_capture(&path).expect("readable capture") {
            if record.kind != RecordKind::Ws {
                continue;
            }
            match options.parse(&record.payload, 0).expect("parses") {
                Inbound::Book(message) if message.market_type == MarketType::Options => {
                    assert!(
                        message.symbol.as_str().ends_with("-C")
                            || message.symbol.as_str().ends_with("-P")
                    );
                    books += 1;
                }
                _ => {}
            }
        }
    }
    assert!(books > 20, "only {books} options book frames");
}

#[test]
fn unsubscribe_requests_list_the_channels_with_ids_apart_from_subscriptions() {
    let frames = Deribit::new(MarketType::Perpetual)
        .unsubscribe_frames(&[Subscription {
            channel: Channel::Trades,
            symbol: "BTC-PERPETUAL".parse().expect("valid"),
        }])
        .expect("supported");
    assert_eq!(
        frames,
        [
            r#"{"jsonrpc":"2.0","id":8589934593,"method":"public/unsubscribe","params":{"channels":["trades.BTC-PERPETUAL.100ms"]}}"#
        ]
    );
}
