//! The venues' framings of the simulated books: Binance spot and USDⓈ-M diff-depth events,
//! OKX `books`, Deribit `book.*.100ms`, Bybit v5 `orderbook.*`, Coinbase Advanced Trade
//! `l2_data` (see `coinbase.rs`) and Coinbase Exchange `l2update` (see
//! `coinbase_exchange.rs`), with each venue's subscribe replies, errors, pings and
//! subscription snapshots.
//!
//! Written from the venues' documentation, independently of the collector's parsers.

use std::collections::{BTreeMap, BTreeSet};

use marketprism_venues::VenueKind;
use serde_json::{json, Value};

use crate::depth::{price_text, quantity_text, BookEvent, BookSnapshot, Change};
use crate::protocol::parse_stream;
use crate::server::{Client, Outbound, Shared};

/// Which venue a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Dialect {
    /// Binance spot (`/ws`, `/stream`) or USDⓈ-M futures (`/fapi/stream`, adds `pu`).
    Binance {
        /// USDⓈ-M framing.
        futures: bool,
    },
    /// OKX v5 public (`/ws/v5/public`).
    Okx,
    /// Deribit JSON-RPC (`/ws/api/v2`).
    Deribit,
    /// Bybit v5 public (`/v5/public/{spot,linear}`).
    Bybit {
        /// The linear (USDT perpetual) category, else spot.
        linear: bool,
    },
    /// Coinbase Advanced Trade (`/`, as `wss://advanced-trade-ws.coinbase.com`).
    Coinbase,
    /// Coinbase Exchange (`/ws-feed`, as `wss://ws-feed.exchange.coinbase.com`; see
    /// `coinbase_exchange.rs`).
    CoinbaseExchange,
}

impl Dialect {
    /// The venue and market whose protocol this dialect speaks; one market stands for all
    /// of OKX's and of Deribit's, which share an endpoint and its limits.
    pub(crate) const fn venue(self) -> VenueKind {
        match self {
            Dialect::Binance { futures: false } => VenueKind::BinanceSpot,
            Dialect::Binance { futures: true } => VenueKind::BinanceUsdm,
            Dialect::Okx => VenueKind::OkxSpot,
            Dialect::Deribit => VenueKind::DeribitPerpetual,
            Dialect::Bybit { linear: false } => VenueKind::BybitSpot,
            Dialect::Bybit { linear: true } => VenueKind::BybitLinear,
            Dialect::Coinbase => VenueKind::CoinbaseSpot,
            Dialect::CoinbaseExchange => VenueKind::CoinbaseExchange,
        }
    }

    /// The path a client connects to for this dialect.
    pub(crate) const fn endpoint(self) -> &'static str {
        match self {
            Dialect::Binance { futures: false } => "/stream",
            Dialect::Binance { futures: true } => "/fapi/stream",
            Dialect::Okx => "/ws/v5/public",
            Dialect::Deribit => "/ws/api/v2",
            Dialect::Bybit { linear: false } => "/v5/public/spot",
            Dialect::Bybit { linear: true } => "/v5/public/linear",
            Dialect::Coinbase => "/",
            Dialect::CoinbaseExchange => "/ws-feed",
        }
    }
}

/// Quote assets recognised when splitting simulator symbols such as `BTCUSDT`.
const QUOTES: &[&str] = &["USDT", "USDC", "USD", "BTC", "ETH"];

/// The base and quote asset of a simulator symbol: `BTCUSDT` → `BTC`, `USDT`.
pub(crate) fn split(symbol: &str) -> Option<(&str, &str)> {
    QUOTES
        .iter()
        .filter(|quote| symbol.len() > quote.len() && symbol.ends_with(*quote))
        .max_by_key(|quote| quote.len())
        .map(|quote| symbol.split_at(symbol.len() - quote.len()))
}

/// The expiry of the simulator's OKX futures and options, as OKX writes it (`YYMMDD`).
const OKX_EXPIRY: &str = "261225";

