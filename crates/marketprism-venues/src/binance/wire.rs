//! Serde mirrors of Binance's market-data frames, field names as Binance sends them.
//!
//! These are the only types that know Binance's JSON layout: WebSocket frames and the REST
//! answers (depth snapshots, USDⓈ-M polled series, trade history).
//! Docs: <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams>

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::decimal::WireLevel;

/// The fields that tell Binance's frame families apart.
///
/// * combined stream: `{"stream":"btcusdt@aggTrade","data":{...}}`
/// * raw stream: `{"e":"aggTrade",...}`
/// * method reply: `{"result":null,"id":1}`, or an error
///   `{"error":{"code":2,"msg":"Invalid request: ..."},"id":1}` (older servers put `code` and
///   `msg` at the top level)
#[derive(Debug, Deserialize)]
pub struct BinanceEnvelope<'a> {
    /// Stream name of a combined-stream frame.
    #[serde(borrow, default)]
    pub stream: Option<Cow<'a, str>>,
    /// Payload of a combined-stream frame.
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
    /// Event type of a raw-stream frame.
    #[serde(borrow, default)]
    pub e: Option<Cow<'a, str>>,
    /// Request id of a method reply.
    #[serde(default)]
    pub id: Option<u64>,
    /// Error of a method reply (current servers).
    #[serde(default)]
    pub error: Option<BinanceErrorBody>,
    /// Error code of a method reply (older servers).
    #[serde(default)]
    pub code: Option<i64>,
    /// Error message of a method reply (older servers).
    #[serde(default)]
    pub msg: Option<String>,
}

/// The `error` object of a refused method call.
#[derive(Debug, Deserialize)]
pub struct BinanceErrorBody {
    /// Binance's error code.
    pub code: i64,
    /// Binance's explanation.
    pub msg: String,
}

/// `<symbol>@trade` (one trade) and `<symbol>@aggTrade` (fills of one taker order at one
/// price): the same fields, except that the id is `t` for a trade and `a` for an aggregate.
///
/// ```json
/// {"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
///  "T":1672515782136,"m":true,"M":true}
/// {"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100",
///  "f":100,"l":105,"T":1672515782136,"m":true,"M":true}
/// ```
/// Docs: <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#trade-streams>
/// and <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#aggregate-trade-streams>
#[derive(Debug, Deserialize)]
pub struct BinanceTrade<'a> {
    /// Symbol, upper case.
    #[serde(rename = "s", borrow)]
    pub symbol: Cow<'a, str>,
    /// Trade id (`t`) or aggregate trade id (`a`).
    #[serde(rename = "t", alias = "a")]
    pub trade_id: u64,
    /// Price.
    #[serde(rename = "p", borrow)]
    pub price: Cow<'a, str>,
    /// Quantity.
    #[serde(rename = "q", borrow)]
    pub quantity: Cow<'a, str>,
    /// Trade time, Unix milliseconds.
    #[serde(rename = "T")]
    pub trade_time_ms: i64,
    /// Whether the buyer was the maker (the taker sold).
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// One aggregate trade of `GET /api/v3/aggTrades` or `GET /fapi/v1/aggTrades`.
///
/// ```json
/// [{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,
///   "m":true,"M":true}]
/// ```
/// Docs: <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#compressedaggregate-trades-list>
#[derive(Debug, Deserialize)]
pub struct BinanceAggTrade<'a> {
    /// Aggregate trade id.
    #[serde(rename = "a")]
    pub aggregate_id: u64,
    /// Price.
    #[serde(rename = "p", borrow)]
    pub price: Cow<'a, str>,
    /// Quantity.
    #[serde(rename = "q", borrow)]
    pub quantity: Cow<'a, str>,
    /// The first single-trade id of the aggregate.
    #[serde(rename = "f")]
    pub first_trade_id: u64,
    /// Trade time, Unix milliseconds.
    #[serde(rename = "T")]
    pub time_ms: i64,
    /// Whether the buyer was the maker (the taker sold).
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// One trade of `GET /api/v3/historicalTrades`.
///
/// ```json
/// [{"id":28457,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012",
///   "time":1499865549590,"isBuyerMaker":true,"isBestMatch":true}]
/// ```
/// Docs: <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#old-trade-lookup>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinanceHistoricalTrade<'a> {
    /// Trade id.
    pub id: u64,
    /// Price.
    #[serde(borrow)]
    pub price: Cow<'a, str>,
    /// Quantity.
    #[serde(borrow)]
    pub qty: Cow<'a, str>,
    /// Trade time, Unix milliseconds.
    pub time: i64,
    /// Whether the buyer was the maker (the taker sold).
    pub is_buyer_maker: bool,
}

