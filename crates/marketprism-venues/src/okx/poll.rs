//! OKX rubik statistics over REST: the long/short ratios of top traders (per contract) and of
//! all accounts (per currency). Builds the request URLs and normalizes the JSON answers
//! ([`super::wire::RubikAnswer`]) into model events.
//! Docs: <https://www.okx.com/docs-v5/en/#trading-statistics-rest-api-get-contract-long-short-ratio>

use marketprism_model::{Event, Exchange, LongShortRatio, MarketType, RatioKind};

use super::symbol::to_native;
use super::wire::RubikAnswer;
use crate::decimal::decimal;
use crate::decimal::millis;
use crate::{Poll, PollKind, VenueError};

/// The URL answering `poll` on `market_type`; OKX streams every other series.
pub(super) fn url(
    market_type: MarketType,
    rest_endpoint: &str,
    poll: &Poll,
) -> Result<String, VenueError> {
    let PollKind::LongShortRatio(kind) = poll.kind else {
        return Err(VenueError::UnsupportedChannel {
            venue: format!("okx {market_type} (streamed instead)"),
            channel: poll.kind.as_str(),
        });
    };
    let base = rest_endpoint.trim_end_matches('/');
    // OKX writes hours and days in upper case: 5m, 1H, 1D.
    let period = poll.period.replace('h', "H").replace('d', "D");
    let inst_id = to_native(MarketType::Perpetual, &poll.symbol);
    Ok(match kind {
        RatioKind::TopAccounts => format!(
            "{base}/api/v5/rubik/stat/contracts/long-short-account-ratio-contract-top-trader?instId={inst_id}&period={period}"
        ),
        RatioKind::TopPositions => format!(
            "{base}/api/v5/rubik/stat/contracts/long-short-position-ratio-contract-top-trader?instId={inst_id}&period={period}"
        ),
        RatioKind::AllAccounts => format!(
            "{base}/api/v5/rubik/stat/contracts/long-short-account-ratio?ccy={}&period={period}",
            poll.symbol.base()
        ),
    })
}

/// Parses the answer to `poll`.
pub(super) fn parse(
    poll: &Poll,
    body: &str,
    received_time_ms: i64,
) -> Result<Vec<Event>, VenueError> {
    let PollKind::LongShortRatio(kind) = poll.kind else {
        return Err(VenueError::unrecognized(body));
    };
    let answer: RubikAnswer<'_> = serde_json::from_str(body)?;
    if answer.code != "0" {
        return Err(VenueError::Unrecognized(format!(
            "code {}: {}",
            answer.code, answer.msg
        )));
    }
    // The all-account series is per currency, the top-trader series per contract.
    let symbol = match kind {
        RatioKind::AllAccounts => poll
            .symbol
            .base()
            .parse()
            .map_err(|_| VenueError::UnknownSymbol(poll.symbol.to_string()))?,
        _ => poll.symbol.clone(),
    };
    answer
        .data
        .iter()
        .map(|[ts, ratio]| {
            Ok(Event::LongShortRatio(LongShortRatio {
                exchange: Exchange::Okx,
                market_type: MarketType::Perpetual,
                symbol: symbol.clone(),
                kind,
                period: poll.period.clone(),
                ratio: decimal("ratio", ratio)?,
                long_share: None,
                short_share: None,
                exchange_time_ms: millis("ts", ts)?,
                received_time_ms,
            }))
        })
        .collect()
}
