//! Trades and books of several markets in one run against the simulator: every trade the
//! simulator wrote to a recorded market is stored once, under that market, and nothing else
//! is; no gap is recorded; every published book equals the simulator's true book at its
//! update id.
//!
//! One run records OKX futures and options and Deribit options, which the simulator trades
//! as one future and one option (a call) of each of its symbols on the symbol's own trades
//! and book; another records OKX and Bybit spot, and the Deribit, Bybit linear and Binance
//! USDⓈ-M perpetuals, the last with its aggregate trades (USDⓈ-M streams no other).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use marketprism_collector::VenueConfig;
use marketprism_model::{Event, Exchange};
use marketprism_sim::TrueBook;
use marketprism_venues::{Channel, VenueKind};

use crate::{all_events, finished_report, levels, sim_config, sim_symbol, start};

/// One market the collector records from the simulator.
struct Market {
    venue: VenueKind,
    /// Path appended to the simulator address for the WebSocket endpoint.
    path: &'static str,
    /// The collector's symbols, as the venue names them.
    symbols: &'static [&'static str],
    /// The trade channel (trades, or aggregate trades), and the books where recorded.
    channels: &'static [Channel],
    /// Where the simulator reports writing this market's trades: `exchange/market`, and
    /// `/aggregate` after it for aggregate trades.
    label: &'static str,
}

impl Market {
    /// The market the collector records its books for: `exchange/market`.
    fn books(&self) -> Option<String> {
        self.channels.contains(&Channel::OrderBook).then(|| {
            format!(
                "{}/{}",
                self.venue.exchange().as_str(),
                self.venue.market_type().as_str()
            )
        })
    }
}

/// How a stored trade's market reads in the simulator's report.
fn label(trade: &marketprism_model::Trade) -> String {
    let aggregate = if trade.aggregated { "/aggregate" } else { "" };
    format!(
        "{}/{}{aggregate}",
        trade.exchange.as_str(),
        trade.market_type.as_str()
    )
}

/// Runs the simulator trading `sim_symbols` (`rate` trades a second, `count` in all) and
/// the collector recording `markets` from it, then holds the stream to what the simulator
/// wrote: every market has more than `min_trades` trades written, of each of its symbols,
/// and each is stored exactly once; no trade or book of any other market is stored; no gap
/// is recorded; and every market with books has more than `min_books` published, each
/// equal to the simulator's true book.
async fn trades_and_books_match_the_simulator(
    sim_symbols: &[&str],
    rate: u32,
    count: u64,
    markets: &[Market],
    min_trades: usize,
    min_books: usize,
) {
    let mut sim = marketprism_sim::Config {
        symbols: sim_symbols
            .iter()
            .map(|symbol| (*symbol).to_owned())
            .collect(),
        ..sim_config(rate)
    };
    sim.count = Some(count);
    let mut run = start(sim, "30s").await;
    run.config.venues = markets
        .iter()
        .map(|market| VenueConfig {
            channels: market.channels.to_vec(),
            ..run.sim_venue(market.venue, market.path, market.symbols)
        })
        .collect();
    run.config.validate().expect("a valid configuration");
    run.config.books.depth = 10;
    let collector = run.spawn_collector();
    let report = finished_report(&run.sim_address).await;
    // What the simulator wrote to each market, as `SYMBOL:id`.
    let mut delivered: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for trade in &report.trades {
        for market in markets {
            if trade.venues.contains(market.label) {
                delivered
                    .entry(market.label)
                    .or_default()
                    .insert(format!("{}:{}", trade.symbol, trade.trade_id));
            }
        }
    }
    for market in markets {
        let label = market.label;
        let written = delivered.get(label);
        let count = written.map_or(0, BTreeSet::len);
        assert!(count > min_trades, "{label}: only {count} trades written");
        let symbols: BTreeSet<&str> = written
            .into_iter()
            .flatten()
            .filter_map(|key| key.split(':').next())
            .collect();
        assert_eq!(
            symbols.len(),
            market.symbols.len(),
            "{label}: trades written of {symbols:?} only"
        );
    }
    let expected: usize = delivered.values().map(BTreeSet::len).sum();

    // Until every written trade is stored, or the stream stops growing.
    let stream = run.config.nats.stream.name.clone();
    let mut last = usize::MAX;
    let events = loop {
        let events = all_events(&run.context, &stream).await;
        let trades = events
            .iter()
            .filter(|event| matches!(event, Event::Trade(_)))
            .count();
        if trades >= expected || trades == last {
            break events;
        }
        last = trades;
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let mut stored: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in &events {
        if let Event::Trade(trade) = event {
            let symbol = sim_symbol(trade.symbol.as_str());
            stored
                .entry(label(trade))
                .or_default()
                .push(format!("{symbol}:{}", trade.trade_id));
        }
    }
    for market in markets {
        let label = market.label;
        let ids = stored.remove(label).unwrap_or_default();
        let distinct: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), distinct.len(), "{label}: a trade stored twice");
        assert_eq!(
            Some(&distinct),
            delivered.get(label),
            "{label}: stored trades differ from written ones"
        );
    }
    assert!(stored.is_empty(), "trades of other markets: {stored:?}");
    let gaps: Vec<&Event> = events
        .iter()
        .filter(|event| matches!(event, Event::Gap(_)))
        .collect();
    assert!(gaps.is_empty(), "gaps recorded: {gaps:?}");

    // Every published book is the simulator's book at its update id; Bybit's update ids
    // number the simulator's events (its `u`).
    let client = reqwest::Client::new();
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    for event in &events {
        let Event::OrderBook(book) = event else {
            continue;
        };
        let market = format!("{}/{}", book.exchange.as_str(), book.market_type.as_str());
        let by = if book.exchange == Exchange::Bybit {
            "&by=event"
        } else {
            ""
        };
        let truth: TrueBook = client
            .get(format!(
                "http://{}/control/book?symbol={}&update_id={}&limit=10{by}",
                run.sim_address,
                sim_symbol(book.symbol.as_str()),
                book.update_id
            ))
            .send()
            .await
            .expect("truth")
            .json()
            .await
            .expect("a true book exists for every published update id");
        assert_eq!(book.bids, levels(&truth.bids), "{market} {}", book.symbol);
        assert_eq!(book.asks, levels(&truth.asks), "{market} {}", book.symbol);
        *checked.entry(market).or_default() += 1;
    }
    for market in markets.iter().filter_map(Market::books) {
        let count = checked.remove(&market).unwrap_or(0);
        assert!(count > min_books, "{market}: only {count} books published");
    }
    assert!(checked.is_empty(), "books of other markets: {checked:?}");
    run.stop(collector).await;
}

