//! Serde mirrors of Deribit's JSON-RPC v2 frames, field names as Deribit sends them.
//! Docs: <https://docs.deribit.com/#subscriptions>

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::VenueError;

/// Every frame: a reply (`id` with `result` or `error`) or a notification (`method`
/// `subscription` or `heartbeat`, with `params`).
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    /// Request id of a reply.
    #[serde(default)]
    pub id: Option<u64>,
    /// Result of a successful reply.
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    /// Error of a failed reply.
    #[serde(default)]
    pub error: Option<RpcError>,
    /// Notification method.
    #[serde(borrow, default)]
    pub method: Option<Cow<'a, str>>,
    /// Notification parameters.
    #[serde(borrow, default)]
    pub params: Option<Notification<'a>>,
}

/// The `result` of a REST answer (`{"jsonrpc": "2.0", "result": ...}`), or the error it
/// carries instead.
pub fn rest_result(body: &str) -> Result<&RawValue, VenueError> {
    let envelope: Envelope<'_> = serde_json::from_str(body)?;
    if let Some(error) = envelope.error {
        return Err(VenueError::Unrecognized(format!(
            "code {}: {}",
            error.code, error.message
        )));
    }
    envelope
        .result
        .ok_or_else(|| VenueError::unrecognized(body))
}

/// A JSON-RPC error object.
#[derive(Debug, Deserialize)]
pub struct RpcError {
    /// Deribit's error code.
    pub code: i64,
    /// Deribit's explanation.
    pub message: String,
}

/// The `params` of a `subscription` notification.
#[derive(Debug, Deserialize)]
pub struct Notification<'a> {
    /// The channel, e.g. `book.BTC-PERPETUAL.100ms`.
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
    /// The channel's payload.
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

/// One trade of a `trades.{instrument}.{interval}` notification.
///
/// ```json
/// {"trade_seq":30289432,"trade_id":"48079254","timestamp":1590484156350,"tick_direction":0,
///  "price":8950.0,"mark_price":8948.9,"instrument_name":"BTC-PERPETUAL","index_price":8955.88,
///  "direction":"sell","amount":10.0}
/// ```
/// Docs: <https://docs.deribit.com/#trades-instrument_name-interval>
#[derive(Debug, Deserialize)]
pub struct Trade<'a> {
    /// Trade id.
    #[serde(borrow)]
    pub trade_id: Cow<'a, str>,
    /// The instrument's trade counter, without holes.
    pub trade_seq: u64,
    /// Trade time, Unix milliseconds.
    pub timestamp: i64,
    /// Price, as the JSON number Deribit wrote.
    #[serde(borrow)]
    pub price: &'a RawValue,
    /// Amount: USD for inverse perpetuals and futures, base currency otherwise.
    #[serde(borrow)]
    pub amount: &'a RawValue,
    /// Taker side, `buy` or `sell`.
    #[serde(borrow)]
    pub direction: Cow<'a, str>,
    /// Instrument name.
    #[serde(borrow)]
    pub instrument_name: Cow<'a, str>,
}

/// A `book.{instrument}.{interval}` notification.
///
/// ```json
/// {"type":"change","timestamp":1554373911330,"prev_change_id":297217,"instrument_name":"BTC-PERPETUAL",
///  "change_id":297218,"bids":[["delete",5042.64,0]],"asks":[["new",5043.5,10]]}
/// ```
/// Docs: <https://docs.deribit.com/#book-instrument_name-interval>
#[derive(Debug, Deserialize)]
pub struct Book<'a> {
    /// `snapshot` or `change`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// Book time, Unix milliseconds.
    pub timestamp: i64,
    /// Instrument name.
    #[serde(borrow)]
    pub instrument_name: Cow<'a, str>,
    /// Id of this change.
    pub change_id: u64,
    /// Id of the previous change (absent on a snapshot).
    #[serde(default)]
    pub prev_change_id: Option<u64>,
    /// Bid changes `[action, price, amount]`.
    #[serde(borrow)]
    pub bids: Vec<Level<'a>>,
    /// Ask changes.
    #[serde(borrow)]
    pub asks: Vec<Level<'a>>,
}

/// `[action, price, amount]` with action `new`, `change` or `delete`.
#[derive(Debug, Deserialize)]
pub struct Level<'a>(
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub &'a RawValue,
    #[serde(borrow)] pub &'a RawValue,
);