/// The expiry of the simulator's Deribit options, as Deribit writes it (`DMMMYY`).
const DERIBIT_EXPIRY: &str = "25DEC26";

/// The strike of the simulator's one option (a call) per symbol.
pub(crate) const STRIKE: u32 = 60_000;

/// Where each of [`okx_ids`] is written: `exchange/market`.
pub(crate) const OKX_MARKETS: [&str; 4] =
    ["okx/spot", "okx/perpetual", "okx/futures", "okx/options"];

/// OKX's `instType` of each of [`okx_ids`].
pub(crate) const OKX_INSTRUMENT_TYPES: [&str; 4] = ["SPOT", "SWAP", "FUTURES", "OPTION"];

/// OKX instrument ids of a simulator symbol: spot `BTC-USDT`, swap `BTC-USDT-SWAP`, futures
/// `BTC-USDT-261225` and option `BTC-USDT-261225-60000-C`, all trading the symbol's book and
/// trades.
pub(crate) fn okx_ids(symbol: &str) -> Option<[String; 4]> {
    let (base, quote) = split(symbol)?;
    Some([
        format!("{base}-{quote}"),
        format!("{base}-{quote}-SWAP"),
        format!("{base}-{quote}-{OKX_EXPIRY}"),
        format!("{base}-{quote}-{OKX_EXPIRY}-{STRIKE}-C"),
    ])
}

/// The Deribit perpetual of a simulator symbol: `BTCUSD` → `BTC-PERPETUAL`,
/// `ETHUSDC` → `ETH_USDC-PERPETUAL`.
pub(crate) fn deribit_name(symbol: &str) -> Option<String> {
    let (base, quote) = split(symbol)?;
    Some(if quote == "USD" {
        format!("{base}-PERPETUAL")
    } else {
        format!("{base}_{quote}-PERPETUAL")
    })
}

/// The Deribit option (a call) of a simulator symbol, trading the symbol's book and trades:
/// `BTCUSD` → `BTC-25DEC26-60000-C`, `ETHUSDC` → `ETH_USDC-25DEC26-60000-C`.
pub(crate) fn deribit_option_name(symbol: &str) -> Option<String> {
    let (base, quote) = split(symbol)?;
    Some(if quote == "USD" {
        format!("{base}-{DERIBIT_EXPIRY}-{STRIKE}-C")
    } else {
        format!("{base}_{quote}-{DERIBIT_EXPIRY}-{STRIKE}-C")
    })
}

/// Deribit instrument names of a simulator symbol, each with where it is written: the
/// perpetual and the option.
pub(crate) fn deribit_names(symbol: &str) -> Vec<(String, &'static str)> {
    deribit_name(symbol)
        .map(|name| (name, "deribit/perpetual"))
        .into_iter()
        .chain(deribit_option_name(symbol).map(|name| (name, "deribit/options")))
        .collect()
}

/// The simulator symbol a venue names `instrument`, if it names one of the simulator's
/// instruments of some symbol (listed or not).
fn instrument_symbol(dialect: Dialect, instrument: &str) -> Option<String> {
    let upper = instrument.to_ascii_uppercase();
    Some(match dialect {
        // `BASE-QUOTE` and whatever names the market.
        Dialect::Okx => {
            let mut segments = upper.split('-');
            let symbol = format!("{}{}", segments.next()?, segments.next()?);
            okx_ids(&symbol)?.contains(&upper).then_some(symbol)?
        }
        Dialect::Deribit => {
            // `BTC-…` is quoted in USD, `ETH_USDC-…` in its second asset.
            let underlying = instrument.split('-').next()?;
            let symbol = match underlying.split_once('_') {
                Some((base, quote)) => format!("{base}{quote}"),
                None => format!("{underlying}USD"),
            };
            deribit_names(&symbol)
                .iter()
                .any(|(name, _)| name == instrument)
                .then_some(symbol)?
        }
        Dialect::Coinbase | Dialect::CoinbaseExchange => upper.replace('-', ""),
        Dialect::Bybit { .. } | Dialect::Binance { .. } => upper,
    })
}

