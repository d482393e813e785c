//! Derivatives streams: every second, for each simulated symbol, a funding rate, open
//! interest and a volatility index value, and every third second a liquidation, each written
//! in the framing of the venue the subscribed client speaks (Binance USDⓈ-M `markPrice@1s`
//! and `forceOrder`, OKX `funding-rate` and `liquidation-orders` of swaps and `open-interest`
//! of swaps, futures and options, Bybit `tickers` and `allLiquidation`, Deribit
//! `deribit_volatility_index`), for the symbols trading at the start of the second. Values
//! derive from the second, so they are deterministic; every value sent to at least one client
//! is recorded in the report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::dialect::{
    okx_ids, Concerned, Dialect, OKX_INSTRUMENT_TYPES, OKX_MARKETS, OKX_SWAP_LIQUIDATIONS,
};
use crate::polled::value;
use crate::server::{Client, Outbound, Shared};
use marketprism_model::now_ms;

/// One derivatives value written to at least one open connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SentDerivative {
    /// Where it was written: `exchange/market`, e.g. `okx/perpetual`, `deribit/options`.
    pub venue: String,
    /// `funding_rate`, `open_interest`, `liquidation` or `volatility_index`.
    pub kind: String,
    /// Simulator symbol (`BTCUSDT`), or the currency for volatility indices (`BTC`).
    pub symbol: String,
    /// The venue time written, Unix ms.
    pub time_ms: i64,
    /// The values written, by model field name, as decimal text.
    pub values: BTreeMap<String, String>,
}

/// The simulated derivatives market of one symbol in one second, the same on every
/// channel and REST endpoint that reports it.
pub(crate) struct Second {
    pub(crate) time_ms: i64,
    pub(crate) funding_rate: String,
    pub(crate) mark_price: String,
    pub(crate) index_price: String,
    pub(crate) next_funding_ms: i64,
    pub(crate) open_interest: String,
    open_interest_value: String,
    /// A liquidation every third second.
    liquidation: Option<Liquidation>,
}

/// A simulated liquidation order.
struct Liquidation {
    /// A sell order (closing a long position), else a buy.
    sell: bool,
    price: String,
    quantity: String,
}

impl Liquidation {
    /// Binance's order side.
    fn order_side(&self) -> &'static str {
        if self.sell {
            "SELL"
        } else {
            "BUY"
        }
    }

    /// Bybit's side of the liquidated position: a sell order closes a long (`Buy`).
    fn position_side(&self) -> &'static str {
        if self.sell {
            "Buy"
        } else {
            "Sell"
        }
    }

    /// OKX's order side and position side.
    fn okx_sides(&self) -> (&'static str, &'static str) {
        if self.sell {
            ("sell", "long")
        } else {
            ("buy", "short")
        }
    }

    /// The values a liquidation event must carry.
    fn values(&self) -> [(&'static str, &str); 3] {
        let side = if self.sell { "sell" } else { "buy" };
        [
            ("side", side),
            ("price", &self.price),
            ("quantity", &self.quantity),
        ]
    }
}

