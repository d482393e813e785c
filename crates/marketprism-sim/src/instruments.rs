//! The venues' instrument lists, made from the symbols listed (see `listings.rs`):
//! Binance spot `GET /api/v3/exchangeInfo` and USDⓈ-M `GET /fapi/v1/exchangeInfo`, OKX
//! `GET /api/v5/public/instruments` (`instType=SPOT`, `SWAP`, `FUTURES` and `OPTION` of a
//! family), Deribit `GET /api/v2/public/get_instruments` (the perpetuals, `kind=future`, and
//! options, `kind=option`) and Bybit `GET
//! /v5/market/instruments-info` (`category=spot` and `linear`), Coinbase Advanced Trade
//! `GET /api/v3/brokerage/market/products` and Coinbase Exchange `GET /products`. Each
//! answer has the venue's
//! shape with the fields a client reads (name, state, base and quote asset, contract type,
//! listing time where the venue gives one) and the usual companions, with the simulator's
//! tick (0.01) and lot (10^-8) sizes. A symbol the simulator cannot split into base and
//! quote (see [`split`]) is listed where the venue writes it concatenated (Binance, Bybit)
//! and left out elsewhere, as the streams do. A delisted symbol stays in Binance's lists,
//! no longer trading (spot `BREAK`, USDⓈ-M `SETTLING`), and leaves every other venue's.
//!
//! Written from the venues' documentation and captured answers, independently of the
//! collector's parsers. The limits layer weighs these requests; each answered one is
//! recorded in the report. Injected rate limiting (`/control/rate-limit`) concerns polls
//! and trade history only.

use std::sync::Arc;

use axum::extract::{OriginalUri, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::dialect::{deribit_name, deribit_option_name, okx_ids, split, STRIKE};
use crate::server::Shared;
use crate::RestRequest;
use marketprism_model::now_ms;

/// Expiration time of the simulator's futures and options, Unix ms (2026-12-25 08:00 UTC,
/// see `dialect.rs`).
const EXPIRY_MS: i64 = 1_798_185_600_000;

/// Deribit's expiration time of perpetuals, Unix ms (year 3000).
const PERPETUAL_EXPIRATION_MS: i64 = 32_503_708_800_000;

/// One symbol ever listed: its name in upper case, its assets when it splits, its listing.
struct Listed {
    symbol: String,
    assets: Option<(String, String)>,
    /// Its place in the listing order, from 0.
    ordinal: usize,
    /// Listing time, Unix ms.
    listed_ms: i64,
    /// Whether it was delisted.
    delisted: bool,
}

impl Listed {
    /// Base and quote asset; a symbol that does not split is its own base, with no quote.
    fn assets(&self) -> (&str, &str) {
        match &self.assets {
            Some((base, quote)) => (base, quote),
            None => (&self.symbol, ""),
        }
    }
}

/// Every symbol ever listed, in listing order, delisted ones included.
fn ever_listed(shared: &Shared) -> Vec<Listed> {
    shared
        .listings()
        .all()
        .iter()
        .map(|listed| Listed {
            symbol: listed.symbol.clone(),
            assets: split(&listed.symbol).map(|(base, quote)| (base.to_owned(), quote.to_owned())),
            ordinal: listed.ordinal,
            listed_ms: listed.listing.listed_ms,
            delisted: !listed.is_trading(),
        })
        .collect()
}

/// The symbols trading now, in listing order: what venues that drop delisted instruments
/// list.
fn trading(shared: &Shared) -> Vec<Listed> {
    let mut listed = ever_listed(shared);
    listed.retain(|listed| !listed.delisted);
    listed
}

/// Records the request and answers `body`.
fn answer(shared: &Shared, uri: &axum::http::Uri, body: Value) -> Response {
    shared.report().record_request(RestRequest {
        path: uri.to_string(),
        at_ms: now_ms(),
        status: 200,
    });
    Json(body).into_response()
}

/// A Binance `rateLimits` entry.
fn rate_limit(kind: &str, interval: &str, count: u32, limit: u32) -> Value {
    json!({"rateLimitType": kind, "interval": interval, "intervalNum": count, "limit": limit})
}

/// The price and lot filters of a Binance symbol.
fn binance_filters() -> Value {
    json!([
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
         "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "minQty": "0.00000001", "maxQty": "9000.00000000",
         "stepSize": "0.00000001"},
    ])
}

