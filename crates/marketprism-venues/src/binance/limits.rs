//! Binance's REST limits: request weight per minute and IP, reported back in
//! `X-MBX-USED-WEIGHT-1M`; a 429 warns, requests during its `Retry-After` earn a 418 ban of
//! 2 minutes up to 3 days.
//!
//! * Spot: 6,000 weight per minute
//!   (<https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>). `GET
//!   /api/v3/depth` weighs 5 (limit 1–100), 25 (101–500), 50 (501–1000) or 250 (1001–5000);
//!   `GET /api/v3/aggTrades` 4
//!   (<https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints>);
//!   `GET /api/v3/exchangeInfo` 20
//!   (<https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-endpoints>).
//! * USDⓈ-M: 2,400 weight per minute. `GET /fapi/v1/depth` weighs 2 (limit 5, 10, 20, 50),
//!   5 (100), 10 (500) or 20 (1000); `premiumIndex`, `openInterest` and `exchangeInfo` 1;
//!   `aggTrades` 20
//!   (<https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>).
//!   The `futures/data` statistics (long/short ratios) have their own limit of 1,000 requests
//!   per 5 minutes and IP.
//!
//! And its WebSocket limits ([`SPOT_WS`], [`USDM_WS`]):
//!
//! * Spot (<https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#websocket-limits>):
//!   1024 streams per connection; 5 incoming messages per second per connection, where a
//!   PING frame, a PONG frame and a JSON control message (`SUBSCRIBE`, ...) each count, and
//!   a connection beyond it is disconnected; 300 connection attempts per 5 minutes per IP.
//! * USDⓈ-M (<https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams>):
//!   1024 streams per connection; 10 incoming messages per second, beyond which the
//!   connection is disconnected. It documents no connection rate: ours is spot's, 300 per 5
//!   minutes.
//! * Neither documents how many streams one `SUBSCRIBE` may list. Ours is 100, a frame of
//!   about 2 KB: clients report larger frames refused.

use std::time::Duration;

use marketprism_model::MarketType;

use super::snapshot_limit;
use crate::limits::{MINUTE, SECOND};
use crate::{
    CountedMessages, MessageScope, PollKind, Rate, RequestCost, RestBucket, RestCall, RestLimits,
    UsedWeightHeader, WsLimits,
};

/// The request-weight bucket of both markets.
const REQUEST_WEIGHT: &str = "REQUEST_WEIGHT";

/// The `futures/data` statistics bucket of USDⓈ-M.
const FUTURES_DATA: &str = "futures_data";

/// The header reporting the weight used this minute.
const USED_WEIGHT: UsedWeightHeader = UsedWeightHeader {
    name: "x-mbx-used-weight-1m",
    bucket: REQUEST_WEIGHT,
};

/// Spot limits.
pub(super) const SPOT: RestLimits = RestLimits {
    name: "binance_spot",
    buckets: &[RestBucket {
        name: REQUEST_WEIGHT,
        limit: 6_000,
        window: MINUTE,
    }],
    used_weight_header: Some(USED_WEIGHT),
    ban: None,
};

/// USDⓈ-M limits.
pub(super) const USDM: RestLimits = RestLimits {
    name: "binance_usdm",
    buckets: &[
        RestBucket {
            name: REQUEST_WEIGHT,
            limit: 2_400,
            window: MINUTE,
        },
        RestBucket {
            name: FUTURES_DATA,
            limit: 1_000,
            window: Duration::from_secs(300),
        },
    ],
    used_weight_header: Some(USED_WEIGHT),
    ban: None,
};

/// Connection attempts per IP: 300 per 5 minutes.
const CONNECTIONS: Rate = Rate {
    limit: 300,
    window: Duration::from_secs(300),
};

