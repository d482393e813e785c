//! `GET /v1/coverage?exchange&market&symbol&type&from&to`: how complete one feed's data is in
//! a range. It answers the rows per minute (deduplicated, every minute of the range, empty
//! ones as 0), each collector's gaps that meet the range (with reason, status and the
//! backfill's counts), the feed's own gaps (where every collector missed data; cut to the
//! range) and `complete`: true when the feed has no gap in the range and its recording
//! spans the whole range. `incomplete_because` says why not, in sentences.

use clickhouse::Row;
use marketprism_model::coverage::Span;
use marketprism_model::{Exchange, MarketType, Symbol};
use serde::{Deserialize, Serialize};

use crate::config::QueryConfig;
use crate::gaps::{self, GapRow};
use crate::params::{check_range, Params};
use crate::source::Reader;
use crate::tables::{Recorded, EXCHANGE_TIME};
use crate::ApiError;

const MINUTE_MS: i64 = 60_000;

/// The rows of one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct Minute {
    /// Start of the minute, Unix milliseconds.
    pub minute_ms: i64,
    /// Rows whose venue time falls in it.
    pub events: u64,
}

/// A span where the feed misses data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FeedGap {
    /// Start, Unix milliseconds.
    pub from_ms: i64,
    /// End, Unix milliseconds.
    pub to_ms: i64,
}

