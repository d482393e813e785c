//! A recording of many instruments the collector finds by discovery, as the `thousand`
//! scenario and the discovery benchmark run it: the simulator's generated USDT symbols
//! (`S{N}USDT`) on four venue kinds, each feed recording the trades and books of every USDT
//! instrument its venue lists (`discover = { select = [{ quote = "USDT" }] }`, the list read
//! every second), and the symbols listed and delisted while it runs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::bail;
use marketprism_collector::{DiscoverConfig, SelectRule};

use crate::pipeline::{poll_until, Pipeline, Spec};
use crate::runner::VenueSpec;

/// One feed of the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feed {
    /// Venue kind, as the configuration names it.
    pub kind: &'static str,
    /// The `exchange` its rows name.
    pub exchange: &'static str,
    /// The `market_type` its rows name.
    pub market: &'static str,
}

impl Feed {
    /// `exchange/market`, as the simulator labels what it sent.
    pub fn label(&self) -> String {
        format!("{}/{}", self.exchange, self.market)
    }
}

/// The feeds: OKX and Bybit, spot and perpetual swaps (OKX's two count against the same
/// connection limits). Their books start from snapshots on the socket: Binance's REST
/// snapshots of 250 books at the default depth take longer within its weight limit than
/// the collector waits before it records a book unsynced.
pub const FEEDS: [Feed; 4] = [
    Feed {
        kind: "okx_spot",
        exchange: "okx",
        market: "spot",
    },
    Feed {
        kind: "okx_swap",
        exchange: "okx",
        market: "perpetual",
    },
    Feed {
        kind: "bybit_spot",
        exchange: "bybit",
        market: "spot",
    },
    Feed {
        kind: "bybit_linear",
        exchange: "bybit",
        market: "perpetual",
    },
];

/// Trades per second across all symbols: with every instrument's book events (ten a second
/// each) what two cores sustain beside the servers.
pub const RATE: u32 = 1_000;

/// Symbols listed, and symbols delisted, while the recording runs.
pub const CHANGED: usize = 20;

/// How often each feed reads its venue's instrument list.
pub const DISCOVER_INTERVAL: Duration = Duration::from_secs(1);

/// Levels per side of the published books (the collector's default).
pub const DEPTH: usize = 50;

/// An instrument as the tables name it: exchange, market type, normalized symbol.
pub type Instrument = (String, String, String);

/// A simulator symbol (Binance form) with its normalized name.
pub type Symbol = (String, String);

fn usdt(base: String) -> Symbol {
    (format!("{base}USDT"), format!("{base}-USDT"))
}

/// The simulator's generated symbols `S{per_feed}USDT` stands for, as it numbers them.
pub fn configured(per_feed: usize) -> Vec<Symbol> {
    let width = per_feed.saturating_sub(1).to_string().len();
    (0..per_feed)
        .map(|number| usdt(format!("S{number:0width$}")))
        .collect()
}

/// The symbols listed while the recording runs: `L00USDT` to `L19USDT`.
pub fn listed() -> Vec<Symbol> {
    (0..CHANGED)
        .map(|number| usdt(format!("L{number:02}")))
        .collect()
}

/// The configured symbols delisted while the recording runs, spread over all of them (and
/// so over the feeds' connections).
pub fn delisted(per_feed: usize) -> Vec<Symbol> {
    let step = (per_feed / CHANGED).max(1);
    configured(per_feed)
        .into_iter()
        .step_by(step)
        .take(CHANGED)
        .collect()
}

/// Natives of symbols, as the simulator's listing requests name them.
pub fn natives(symbols: &[Symbol]) -> Vec<String> {
    symbols.iter().map(|(native, _)| native.clone()).collect()
}

/// The instruments of `symbols` on every feed.
pub fn instruments(symbols: &[Symbol]) -> BTreeSet<Instrument> {
    FEEDS
        .iter()
        .flat_map(|feed| {
            symbols.iter().map(|(_, normalized)| {
                (
                    feed.exchange.to_owned(),
                    feed.market.to_owned(),
                    normalized.clone(),
                )
            })
        })
        .collect()
}

/// The recording of `per_feed` generated symbols on every feed at [`RATE`], `count` trades
/// in all (`None`: endless).
pub fn spec(name: &str, per_feed: usize, count: Option<u64>) -> Spec {
    let discover = DiscoverConfig {
        interval: DISCOVER_INTERVAL,
        select: vec![SelectRule {
            base: None,
            quote: Some("USDT".into()),
            settle: None,
            expires_within: None,
            option_kind: None,
        }],
    };
    Spec {
        name: name.into(),
        symbols: vec![(format!("S{{{per_feed}}}USDT"), String::new())],
        rate: RATE,
        count,
        seed: 23,
        venues: FEEDS
            .iter()
            .map(|feed| VenueSpec {
                venue: feed.kind,
                path: "",
                symbols: Vec::new(),
                channels: vec!["trades", "orderbook"],
                polls: Vec::new(),
                discover: Some(discover.clone()),
            })
            .collect(),
        book_deltas: false,
        book_interval: Duration::from_secs(1),
        book_levels: marketprism_sim::DEFAULT_LEVELS,
    }
}

/// Per instrument with a row in `table` (`trades`, `orderbooks`), the venue times of its
/// first and last row, Unix ms.
pub async fn spans(
    pipeline: &Pipeline,
    table: &str,
) -> anyhow::Result<BTreeMap<Instrument, (i64, i64)>> {
    // Compared here, not in SQL: `exchange_time` is a DateTime64 on current servers and an
    // Int64 on legacy ones, read as Unix ms from both.
    Ok(pipeline
        .clickhouse
        .query(&format!(
            "SELECT exchange, market_type, symbol, min(exchange_time), max(exchange_time) \
             FROM {table} GROUP BY exchange, market_type, symbol"
        ))
        .fetch_all::<(String, String, String, i64, i64)>()
        .await?
        .into_iter()
        .map(|(exchange, market, symbol, first, last)| ((exchange, market, symbol), (first, last)))
        .collect())
}

/// The instruments with a row in `table` (`trades`, `orderbooks`) of venue time after
/// `since_ms`.
pub async fn with_rows(
    pipeline: &Pipeline,
    table: &str,
    since_ms: i64,
) -> anyhow::Result<BTreeSet<Instrument>> {
    Ok(spans(pipeline, table)
        .await?
        .into_iter()
        .filter(|(_, (_, last))| *last > since_ms)
        .map(|(instrument, _)| instrument)
        .collect())
}

/// Waits until every instrument of `wanted` has a trade and a book of venue time after
/// `since_ms`; fails after `timeout`, naming what is missing, with the collector's log.
pub async fn wait_recording(
    pipeline: &Pipeline,
    wanted: &BTreeSet<Instrument>,
    since_ms: i64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let missing = || async {
        let traded = with_rows(pipeline, "trades", since_ms).await?;
        let booked = with_rows(pipeline, "orderbooks", since_ms).await?;
        anyhow::Ok(
            wanted
                .iter()
                .filter(|instrument| !traded.contains(*instrument) || !booked.contains(*instrument))
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    if poll_until(timeout, || async { Ok(missing().await?.is_empty()) }).await? {
        return Ok(());
    }
    let missing = missing().await?;
    bail!(
        "{} of {} instruments recorded no trade or book within {} s (e.g. {:?}); collector log:\n{}",
        missing.len(),
        wanted.len(),
        timeout.as_secs(),
        missing.first(),
        pipeline.runner().log_tail("collector")
    )
}