/// Spot WebSocket limits.
pub(super) const SPOT_WS: WsLimits = WsLimits {
    name: "binance_spot",
    streams_per_connection: 1024,
    args_per_request: 100,
    request_bytes: None,
    messages: Rate {
        limit: 5,
        window: SECOND,
    },
    counted: CountedMessages::EveryFrame,
    message_scope: MessageScope::Connection,
    connections: CONNECTIONS,
    concurrent_connections: None,
};

/// USDⓈ-M WebSocket limits.
pub(super) const USDM_WS: WsLimits = WsLimits {
    name: "binance_usdm",
    messages: Rate {
        limit: 10,
        window: SECOND,
    },
    ..SPOT_WS
};

/// The WebSocket limits of `market_type`.
pub(super) fn ws(market_type: MarketType) -> WsLimits {
    if market_type == MarketType::Spot {
        SPOT_WS
    } else {
        USDM_WS
    }
}

/// What `call` costs on `market_type`.
pub(super) fn cost(market_type: MarketType, call: RestCall) -> RequestCost {
    let spot = market_type == MarketType::Spot;
    let weight = match call {
        RestCall::BookSnapshot { depth } => {
            let limit = snapshot_limit(market_type, depth);
            match (spot, limit) {
                (true, 0..=100) => 5,
                (true, 101..=500) => 25,
                (true, 501..=1000) => 50,
                (true, _) => 250,
                (false, 0..=50) => 2,
                (false, 51..=100) => 5,
                (false, 101..=500) => 10,
                (false, _) => 20,
            }
        }
        RestCall::Poll(PollKind::LongShortRatio(_)) if !spot => {
            return RequestCost {
                bucket: FUTURES_DATA,
                weight: 1,
            }
        }
        RestCall::Poll(_) => 1,
        RestCall::TradeHistory if spot => 4,
        RestCall::TradeHistory => 20,
        RestCall::Instruments if spot => 20,
        RestCall::Instruments => 1,
    };
    RequestCost {
        bucket: REQUEST_WEIGHT,
        weight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_snapshots_weigh_by_the_limit_asked() {
        let weight =
            |market_type, depth| cost(market_type, RestCall::BookSnapshot { depth }).weight;
        assert_eq!(weight(MarketType::Spot, 100), 5);
        assert_eq!(weight(MarketType::Spot, 101), 25);
        assert_eq!(weight(MarketType::Spot, 1000), 50);
        assert_eq!(weight(MarketType::Spot, 1001), 250);
        assert_eq!(weight(MarketType::Perpetual, 20), 2);
        assert_eq!(weight(MarketType::Perpetual, 100), 5);
        assert_eq!(weight(MarketType::Perpetual, 400), 10);
        assert_eq!(weight(MarketType::Perpetual, 1000), 20);
        assert_eq!(weight(MarketType::Perpetual, 5000), 20);
    }

    #[test]
    fn websocket_limits_are_the_documented_numbers() {
        assert_eq!(SPOT_WS.streams_per_connection, 1024);
        assert_eq!(
            (SPOT_WS.messages.limit, SPOT_WS.messages.window),
            (5, SECOND)
        );
        assert_eq!(
            (SPOT_WS.connections.limit, SPOT_WS.connections.window),
            (300, Duration::from_secs(300))
        );
        assert_eq!(SPOT_WS.counted, CountedMessages::EveryFrame);
        assert_eq!(USDM_WS.streams_per_connection, 1024);
        assert_eq!(USDM_WS.messages.limit, 10);
        assert_eq!(ws(MarketType::Perpetual), USDM_WS);
    }

    #[test]
    fn exchange_info_weighs_20_on_spot_and_1_on_usdm() {
        let spot = cost(MarketType::Spot, RestCall::Instruments);
        let usdm = cost(MarketType::Perpetual, RestCall::Instruments);
        assert_eq!((spot.bucket, spot.weight), (REQUEST_WEIGHT, 20));
        assert_eq!((usdm.bucket, usdm.weight), (REQUEST_WEIGHT, 1));
    }
}