/// `GET /api/v3/exchangeInfo`: every symbol listed, `TRADING`, or `BREAK` once delisted
/// (Binance keeps delisted spot pairs in the list). Spot pairs carry no listing time.
pub(crate) async fn binance_exchange_info(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let symbols: Vec<Value> = ever_listed(&shared)
        .iter()
        .map(|listed| {
            let (base, quote) = listed.assets();
            let status = if listed.delisted { "BREAK" } else { "TRADING" };
            json!({"symbol": listed.symbol, "status": status,
                   "baseAsset": base, "baseAssetPrecision": 8,
                   "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                   "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                   "icebergAllowed": true, "ocoAllowed": true,
                   "isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
                   "filters": binance_filters(), "permissions": ["SPOT"]})
        })
        .collect();
    let body = json!({
        "timezone": "UTC",
        "serverTime": now_ms(),
        "rateLimits": [
            rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 6_000),
            rate_limit("ORDERS", "SECOND", 10, 100),
            rate_limit("ORDERS", "DAY", 1, 200_000),
            rate_limit("RAW_REQUESTS", "MINUTE", 5, 61_000),
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    });
    answer(&shared, &uri, body)
}

/// `GET /fapi/v1/exchangeInfo`: every symbol listed as a `PERPETUAL` onboarded at its
/// listing time (`onboardDate`), `TRADING`, or `SETTLING` once delisted (Binance keeps
/// delisted contracts in the list, settling).
pub(crate) async fn binance_futures_exchange_info(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let listed = ever_listed(&shared);
    let symbols: Vec<Value> = listed
        .iter()
        .map(|listed| {
            let (base, quote) = listed.assets();
            let status = if listed.delisted {
                "SETTLING"
            } else {
                "TRADING"
            };
            json!({"symbol": listed.symbol, "pair": listed.symbol, "contractType": "PERPETUAL",
                   "deliveryDate": 4_133_404_800_000_i64, "onboardDate": listed.listed_ms,
                   "status": status, "baseAsset": base, "quoteAsset": quote,
                   "marginAsset": quote, "pricePrecision": 2, "quantityPrecision": 8,
                   "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
                   "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
                   "filters": binance_filters(),
                   "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                                  "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                   "timeInForce": ["GTC", "IOC", "FOK", "GTX"]})
        })
        .collect();
    let mut margin_assets: Vec<&str> = listed
        .iter()
        .map(|listed| listed.assets().1)
        .filter(|quote| !quote.is_empty())
        .collect();
    margin_assets.sort_unstable();
    margin_assets.dedup();
    let assets: Vec<Value> = margin_assets
        .iter()
        .map(|asset| json!({"asset": asset, "marginAvailable": true, "autoAssetExchange": "0"}))
        .collect();
    let body = json!({
        "timezone": "UTC",
        "serverTime": now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": [
            rate_limit("REQUEST_WEIGHT", "MINUTE", 1, 2_400),
            rate_limit("ORDERS", "MINUTE", 1, 1_200),
            rate_limit("ORDERS", "SECOND", 10, 300),
        ],
        "exchangeFilters": [],
        "assets": assets,
        "symbols": symbols,
    });
    answer(&shared, &uri, body)
}

/// The query of OKX's `public/instruments`.
#[derive(Deserialize)]
pub(crate) struct OkxQuery {
    #[serde(default, rename = "instType")]
    inst_type: Option<String>,
    #[serde(default, rename = "instFamily")]
    inst_family: Option<String>,
    #[serde(default)]
    uly: Option<String>,
}

/// Which of a symbol's OKX instruments a list holds (see [`okx_ids`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum OkxList {
    Spot,
    Swap,
    Futures,
    Option,
}

