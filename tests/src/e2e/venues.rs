//! The `venues` scenario: every venue, channel and polled series the collector supports,
//! against the simulator at once, and every table checked against what the simulator sent.
//! Coinbase's two feeds, Advanced Trade and Exchange, store under one exchange and market
//! (`coinbase/spot`), so each records products of its own.
//!
//! * trades: each delivered trade once per venue and market it was written for;
//! * orderbooks: each stored book equals the simulator's true book at its update id (at its
//!   event on Bybit, at its time on Coinbase);
//! * orderbook_deltas: folding the stored deltas of a feed rebuilds every stored book;
//! * funding_rates, open_interests, liquidations, volatility_indices, long_short_ratios:
//!   one row per value the simulator streamed or answered (up to a cutoff taken while it
//!   ran), with identical values, and none it did not send;
//! * gaps and dead letters: none.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use marketprism_model::{now_ms, Decimal};
use marketprism_sim::{BookKey, SentDerivative};
use marketprism_storage::{
    from_fixed18, FundingRateRow, GapRow, LiquidationRow, LongShortRatioRow, OpenInterestRow,
    OrderBookDeltaRow, OrderBookRow, VolatilityIndexRow,
};

use super::instruments::sim_symbol;
use super::scenarios::{
    book_difference, dead_letters, normalized, stopped_cleanly, verify_trades, wait_until_done,
};
use super::{Check, Checks};
use crate::pipeline::{Pipeline, Spec};
use crate::runner::VenueSpec;
use crate::services::Services;

const SCENARIO: &str = "venues";

/// Depth of the published books (the collector's default).
const DEPTH: usize = 50;

/// The simulator's symbols: the first two trade on every venue and market but Coinbase
/// Exchange, which records the other two ([`COINBASE_EXCHANGE_PRODUCTS`]).
const SYMBOLS: [&str; 4] = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"];

/// The products Coinbase Exchange records.
const COINBASE_EXCHANGE_PRODUCTS: [&str; 2] = ["SOL-USDT", "XRP-USDT"];