/// The simulator symbol behind a venue instrument name, if its book trades.
pub(crate) fn symbol_of(dialect: Dialect, instrument: &str, shared: &Shared) -> Option<String> {
    let symbol = instrument_symbol(dialect, instrument)?;
    shared.books().knows(&symbol).then_some(symbol)
}

/// The symbols whose data may go to a connection, from its subscriptions.
pub(crate) enum Concerned {
    /// Every symbol: the connection holds a market-wide stream (liquidations).
    Every,
    /// These symbols (upper case), at most.
    Symbols(BTreeSet<String>),
}

impl Concerned {
    /// The symbols of `client`'s subscriptions, so that a tick writes to each connection
    /// for its own symbols rather than trying every symbol on every connection.
    pub(crate) fn of(client: &Client) -> Self {
        let mut symbols = BTreeSet::new();
        for stream in &client.streams {
            if stream == crate::derivatives::ALL_LIQUIDATIONS || stream == OKX_SWAP_LIQUIDATIONS {
                return Concerned::Every;
            }
            let instrument = match client.dialect {
                Dialect::Binance { .. } => {
                    symbols.extend(parse_stream(stream).map(|(symbol, _)| symbol));
                    continue;
                }
                Dialect::Okx | Dialect::Coinbase | Dialect::CoinbaseExchange => {
                    stream.split_once(':').map(|(_, id)| id)
                }
                Dialect::Deribit => stream.split('.').nth(1),
                Dialect::Bybit { .. } => stream.rsplit('.').next(),
            };
            symbols.extend(instrument.and_then(|name| instrument_symbol(client.dialect, name)));
        }
        Concerned::Symbols(symbols)
    }

    /// The entries of `by_symbol` whose data may go to the connection, in symbol order:
    /// each looked up, not every symbol tried.
    pub(crate) fn select<'a, V>(
        &'a self,
        by_symbol: &'a BTreeMap<String, V>,
    ) -> Box<dyn Iterator<Item = (&'a String, &'a V)> + 'a> {
        match self {
            Concerned::Every => Box::new(by_symbol.iter()),
            Concerned::Symbols(symbols) => Box::new(
                symbols
                    .iter()
                    .filter_map(|symbol| by_symbol.get_key_value(symbol)),
            ),
        }
    }
}

fn levels_okx(changes: &[(i64, u64)]) -> Vec<Value> {
    changes
        .iter()
        .map(|(price, quantity)| {
            json!([
                price_text(*price),
                quantity_text(*quantity),
                "0",
                if *quantity == 0 { "0" } else { "1" }
            ])
        })
        .collect()
}

fn levels_pairs(changes: &[(i64, u64)]) -> Vec<Value> {
    changes
        .iter()
        .map(|(price, quantity)| json!([price_text(*price), quantity_text(*quantity)]))
        .collect()
}

/// Deribit writes numbers; the text is parsed as JSON so they stay numbers.
fn levels_deribit(changes: &[Change]) -> Vec<Value> {
    changes
        .iter()
        .map(|change| {
            let action = match (change.quantity, change.existed) {
                (0, _) => "delete",
                (_, true) => "change",
                (_, false) => "new",
            };
            let number =
                |text: String| -> Value { serde_json::from_str(&text).unwrap_or(Value::Null) };
            json!([
                action,
                number(price_text(change.price)),
                number(quantity_text(change.quantity))
            ])
        })
        .collect()
}

fn pairs(changes: &[Change]) -> Vec<(i64, u64)> {
    changes
        .iter()
        .map(|change| (change.price, change.quantity))
        .collect()
}

