//! USDⓈ-M REST data no stream carries: funding (`premiumIndex`), open interest and the
//! long/short ratio statistics. Builds the request URLs and normalizes the JSON answers
//! ([`super::wire`]) into model events.
//! Docs: <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>

use marketprism_model::{
    Event, Exchange, FundingRate, LongShortRatio, MarketType, OpenInterest, RatioKind,
};

use super::symbol::to_native;
use super::wire::{BinanceOpenInterest, BinancePremiumIndex, BinanceRatio, BinanceTimestamp};
use crate::decimal::decimal;
use crate::{Poll, PollKind, VenueError};

/// A timestamp in Unix milliseconds, whether Binance wrote it as a number or a string.
fn millis(timestamp: &BinanceTimestamp) -> Result<i64, VenueError> {
    match timestamp {
        BinanceTimestamp::Number(value) => Ok(*value),
        BinanceTimestamp::Text(text) => text.parse().map_err(|_| VenueError::Decimal {
            field: "timestamp",
            value: text.clone(),
        }),
    }
}

/// The USDⓈ-M URL answering `poll`, if Binance offers the series.
pub fn url(rest_endpoint: &str, poll: &Poll) -> Option<String> {
    let base = rest_endpoint.trim_end_matches('/');
    let symbol = to_native(&poll.symbol);
    Some(match poll.kind {
        PollKind::FundingRate => format!("{base}/fapi/v1/premiumIndex?symbol={symbol}"),
        PollKind::OpenInterest => format!("{base}/fapi/v1/openInterest?symbol={symbol}"),
        PollKind::LongShortRatio(kind) => {
            let path = match kind {
                RatioKind::TopPositions => "topLongShortPositionRatio",
                RatioKind::TopAccounts => "topLongShortAccountRatio",
                RatioKind::AllAccounts => "globalLongShortAccountRatio",
            };
            format!(
                "{base}/futures/data/{path}?symbol={symbol}&period={}&limit=1",
                poll.period
            )
        }
        PollKind::VolatilityIndex => return None,
    })
}

/// Parses the answer to `poll`.
pub fn parse(poll: &Poll, body: &str, received_time_ms: i64) -> Result<Vec<Event>, VenueError> {
    let market_type = MarketType::Perpetual;
    let symbol = poll.symbol.clone();
    Ok(match poll.kind {
        PollKind::FundingRate => {
            let wire: BinancePremiumIndex<'_> = serde_json::from_str(body)?;
            vec![Event::FundingRate(FundingRate {
                exchange: Exchange::Binance,
                market_type,
                symbol,
                funding_rate: decimal("lastFundingRate", &wire.last_funding_rate)?,
                predicted_rate: None,
                next_funding_time_ms: Some(wire.next_funding_time),
                mark_price: Some(decimal("markPrice", &wire.mark_price)?),
                index_price: Some(decimal("indexPrice", &wire.index_price)?),
                exchange_time_ms: wire.time,
                received_time_ms,
            })]
        }
        PollKind::OpenInterest => {
            let wire: BinanceOpenInterest<'_> = serde_json::from_str(body)?;
            vec![Event::OpenInterest(OpenInterest {
                exchange: Exchange::Binance,
                market_type,
                symbol,
                open_interest: decimal("openInterest", &wire.open_interest)?,
                open_interest_value: None,
                exchange_time_ms: wire.time,
                received_time_ms,
            })]
        }
        PollKind::LongShortRatio(kind) => {
            let entries: Vec<BinanceRatio<'_>> = serde_json::from_str(body)?;
            entries
                .iter()
                .map(|entry| {
                    Ok(Event::LongShortRatio(LongShortRatio {
                        exchange: Exchange::Binance,
                        market_type,
                        symbol: symbol.clone(),
                        kind,
                        period: poll.period.clone(),
                        ratio: decimal("longShortRatio", &entry.long_short_ratio)?,
                        long_share: Some(decimal("longAccount", &entry.long_account)?),
                        short_share: Some(decimal("shortAccount", &entry.short_account)?),
                        exchange_time_ms: millis(&entry.timestamp)?,
                        received_time_ms,
                    }))
                })
                .collect::<Result<_, VenueError>>()?
        }
        PollKind::VolatilityIndex => return Err(VenueError::unrecognized(body)),
    })
}
