//! REST request limits as the venues publish them: the buckets a venue counts requests in
//! (a limit per fixed window), what one request costs in which bucket, and the response
//! header in which the venue reports what it has counted. The collector and the backfill
//! spend one budget per venue built from these rules (`marketprism-rest`); the simulator
//! enforces the same numbers.

use std::time::Duration;

use crate::PollKind;

/// A kind of REST request, which decides its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestCall {
    /// A book snapshot covering at least `depth` levels (the venue rounds up to the limit it
    /// offers, as the snapshot URL does).
    BookSnapshot {
        /// Levels per side asked for.
        depth: usize,
    },
    /// One answer of a polled series.
    Poll(PollKind),
    /// One page of the venue's public trade history (Binance `aggTrades`, OKX
    /// `history-trades`, Bybit `recent-trade`, Deribit `get_last_trades_by_instrument`).
    TradeHistory,
    /// The list of the market's instruments ([`crate::VenueProtocol::instruments_url`]:
    /// Binance `exchangeInfo`, OKX `public/instruments`, Deribit `get_instruments`, Bybit
    /// `instruments-info`).
    Instruments,
}

/// One counter of a venue: at most `limit` weight per `window`. Windows are fixed and
/// aligned on the Unix epoch (Binance resets its minute counters on the minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestBucket {
    /// The bucket's name, e.g. Binance's `REQUEST_WEIGHT`.
    pub name: &'static str,
    /// Weight allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

/// What one request costs: `weight` in the bucket named `bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestCost {
    /// The [`RestBucket::name`] it is counted in.
    pub bucket: &'static str,
    /// Its weight there.
    pub weight: u32,
}

/// A response header in which the venue reports the weight it has counted in a bucket for
/// the requesting IP, e.g. Binance's `X-MBX-USED-WEIGHT-1M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedWeightHeader {
    /// Header name.
    pub name: &'static str,
    /// The [`RestBucket::name`] it reports.
    pub bucket: &'static str,
}

/// An answer by which a venue bans the IP for going beyond its limits, beside the 429 and
/// 418 every venue's client honours: Bybit's 403 "access too frequent".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanAnswer {
    /// The HTTP status of the answer.
    pub status: u16,
    /// How long to send nothing when the answer names no `Retry-After`.
    pub pause: Duration,
}

/// A venue's REST limits for one REST endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestLimits {
    /// The venue and market these limits belong to, e.g. `binance_spot`; processes keep one
    /// budget per REST endpoint and name.
    pub name: &'static str,
    /// Every bucket requests are counted in.
    pub buckets: &'static [RestBucket],
    /// The header reporting used weight, where the venue sends one.
    pub used_weight_header: Option<UsedWeightHeader>,
    /// The venue's own ban answer, where it has one.
    pub ban: Option<BanAnswer>,
}

impl RestLimits {
    /// The bucket named `name`.
    pub fn bucket(&self, name: &str) -> Option<&RestBucket> {
        self.buckets.iter().find(|bucket| bucket.name == name)
    }
}

/// One minute.
pub(crate) const MINUTE: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use crate::VenueKind;

    use super::*;

    /// Every cost a protocol names is counted in one of its buckets, and no single request
    /// weighs more than its bucket allows per window.
    #[test]
    fn every_cost_falls_in_a_bucket_of_its_venue() {
        let polls = [
            PollKind::FundingRate,
            PollKind::OpenInterest,
            PollKind::LongShortRatio(marketprism_model::RatioKind::TopPositions),
            PollKind::LongShortRatio(marketprism_model::RatioKind::TopAccounts),
            PollKind::LongShortRatio(marketprism_model::RatioKind::AllAccounts),
            PollKind::VolatilityIndex,
        ];
        let kinds = [
            VenueKind::BinanceSpot,
            VenueKind::BinanceUsdm,
            VenueKind::OkxSpot,
            VenueKind::OkxSwap,
            VenueKind::DeribitPerpetual,
            VenueKind::DeribitOptions,
            VenueKind::BybitSpot,
            VenueKind::BybitLinear,
        ];
        for kind in kinds {
            let protocol = kind.protocol(&[]);
            let limits = protocol.rest_limits();
            let calls = [1, 100, 101, 500, 1000, 1001, 5000]
                .map(|depth| RestCall::BookSnapshot { depth })
                .into_iter()
                .chain(polls.map(RestCall::Poll))
                .chain([RestCall::TradeHistory, RestCall::Instruments]);
            for call in calls {
                let cost = protocol.request_cost(call);
                let bucket = limits
                    .bucket(cost.bucket)
                    .unwrap_or_else(|| panic!("{kind:?} {call:?}: no bucket {}", cost.bucket));
                assert!(
                    cost.weight >= 1 && cost.weight <= bucket.limit,
                    "{kind:?} {call:?}"
                );
            }
            if let Some(header) = limits.used_weight_header {
                assert!(limits.bucket(header.bucket).is_some(), "{kind:?}");
            }
        }
    }
}