/// The stream key a client holds for a symbol's book, if subscribed, with the name to write.
fn subscribed_book(client: &Client, symbol: &str) -> Option<String> {
    let lower = symbol.to_ascii_lowercase();
    match client.dialect {
        Dialect::Binance { .. } => ["depth@100ms", "depth"]
            .into_iter()
            .map(|suffix| format!("{lower}@{suffix}"))
            .find(|stream| client.streams.contains(stream)),
        Dialect::Okx => okx_ids(symbol)?
            .into_iter()
            .find(|id| client.streams.contains(&format!("books:{id}"))),
        Dialect::Deribit => deribit_names(symbol)
            .into_iter()
            .map(|(name, _)| format!("book.{name}.100ms"))
            .find(|channel| client.streams.contains(channel)),
        Dialect::Bybit { .. } => client
            .streams
            .iter()
            .find(|topic| topic.starts_with("orderbook.") && topic.ends_with(&format!(".{symbol}")))
            .cloned(),
        Dialect::Coinbase => crate::coinbase::subscribed_book(client, symbol),
        Dialect::CoinbaseExchange => crate::coinbase_exchange::subscribed_book(client, symbol),
    }
}

/// Notes, for `client`, that an event of `symbol`'s book was lost rather than sent: only
/// Coinbase shows it, Advanced Trade by a hole in its numbering, Exchange by closing the
/// connection.
pub(crate) fn lose_event(client: &Client, symbol: &str) {
    match client.dialect {
        Dialect::Coinbase => crate::coinbase::lose_book_event(client, symbol),
        Dialect::CoinbaseExchange => crate::coinbase_exchange::lose_book_event(client, symbol),
        _ => {}
    }
}

/// The frame carrying `event` to `client`, if it is subscribed to that book.
pub(crate) fn render_event(client: &Client, event: &BookEvent) -> Option<String> {
    let stream = subscribed_book(client, &event.symbol)?;
    let (bids, asks) = (pairs(&event.bids), pairs(&event.asks));
    Some(match client.dialect {
        Dialect::Binance { futures } => {
            let mut data = json!({
                "e": "depthUpdate", "E": event.time_ms(), "s": event.symbol,
                "U": event.first_id, "u": event.last_id,
                "b": levels_pairs(&bids), "a": levels_pairs(&asks),
            });
            if futures {
                data["T"] = json!(event.time_ms());
                data["pu"] = json!(event.prev_id);
            }
            if client.combined {
                json!({"stream": stream, "data": data}).to_string()
            } else {
                data.to_string()
            }
        }
        Dialect::Okx => json!({
            "arg": {"channel": "books", "instId": stream},
            "action": "update",
            "data": [{
                "asks": levels_okx(&asks), "bids": levels_okx(&bids),
                "ts": event.time_ms().to_string(), "checksum": event.checksum,
                "prevSeqId": event.prev_id, "seqId": event.last_id,
            }],
        })
        .to_string(),
        Dialect::Deribit => json!({
            "jsonrpc": "2.0", "method": "subscription",
            "params": {"channel": stream, "data": {
                "type": "change", "timestamp": event.time_ms(),
                "instrument_name": deribit_book_instrument(&stream),
                "change_id": event.last_id, "prev_change_id": event.prev_id,
                "bids": levels_deribit(&event.bids), "asks": levels_deribit(&event.asks),
            }},
        })
        .to_string(),
        Dialect::Bybit { .. } => json!({
            "topic": stream, "type": "delta", "ts": event.time_ms(), "cts": event.time_ms(),
            "data": {"s": event.symbol, "b": levels_pairs(&bids), "a": levels_pairs(&asks),
                     "u": event.event, "seq": event.last_id},
        })
        .to_string(),
        Dialect::Coinbase => crate::coinbase::book_event(client, &stream, event),
        Dialect::CoinbaseExchange => crate::coinbase_exchange::book_event(&stream, event),
    })
}

/// The instrument of a Deribit book channel: `book.BTC-PERPETUAL.100ms` → `BTC-PERPETUAL`.
fn deribit_book_instrument(channel: &str) -> &str {
    channel
        .strip_prefix("book.")
        .and_then(|rest| rest.strip_suffix(".100ms"))
        .unwrap_or(channel)
}

