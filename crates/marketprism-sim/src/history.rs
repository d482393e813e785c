//! The venues' public trade-history endpoints, answered from the trades the generator made
//! (the report's trades, with the ids and prices that were streamed), each venue keeping
//! only its latest trades per symbol as its [`HistoryRetention`] says:
//!
//! * Binance: `GET /api/v3/aggTrades`, `GET /fapi/v1/aggTrades` (`fromId`, or
//!   `startTime`/`endTime`, or the latest) and `GET /api/v3/historicalTrades` (`fromId`);
//! * OKX: `GET /api/v5/market/history-trades` (`type=1` before a trade id, `type=2` before a
//!   time, newest first);
//! * Deribit: `public/get_last_trades_by_instrument` (`start_seq`/`end_seq`) and
//!   `public/get_last_trades_by_instrument_and_time` (`start_timestamp`/`end_timestamp`);
//! * Bybit: `GET /v5/market/recent-trade`, the latest trades only.
//!
//! Written from the venues' documentation, independently of the collector's parsers; every
//! answer counts against injected rate limits like the polled series.

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{OriginalUri, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::dialect::{deribit_name, okx_ids};
use crate::polled::rate_limited;
use crate::server::Shared;
use crate::SimTrade;

/// How many of its latest trades per symbol each venue's history serves; `None` serves every
/// trade the report keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryRetention {
    /// Binance spot and USDⓈ-M.
    pub binance: Option<usize>,
    /// OKX.
    pub okx: Option<usize>,
    /// Deribit.
    pub deribit: Option<usize>,
    /// Bybit, which serves its latest 1,000 trades only.
    pub bybit: Option<usize>,
}

/// Bybit's `recent-trade` reach.
const BYBIT_RETENTION: usize = 1000;

impl Default for HistoryRetention {
    fn default() -> Self {
        HistoryRetention {
            binance: None,
            okx: None,
            deribit: None,
            bybit: Some(BYBIT_RETENTION),
        }
    }
}

impl FromStr for HistoryRetention {
    type Err = String;

    /// Reads `venue=N` pairs separated by commas, e.g. `okx=500,bybit=1000`, over the
    /// defaults.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut retention = HistoryRetention::default();
        for pair in text.split(',').filter(|pair| !pair.trim().is_empty()) {
            let (venue, count) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not venue=N"))?;
            let count: usize = count
                .trim()
                .parse()
                .map_err(|_| format!("{count:?} is not a number of trades"))?;
            let slot = match venue.trim() {
                "binance" => &mut retention.binance,
                "okx" => &mut retention.okx,
                "deribit" => &mut retention.deribit,
                "bybit" => &mut retention.bybit,
                other => {
                    return Err(format!(
                        "unknown venue {other:?} (binance, okx, deribit, bybit)"
                    ))
                }
            };
            *slot = Some(count);
        }
        Ok(retention)
    }
}

/// Answers a history request with `body`, or 429 while rate limiting is injected.
fn answer_request(shared: &Shared, uri: &axum::http::Uri, body: Value) -> Response {
    rate_limited(shared, uri.to_string()).unwrap_or_else(|| Json(body).into_response())
}

/// The trades of `symbol` a venue keeping its latest `retention` serves, oldest first.
fn retained(shared: &Shared, symbol: &str, retention: Option<usize>) -> Vec<SimTrade> {
    let report = shared.report();
    let mut trades: Vec<SimTrade> = report
        .trades
        .iter()
        .filter(|trade| trade.symbol == symbol)
        .cloned()
        .collect();
    if let Some(keep) = retention {
        let excess = trades.len().saturating_sub(keep);
        trades.drain(..excess);
    }
    trades
}

/// The simulator symbol a venue names `name`, per `venue_name`.
fn symbol_named(
    shared: &Shared,
    name: &str,
    venue_name: impl Fn(&str) -> Vec<String>,
) -> Option<String> {
    shared
        .listings()
        .all()
        .iter()
        .map(|listed| listed.symbol.clone())
        .find(|symbol| venue_name(symbol).iter().any(|known| known == name))
}

fn taker_side(trade: &SimTrade) -> &'static str {
    if trade.buyer_is_maker {
        "sell"
    } else {
        "buy"
    }
}