impl Second {
    /// The values a funding-rate event carrying mark and index prices must carry.
    pub(crate) fn funding_values(&self) -> [(&'static str, &str); 3] {
        [
            ("funding_rate", &self.funding_rate),
            ("mark_price", &self.mark_price),
            ("index_price", &self.index_price),
        ]
    }

    /// The values an open-interest event must carry.
    fn open_interest_values(&self) -> [(&'static str, &str); 2] {
        [
            ("open_interest", &self.open_interest),
            ("open_interest_value", &self.open_interest_value),
        ]
    }
}

pub(crate) fn second(symbol: &str, second: i64) -> Second {
    Second {
        time_ms: second * 1000,
        funding_rate: value(symbol, second, 0, 100_000, 8),
        mark_price: value(symbol, second + 1, 6_500_000_000, 10_000_000, 5),
        index_price: value(symbol, second + 2, 6_500_000_000, 10_000_000, 5),
        next_funding_ms: (second / 28_800 + 1) * 28_800_000,
        open_interest: value(symbol, second + 3, 1_000_000, 9_000_000, 3),
        open_interest_value: value(symbol, second + 4, 100_000_000, 900_000_000, 2),
        liquidation: (second % 3 == 0).then(|| Liquidation {
            sell: second % 2 == 0,
            price: value(symbol, second + 5, 6_400_000_000, 10_000_000, 5),
            quantity: value(symbol, second + 6, 1, 10_000, 3),
        }),
    }
}

impl SentDerivative {
    /// The value `values` (by model field name) of `kind` for `symbol` at `time_ms`, written
    /// for `venue`.
    pub(crate) fn new(
        venue: &str,
        kind: &str,
        symbol: &str,
        time_ms: i64,
        values: &[(&str, &str)],
    ) -> Self {
        SentDerivative {
            venue: venue.into(),
            kind: kind.into(),
            symbol: symbol.into(),
            time_ms,
            values: values
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }
}

/// The frames written to one client for one symbol in one second, and the values they carry.
struct Written<'a> {
    /// Where they are written: `exchange/market`, set before each frame of another market
    /// of the venue (OKX's open interest of futures and options).
    venue: &'static str,
    /// Simulator symbol.
    symbol: &'a str,
    /// The venue time written, Unix ms.
    time_ms: i64,
    frames: Vec<String>,
    records: &'a mut Vec<SentDerivative>,
}

impl Written<'_> {
    /// Writes `frame`, which carries the `kind` values `values`.
    fn frame(&mut self, frame: String, kind: &str, values: &[(&str, &str)]) {
        self.frames.push(frame);
        self.also_carries(kind, values);
    }

    /// Records that the last frame written also carries the `kind` values `values`.
    fn also_carries(&mut self, kind: &str, values: &[(&str, &str)]) {
        self.records.push(SentDerivative::new(
            self.venue,
            kind,
            self.symbol,
            self.time_ms,
            values,
        ));
    }
}

/// The frames for `client` this second, recording what they carry.
fn frames_for(
    client: &Client,
    symbol: &str,
    now: &Second,
    records: &mut Vec<SentDerivative>,
) -> Vec<String> {
    let lower = symbol.to_ascii_lowercase();
    let venue = match client.dialect {
        Dialect::Bybit { linear: false } => "bybit/spot",
        Dialect::Bybit { linear: true } => "bybit/perpetual",
        Dialect::Okx => "okx/perpetual",
        Dialect::Binance { .. } => "binance/perpetual",
        Dialect::Deribit => "deribit/options",
        Dialect::Coinbase | Dialect::CoinbaseExchange => "coinbase/spot",
    };
    let mut written = Written {
        venue,
        symbol,
        time_ms: now.time_ms,
        frames: Vec::new(),
        records,
    };
    match client.dialect {
        Dialect::Binance { futures: true } => {
            let stream = format!("{lower}@markPrice@1s");
            if client.streams.contains(&stream) {
                let data = json!({"e": "markPriceUpdate", "E": now.time_ms, "s": symbol,
                    "p": now.mark_price, "i": now.index_price, "P": now.index_price,
                    "r": now.funding_rate, "T": now.next_funding_ms});
                written.frame(
                    json!({"stream": stream, "data": data}).to_string(),
                    "funding_rate",
                    &now.funding_values(),
                );
            }
            // The symbol's own stream, and the market-wide one reporting every symbol.
            let streams = [format!("{lower}@forceOrder"), ALL_LIQUIDATIONS.to_owned()];
            let liquidation = now.liquidation.as_ref();
            for (stream, liquidation) in streams
                .iter()
                .filter(|stream| client.streams.contains(*stream))
                .filter_map(|stream| Some((stream, liquidation?)))
            {
                let (price, quantity) = (&liquidation.price, &liquidation.quantity);
                let data = json!({"e": "forceOrder", "E": now.time_ms, "o": {"s": symbol,
                    "S": liquidation.order_side(), "o": "LIMIT", "f": "IOC", "q": quantity,
                    "p": price, "ap": price, "X": "FILLED", "l": quantity, "z": quantity,
                    "T": now.time_ms}});
                written.frame(
                    json!({"stream": stream, "data": data}).to_string(),
                    "liquidation",
                    &liquidation.values(),
                );
            }
        }
        Dialect::Okx => {
            let Some(ids) = okx_ids(symbol) else {
                return written.frames;
            };
            let [_, swap, ..] = &ids;
            if client.streams.contains(&format!("funding-rate:{swap}")) {
                written.frame(
                    json!({"arg": {"channel": "funding-rate", "instId": swap},
                    "data": [{"fundingRate": now.funding_rate, "fundingTime": now.next_funding_ms.to_string(),
                              "instId": swap, "instType": "SWAP", "nextFundingRate": "",
                              "nextFundingTime": (now.next_funding_ms + 28_800_000).to_string(),
                              "ts": now.time_ms.to_string()}]})
                    .to_string(),
                    "funding_rate",
                    &[("funding_rate", now.funding_rate.as_str())],
                );
            }
            if let (true, Some(liquidation)) = (
                client.streams.contains(OKX_SWAP_LIQUIDATIONS),
                &now.liquidation,
            ) {
                let (side, position_side) = liquidation.okx_sides();
                let family = swap.trim_end_matches("-SWAP");
                written.frame(
                    json!({"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
                    "data": [{"details": [{"bkLoss": "0", "bkPx": liquidation.price, "ccy": "",
                                           "posSide": position_side, "side": side,
                                           "sz": liquidation.quantity, "ts": now.time_ms.to_string()}],
                              "instFamily": family, "instId": swap, "instType": "SWAP", "uly": family}]})
                    .to_string(),
                    "liquidation",
                    &liquidation.values(),
                );
            }
            // Open interest of each derivative: the swap, the future and the option, each
            // recorded for its own market.
            let derivatives = ids
                .iter()
                .zip(OKX_MARKETS)
                .zip(OKX_INSTRUMENT_TYPES)
                .skip(1);
            for ((inst_id, market), inst_type) in derivatives {
                if client.streams.contains(&format!("open-interest:{inst_id}")) {
                    written.venue = market;
                    written.frame(
                        json!({"arg": {"channel": "open-interest", "instId": inst_id},
                        "data": [{"instId": inst_id, "instType": inst_type, "oi": now.open_interest,
                                  "oiCcy": now.open_interest, "oiUsd": now.open_interest_value,
                                  "ts": now.time_ms.to_string()}]})
                        .to_string(),
                        "open_interest",
                        &now.open_interest_values(),
                    );
                }
            }
        }
        Dialect::Bybit { .. } => {
            let topic = format!("tickers.{symbol}");
            if client.streams.contains(&topic) {
                written.frame(
                    json!({"topic": topic, "type": "snapshot", "cs": now.time_ms, "ts": now.time_ms,
                    "data": {"symbol": symbol, "fundingRate": now.funding_rate,
                             "nextFundingTime": now.next_funding_ms.to_string(),
                             "markPrice": now.mark_price, "indexPrice": now.index_price,
                             "openInterest": now.open_interest,
                             "openInterestValue": now.open_interest_value}})
                    .to_string(),
                    "funding_rate",
                    &now.funding_values(),
                );
                written.also_carries("open_interest", &now.open_interest_values());
            }
            let topic = format!("allLiquidation.{symbol}");
            if let (true, Some(liquidation)) = (client.streams.contains(&topic), &now.liquidation) {
                written.frame(
                    json!({"topic": topic, "type": "snapshot", "ts": now.time_ms,
                    "data": [{"T": now.time_ms, "s": symbol, "S": liquidation.position_side(),
                              "v": liquidation.quantity, "p": liquidation.price}]})
                    .to_string(),
                    "liquidation",
                    &liquidation.values(),
                );
            }
        }
        Dialect::Deribit
        | Dialect::Binance { futures: false }
        | Dialect::Coinbase
        | Dialect::CoinbaseExchange => {}
    }
    written.frames
}

/// Binance USDⓈ-M's market-wide liquidation stream.
pub(crate) const ALL_LIQUIDATIONS: &str = "!forceOrder@arr";

/// Currencies with a simulated volatility index.
const VOLATILITY_CURRENCIES: [&str; 2] = ["BTC", "ETH"];

/// The simulated DVOL of `currency` at `time_ms` (whole seconds): two decimals without a
/// trailing zero, so the JSON number's text is the value. Streamed values and history
/// candles agree.
pub(crate) fn volatility(currency: &str, time_ms: i64) -> String {
    let cents = 3_001 + (time_ms / 1000 + currency.len() as i64).rem_euclid(6_998);
    let cents = if cents % 10 == 0 { cents + 1 } else { cents };
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The Deribit DVOL frame for `client`, if subscribed, recording the value.
fn volatility_frame(
    client: &Client,
    currency: &str,
    time_ms: i64,
    records: &mut Vec<SentDerivative>,
) -> Option<String> {
    let channel = format!(
        "deribit_volatility_index.{}_usd",
        currency.to_ascii_lowercase()
    );
    if client.dialect != Dialect::Deribit || !client.streams.contains(&channel) {
        return None;
    }
    let volatility = volatility(currency, time_ms);
    records.push(SentDerivative::new(
        "deribit/options",
        "volatility_index",
        currency,
        time_ms,
        &[("value", volatility.as_str())],
    ));
    Some(format!(
        r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"{channel}","data":{{"volatility":{volatility},"timestamp":{time_ms},"index_name":"{}_usd"}}}}}}"#,
        currency.to_ascii_lowercase()
    ))
}

/// Sends every second's derivatives values to the subscribed clients until shutdown.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now_second = now_ms() / 1000;
        // The symbols trading this second, each second's values made once.
        let seconds: BTreeMap<String, Second> = shared
            .listings()
            .trading_at(now_second * 1000)
            .map(|listed| (listed.symbol.clone(), second(&listed.symbol, now_second)))
            .collect();
        let clients = shared.clients();
        let mut records = Vec::new();
        for client in clients.values() {
            let mut frames = Vec::new();
            let concerned = Concerned::of(client);
            for (symbol, now) in concerned.select(&seconds) {
                frames.extend(frames_for(client, symbol, now, &mut records));
            }
            for currency in VOLATILITY_CURRENCIES {
                frames.extend(volatility_frame(
                    client,
                    currency,
                    now_second * 1000,
                    &mut records,
                ));
            }
            for text in frames {
                client.offer(Outbound { text, trade: None });
            }
        }
        drop(clients);
        if !records.is_empty() {
            shared.report().record_derivatives(records);
        }
    }
}