/// `<symbol>@depth@100ms` diff-depth event. USDⓈ-M adds the transaction time `T` and the
/// previous event's final id `pu`.
///
/// ```json
/// {"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,
///  "b":[["0.0024","10"]],"a":[["0.0026","100"]]}
/// ```
/// Docs: <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#diff-depth-stream>
/// and <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Diff-Book-Depth-Streams>
#[derive(Debug, Deserialize)]
pub struct BinanceDepthUpdate<'a> {
    /// Event time, Unix milliseconds.
    #[serde(rename = "E")]
    pub event_time_ms: i64,
    /// Transaction time (USDⓈ-M), Unix milliseconds.
    #[serde(rename = "T", default)]
    pub transaction_time_ms: Option<i64>,
    /// Symbol, upper case.
    #[serde(rename = "s", borrow)]
    pub symbol: Cow<'a, str>,
    /// First update id in the event.
    #[serde(rename = "U")]
    pub first_update_id: u64,
    /// Final update id in the event.
    #[serde(rename = "u")]
    pub final_update_id: u64,
    /// Final update id of the previous event (USDⓈ-M only).
    #[serde(rename = "pu", default)]
    pub previous_final_update_id: Option<u64>,
    /// Changed bids.
    #[serde(rename = "b", borrow)]
    pub bids: Vec<WireLevel<'a>>,
    /// Changed asks.
    #[serde(rename = "a", borrow)]
    pub asks: Vec<WireLevel<'a>>,
}

/// `GET /api/v3/depth` (spot) and `GET /fapi/v1/depth` (USDⓈ-M, which adds `E` and `T`).
///
/// ```json
/// {"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}
/// ```
/// Docs: <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#order-book>
#[derive(Debug, Deserialize)]
pub struct BinanceDepthSnapshot<'a> {
    /// The id of the last update the snapshot contains.
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    /// Message output time (USDⓈ-M), Unix milliseconds.
    #[serde(rename = "E", default)]
    pub event_time_ms: Option<i64>,
    /// Transaction time (USDⓈ-M), Unix milliseconds.
    #[serde(rename = "T", default)]
    pub transaction_time_ms: Option<i64>,
    /// Bids, best first.
    #[serde(borrow)]
    pub bids: Vec<WireLevel<'a>>,
    /// Asks, best first.
    #[serde(borrow)]
    pub asks: Vec<WireLevel<'a>>,
}

/// `<symbol>@markPrice@1s` (USDⓈ-M): mark and index price with the current funding rate.
///
/// ```json
/// {"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000",
///  "i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}
/// ```
/// Docs: <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream>
#[derive(Debug, Deserialize)]
pub struct BinanceMarkPrice<'a> {
    /// Event time, Unix milliseconds.
    #[serde(rename = "E")]
    pub event_time_ms: i64,
    /// Symbol.
    #[serde(rename = "s", borrow)]
    pub symbol: Cow<'a, str>,
    /// Mark price.
    #[serde(rename = "p", borrow)]
    pub mark_price: Cow<'a, str>,
    /// Index price.
    #[serde(rename = "i", borrow)]
    pub index_price: Cow<'a, str>,
    /// Funding rate.
    #[serde(rename = "r", borrow)]
    pub funding_rate: Cow<'a, str>,
    /// Next funding time, Unix milliseconds.
    #[serde(rename = "T")]
    pub next_funding_time_ms: i64,
}

/// `<symbol>@forceOrder` (USDⓈ-M): a liquidation order.
///
/// ```json
/// {"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC",
///  "q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":1568014460893}}
/// ```
/// Docs: <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Liquidation-Order-Streams>
#[derive(Debug, Deserialize)]
pub struct BinanceForceOrder<'a> {
    /// The order.
    #[serde(rename = "o", borrow)]
    pub order: BinanceLiquidationOrder<'a>,
}

/// The order of a `forceOrder` event.
#[derive(Debug, Deserialize)]
pub struct BinanceLiquidationOrder<'a> {
    /// Symbol.
    #[serde(rename = "s", borrow)]
    pub symbol: Cow<'a, str>,
    /// Order side, `BUY` or `SELL` (a `SELL` liquidates a long position).
    #[serde(rename = "S", borrow)]
    pub side: Cow<'a, str>,
    /// Original quantity.
    #[serde(rename = "q", borrow)]
    pub quantity: Cow<'a, str>,
    /// Order price.
    #[serde(rename = "p", borrow)]
    pub price: Cow<'a, str>,
    /// Average fill price.
    #[serde(rename = "ap", borrow)]
    pub average_price: Cow<'a, str>,
    /// Accumulated filled quantity.
    #[serde(rename = "z", borrow)]
    pub filled_quantity: Cow<'a, str>,
    /// Trade time, Unix milliseconds.
    #[serde(rename = "T")]
    pub trade_time_ms: i64,
}

