//! A local exchange market-data server for tests, demos and offline runs.
//!
//! Order books are served in the framing of every venue MarketPrism records: Binance spot
//! and USDⓈ-M (`/fapi/stream`, `GET /fapi/v1/depth`), OKX (`/ws/v5/public`, `books` with
//! checksums), Deribit (`/ws/api/v2`, `book.*.100ms`), Bybit v5 (`/v5/public/{spot,linear}`,
//! `orderbook.*`), Coinbase Advanced Trade (`/`, `level2` with per-connection
//! `sequence_num` and `heartbeats`) and Coinbase Exchange (`/ws-feed`, `level2_batch` and
//! `level2` named by microsecond times, `heartbeat` per product), each with its subscribe
//! replies and subscription snapshots. Trades are written in every venue's framing (Binance
//! `@trade`/`@aggTrade`, OKX `trades`, Deribit `trades.*.100ms`, Bybit `publicTrade.*`,
//! Coinbase Advanced Trade `market_trades`, Coinbase Exchange `matches` with `last_match`),
//! and the report records which venue and market each reached. Every second it also sends
//! funding rates, open interest, liquidations (every third second) and volatility indices on
//! the derivatives channels of Binance USDⓈ-M, OKX (`liquidation-orders` market-wide), Bybit
//! and Deribit, and it answers the polled REST
//! series (Binance `premiumIndex`, `openInterest` and `futures/data` ratios, OKX rubik ratios,
//! Bybit `account-ratio`, Deribit DVOL history), recording each value with its venue, every
//! venue's public trade history from the trades it generated (see `history.rs`), and every
//! venue's instrument list of the symbols listed (Binance `exchangeInfo`, OKX
//! `public/instruments`, Deribit `get_instruments`, Bybit `instruments-info`, Coinbase
//! Advanced Trade `market/products`, Coinbase Exchange `products`; see `instruments.rs`).
//! Symbols are the configured ones (`S{200}USDT` stands for 200 generated ones, see
//! [`Config::symbols`]) and those listed at run time, which trade from their listing in
//! every framing until delisted (see `listings.rs`).
//! For Binance it speaks the whole protocol: raw streams at
//! `/ws/<stream>` (and `/ws` with live subscriptions), combined streams at
//! `/stream?streams=a/b` (and `/stream`), `SUBSCRIBE`, `UNSUBSCRIBE` and
//! `LIST_SUBSCRIPTIONS` method frames with their replies, and server pings.
//! Data comes from a deterministic trade generator and order books (seeded: `@trade`,
//! `@aggTrade`, `@depth@100ms` and `GET /api/v3/depth`) or from a capture file: a replay
//! sends the captured frames to the clients subscribed to their streams and answers REST
//! requests with the captured responses, for every instrument the capture holds, and
//! generates nothing (no trades, books, derivatives or snapshots of its own). A small HTTP
//! control API injects faults (book faults and rate limits only into generated data) and
//! reports exactly what was written to an open connection, so tests can hold the pipeline
//! to it:
//!
//! * `POST /control/disconnect`: close every open connection;
//! * `POST /control/silence` `{"ms":N}`: send nothing, not even pings, for `N` ms;
//! * `POST /control/book-fault`
//!   `{"kind":"drop|duplicate|reorder|stale_snapshot|corrupt_checksum","symbol":"BTCUSDT"}`:
//!   shape the next depth event (or snapshot) of one symbol, or of all without `symbol`;
//! * `GET /control/book?symbol=BTCUSDT&update_id=N&limit=L[&by=event|time]`: the true book
//!   after update `N` (after event `N` with `by=event`, Bybit's numbering; as it stood at
//!   Unix time `N` µs with `by=time`, Coinbase's naming; see [`BookKey`]);
//! * `POST /control/stale-snapshots` `{"n":N,"symbol":"BTCUSDT"}`: make the next `N` depth
//!   snapshots of one symbol (or of all without `symbol`) older than the stream;
//! * `POST /control/rate-limit` `{"requests":N,"retry_after_s":S}`: answer the next `N`
//!   REST polls with 429 and `Retry-After: S`;
//! * `GET /control/rest-usage`: per venue, the REST requests and weight counted against its
//!   limits and the requests refused ([`VenueUsage`]; also in the report).
//! * `GET /control/ws-usage`: per venue, the WebSocket connections, the most streams on one,
//!   the most arguments in one request and messages in one window, against the venue's
//!   limits, and what was refused ([`WsUsage`]; also in the report).
//! * `POST /control/listings` `{"list":["NEWUSDT"],"delist":["OLDUSDT"]}`: list symbols
//!   (they trade from now on, in every venue's framing and instrument list) and delist
//!   others (they generate nothing more; Binance keeps them, no longer trading, the other
//!   venues drop them), all or none: 400 `{"error":..}` for a symbol already listed (or
//!   named twice, or delisted before), one that does not split into base and quote, or one
//!   to delist that is not trading. Answers, as `GET /control/listings` does,
//!   `{"at_ms":T,"trading":[..],"delisted":[..],"listings":{"NEWUSDT":`[`SymbolListing`]`}}`
//!   (also in the report);
//! * `GET /control/report`: the [`Report`] as JSON;
//! * `GET /control/summary`: its counts ([`Summary`]), cheap to poll during long runs;
//! * `POST /control/start`: start a replay held by `--replay-hold`.
//!
//! Every REST route enforces its venue's request-weight limits (`limits.rs`): over the limit
//! it answers 429 with `Retry-After`, and 418 to requests during that back-off. Every
//! WebSocket connection is held to its venue's WebSocket limits (`ws_limits.rs`): connections
//! per window and at once, streams per connection, arguments per subscribe request, messages
//! per window, each refused as the venue refuses it.
//!
//! The simulator shares no code with the collector's parsers, so one cannot hide the other's
//! mistakes; it takes the venues' WebSocket limits from `marketprism-venues`, their one
//! definition, and counts against them on its own.

mod coinbase;
mod coinbase_exchange;
mod config;
mod depth;
mod derivatives;
mod dialect;
mod generator;
mod history;
mod instruments;
mod limits;
mod listings;
mod polled;
mod protocol;
mod replay;
mod report;
mod server;
mod trades;
mod ws_limits;

pub use config::Config;

/// The id of each symbol's first trade unless the configuration names another.
pub const FIRST_TRADE_ID: u64 = 1_000_000;
pub use depth::{BookFault, BookKey, TrueBook, DEFAULT_LEVELS};
pub use derivatives::SentDerivative;
pub use history::HistoryRetention;
pub use limits::{VenueUsage, BAN};
pub use listings::{SymbolListing, CONFIGURED_LISTED_MS};
pub use polled::RestRequest;
pub use replay::{captured_connections, CapturedConnection, APPLY_MARGIN};
pub use report::{Report, SimTrade, SlowConsumer, Summary, RETAINED_FOREVER};
pub use server::{bind, run, SimError};
pub use ws_limits::WsUsage;