/// The snapshot frame a venue sends `client` on subscription.
fn render_snapshot(client: &Client, stream: &str, symbol: &str, book: &BookSnapshot) -> String {
    let now = marketprism_model::now_ms();
    match client.dialect {
        Dialect::Okx => json!({
            "arg": {"channel": "books", "instId": stream.trim_start_matches("books:")},
            "action": "snapshot",
            "data": [{
                "asks": levels_okx(&book.asks), "bids": levels_okx(&book.bids),
                "ts": now.to_string(), "checksum": book.checksum,
                "prevSeqId": -1, "seqId": book.last_id,
            }],
        })
        .to_string(),
        Dialect::Deribit => {
            let as_changes = |levels: &[(i64, u64)]| -> Vec<Change> {
                levels
                    .iter()
                    .map(|(price, quantity)| Change {
                        price: *price,
                        quantity: *quantity,
                        existed: false,
                    })
                    .collect()
            };
            json!({
                "jsonrpc": "2.0", "method": "subscription",
                "params": {"channel": stream, "data": {
                    "type": "snapshot", "timestamp": now,
                    "instrument_name": deribit_book_instrument(stream), "change_id": book.last_id,
                    "bids": levels_deribit(&as_changes(&book.bids)),
                    "asks": levels_deribit(&as_changes(&book.asks)),
                }},
            })
            .to_string()
        }
        Dialect::Bybit { .. } => json!({
            "topic": stream, "type": "snapshot", "ts": now, "cts": now,
            "data": {"s": symbol, "b": levels_pairs(&book.bids), "a": levels_pairs(&book.asks),
                     "u": book.event, "seq": book.last_id},
        })
        .to_string(),
        Dialect::Coinbase => {
            crate::coinbase::book_snapshot(client, stream.trim_start_matches("level2:"), book)
        }
        Dialect::CoinbaseExchange => {
            let product = stream
                .split_once(':')
                .map_or(stream, |(_, product)| product);
            crate::coinbase_exchange::book_snapshot(product, book)
        }
        Dialect::Binance { .. } => String::new(),
    }
}

/// Subscribes `client` to a book stream and queues the venue's snapshot for it.
pub(crate) fn subscribe_book(shared: &Shared, client: &mut Client, stream: String, symbol: &str) {
    let snapshot = shared.books().current(symbol);
    if let Some(book) = snapshot {
        client.offer(Outbound {
            text: render_snapshot(client, &stream, symbol, &book),
            trade: None,
        });
    }
    client.streams.insert(stream);
    shared.streams_changed();
}

fn reply(client: &Client, value: Value) {
    client.offer(Outbound {
        text: value.to_string(),
        trade: None,
    });
}

/// Answers a frame from an OKX, Deribit, Bybit or Coinbase client. Runs under the
/// client-table lock, so replies and snapshots are queued before any later event.
pub(crate) fn handle(shared: &Shared, client: &mut Client, text: &str) {
    match client.dialect {
        Dialect::Okx => handle_okx(shared, client, text),
        Dialect::Deribit => handle_deribit(shared, client, text),
        Dialect::Bybit { .. } => handle_bybit(shared, client, text),
        Dialect::Coinbase => crate::coinbase::handle(shared, client, text),
        Dialect::CoinbaseExchange => crate::coinbase_exchange::handle(shared, client, text),
        Dialect::Binance { .. } => {}
    }
}

/// The stream key of an OKX `liquidation-orders` subscription for swaps.
pub(crate) const OKX_SWAP_LIQUIDATIONS: &str = "liquidation-orders:SWAP";

