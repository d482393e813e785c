//! The venues' framings of generated trades: Binance `@trade`/`@aggTrade`, OKX `trades`,
//! Deribit `trades.{instrument}.100ms`, Bybit v5 `publicTrade.{symbol}`, Coinbase Advanced
//! Trade `market_trades` (see `coinbase.rs`) and Coinbase Exchange `matches` (see
//! `coinbase_exchange.rs`), each with the venue and market it was written for, so the report
//! can say where every trade went.
//!
//! Written from the venues' documentation, independently of the collector's parsers.

use serde_json::json;

use crate::dialect::{deribit_names, okx_ids, Dialect, OKX_MARKETS};
use crate::server::Client;
use crate::SimTrade;

/// A trade frame for one client and the `exchange/market` it was written for.
pub(crate) struct TradeFrame {
    pub(crate) text: String,
    pub(crate) venue: &'static str,
}

/// The taker's side: a buyer-maker trade was sold into.
fn taker_buys(trade: &SimTrade) -> bool {
    !trade.buyer_is_maker
}

/// The `<symbol>@trade` or `<symbol>@aggTrade` payload of a trade.
pub(crate) fn binance_payload(trade: &SimTrade, channel: &str) -> String {
    let id_field = if channel == "aggTrade" { "a" } else { "t" };
    let extra = if channel == "aggTrade" {
        format!(r#","f":{id},"l":{id}"#, id = trade.trade_id)
    } else {
        String::new()
    };
    format!(
        r#"{{"e":"{channel}","E":{time},"s":"{symbol}","{id_field}":{id},"p":"{price}","q":"{quantity}"{extra},"T":{time},"m":{maker},"M":true}}"#,
        time = trade.trade_time_ms,
        symbol = trade.symbol,
        id = trade.trade_id,
        price = trade.price,
        quantity = trade.quantity,
        maker = trade.buyer_is_maker,
    )
}

/// Every frame carrying `trade` to `client`, one per subscribed stream; `sequence` is the
/// product's sequence at the trade (Coinbase Exchange's).
pub(crate) fn render(client: &Client, trade: &SimTrade, sequence: u64) -> Vec<TradeFrame> {
    let mut frames = Vec::new();
    match client.dialect {
        Dialect::Binance { futures } => {
            let lower = trade.symbol.to_ascii_lowercase();
            for channel in ["trade", "aggTrade"] {
                let stream = format!("{lower}@{channel}");
                if !client.streams.contains(&stream) {
                    continue;
                }
                let data = binance_payload(trade, channel);
                let text = if client.combined {
                    format!(r#"{{"stream":"{stream}","data":{data}}}"#)
                } else {
                    data
                };
                let venue = match (futures, channel == "aggTrade") {
                    (false, false) => "binance/spot",
                    (false, true) => "binance/spot/aggregate",
                    (true, false) => "binance/perpetual",
                    (true, true) => "binance/perpetual/aggregate",
                };
                frames.push(TradeFrame { text, venue });
            }
        }
        Dialect::Okx => {
            let Some(ids) = okx_ids(&trade.symbol) else {
                return frames;
            };
            for (inst_id, venue) in ids.iter().zip(OKX_MARKETS) {
                if !client.streams.contains(&format!("trades:{inst_id}")) {
                    continue;
                }
                let text = json!({"arg": {"channel": "trades", "instId": inst_id},
                    "data": [{"instId": inst_id, "tradeId": trade.trade_id.to_string(),
                              "px": trade.price, "sz": trade.quantity,
                              "side": if taker_buys(trade) { "buy" } else { "sell" },
                              "ts": trade.trade_time_ms.to_string(), "count": "1"}]})
                .to_string();
                frames.push(TradeFrame { text, venue });
            }
        }
        Dialect::Deribit => {
            for (name, venue) in deribit_names(&trade.symbol) {
                let channel = format!("trades.{name}.100ms");
                if !client.streams.contains(&channel) {
                    continue;
                }
                // Prices and amounts are JSON numbers whose text is the simulator's decimal.
                let text = format!(
                    r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"{channel}","data":[{{"trade_seq":{id},"trade_id":"{id}","timestamp":{time},"tick_direction":0,"price":{price},"mark_price":{price},"instrument_name":"{name}","index_price":{price},"direction":"{direction}","amount":{quantity}}}]}}}}"#,
                    id = trade.trade_id,
                    time = trade.trade_time_ms,
                    price = trade.price,
                    quantity = trade.quantity,
                    direction = if taker_buys(trade) { "buy" } else { "sell" },
                );
                frames.push(TradeFrame { text, venue });
            }
        }
        Dialect::Bybit { linear } => {
            let topic = format!("publicTrade.{}", trade.symbol);
            if client.streams.contains(&topic) {
                let text = json!({"topic": topic, "type": "snapshot", "ts": trade.trade_time_ms,
                    "data": [{"T": trade.trade_time_ms, "s": trade.symbol,
                              "S": if taker_buys(trade) { "Buy" } else { "Sell" },
                              "v": trade.quantity, "p": trade.price, "L": "PlusTick",
                              "i": trade.trade_id.to_string(), "BT": false}]})
                .to_string();
                let venue = if linear {
                    "bybit/perpetual"
                } else {
                    "bybit/spot"
                };
                frames.push(TradeFrame { text, venue });
            }
        }
        Dialect::Coinbase => frames.extend(crate::coinbase::trade(client, trade)),
        Dialect::CoinbaseExchange => {
            frames.extend(crate::coinbase_exchange::trade(client, trade, sequence));
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(dialect: Dialect, streams: &[&str]) -> Client {
        Client::subscribed(dialect, true, streams)
    }

    #[test]
    fn every_venue_frames_a_trade_for_each_subscribed_stream_only() {
        let trade = SimTrade {
            symbol: "BTCUSDT".into(),
            trade_id: 1_000_007,
            price: "1000.25000000".into(),
            quantity: "0.00500000".into(),
            buyer_is_maker: true,
            trade_time_ms: 1_700_000_000_123,
            delivered: false,
            venues: Default::default(),
        };
        let cases = [
            (
                client(Dialect::Binance { futures: true }, &["btcusdt@aggTrade"]),
                vec!["binance/perpetual/aggregate"],
            ),
            (
                client(Dialect::Okx, &["trades:BTC-USDT", "trades:BTC-USDT-SWAP"]),
                vec!["okx/spot", "okx/perpetual"],
            ),
            (
                client(Dialect::Deribit, &["trades.BTC_USDT-PERPETUAL.100ms"]),
                vec!["deribit/perpetual"],
            ),
            (
                client(
                    Dialect::Okx,
                    &["trades:BTC-USDT-261225", "trades:BTC-USDT-261225-60000-C"],
                ),
                vec!["okx/futures", "okx/options"],
            ),
            (
                client(Dialect::Deribit, &["trades.BTC_USDT-25DEC26-60000-C.100ms"]),
                vec!["deribit/options"],
            ),
            (
                client(Dialect::Bybit { linear: false }, &["publicTrade.BTCUSDT"]),
                vec!["bybit/spot"],
            ),
            (
                client(Dialect::Bybit { linear: true }, &["tickers.BTCUSDT"]),
                vec![],
            ),
        ];
        for (client, venues) in cases {
            let frames = render(&client, &trade, 0);
            assert_eq!(
                frames.iter().map(|frame| frame.venue).collect::<Vec<_>>(),
                venues
            );
            for frame in frames {
                let value: serde_json::Value =
                    serde_json::from_str(&frame.text).expect("valid JSON");
                assert!(frame.text.contains("1000007"), "{value}");
                assert!(frame.text.contains("1000.25000000"), "{value}");
                let taker_sold = ["\"sell\"", "\"Sell\"", "\"m\":true"]
                    .iter()
                    .any(|side| frame.text.contains(side));
                assert!(taker_sold, "a buyer-maker trade is a taker sell: {value}");
            }
        }
    }
}