impl From<Span> for FeedGap {
    fn from(span: Span) -> Self {
        FeedGap {
            from_ms: span.from_ms,
            to_ms: span.to_ms,
        }
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The venue.
    pub exchange: Exchange,
    /// The market.
    pub market: MarketType,
    /// The symbol.
    pub symbol: Symbol,
    /// The data type.
    #[serde(rename = "type")]
    pub data_type: &'static str,
    /// Start of the range, Unix milliseconds (included).
    pub from_ms: i64,
    /// End of the range, Unix milliseconds (excluded).
    pub to_ms: i64,
    /// Whether the feed's data of the range is complete.
    pub complete: bool,
    /// Why it is not, one sentence per reason.
    pub incomplete_because: Vec<String>,
    /// Rows in the range.
    pub events: u64,
    /// The earliest venue time recorded for the feed, of all time.
    pub first_event_ms: Option<i64>,
    /// The latest venue time recorded for the feed, of all time.
    pub last_event_ms: Option<i64>,
    /// Rows per minute, every minute of the range.
    pub minutes: Vec<Minute>,
    /// Where every collector of the feed missed data, within the range.
    pub feed_gaps: Vec<FeedGap>,
    /// The collectors whose gaps were combined.
    pub collectors: Vec<String>,
    /// Every collector's gaps that meet the range, whether they leave data missing or not.
    pub gaps: Vec<GapRow>,
}

#[derive(Debug, Row, Deserialize)]
struct Recording {
    events: u64,
    first_ms: i64,
    last_ms: i64,
}

/// Answers a coverage request.
pub async fn coverage(
    reader: &Reader,
    limits: &QueryConfig,
    mut params: Params,
) -> Result<Coverage, ApiError> {
    let exchange = params.exchange()?;
    let market = params.market()?;
    let symbol = params.symbol("symbol")?;
    let recorded: Recorded = params.data_type("type")?;
    let from_ms = params.time("from")?;
    let to_ms = params.time("to")?;
    params.finish()?;
    check_range(from_ms, to_ms)?;
    let longest = i64::try_from(limits.max_coverage_range.as_millis()).unwrap_or(i64::MAX);
    if to_ms - from_ms > longest {
        return Err(ApiError::bad(
            "to",
            format!(
                "the range is longer than query.max_coverage_range ({})",
                humantime::format_duration(limits.max_coverage_range)
            ),
        ));
    }

    let dialect = reader.dialect().await?;
    let time = dialect.time_ms(EXCHANGE_TIME);
    let table = recorded.table.name;
    let counted: Vec<Minute> = reader
        .query(&format!(
            "SELECT intDiv({time}, {MINUTE_MS}) * {MINUTE_MS} AS minute_ms, count() AS events \
             FROM {table} FINAL WHERE exchange = ? AND market_type = ? AND symbol = ? \
             AND {time} >= ? AND {time} < ? GROUP BY minute_ms ORDER BY minute_ms"
        ))
        .await?
        .bind(exchange.as_str())
        .bind(market.as_str())
        .bind(symbol.as_str())
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all()
        .await?;
    let recording: Recording = reader
        .query(&format!(
            "SELECT count() AS events, min({time}) AS first_ms, max({time}) AS last_ms \
             FROM {table} WHERE exchange = ? AND market_type = ? AND symbol = ?"
        ))
        .await?
        .bind(exchange.as_str())
        .bind(market.as_str())
        .bind(symbol.as_str())
        .fetch_one()
        .await?;
    let symbols = [symbol.clone()];
    let rows = gaps::gap_rows(
        reader,
        dialect,
        exchange,
        market,
        &symbols,
        (from_ms, to_ms),
    )
    .await?;
    let collectors =
        gaps::collectors(reader, &limits.collectors, exchange, market, &symbols).await?;
    let feed_gaps: Vec<FeedGap> = gaps::feed_missing(
        &rows,
        &collectors,
        symbol.as_str(),
        recorded.data_type,
        (from_ms, to_ms),
    )
    .into_iter()
    .map(FeedGap::from)
    .collect();

    let minutes = every_minute(&counted, from_ms, to_ms);
    let events = minutes.iter().map(|minute| minute.events).sum();
    let (first_event_ms, last_event_ms) = if recording.events == 0 {
        (None, None)
    } else {
        (Some(recording.first_ms), Some(recording.last_ms))
    };
    let mut incomplete_because = Vec::new();
    match (first_event_ms, last_event_ms) {
        (None, _) | (_, None) => incomplete_because.push("nothing of the feed is recorded".into()),
        (Some(first), Some(last)) => {
            if first > from_ms {
                incomplete_because.push(format!(
                    "the feed's recording begins at {}, after the range starts",
                    rfc3339(first)
                ));
            }
            if last < to_ms - 1 {
                incomplete_because.push(format!(
                    "the feed's latest recorded event is at {}, before the range ends",
                    rfc3339(last)
                ));
            }
        }
    }
    for gap in &feed_gaps {
        incomplete_because.push(format!(
            "every collector missed data from {} to {}",
            rfc3339(gap.from_ms),
            rfc3339(gap.to_ms)
        ));
    }
    Ok(Coverage {
        exchange,
        market,
        symbol,
        data_type: recorded.data_type.as_str(),
        from_ms,
        to_ms,
        complete: incomplete_because.is_empty(),
        incomplete_because,
        events,
        first_event_ms,
        last_event_ms,
        minutes,
        feed_gaps,
        collectors: collectors.into_iter().map(|(_, name)| name).collect(),
        gaps: rows,
    })
}

/// `counted` with a zero for every minute of `from_ms..to_ms` it lacks.
fn every_minute(counted: &[Minute], from_ms: i64, to_ms: i64) -> Vec<Minute> {
    let mut counted = counted.iter().peekable();
    let first = from_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
    (0..)
        .map(|index| first + index * MINUTE_MS)
        .take_while(|minute_ms| *minute_ms < to_ms)
        .map(|minute_ms| {
            let events = counted
                .next_if(|minute| minute.minute_ms == minute_ms)
                .map_or(0, |minute| minute.events);
            Minute { minute_ms, events }
        })
        .collect()
}

/// `ms` as RFC 3339 UTC with milliseconds.
fn rfc3339(ms: i64) -> String {
    let time = u64::try_from(ms)
        .ok()
        .and_then(|ms| std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(ms)));
    match time {
        Some(time) => humantime::format_rfc3339_millis(time).to_string(),
        None => format!("{ms} ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_minute_of_the_range_is_listed() {
        let counted = [
            Minute {
                minute_ms: 60_000,
                events: 3,
            },
            Minute {
                minute_ms: 180_000,
                events: 1,
            },
        ];
        let minutes = every_minute(&counted, 30_000, 200_000);
        assert_eq!(
            minutes
                .iter()
                .map(|minute| (minute.minute_ms, minute.events))
                .collect::<Vec<_>>(),
            [(0, 0), (60_000, 3), (120_000, 0), (180_000, 1)]
        );
        assert_eq!(rfc3339(1_795_737_600_250), "2026-11-27T00:00:00.250Z");
    }
}