fn handle_okx(shared: &Shared, client: &mut Client, text: &str) {
    if text == "ping" {
        client.offer(Outbound {
            text: "pong".into(),
            trade: None,
        });
        return;
    }
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return reply(
            client,
            json!({"event": "error", "code": "60012", "msg": format!("Invalid request: {text}")}),
        );
    };
    let op = request["op"].as_str().unwrap_or_default().to_owned();
    for arg in request["args"].as_array().cloned().unwrap_or_default() {
        let channel = arg["channel"].as_str().unwrap_or_default();
        let inst_id = arg["instId"].as_str().unwrap_or_default();
        // What the channel is subscribed for: the instrument, or the instrument type of a
        // market-wide channel.
        let target = arg["instId"]
            .as_str()
            .or(arg["instType"].as_str())
            .unwrap_or_default();
        let symbol = symbol_of(Dialect::Okx, inst_id, shared);
        match (op.as_str(), channel, symbol) {
            // A replay serves whatever the capture holds, with no snapshot of its own.
            ("subscribe", _, _) if shared.replay.is_some() => {
                reply(
                    client,
                    json!({"event": "subscribe", "arg": arg, "connId": "sim"}),
                );
                client.streams.insert(format!("{channel}:{target}"));
                shared.streams_changed();
            }
            // A market-wide channel, subscribed per instrument type.
            ("subscribe", "liquidation-orders", _) if arg["instType"] == "SWAP" => {
                reply(
                    client,
                    json!({"event": "subscribe", "arg": arg, "connId": "sim"}),
                );
                client.streams.insert(OKX_SWAP_LIQUIDATIONS.into());
                shared.streams_changed();
            }
            ("subscribe", "books" | "trades" | "funding-rate" | "open-interest", Some(symbol)) => {
                reply(
                    client,
                    json!({"event": "subscribe", "arg": arg, "connId": "sim"}),
                );
                if channel == "books" {
                    subscribe_book(shared, client, format!("books:{inst_id}"), &symbol);
                } else {
                    client.streams.insert(format!("{channel}:{inst_id}"));
                    shared.streams_changed();
                }
            }
            ("unsubscribe", _, _) => {
                client.streams.remove(&format!("{channel}:{target}"));
                shared.streams_changed();
                reply(
                    client,
                    json!({"event": "unsubscribe", "arg": arg, "connId": "sim"}),
                );
            }
            _ => reply(
                client,
                json!({"event": "error", "code": "60018",
                       "msg": format!("Wrong URL or channel:{channel},instId:{inst_id} doesn't exist"),
                       "connId": "sim"}),
            ),
        }
    }
}

fn handle_deribit(shared: &Shared, client: &mut Client, text: &str) {
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return reply(
            client,
            json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}}),
        );
    };
    let id = request["id"].clone();
    let channels = strings(&request["params"]["channels"]);
    match request["method"].as_str() {
        // A replay serves whatever the capture holds, with no snapshot of its own.
        Some("public/subscribe") if shared.replay.is_some() => {
            client.streams.extend(channels.iter().cloned());
            shared.streams_changed();
            reply(
                client,
                json!({"jsonrpc": "2.0", "id": id, "result": channels}),
            );
        }
        Some("public/subscribe") => {
            let mut books = Vec::new();
            for channel in &channels {
                let mut parts = channel.split('.');
                let (kind, instrument) = (parts.next(), parts.next());
                match (
                    kind,
                    instrument.and_then(|name| symbol_of(Dialect::Deribit, name, shared)),
                ) {
                    (Some("book"), Some(symbol)) => books.push((channel.clone(), symbol)),
                    (Some("trades"), Some(_)) => {
                        client.streams.insert(channel.clone());
                        shared.streams_changed();
                    }
                    (Some("deribit_volatility_index"), _)
                        if instrument.is_some_and(|index| index.ends_with("_usd")) =>
                    {
                        client.streams.insert(channel.clone());
                        shared.streams_changed();
                    }
                    _ => {
                        return reply(
                            client,
                            json!({"jsonrpc": "2.0", "id": id,
                            "error": {"code": -32602, "message": "Invalid params",
                                      "data": {"param": "channels", "reason": format!("unknown channel {channel}")}}}),
                        );
                    }
                }
            }
            reply(
                client,
                json!({"jsonrpc": "2.0", "id": id, "result": channels}),
            );
            for (channel, symbol) in books {
                subscribe_book(shared, client, channel, &symbol);
            }
        }
        Some("public/unsubscribe") => {
            for channel in &channels {
                client.streams.remove(channel);
            }
            shared.streams_changed();
            reply(
                client,
                json!({"jsonrpc": "2.0", "id": id, "result": channels}),
            );
        }
        Some("public/test") => reply(
            client,
            json!({"jsonrpc": "2.0", "id": id, "result": {"version": "sim"}}),
        ),
        _ => reply(
            client,
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}}),
        ),
    }
}