/// The query of Binance's trade-history endpoints.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BinanceQuery {
    symbol: String,
    #[serde(default)]
    from_id: Option<u64>,
    #[serde(default)]
    start_time: Option<i64>,
    #[serde(default)]
    end_time: Option<i64>,
    #[serde(default = "binance_default_limit")]
    limit: usize,
}

fn binance_default_limit() -> usize {
    500
}

/// The trades a Binance history query selects, oldest first.
fn binance_select(shared: &Shared, query: &BinanceQuery) -> Vec<SimTrade> {
    let trades = retained(
        shared,
        &query.symbol.to_ascii_uppercase(),
        shared.config.history_retention.binance,
    );
    let limit = query.limit.clamp(1, 1000);
    match (query.from_id, query.start_time, query.end_time) {
        (Some(from_id), _, _) => trades
            .into_iter()
            .filter(|trade| trade.trade_id >= from_id)
            .take(limit)
            .collect(),
        (None, Some(_), _) | (None, _, Some(_)) => {
            let start = query.start_time.unwrap_or(i64::MIN);
            let end = query.end_time.unwrap_or(i64::MAX);
            trades
                .into_iter()
                .filter(|trade| (start..=end).contains(&trade.trade_time_ms))
                .take(limit)
                .collect()
        }
        (None, None, None) => {
            let skip = trades.len().saturating_sub(limit);
            trades.into_iter().skip(skip).collect()
        }
    }
}

/// `GET /api/v3/aggTrades` and `GET /fapi/v1/aggTrades`: every simulated trade is an
/// aggregate of itself (`a` = `f` = `l` = its id).
pub(crate) async fn binance_agg_trades(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<BinanceQuery>,
) -> Response {
    let body: Vec<Value> = binance_select(&shared, &query)
        .iter()
        .map(|trade| {
            json!({"a": trade.trade_id, "p": trade.price, "q": trade.quantity,
                   "f": trade.trade_id, "l": trade.trade_id, "T": trade.trade_time_ms,
                   "m": trade.buyer_is_maker, "M": true})
        })
        .collect();
    answer_request(&shared, &uri, Value::from(body))
}

/// `GET /api/v3/historicalTrades`.
pub(crate) async fn binance_historical_trades(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<BinanceQuery>,
) -> Response {
    let body: Vec<Value> = binance_select(&shared, &query)
        .iter()
        .map(|trade| {
            json!({"id": trade.trade_id, "price": trade.price, "qty": trade.quantity,
                   "time": trade.trade_time_ms, "isBuyerMaker": trade.buyer_is_maker,
                   "isBestMatch": true})
        })
        .collect();
    answer_request(&shared, &uri, Value::from(body))
}