fn venue(
    venue: &'static str,
    path: &'static str,
    symbols: &[&str],
    channels: Vec<&'static str>,
    polls: Vec<(&'static str, &'static str, &'static str)>,
) -> VenueSpec {
    VenueSpec {
        venue,
        path,
        symbols: symbols.iter().map(|symbol| (*symbol).to_owned()).collect(),
        channels,
        polls,
        discover: None,
    }
}

/// Every venue with every channel and series it offers.
fn venues() -> Vec<VenueSpec> {
    let pairs = ["BTC-USDT", "ETH-USDT"];
    let book_and_trades = || vec!["trades", "orderbook"];
    let ratio = |data| (data, "1s", "5m");
    vec![
        venue("binance_spot", "", &pairs, book_and_trades(), vec![]),
        venue(
            "binance_usdm",
            "/fapi",
            &pairs,
            vec![
                "aggregate_trades",
                "orderbook",
                "funding_rate",
                "liquidations",
            ],
            vec![
                ("funding_rate", "1s", "5m"),
                ("open_interest", "1s", "5m"),
                ratio("long_short_top_positions"),
                ratio("long_short_top_accounts"),
                ratio("long_short_all_accounts"),
            ],
        ),
        venue("okx_spot", "", &pairs, book_and_trades(), vec![]),
        venue(
            "okx_swap",
            "",
            &pairs,
            vec![
                "trades",
                "orderbook",
                "funding_rate",
                "open_interest",
                "liquidations",
            ],
            vec![
                ratio("long_short_top_positions"),
                ratio("long_short_top_accounts"),
                ("long_short_all_accounts", "1s", "1h"),
            ],
        ),
        venue(
            "okx_futures",
            "",
            &["BTC-USDT-261225", "ETH-USDT-261225"],
            vec!["trades", "orderbook", "open_interest"],
            vec![],
        ),
        venue(
            "okx_options",
            "",
            &["BTC-USDT-261225-60000-C", "ETH-USDT-261225-60000-C"],
            vec!["trades", "orderbook", "open_interest"],
            vec![],
        ),
        venue("deribit_perpetual", "", &pairs, book_and_trades(), vec![]),
        // Options' trades and books, and the volatility indices of their currencies: a
        // feed of each, as a currency is no option.
        venue(
            "deribit_options",
            "",
            &["BTC_USDT-25DEC26-60000-C", "ETH_USDT-25DEC26-60000-C"],
            book_and_trades(),
            vec![],
        ),
        venue(
            "deribit_options",
            "",
            &["BTC", "ETH"],
            vec!["volatility_index"],
            vec![("volatility_index", "2s", "1m")],
        ),
        venue("bybit_spot", "", &pairs, book_and_trades(), vec![]),
        venue("coinbase_spot", "", &pairs, book_and_trades(), vec![]),
        venue(
            "coinbase_exchange",
            "/ws-feed",
            &COINBASE_EXCHANGE_PRODUCTS,
            book_and_trades(),
            vec![],
        ),
        venue(
            "bybit_linear",
            "",
            &pairs,
            vec![
                "trades",
                "orderbook",
                "funding_rate",
                "open_interest",
                "liquidations",
            ],
            vec![ratio("long_short_all_accounts")],
        ),
    ]
}

/// Runs the scenario.
pub async fn run(binary: &Path, services: &Services, dir: &Path) -> anyhow::Result<Checks> {
    const TRADES: u64 = 3_000;
    let spec = Spec {
        name: SCENARIO.into(),
        symbols: SYMBOLS
            .iter()
            .map(|symbol| ((*symbol).to_owned(), normalized(symbol)))
            .collect(),
        rate: 300,
        count: Some(TRADES),
        seed: 17,
        venues: venues(),
        book_deltas: true,
        book_interval: Duration::ZERO,
        book_levels: marketprism_sim::DEFAULT_LEVELS,
    };
    let mut pipeline = Pipeline::start(binary, services, &spec, dir).await?;
    wait_until_done(&pipeline).await?;
    // Long enough for every poll to have answered several times and a liquidation (every
    // third second) on every venue.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let report = pipeline.sim_report().await?;
    // Values sent up to here were in the report; later ones are not compared.
    let cutoff_ms = now_ms() - 3_000;
    // Let everything the report lists reach the collector before it stops.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let collector_clean = pipeline.stop_collector()?;
    let expected_trades: u64 = report
        .trades
        .iter()
        .map(|trade| trade.venues.len() as u64)
        .sum();
    pipeline
        .wait_for_trades(expected_trades, Duration::from_secs(60))
        .await?;
    for table in marketprism_schema::TABLES {
        pipeline.wait_until_settled(table).await?;
    }

    let mut checks = vec![Check::clean_stop(SCENARIO, collector_clean)];
    let mut trade_feeds: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for trade in &report.trades {
        for venue in &trade.venues {
            trade_feeds.entry(venue).or_default().insert(&trade.symbol);
        }
    }
    checks.push(Check::equal(
        SCENARIO,
        "trade feeds delivered, with their symbols",
        "binance/perpetual/aggregate 2, binance/spot 2, bybit/perpetual 2, bybit/spot 2, \
         coinbase/spot 4, deribit/options 2, deribit/perpetual 2, okx/futures 2, \
         okx/options 2, okx/perpetual 2, okx/spot 2"
            .to_owned(),
        trade_feeds
            .iter()
            .map(|(feed, symbols)| format!("{feed} {}", symbols.len()))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    let mut coinbase_trades: BTreeMap<&str, usize> = BTreeMap::new();
    for trade in report
        .trades
        .iter()
        .filter(|trade| trade.venues.contains("coinbase/spot"))
    {
        *coinbase_trades.entry(&trade.symbol).or_default() += 1;
    }
    checks.push(Check::measured(
        SCENARIO,
        "Coinbase trades delivered",
        coinbase_trades
            .iter()
            .map(|(symbol, trades)| format!("{symbol} {trades}"))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    checks.extend(verify_trades(SCENARIO, &pipeline, &report).await?);
    checks.extend(verify_books(&pipeline).await?);
    // Coinbase Exchange's products are recorded on no derivatives feed: a market-wide
    // channel (OKX `liquidation-orders`) carries their values too, which the collector drops.
    let records: Vec<&SentDerivative> = report
        .derivatives
        .iter()
        .filter(|sent| sent.time_ms <= cutoff_ms)
        .filter(|sent| !COINBASE_EXCHANGE_PRODUCTS.contains(&normalized(&sent.symbol).as_str()))
        .collect();
    checks.extend(verify_derivatives(&pipeline, &records, cutoff_ms).await?);
    let gaps: Vec<GapRow> = pipeline.stored("").await?;
    checks.push(Check::equal(SCENARIO, "gaps recorded", 0, gaps.len()));
    checks.push(Check::within_ws_limits(SCENARIO, &report));
    checks.push(dead_letters(SCENARIO, &pipeline).await?);
    checks.push(stopped_cleanly(SCENARIO, pipeline)?);
    Ok(checks)
}

/// `exchange/market`, as the simulator labels what it sent.
fn feed(exchange: &str, market_type: &str) -> String {
    format!("{exchange}/{market_type}")
}

/// Stored books against the simulator's true books, and the stored deltas against the
/// stored books.
async fn verify_books(pipeline: &Pipeline) -> anyhow::Result<Checks> {
    let rows: Vec<OrderBookRow> = pipeline
        .stored("exchange, market_type, symbol, update_id")
        .await?;
    let mut per_feed: BTreeMap<String, usize> = BTreeMap::new();
    let mut differing = Vec::new();
    let mut unknown = Vec::new();
    for row in &rows {
        let feed = feed(&row.exchange, &row.market_type);
        *per_feed
            .entry(format!("{feed} {}", row.symbol))
            .or_default() += 1;
        let Some(native) = sim_symbol(&feed, &row.symbol, &SYMBOLS) else {
            unknown.push(format!("{feed} {} {}", row.symbol, row.update_id));
            continue;
        };
        let (key, id) = truth_key(row);
        match pipeline.true_book(native, key, id, DEPTH).await? {
            Some(truth) => differing.extend(book_difference(row, &truth)),
            None => unknown.push(format!("{feed} {} {}", row.symbol, row.update_id)),
        }
    }
    // 10 book feeds × 2 symbols, and Coinbase's two feeds × 2 products.
    let feeds = per_feed.len();
    let thinnest = per_feed.values().min().copied().unwrap_or_default();
    let coinbase: Vec<String> = per_feed
        .iter()
        .filter(|(feed, _)| feed.starts_with("coinbase/"))
        .map(|(feed, books)| format!("{feed} {books}"))
        .collect();
    let mut checks = vec![
        Check::holds(
            SCENARIO,
            "books stored for every feed and symbol",
            "24 feeds, > 20 books each",
            format!("{feeds} feeds, fewest {thinnest} books"),
            feeds == 24 && thinnest > 20,
        ),
        Check::measured(SCENARIO, "Coinbase books stored", coinbase.join(", ")),
        Check::none_of(SCENARIO, "books without a true book", "unknown", &unknown),
        Check::none_of(
            SCENARIO,
            "every book equals the sim's at its update id",
            "differing",
            &differing,
        ),
    ];
    checks.push(verify_deltas(pipeline, &rows).await?);
    Ok(checks)
}

/// What the simulator's true book of `row` is looked up by, and at: Bybit's update ids are
/// event numbers, Coinbase's are times (Unix microseconds on Exchange, nanoseconds on
/// Advanced Trade), the other venues' the simulator's update ids.
fn truth_key(row: &OrderBookRow) -> (BookKey, u64) {
    match row.exchange.as_str() {
        "bybit" => (BookKey::Event, row.update_id),
        "coinbase" if COINBASE_EXCHANGE_PRODUCTS.contains(&row.symbol.as_str()) => {
            (BookKey::Time, row.update_id)
        }
        "coinbase" => (BookKey::Time, row.update_id / 1_000),
        _ => (BookKey::UpdateId, row.update_id),
    }
}

type Side = BTreeMap<Decimal, Decimal>;

/// Applies levels to one side: a zero quantity removes the level.
fn apply(side: &mut Side, prices: &[i128], quantities: &[i128]) {
    for (price, quantity) in prices.iter().zip(quantities) {
        let (price, quantity) = (from_fixed18(*price), from_fixed18(*quantity));
        if quantity.is_zero() {
            side.remove(&price);
        } else {
            side.insert(price, quantity);
        }
    }
}

/// Folds each feed's stored deltas in update order; at every stored book's update id the
/// rebuilt top levels must equal it.
async fn verify_deltas(pipeline: &Pipeline, books: &[OrderBookRow]) -> anyhow::Result<Check> {
    let deltas: Vec<OrderBookDeltaRow> = pipeline
        // A snapshot and a delta can end at the same update id (Binance USDⓈ-M bridges a
        // snapshot with the event that contains it): the snapshot comes first.
        .stored("exchange, market_type, symbol, update_id, snapshot DESC")
        .await?;
    let key = |exchange: &str, market: &str, symbol: &str, update_id: u64| {
        (
            exchange.to_owned(),
            market.to_owned(),
            symbol.to_owned(),
            update_id,
        )
    };
    let wanted: HashMap<_, &OrderBookRow> = books
        .iter()
        .map(|row| {
            (
                key(&row.exchange, &row.market_type, &row.symbol, row.update_id),
                row,
            )
        })
        .collect();
    let mut rebuilt: HashMap<(String, String, String), (Side, Side)> = HashMap::new();
    let mut compared = HashSet::new();
    let mut differing = Vec::new();
    for delta in &deltas {
        let (bids, asks) = rebuilt
            .entry((
                delta.exchange.clone(),
                delta.market_type.clone(),
                delta.symbol.clone(),
            ))
            .or_default();
        if delta.snapshot == 1 {
            bids.clear();
            asks.clear();
        }
        apply(bids, &delta.bid_prices, &delta.bid_quantities);
        apply(asks, &delta.ask_prices, &delta.ask_quantities);
        let book_key = key(
            &delta.exchange,
            &delta.market_type,
            &delta.symbol,
            delta.update_id,
        );
        let Some(book) = wanted.get(&book_key) else {
            continue;
        };
        compared.insert(book_key);
        let top = |side: &Side, descending: bool| -> Vec<(Decimal, Decimal)> {
            let levels = side.iter().map(|(price, quantity)| (*price, *quantity));
            if descending {
                levels.rev().take(DEPTH).collect()
            } else {
                levels.take(DEPTH).collect()
            }
        };
        let stored = |prices: &[i128], quantities: &[i128]| -> Vec<(Decimal, Decimal)> {
            prices
                .iter()
                .zip(quantities)
                .map(|(price, quantity)| (from_fixed18(*price), from_fixed18(*quantity)))
                .collect()
        };
        if top(bids, true) != stored(&book.bid_prices, &book.bid_quantities)
            || top(asks, false) != stored(&book.ask_prices, &book.ask_quantities)
        {
            differing.push(format!(
                "{} {} {} at {} (snapshot {}, first id {})",
                delta.exchange,
                delta.market_type,
                delta.symbol,
                delta.update_id,
                delta.snapshot,
                delta.first_update_id
            ));
        }
    }
    let (all, compared) = (books.len(), compared.len());
    Ok(Check::holds(
        SCENARIO,
        "deltas rebuild every stored book",
        &format!("{all} of {all} books rebuilt, 0 differing"),
        format!(
            "{compared} of {all} books rebuilt from {} deltas, {} differing{}",
            deltas.len(),
            differing.len(),
            differing
                .first()
                .map_or_else(String::new, |first| format!(", e.g. {first}"))
        ),
        compared == all && differing.is_empty(),
    ))
}

/// A value as compared: decimals normalized, other text as is.
fn comparable(text: &str) -> String {
    Decimal::from_str(text).map_or_else(|_| text.to_owned(), |value| value.normalize().to_string())
}

/// What identifies one row: feed, data kind, symbol (as the simulator names it: the
/// symbol whose instrument the row is of, else without dashes, as a currency), venue time,
/// and for long/short ratios their kind and period.
type Key = (String, &'static str, String, i64, String);

/// One stored derivatives row as the simulator's terms: its key and values.
struct Observed {
    key: Key,
    values: BTreeMap<String, String>,
}

fn observed(
    exchange: &str,
    market_type: &str,
    kind: &'static str,
    symbol: &str,
    time: i64,
    values: &[(&str, Option<i128>)],
    text: &[(&str, &str)],
) -> Observed {
    let mut all: BTreeMap<String, String> = values
        .iter()
        .filter_map(|(name, value)| {
            value.map(|value| ((*name).to_owned(), from_fixed18(value).to_string()))
        })
        .collect();
    all.extend(
        text.iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    let series = match (all.get("kind"), all.get("period")) {
        (Some(kind), Some(period)) => format!("{kind}/{period}"),
        _ => String::new(),
    };
    let feed = feed(exchange, market_type);
    let symbol =
        sim_symbol(&feed, symbol, &SYMBOLS).map_or_else(|| symbol.replace('-', ""), str::to_owned);
    Observed {
        key: (feed, kind, symbol, time, series),
        values: all,
    }
}

/// Reads every derivatives table as [`Observed`] rows.
async fn stored_derivatives(pipeline: &Pipeline) -> anyhow::Result<Vec<Observed>> {
    let mut rows = Vec::new();
    for row in pipeline.stored::<FundingRateRow>("").await? {
        rows.push(observed(
            &row.exchange,
            &row.market_type,
            "funding_rate",
            &row.symbol,
            row.exchange_time,
            &[
                ("funding_rate", Some(row.funding_rate)),
                ("mark_price", row.mark_price),
                ("index_price", row.index_price),
            ],
            &[],
        ));
    }
    for row in pipeline.stored::<OpenInterestRow>("").await? {
        rows.push(observed(
            &row.exchange,
            &row.market_type,
            "open_interest",
            &row.symbol,
            row.exchange_time,
            &[
                ("open_interest", Some(row.open_interest)),
                ("open_interest_value", row.open_interest_value),
            ],
            &[],
        ));
    }
    for row in pipeline.stored::<LiquidationRow>("").await? {
        rows.push(observed(
            &row.exchange,
            &row.market_type,
            "liquidation",
            &row.symbol,
            row.exchange_time,
            &[("price", Some(row.price)), ("quantity", Some(row.quantity))],
            &[("side", &row.side)],
        ));
    }
    for row in pipeline.stored::<VolatilityIndexRow>("").await? {
        rows.push(observed(
            &row.exchange,
            &row.market_type,
            "volatility_index",
            &row.symbol,
            row.exchange_time,
            &[("value", Some(row.value))],
            &[],
        ));
    }
    for row in pipeline.stored::<LongShortRatioRow>("").await? {
        rows.push(observed(
            &row.exchange,
            &row.market_type,
            "long_short_ratio",
            &row.symbol,
            row.exchange_time,
            &[
                ("ratio", Some(row.ratio)),
                ("long_share", row.long_share),
                ("short_share", row.short_share),
            ],
            &[("kind", &row.kind), ("period", &row.period)],
        ));
    }
    Ok(rows)
}

/// The data kinds of the simulator's records and their tables.
const KINDS: [(&str, &str); 5] = [
    ("funding_rate", "funding_rates"),
    ("open_interest", "open_interests"),
    ("liquidation", "liquidations"),
    ("volatility_index", "volatility_indices"),
    ("long_short_ratio", "long_short_ratios"),
];

/// Each derivatives table holds one row per value the simulator sent up to the cutoff,
/// with the values it sent, and nothing else.
async fn verify_derivatives(
    pipeline: &Pipeline,
    records: &[&SentDerivative],
    cutoff_ms: i64,
) -> anyhow::Result<Checks> {
    let mut expected: HashMap<Key, BTreeMap<String, String>> = HashMap::new();
    for sent in records {
        let Some((kind, _)) = KINDS.iter().find(|(kind, _)| *kind == sent.kind) else {
            continue;
        };
        let series = match (sent.values.get("kind"), sent.values.get("period")) {
            (Some(kind), Some(period)) => format!("{kind}/{period}"),
            _ => String::new(),
        };
        let key = (
            sent.venue.clone(),
            *kind,
            sent.symbol.clone(),
            sent.time_ms,
            series,
        );
        expected.entry(key).or_default().extend(
            sent.values
                .iter()
                .map(|(name, value)| (name.clone(), comparable(value))),
        );
    }
    let stored: Vec<Observed> = stored_derivatives(pipeline)
        .await?
        .into_iter()
        .filter(|row| row.key.3 <= cutoff_ms)
        .collect();

    let mut checks = Vec::new();
    for (kind, table) in KINDS {
        let wanted: BTreeSet<&Key> = expected.keys().filter(|key| key.1 == kind).collect();
        let rows: Vec<&Observed> = stored.iter().filter(|row| row.key.1 == kind).collect();
        let found: BTreeSet<&Key> = rows.iter().map(|row| &row.key).collect();
        let feeds: BTreeSet<&str> = wanted.iter().map(|key| key.0.as_str()).collect();
        let missing: Vec<String> = wanted
            .difference(&found)
            .map(|key| format!("{key:?}"))
            .collect();
        let unexpected: Vec<String> = found
            .difference(&wanted)
            .map(|key| format!("{key:?}"))
            .collect();
        let differing: Vec<String> = rows
            .iter()
            .filter(|row| {
                expected.get(&row.key).is_some_and(|values| {
                    values
                        .iter()
                        .any(|(name, value)| row.values.get(name) != Some(value))
                })
            })
            .map(|row| format!("{:?} {:?}", row.key, row.values))
            .collect();
        checks.push(Check::holds(
            SCENARIO,
            &format!("{table} hold exactly what the sim sent"),
            "every value once, identical",
            format!(
                "{} rows from {}; {} missing, {} unexpected, {} differing{}",
                rows.len(),
                feeds.into_iter().collect::<Vec<_>>().join(" "),
                missing.len(),
                unexpected.len(),
                differing.len(),
                missing
                    .first()
                    .or(unexpected.first())
                    .or(differing.first())
                    .map_or_else(String::new, |example| format!(", e.g. {example}")),
            ),
            !rows.is_empty()
                && rows.len() == wanted.len()
                && missing.is_empty()
                && unexpected.is_empty()
                && differing.is_empty(),
        ));
    }
    Ok(checks)
}