/// `GET /api/v5/public/instruments`: the spot pairs (`SPOT`), swaps (`SWAP`), futures
/// (`FUTURES`) or options of one family (`OPTION`, whose `instFamily` or `uly` is required)
/// of the symbols trading, `live`, listed at their listing time (`listTime`); no `MARGIN`
/// ones, and none of a delisted symbol (OKX drops them).
pub(crate) async fn okx_instruments(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<OkxQuery>,
) -> Response {
    let inst_type = query.inst_type.unwrap_or_default();
    let asked = query.inst_family.or(query.uly);
    let list = match inst_type.as_str() {
        "SPOT" => OkxList::Spot,
        "SWAP" => OkxList::Swap,
        "FUTURES" => OkxList::Futures,
        "OPTION" if asked.is_some() => OkxList::Option,
        "OPTION" => {
            return answer(
                &shared,
                &uri,
                json!({"code": "50014", "msg": "Parameter instFamily can not be empty.", "data": []}),
            )
        }
        "MARGIN" => return answer(&shared, &uri, json!({"code": "0", "msg": "", "data": []})),
        "" => {
            return answer(
                &shared,
                &uri,
                json!({"code": "50014", "msg": "Parameter instType can not be empty.", "data": []}),
            )
        }
        _ => {
            return answer(
                &shared,
                &uri,
                json!({"code": "51000", "msg": "Parameter instType error", "data": []}),
            )
        }
    };
    let data: Vec<Value> = trading(&shared)
        .iter()
        .filter_map(|listed| {
            let list_time = listed.listed_ms.to_string();
            let [spot_id, swap_id, futures_id, option_id] = okx_ids(&listed.symbol)?;
            let (base, quote) = listed.assets();
            let family = format!("{base}-{quote}");
            if list == OkxList::Option && asked.as_deref() != Some(family.as_str()) {
                return None;
            }
            // USD-quoted derivatives are inverse, margined and settled in the base currency.
            let inverse = quote == "USD";
            let contract = |inst_type: &str, inst_id: &str, exp_time: &str| {
                json!({"alias": "", "baseCcy": "", "category": "1", "ctMult": "1",
                       "ctType": if inverse { "inverse" } else { "linear" },
                       "ctVal": if inverse { "100" } else { "0.01" },
                       "ctValCcy": if inverse { quote } else { base },
                       "expTime": exp_time, "instFamily": family, "instId": inst_id,
                       "instType": inst_type, "lever": "100", "listTime": list_time,
                       "lotSz": "1", "maxLmtSz": "100000000", "maxMktSz": "10000",
                       "minSz": "1", "optType": "", "quoteCcy": "",
                       "settleCcy": if inverse { base } else { quote }, "state": "live",
                       "stk": "", "tickSz": "0.01", "uly": family})
            };
            Some(match list {
                OkxList::Swap => contract("SWAP", &swap_id, ""),
                OkxList::Futures => contract("FUTURES", &futures_id, &EXPIRY_MS.to_string()),
                OkxList::Option => {
                    let mut option = contract("OPTION", &option_id, &EXPIRY_MS.to_string());
                    option["optType"] = json!("C");
                    option["stk"] = json!(STRIKE.to_string());
                    option
                }
                OkxList::Spot => {
                    json!({"alias": "", "baseCcy": base, "category": "1", "ctMult": "",
                       "ctType": "", "ctVal": "", "ctValCcy": "", "expTime": "",
                       "instFamily": "", "instId": spot_id, "instType": "SPOT", "lever": "10",
                       "listTime": list_time, "lotSz": "0.00000001",
                       "maxLmtSz": "9999999999", "maxMktSz": "1000000", "minSz": "0.00001",
                       "optType": "", "quoteCcy": quote, "settleCcy": "", "state": "live",
                       "stk": "", "tickSz": "0.01", "uly": ""})
                }
            })
        })
        .collect();
    answer(&shared, &uri, json!({"code": "0", "msg": "", "data": data}))
}

/// The query of Deribit's `public/get_instruments`.
#[derive(Deserialize)]
pub(crate) struct DeribitQuery {
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    expired: Option<bool>,
}