fn handle_bybit(shared: &Shared, client: &mut Client, text: &str) {
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return reply(
            client,
            json!({"success": false, "ret_msg": "error:invalid json", "conn_id": "sim"}),
        );
    };
    let req_id = request["req_id"].clone();
    let topics = strings(&request["args"]);
    match request["op"].as_str() {
        Some("ping") => reply(
            client,
            json!({"success": true, "ret_msg": "pong", "conn_id": "sim", "req_id": req_id, "op": "ping"}),
        ),
        // A replay serves whatever the capture holds, with no snapshot of its own.
        Some("subscribe") if shared.replay.is_some() => {
            client.streams.extend(topics.iter().cloned());
            shared.streams_changed();
            reply(
                client,
                json!({"success": true, "ret_msg": "subscribe", "conn_id": "sim", "req_id": req_id, "op": "subscribe"}),
            );
        }
        Some("subscribe") => {
            let mut books = Vec::new();
            for topic in &topics {
                let parts: Vec<&str> = topic.split('.').collect();
                let symbol = parts
                    .last()
                    .and_then(|name| symbol_of(client.dialect, name, shared));
                match (parts.first(), symbol) {
                    (Some(&"orderbook"), Some(symbol)) => books.push((topic.clone(), symbol)),
                    (Some(&"publicTrade" | &"tickers" | &"allLiquidation"), Some(_)) => {
                        client.streams.insert(topic.clone());
                        shared.streams_changed();
                    }
                    _ => {
                        return reply(
                            client,
                            json!({"success": false, "ret_msg": format!("error:handler not found,topic:{topic}"),
                                                     "conn_id": "sim", "req_id": req_id, "op": "subscribe"}),
                        );
                    }
                }
            }
            reply(
                client,
                json!({"success": true, "ret_msg": "subscribe", "conn_id": "sim", "req_id": req_id, "op": "subscribe"}),
            );
            for (topic, symbol) in books {
                subscribe_book(shared, client, topic, &symbol);
            }
        }
        Some("unsubscribe") => {
            for topic in &topics {
                client.streams.remove(topic);
            }
            shared.streams_changed();
            reply(
                client,
                json!({"success": true, "ret_msg": "", "conn_id": "sim", "req_id": req_id, "op": "unsubscribe"}),
            );
        }
        _ => reply(
            client,
            json!({"success": false, "ret_msg": "error:unknown op", "conn_id": "sim", "req_id": req_id}),
        ),
    }
}

/// The strings of a request's JSON array, e.g. its channels or topics; none when `value` is
/// not an array, and its items that are not strings left out.
pub(crate) fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instrument_names_follow_each_venue() {
        assert_eq!(
            okx_ids("BTCUSDT"),
            Some([
                "BTC-USDT".to_owned(),
                "BTC-USDT-SWAP".to_owned(),
                "BTC-USDT-261225".to_owned(),
                "BTC-USDT-261225-60000-C".to_owned()
            ])
        );
        assert_eq!(
            deribit_option_name("BTCUSD").as_deref(),
            Some("BTC-25DEC26-60000-C")
        );
        assert_eq!(
            deribit_option_name("ETHUSDC").as_deref(),
            Some("ETH_USDC-25DEC26-60000-C")
        );
        assert_eq!(
            deribit_book_instrument("book.BTC-25DEC26-60000-C.100ms"),
            "BTC-25DEC26-60000-C"
        );
        assert_eq!(deribit_name("BTCUSD").as_deref(), Some("BTC-PERPETUAL"));
        assert_eq!(
            deribit_name("ETHUSDC").as_deref(),
            Some("ETH_USDC-PERPETUAL")
        );
        assert_eq!(split("BNBBTC"), Some(("BNB", "BTC")));
        assert_eq!(split("USDT"), None);
    }
}
