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

use std::time::Duration;

use marketprism_model::MarketType;

use super::snapshot_limit;
use crate::limits::MINUTE;
use crate::{PollKind, RequestCost, RestBucket, RestCall, RestLimits, UsedWeightHeader};

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
    fn exchange_info_weighs_20_on_spot_and_1_on_usdm() {
        let spot = cost(MarketType::Spot, RestCall::Instruments);
        let usdm = cost(MarketType::Perpetual, RestCall::Instruments);
        assert_eq!((spot.bucket, spot.weight), (REQUEST_WEIGHT, 20));
        assert_eq!((usdm.bucket, usdm.weight), (REQUEST_WEIGHT, 1));
    }
}