/// `GET /api/v2/public/get_instruments`: the perpetuals (`kind=future`) or the options
/// (`kind=option`, one call per symbol, see `dialect.rs`) of the symbols trading, active,
/// created at their listing time (`creation_timestamp`; a delisted symbol's are left out),
/// of `currency=any` or their settlement currency (the base of an inverse `USD` one, the
/// quote of a linear one); with no kind, both. Spot: none, and nothing has expired.
pub(crate) async fn deribit_instruments(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<DeribitQuery>,
) -> Response {
    let started_us = now_ms() * 1000;
    let reply = |result: Value| {
        json!({"jsonrpc": "2.0", "result": result, "usIn": started_us,
               "usOut": now_ms() * 1000, "usDiff": 0, "testnet": false})
    };
    let kind = query.kind.as_deref().unwrap_or("any");
    let (futures, options) = match kind {
        "any" => (true, true),
        "future" => (true, false),
        "option" => (false, true),
        "spot" | "future_combo" | "option_combo" => (false, false),
        _ => {
            return answer(
                &shared,
                &uri,
                json!({"jsonrpc": "2.0", "error": {"code": -32602, "message": "Invalid params",
                       "data": {"param": "kind", "reason": "wrong format"}},
                       "usIn": started_us, "usOut": now_ms() * 1000, "usDiff": 0,
                       "testnet": false}),
            )
        }
    };
    if query.expired == Some(true) {
        return answer(&shared, &uri, reply(json!([])));
    }
    let currency = query.currency.unwrap_or_else(|| "any".into());
    let mut result: Vec<Value> = Vec::new();
    for listed in &trading(&shared) {
        let index = listed.ordinal + 1;
        let (base, quote) = listed.assets();
        let inverse = quote == "USD";
        let settlement = if inverse { base } else { quote };
        if currency != "any" && !currency.eq_ignore_ascii_case(settlement) {
            continue;
        }
        let index_name = format!("{}_{}", base, quote).to_ascii_lowercase();
        let common = json!({
            "tick_size": 0.01, "taker_commission": 0.0005, "settlement_currency": settlement,
            "quote_currency": quote, "price_index": index_name,
            "min_trade_amount": if inverse { 10.0 } else { 0.001 },
            "max_liquidation_commission": 0.0075, "maker_commission": 0.0, "is_active": true,
            "instrument_type": if inverse { "reversed" } else { "linear" },
            "creation_timestamp": listed.listed_ms, "counter_currency": quote,
            "contract_size": if inverse { 10.0 } else { 0.001 },
            "base_currency": base, "state": "open",
        });
        let with = |fields: Value| {
            let mut instrument = common.clone();
            if let (Some(instrument), Value::Object(fields)) = (instrument.as_object_mut(), fields)
            {
                instrument.extend(fields);
            }
            instrument
        };
        if let Some(name) = deribit_name(&listed.symbol).filter(|_| futures) {
            result.push(with(json!({
                "settlement_period": "perpetual", "max_leverage": 50, "kind": "future",
                "instrument_name": name, "instrument_id": 100_000 + index,
                "expiration_timestamp": PERPETUAL_EXPIRATION_MS,
            })));
        }
        if let Some(name) = deribit_option_name(&listed.symbol).filter(|_| options) {
            result.push(with(json!({
                "settlement_period": "month", "kind": "option", "option_type": "call",
                "strike": STRIKE,
                "instrument_name": name, "instrument_id": 200_000 + index,
                "expiration_timestamp": EXPIRY_MS,
            })));
        }
    }
    answer(&shared, &uri, reply(Value::from(result)))
}

/// The query of Bybit's `instruments-info`.
#[derive(Deserialize)]
pub(crate) struct BybitQuery {
    #[serde(default)]
    category: Option<String>,
}