const TRADES_AND_BOOKS: &[Channel] = &[Channel::Trades, Channel::OrderBook];

#[tokio::test]
async fn okx_futures_and_options_and_deribit_options_trades_and_books() {
    // About eight seconds of trades, twenty a second per symbol.
    trades_and_books_match_the_simulator(
        &["BTCUSD", "ETHUSD"],
        40,
        320,
        &[
            Market {
                venue: VenueKind::OkxFutures,
                path: "",
                symbols: &["BTC-USD-261225", "eth-usd-261225"],
                channels: TRADES_AND_BOOKS,
                label: "okx/futures",
            },
            Market {
                venue: VenueKind::OkxOptions,
                path: "",
                symbols: &["BTC-USD-261225-60000-C", "ETH-USD-261225-60000-C"],
                channels: TRADES_AND_BOOKS,
                label: "okx/options",
            },
            Market {
                venue: VenueKind::DeribitOptions,
                path: "",
                symbols: &["BTC-25DEC26-60000-C", "ETH-25DEC26-60000-C"],
                channels: TRADES_AND_BOOKS,
                label: "deribit/options",
            },
        ],
        20,
        10,
    )
    .await;
}

/// The USDT pairs trade on OKX and Bybit spot and on the Bybit linear and Binance USDⓈ-M
/// perpetuals; Deribit's inverse perpetuals trade the USD symbols.
#[tokio::test]
async fn spot_and_perpetual_trades_and_books() {
    // About eight seconds of trades, twenty a second per symbol as above.
    trades_and_books_match_the_simulator(
        &["BTCUSDT", "ETHUSDT", "BTCUSD", "ETHUSD"],
        80,
        640,
        &[
            Market {
                venue: VenueKind::OkxSpot,
                path: "",
                symbols: &["BTC-USDT", "ETH-USDT"],
                channels: TRADES_AND_BOOKS,
                label: "okx/spot",
            },
            Market {
                venue: VenueKind::BybitSpot,
                path: "",
                symbols: &["BTC-USDT", "ETH-USDT"],
                channels: TRADES_AND_BOOKS,
                label: "bybit/spot",
            },
            Market {
                venue: VenueKind::DeribitPerpetual,
                path: "",
                symbols: &["BTC-PERPETUAL", "ETH-PERPETUAL"],
                channels: TRADES_AND_BOOKS,
                label: "deribit/perpetual",
            },
            Market {
                venue: VenueKind::BybitLinear,
                path: "",
                symbols: &["BTC-USDT", "ETH-USDT"],
                channels: TRADES_AND_BOOKS,
                label: "bybit/perpetual",
            },
            Market {
                venue: VenueKind::BinanceUsdm,
                path: "/fapi",
                symbols: &["BTC-USDT", "ETH-USDT"],
                channels: &[Channel::AggregateTrades, Channel::OrderBook],
                label: "binance/perpetual/aggregate",
            },
        ],
        20,
        10,
    )
    .await;
}
