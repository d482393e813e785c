//! Bybit v5 REST series: the all-accounts long/short ratio of linear contracts
//! (`GET /v5/market/account-ratio`). Builds the request URL and normalizes the JSON answer
//! ([`super::wire::AccountRatioAnswer`]) into model events.
//! Docs: <https://bybit-exchange.github.io/docs/v5/market/long-short-ratio>

use marketprism_model::{Event, Exchange, LongShortRatio, MarketType, RatioKind};

use super::symbol::to_native;
use super::wire::AccountRatioAnswer;
use crate::decimal::decimal;
use crate::{Poll, PollKind, VenueError};

/// The URL answering `poll` on `market_type`; Bybit streams every other series.
pub(super) fn url(
    market_type: MarketType,
    rest_endpoint: &str,
    poll: &Poll,
) -> Result<String, VenueError> {
    if poll.kind != PollKind::LongShortRatio(RatioKind::AllAccounts)
        || market_type != MarketType::Perpetual
    {
        return Err(VenueError::UnsupportedChannel {
            venue: format!("bybit {market_type}"),
            channel: poll.kind.as_str(),
        });
    }
    // Bybit writes minutes as `min`: 5min, 1h, 1d.
    let period = match poll.period.strip_suffix('m') {
        Some(minutes) => format!("{minutes}min"),
        None => poll.period.clone(),
    };
    Ok(format!(
        "{}/v5/market/account-ratio?category=linear&symbol={}&period={period}&limit=1",
        rest_endpoint.trim_end_matches('/'),
        to_native(&poll.symbol)
    ))
}

/// Parses the answer to `poll` on `market_type`.
pub(super) fn parse(
    market_type: MarketType,
    poll: &Poll,
    body: &str,
    received_time_ms: i64,
) -> Result<Vec<Event>, VenueError> {
    let answer: AccountRatioAnswer<'_> = serde_json::from_str(body)?;
    if answer.ret_code != 0 {
        return Err(VenueError::Unrecognized(format!(
            "retCode {}: {}",
            answer.ret_code, answer.ret_msg
        )));
    }
    answer
        .result
        .list
        .iter()
        .map(|entry| {
            let long_share = decimal("buyRatio", &entry.buy_ratio)?;
            let short_share = decimal("sellRatio", &entry.sell_ratio)?;
            // Bybit publishes the shares; the ratio is derived, to 18 decimal places.
            let ratio = long_share
                .checked_div(short_share)
                .ok_or_else(|| VenueError::Decimal {
                    field: "sellRatio",
                    value: entry.sell_ratio.to_string(),
                })?
                .round_dp(18)
                .normalize();
            let exchange_time_ms = entry.timestamp.parse().map_err(|_| VenueError::Decimal {
                field: "timestamp",
                value: entry.timestamp.to_string(),
            })?;
            Ok(Event::LongShortRatio(LongShortRatio {
                exchange: Exchange::Bybit,
                market_type,
                symbol: poll.symbol.clone(),
                kind: RatioKind::AllAccounts,
                period: poll.period.clone(),
                ratio,
                long_share: Some(long_share),
                short_share: Some(short_share),
                exchange_time_ms,
                received_time_ms,
            }))
        })
        .collect()
}