/// `GET /v5/market/instruments-info`: the symbols trading as `spot` pairs or `linear`
/// perpetuals launched at their listing time (`launchTime`), one page, the last,
/// `Trading`; no `inverse` or `option` ones, and none of a delisted symbol (Bybit drops
/// them).
pub(crate) async fn bybit_instruments(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<BybitQuery>,
) -> Response {
    let category = query.category.unwrap_or_default();
    let reply = |result: Value| {
        json!({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
               "time": now_ms()})
    };
    let linear = match category.as_str() {
        "spot" => false,
        "linear" => true,
        "inverse" | "option" => {
            let result = json!({"category": category, "list": [], "nextPageCursor": ""});
            return answer(&shared, &uri, reply(result));
        }
        _ => {
            return answer(
                &shared,
                &uri,
                json!({"retCode": 10001, "retMsg": "params error: Category is invalid",
                       "result": {}, "retExtInfo": {}, "time": now_ms()}),
            )
        }
    };
    let list: Vec<Value> = trading(&shared)
        .iter()
        .map(|listed| {
            let (base, quote) = listed.assets();
            if linear {
                json!({"symbol": listed.symbol, "contractType": "LinearPerpetual",
                       "status": "Trading", "baseCoin": base, "quoteCoin": quote,
                       "launchTime": listed.listed_ms.to_string(), "deliveryTime": "0",
                       "deliveryFeeRate": "", "priceScale": "2",
                       "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00",
                                          "leverageStep": "0.01"},
                       "priceFilter": {"minPrice": "0.01", "maxPrice": "1999999.98",
                                       "tickSize": "0.01"},
                       "lotSizeFilter": {"maxOrderQty": "9000.00000000",
                                         "minOrderQty": "0.00000001",
                                         "qtyStep": "0.00000001",
                                         "postOnlyMaxOrderQty": "9000.00000000",
                                         "maxMktOrderQty": "900.00000000",
                                         "minNotionalValue": "5"},
                       "unifiedMarginTrade": true, "fundingInterval": 480,
                       "settleCoin": quote, "copyTrading": "none",
                       "upperFundingRate": "0.005", "lowerFundingRate": "-0.005",
                       "isPreListing": false, "preListingInfo": null, "displayName": "",
                       "symbolType": ""})
            } else {
                json!({"symbol": listed.symbol, "baseCoin": base, "quoteCoin": quote,
                       "innovation": "0", "status": "Trading", "marginTrading": "none",
                       "stTag": "0",
                       "lotSizeFilter": {"basePrecision": "0.00000001", "quotePrecision": "0.01",
                                         "minOrderQty": "0.00000001",
                                         "maxOrderQty": "9000", "minOrderAmt": "5",
                                         "maxOrderAmt": "8000000"},
                       "priceFilter": {"tickSize": "0.01"}, "symbolType": ""})
            }
        })
        .collect();
    let result = if linear {
        json!({"category": "linear", "list": list, "nextPageCursor": ""})
    } else {
        json!({"category": "spot", "list": list})
    };
    answer(&shared, &uri, reply(result))
}
/// `GET /api/v3/brokerage/market/products`: the symbols trading that split into base and
/// quote, as Coinbase Advanced Trade spot products (`BTC-USDT`), `online`, in one page;
/// none of a delisted symbol. Products carry no listing time.
pub(crate) async fn coinbase_products(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let products: Vec<Value> = trading(&shared)
        .iter()
        .filter(|listed| listed.assets.is_some())
        .map(|listed| {
            let (base, quote) = listed.assets();
            json!({"product_id": format!("{base}-{quote}"), "base_increment": "0.00000001",
                   "quote_increment": "0.01", "base_min_size": "0.00000001",
                   "base_max_size": "9000", "status": "online", "trading_disabled": false,
                   "is_disabled": false, "cancel_only": false, "limit_only": false,
                   "post_only": false, "auction_mode": false, "product_type": "SPOT",
                   "base_currency_id": base, "quote_currency_id": quote, "alias": "",
                   "alias_to": [], "price_increment": "0.01",
                   "display_name": format!("{base}-{quote}"), "view_only": false})
        })
        .collect();
    let count = products.len();
    answer(
        &shared,
        &uri,
        json!({"products": products, "num_products": count,
               "pagination": {"prev_cursor": "", "next_cursor": "", "has_next": false,
                              "has_prev": false}}),
    )
}

/// `GET /products`: the symbols trading that split into base and quote, as Coinbase
/// Exchange products (`BTC-USDT`), `online`, in one unpaged array; none of a delisted
/// symbol. Products carry no listing time.
pub(crate) async fn coinbase_exchange_products(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let products: Vec<Value> = trading(&shared)
        .iter()
        .filter(|listed| listed.assets.is_some())
        .map(|listed| {
            let (base, quote) = listed.assets();
            json!({"id": format!("{base}-{quote}"), "base_currency": base,
                   "quote_currency": quote, "quote_increment": "0.01",
                   "base_increment": "0.00000001", "display_name": format!("{base}/{quote}"),
                   "min_market_funds": "1", "margin_enabled": false, "post_only": false,
                   "limit_only": false, "cancel_only": false, "status": "online",
                   "status_message": "", "trading_disabled": false,
                   "fx_stablecoin": false, "max_slippage_percentage": "0.03000000",
                   "auction_mode": false, "high_bid_limit_percentage": ""})
        })
        .collect();
    answer(&shared, &uri, Value::Array(products))
}
