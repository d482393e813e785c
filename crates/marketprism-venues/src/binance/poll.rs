//! USDⓈ-M REST data no stream carries: funding (`premiumIndex`), open interest and the
//! long/short ratio statistics.
//! Docs: <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api>

use std::borrow::Cow;

use marketprism_model::{
    Event, Exchange, FundingRate, LongShortRatio, MarketType, OpenInterest, RatioKind,
};
use serde::Deserialize;

use super::symbol::to_native;
use crate::decimal::decimal;
use crate::{Poll, PollKind, VenueError};

/// `GET /fapi/v1/premiumIndex?symbol=BTCUSDT`.
///
/// ```json
/// {"symbol":"BTCUSDT","markPrice":"11793.63104562","indexPrice":"11781.80495970",
///  "estimatedSettlePrice":"11781.16138815","lastFundingRate":"0.00038246",
///  "interestRate":"0.00010000","nextFundingTime":1597392000000,"time":1597370495002}
/// ```
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PremiumIndex<'a> {
    #[serde(borrow)]
    mark_price: Cow<'a, str>,
    #[serde(borrow)]
    index_price: Cow<'a, str>,
    #[serde(borrow)]
    last_funding_rate: Cow<'a, str>,
    next_funding_time: i64,
    time: i64,
}

/// `GET /fapi/v1/openInterest?symbol=BTCUSDT`: `{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenInterestAnswer<'a> {
    #[serde(borrow)]
    open_interest: Cow<'a, str>,
    time: i64,
}

/// One entry of the `/futures/data/*LongShort*Ratio` answers.
///
/// ```json
/// [{"symbol":"BTCUSDT","longShortRatio":"1.4342","longAccount":"0.5891","shortAccount":"0.4108","timestamp":"1583139600000"}]
/// ```
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ratio<'a> {
    #[serde(borrow)]
    long_short_ratio: Cow<'a, str>,
    #[serde(borrow, alias = "longPosition")]
    long_account: Cow<'a, str>,
    #[serde(borrow, alias = "shortPosition")]
    short_account: Cow<'a, str>,
    timestamp: Timestamp,
}

/// Binance writes this timestamp as a number in some answers and a string in others.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Timestamp {
    Number(i64),
    Text(String),
}

impl Timestamp {
    fn millis(&self) -> Result<i64, VenueError> {
        match self {
            Timestamp::Number(value) => Ok(*value),
            Timestamp::Text(text) => text.parse().map_err(|_| VenueError::Decimal {
                field: "timestamp",
                value: text.clone(),
            }),
        }
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
            let wire: PremiumIndex<'_> = serde_json::from_str(body)?;
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
            let wire: OpenInterestAnswer<'_> = serde_json::from_str(body)?;
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
            let entries: Vec<Ratio<'_>> = serde_json::from_str(body)?;
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
                        exchange_time_ms: entry.timestamp.millis()?,
                        received_time_ms,
                    }))
                })
                .collect::<Result<_, VenueError>>()?
        }
        PollKind::VolatilityIndex => return Err(VenueError::unrecognized(body)),
    })
}
