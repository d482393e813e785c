//! Deribit volatility-index (DVOL) history over REST, `public/get_volatility_index_data`: the
//! JSON-RPC answer's candles become index values. Builds the request URL and normalizes the
//! answer ([`super::wire::VolatilityHistory`]) into model events.
//! Docs: <https://docs.deribit.com/#public-get_volatility_index_data>

use marketprism_model::{Event, Exchange, MarketType, VolatilityIndex};

use super::normalize::number;
use super::wire;
use crate::{Poll, PollKind, VenueError};

/// Candles per volatility-index history request (Deribit answers at most 1,000).
const HISTORY_CANDLES: i64 = 1_000;

/// Deribit's candle resolution for a period in Binance notation, with its length in ms.
fn resolution(period: &str) -> Option<(&'static str, i64)> {
    Some(match period {
        "1s" => ("1", 1_000),
        "1m" => ("60", 60_000),
        "1h" => ("3600", 3_600_000),
        "12h" => ("43200", 43_200_000),
        "1d" => ("1D", 86_400_000),
        _ => return None,
    })
}

/// DVOL history: the last 1,000 candles at the period's resolution, ending `now_ms`; the
/// symbol is the currency. Deribit offers no other polled series on `market_type`.
pub(super) fn url(
    market_type: MarketType,
    rest_endpoint: &str,
    poll: &Poll,
    now_ms: i64,
) -> Result<String, VenueError> {
    if poll.kind != PollKind::VolatilityIndex {
        return Err(VenueError::UnsupportedChannel {
            venue: format!("deribit {market_type}"),
            channel: poll.kind.as_str(),
        });
    }
    let (resolution, length_ms) =
        resolution(&poll.period).ok_or_else(|| VenueError::UnsupportedPeriod {
            series: poll.kind.as_str(),
            period: poll.period.clone(),
            offered: "1s, 1m, 1h, 12h, 1d",
        })?;
    Ok(format!(
        "{}/api/v2/public/get_volatility_index_data?currency={}&start_timestamp={}&end_timestamp={now_ms}&resolution={resolution}",
        rest_endpoint.trim_end_matches('/'),
        poll.symbol,
        now_ms - HISTORY_CANDLES * length_ms,
    ))
}

/// Each candle becomes the index value at its start time (the candle's open).
pub(super) fn parse(
    poll: &Poll,
    body: &str,
    received_time_ms: i64,
) -> Result<Vec<Event>, VenueError> {
    if poll.kind != PollKind::VolatilityIndex {
        return Err(VenueError::unrecognized(body));
    }
    let result = wire::rest_result(body)?;
    let history: wire::VolatilityHistory<'_> = serde_json::from_str(result.get())?;
    history
        .data
        .iter()
        .map(|wire::Candle(start_ms, open, ..)| {
            Ok(Event::VolatilityIndex(VolatilityIndex {
                exchange: Exchange::Deribit,
                market_type: MarketType::Options,
                symbol: poll.symbol.clone(),
                value: number("open", open)?,
                exchange_time_ms: *start_ms,
                received_time_ms,
            }))
        })
        .collect()
}