/// The query of OKX's `history-trades`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OkxQuery {
    inst_id: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/v5/market/history-trades`, newest first.
pub(crate) async fn okx_history_trades(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<OkxQuery>,
) -> Response {
    let Some(symbol) = symbol_named(&shared, &query.inst_id, |symbol| {
        okx_ids(symbol).map(Vec::from).unwrap_or_default()
    }) else {
        return answer_request(
            &shared,
            &uri,
            json!({"code": "51001", "msg": "Instrument ID does not exist", "data": []}),
        );
    };
    let by_time = query.kind.as_deref() == Some("2");
    let limit = query.limit.unwrap_or(100).clamp(1, 100);
    let data: Vec<Value> = retained(&shared, &symbol, shared.config.history_retention.okx)
        .iter()
        .rev()
        .filter(|trade| match query.after {
            Some(after) if by_time => trade.trade_time_ms < after,
            Some(after) => (trade.trade_id as i64) < after,
            None => true,
        })
        .take(limit)
        .map(|trade| {
            json!({"instId": query.inst_id, "side": taker_side(trade), "sz": trade.quantity,
                   "px": trade.price, "source": "0", "tradeId": trade.trade_id.to_string(),
                   "ts": trade.trade_time_ms.to_string()})
        })
        .collect();
    answer_request(&shared, &uri, json!({"code": "0", "msg": "", "data": data}))
}

/// The query of Deribit's `get_last_trades_by_instrument` and `…_and_time`.
#[derive(Deserialize)]
pub(crate) struct DeribitQuery {
    instrument_name: String,
    #[serde(default)]
    start_seq: Option<u64>,
    #[serde(default)]
    end_seq: Option<u64>,
    #[serde(default)]
    start_timestamp: Option<i64>,
    #[serde(default)]
    end_timestamp: Option<i64>,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    sorting: Option<String>,
}

/// Both Deribit endpoints: the trades in the sequence and time bounds given.
pub(crate) async fn deribit_last_trades(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<DeribitQuery>,
) -> Response {
    let Some(symbol) = symbol_named(&shared, &query.instrument_name, |symbol| {
        deribit_name(symbol).into_iter().collect()
    }) else {
        return answer_request(
            &shared,
            &uri,
            json!({"jsonrpc": "2.0", "error": {"code": 10020, "message": "instrument_not_found"}}),
        );
    };
    let mut matching: Vec<SimTrade> =
        retained(&shared, &symbol, shared.config.history_retention.deribit)
            .into_iter()
            .filter(|trade| {
                query.start_seq.is_none_or(|start| trade.trade_id >= start)
                    && query.end_seq.is_none_or(|end| trade.trade_id <= end)
                    && query
                        .start_timestamp
                        .is_none_or(|start| trade.trade_time_ms >= start)
                    && query
                        .end_timestamp
                        .is_none_or(|end| trade.trade_time_ms <= end)
            })
            .collect();
    if query.sorting.as_deref() != Some("asc") {
        matching.reverse();
    }
    let count = query.count.unwrap_or(10).clamp(1, 1000);
    let has_more = matching.len() > count;
    // Prices and amounts are JSON numbers whose text is the simulator's decimal.
    let trades: Vec<String> = matching
        .iter()
        .take(count)
        .map(|trade| {
            format!(
                r#"{{"trade_seq":{id},"trade_id":"{id}","timestamp":{time},"tick_direction":0,"price":{price},"mark_price":{price},"instrument_name":"{name}","index_price":{price},"direction":"{direction}","amount":{quantity}}}"#,
                id = trade.trade_id,
                time = trade.trade_time_ms,
                price = trade.price,
                quantity = trade.quantity,
                name = query.instrument_name,
                direction = taker_side(trade),
            )
        })
        .collect();
    let body = format!(
        r#"{{"jsonrpc":"2.0","result":{{"trades":[{}],"has_more":{has_more}}}}}"#,
        trades.join(",")
    );
    rate_limited(&shared, uri.to_string())
        .unwrap_or_else(|| ([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The query of Bybit's `recent-trade`.
#[derive(Deserialize)]
pub(crate) struct BybitQuery {
    category: String,
    symbol: String,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v5/market/recent-trade`: the latest trades, newest first.
pub(crate) async fn bybit_recent_trades(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<BybitQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(500).clamp(1, BYBIT_RETENTION);
    let list: Vec<Value> = retained(
        &shared,
        &query.symbol.to_ascii_uppercase(),
        shared.config.history_retention.bybit,
    )
    .iter()
    .rev()
    .take(limit)
    .map(|trade| {
        json!({"execId": trade.trade_id.to_string(), "symbol": trade.symbol,
               "price": trade.price, "size": trade.quantity,
               "side": if trade.buyer_is_maker { "Sell" } else { "Buy" },
               "time": trade.trade_time_ms.to_string(), "isBlockTrade": false})
    })
    .collect();
    answer_request(
        &shared,
        &uri,
        json!({"retCode": 0, "retMsg": "OK",
               "result": {"category": query.category, "list": list},
               "time": marketprism_model::now_ms()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_reads_venue_counts_over_the_defaults() {
        let retention: HistoryRetention = "okx=500, deribit=20".parse().expect("valid");
        assert_eq!(
            retention,
            HistoryRetention {
                binance: None,
                okx: Some(500),
                deribit: Some(20),
                bybit: Some(1000),
            }
        );
        assert!("kraken=1".parse::<HistoryRetention>().is_err());
        assert!("okx".parse::<HistoryRetention>().is_err());
    }
}