/// A `deribit_volatility_index.{index_name}` notification.
///
/// ```json
/// {"volatility":129.36,"timestamp":1619777946007,"index_name":"btc_usd"}
/// ```
/// Docs: <https://docs.deribit.com/#deribit_volatility_index-index_name>
#[derive(Debug, Deserialize)]
pub struct VolatilityIndex<'a> {
    /// The index value, as the JSON number Deribit wrote.
    #[serde(borrow)]
    pub volatility: &'a RawValue,
    /// Time of the value, Unix milliseconds.
    pub timestamp: i64,
    /// The index, e.g. `btc_usd`.
    #[serde(borrow)]
    pub index_name: Cow<'a, str>,
}

/// The `result` of `public/get_volatility_index_data`: candles, oldest first.
///
/// ```json
/// {"data":[[1598019300000,0.210084879,0.212860821,0.210084879,0.212860821]],"continuation":null}
/// ```
/// Docs: <https://docs.deribit.com/#public-get_volatility_index_data>
#[derive(Debug, Deserialize)]
pub struct VolatilityHistory<'a> {
    /// `[timestamp, open, high, low, close]` candles.
    #[serde(borrow)]
    pub data: Vec<Candle<'a>>,
}

/// The `result` of `public/get_last_trades_by_instrument` and
/// `public/get_last_trades_by_instrument_and_time`: [`Trade`]s and whether more match.
///
/// ```json
/// {"trades":[{"trade_seq":1966031,"trade_id":"ETH-2696097","timestamp":1590486335742,
///   "tick_direction":0,"price":202.8,"mark_price":202.91,"instrument_name":"ETH-PERPETUAL",
///   "index_price":202.9,"direction":"sell","amount":10.0}],"has_more":true}
/// ```
/// Docs: <https://docs.deribit.com/#public-get_last_trades_by_instrument>
#[derive(Debug, Deserialize)]
pub struct TradeHistory<'a> {
    /// The trades, in the requested order.
    #[serde(borrow)]
    pub trades: Vec<Trade<'a>>,
    /// True when more trades match than were returned.
    #[serde(default)]
    pub has_more: bool,
}

/// One instrument of the `result` of `public/get_instruments`, of which the name, whether it
/// trades, its currencies, times and option terms are read.
///
/// ```json
/// {"tick_size":0.5,"settlement_period":"perpetual","quote_currency":"USD","kind":"future",
///  "is_active":true,"instrument_name":"BTC-PERPETUAL","base_currency":"BTC",...}
/// ```
/// Docs: <https://docs.deribit.com/#public-get_instruments>
#[derive(Debug, Deserialize)]
pub struct Instrument<'a> {
    /// Instrument name, e.g. `BTC-PERPETUAL`, `BTC-24SEP21`, `BTC-30JUL21-40000-P`.
    #[serde(borrow)]
    pub instrument_name: Cow<'a, str>,
    /// Whether the instrument can currently be traded.
    pub is_active: bool,
    /// Base currency, e.g. `BTC`.
    #[serde(borrow)]
    pub base_currency: Cow<'a, str>,
    /// Quote currency, e.g. `USD` (`BTC` for BTC options, priced in BTC).
    #[serde(borrow)]
    pub quote_currency: Cow<'a, str>,
    /// Settlement currency; given for linear instruments (`USDC`).
    #[serde(borrow, default)]
    pub settlement_currency: Option<Cow<'a, str>>,
    /// When the instrument was created, Unix milliseconds.
    #[serde(default)]
    pub creation_timestamp: Option<i64>,
    /// When it expires, Unix milliseconds (perpetuals: a date in the year 3000).
    #[serde(default)]
    pub expiration_timestamp: Option<i64>,
    /// Options: the strike price, as the JSON number Deribit wrote.
    #[serde(borrow, default)]
    pub strike: Option<&'a RawValue>,
    /// Options: `call` or `put`.
    #[serde(borrow, default)]
    pub option_type: Option<Cow<'a, str>>,
}

/// One volatility-index candle: start time (Unix ms) and open; high, low and close are
/// skipped.
#[derive(Debug, Deserialize)]
pub struct Candle<'a>(
    pub i64,
    #[serde(borrow)] pub &'a RawValue,
    pub IgnoredAny,
    pub IgnoredAny,
    pub IgnoredAny,
);

/// A JSON-RPC request.
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    /// Always `2.0`.
    pub jsonrpc: &'static str,
    /// Request id, echoed in the reply.
    pub id: u64,
    /// Method, e.g. `public/subscribe`.
    pub method: &'static str,
    /// Parameters.
    pub params: SubscribeParams<'a>,
}

/// Parameters of `public/subscribe`.
#[derive(Debug, Serialize)]
pub struct SubscribeParams<'a> {
    /// Channel names.
    pub channels: &'a [String],
}