/// `GET /fapi/v1/premiumIndex?symbol=BTCUSDT` (USDⓈ-M): mark and index price with the
/// current funding rate.
///
/// ```json
/// {"symbol":"BTCUSDT","markPrice":"11793.63104562","indexPrice":"11781.80495970",
///  "estimatedSettlePrice":"11781.16138815","lastFundingRate":"0.00038246",
///  "interestRate":"0.00010000","nextFundingTime":1597392000000,"time":1597370495002}
/// ```
/// Docs: <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinancePremiumIndex<'a> {
    /// Mark price.
    #[serde(borrow)]
    pub mark_price: Cow<'a, str>,
    /// Index price.
    #[serde(borrow)]
    pub index_price: Cow<'a, str>,
    /// Latest funding rate.
    #[serde(borrow)]
    pub last_funding_rate: Cow<'a, str>,
    /// Next funding time, Unix milliseconds.
    pub next_funding_time: i64,
    /// Answer time, Unix milliseconds.
    pub time: i64,
}

/// `GET /fapi/v1/openInterest?symbol=BTCUSDT` (USDⓈ-M).
///
/// ```json
/// {"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}
/// ```
/// Docs: <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinanceOpenInterest<'a> {
    /// Open interest in contracts.
    #[serde(borrow)]
    pub open_interest: Cow<'a, str>,
    /// Answer time, Unix milliseconds.
    pub time: i64,
}

/// One entry of the `/futures/data/*LongShort*Ratio` answers (USDⓈ-M); the top-position
/// series names the shares `longPosition` and `shortPosition`.
///
/// ```json
/// [{"symbol":"BTCUSDT","longShortRatio":"1.4342","longAccount":"0.5891","shortAccount":"0.4108","timestamp":"1583139600000"}]
/// ```
/// Docs: <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinanceRatio<'a> {
    /// Long share divided by short share.
    #[serde(borrow)]
    pub long_short_ratio: Cow<'a, str>,
    /// Share of long accounts (or positions).
    #[serde(borrow, alias = "longPosition")]
    pub long_account: Cow<'a, str>,
    /// Share of short accounts (or positions).
    #[serde(borrow, alias = "shortPosition")]
    pub short_account: Cow<'a, str>,
    /// Time of the statistics, Unix milliseconds.
    pub timestamp: BinanceTimestamp,
}

/// Binance writes this timestamp as a number in some answers and a string in others.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum BinanceTimestamp {
    /// `1583139600000`.
    Number(i64),
    /// `"1583139600000"`.
    Text(String),
}

/// `GET /api/v3/exchangeInfo` (spot) and `GET /fapi/v1/exchangeInfo` (USDⓈ-M): the
/// exchange's rules and every symbol of the market, of which the symbols' names, states,
/// assets, contract types and listing times are read. An error answer carries `code` and
/// `msg` instead.
///
/// ```json
/// {"timezone":"UTC","serverTime":1628952394686,"rateLimits":[...],"exchangeFilters":[],
///  "symbols":[{"symbol":"ETHBTC","status":"TRADING","baseAsset":"ETH","quoteAsset":"BTC",...}]}
/// ```
/// Docs: <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-endpoints#exchange-information>
/// and <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information>
#[derive(Debug, Deserialize)]
pub struct BinanceExchangeInfo<'a> {
    /// Every symbol of the market, whatever its state.
    #[serde(borrow, default)]
    pub symbols: Option<Vec<BinanceSymbolInfo<'a>>>,
    /// Error code of an error answer.
    #[serde(default)]
    pub code: Option<i64>,
    /// Error message of an error answer.
    #[serde(default)]
    pub msg: Option<String>,
}

/// One symbol of an `exchangeInfo` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinanceSymbolInfo<'a> {
    /// Symbol, e.g. `BTCUSDT` (USDⓈ-M delivery contracts: `BTCUSDT_210924`).
    #[serde(borrow)]
    pub symbol: Cow<'a, str>,
    /// `TRADING` while it trades; `BREAK`, `PENDING_TRADING`, `SETTLING`, ... otherwise.
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    /// USDⓈ-M only: `PERPETUAL`, `CURRENT_QUARTER`, `NEXT_QUARTER`, or empty.
    #[serde(borrow, default)]
    pub contract_type: Option<Cow<'a, str>>,
    /// Base asset, e.g. `BTC`.
    #[serde(borrow)]
    pub base_asset: Cow<'a, str>,
    /// Quote asset, e.g. `USDT`.
    #[serde(borrow)]
    pub quote_asset: Cow<'a, str>,
    /// USDⓈ-M only: the asset margins and profits are counted in, e.g. `USDT`.
    #[serde(borrow, default)]
    pub margin_asset: Option<Cow<'a, str>>,
    /// USDⓈ-M only: when the contract was listed, Unix milliseconds.
    #[serde(default)]
    pub onboard_date: Option<i64>,
}
