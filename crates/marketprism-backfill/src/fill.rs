//! Filling one gap: the ranges of trades it missed, paged from the venue's REST history, and
//! the status that results.
//!
//! A `trade_id_gap` names its missing counters (aggregate or single-trade ids, as the gap
//! says), so the fill knows how many trades it wants: `filled` when every id was recovered,
//! `partial` when some were, `unfillable` when none. A `disconnect`, `stale` or `restart` gap
//! is a time window over every trade of the instrument, filled for each trade stream the
//! venue records: `filled` when the venue's history reached back past the window's start
//! (everything it holds inside the window was recovered), otherwise `partial` or
//! `unfillable` by whether anything was recovered, with the venue's shortfall as the detail.

use std::collections::HashSet;
use std::sync::Arc;

use marketprism_bus::Backoff;
use marketprism_model::{Gap, GapReason, GapState, GapStatus, Trade};
use marketprism_rest::{FetchError, RestClient, RestClients};
use marketprism_venues::{HistoryRange, RestCall, VenueProtocol, Wanted};
use tokio_util::sync::CancellationToken;

use crate::config::{ConsumerConfig, VenueConfig};
use crate::metrics::Metrics;

/// What a gap's fill recovered and the status it earned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filled {
    /// The recovered trades, marked with their REST source.
    pub(crate) trades: Vec<Trade>,
    /// The gap's new state.
    pub(crate) state: GapState,
}

/// Why a gap could not be finished now; it is left for redelivery.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FillError {
    /// A history page failed every attempt.
    #[error("history unavailable: {0}")]
    Unavailable(String),
    /// Shutdown interrupted the fill.
    #[error("shutting down")]
    Shutdown,
}

/// One configured venue, its protocol and its REST budget.
struct Venue {
    config: VenueConfig,
    protocol: Arc<dyn VenueProtocol>,
    rest: RestClient,
}

/// Fills gaps of the configured venues.
pub(crate) struct Filler {
    venues: Vec<Venue>,
    retry: ConsumerConfig,
    metrics: Metrics,
}

impl Filler {
    /// A filler for `venues`, spending at most `budget_share` of each venue's REST limits
    /// and retrying failed pages as `retry` says.
    pub(crate) fn new(
        venues: &[VenueConfig],
        budget_share: f64,
        retry: ConsumerConfig,
        metrics: Metrics,
    ) -> Self {
        let mut clients =
            RestClients::new(reqwest::Client::new(), budget_share, metrics.rest.clone());
        Filler {
            venues: venues
                .iter()
                .map(|config| {
                    let protocol = config.venue.protocol(&[]);
                    let rest = clients.client(config.rest_endpoint(), protocol.rest_limits());
                    Venue {
                        config: config.clone(),
                        protocol,
                        rest,
                    }
                })
                .collect(),
            retry,
            metrics,
        }
    }

    /// Recovers the trades `gap` missed (a trade gap: not book-only, still open) and decides
    /// its status.
    pub(crate) async fn fill(
        &self,
        gap: &Gap,
        shutdown: &CancellationToken,
    ) -> Result<Filled, FillError> {
        let Some(venue) = self.venues.iter().find(|venue| {
            venue.protocol.exchange() == gap.exchange
                && venue.protocol.market_type() == gap.market_type
        }) else {
            return Ok(Filled {
                trades: Vec::new(),
                state: verdict(
                    None,
                    0,
                    vec![format!(
                        "no backfill is configured for {} {}",
                        gap.exchange, gap.market_type
                    )],
                ),
            });
        };
        let (wanted, expected) = match (gap.reason, gap.missing_ids) {
            (GapReason::TradeIdGap, Some(ids)) => {
                let aggregated = ids.aggregated
                    || venue.config.venue == marketprism_venues::VenueKind::BinanceUsdm;
                (
                    vec![Wanted::Ids {
                        first: ids.first,
                        last: ids.last,
                        aggregated,
                    }],
                    Some(ids.last.saturating_sub(ids.first) + 1),
                )
            }
            (GapReason::TradeIdGap, None) => (Vec::new(), None),
            _ => (
                venue
                    .config
                    .aggregated_streams()
                    .into_iter()
                    .map(|aggregated| Wanted::Window {
                        from_ms: gap.from_ms,
                        to_ms: gap.to_ms,
                        aggregated,
                    })
                    .collect(),
                None,
            ),
        };
        if wanted.is_empty() {
            return Ok(Filled {
                trades: Vec::new(),
                state: verdict(None, 0, vec!["the gap names no missing ids".to_owned()]),
            });
        }
        let mut trades = Vec::new();
        let mut shortfalls = Vec::new();
        for wanted in wanted {
            let range = HistoryRange {
                symbol: gap.symbol.clone(),
                wanted,
            };
            let (recovered, shortfall) = self.page(venue, range, shutdown).await?;
            trades.extend(recovered);
            shortfalls.extend(shortfall);
        }
        let mut seen = HashSet::new();
        trades.retain(|trade| seen.insert((trade.aggregated, trade.trade_id.clone())));
        let state = verdict(expected, trades.len() as u64, shortfalls);
        Ok(Filled { trades, state })
    }

    /// Pages `range` of `venue`'s history: the trades of the range and the venue's shortfall.
    async fn page(
        &self,
        venue: &Venue,
        range: HistoryRange,
        shutdown: &CancellationToken,
    ) -> Result<(Vec<Trade>, Option<String>), FillError> {
        let mut pager = match venue
            .protocol
            .trade_history(venue.config.rest_endpoint(), range)
        {
            Ok(pager) => pager,
            Err(error) => return Ok((Vec::new(), Some(error.to_string()))),
        };
        let mut trades = Vec::new();
        while let Some(url) = pager.next_url() {
            let body = self.fetch(venue, &url, shutdown).await?;
            self.metrics.pages.inc();
            match pager.accept(&body, marketprism_model::now_ms()) {
                Ok(page) => trades.extend(page),
                Err(error) => {
                    tracing::warn!(%url, %error, "A history page did not parse; the gap ends here.");
                    return Ok((
                        trades,
                        Some(format!("the venue's answer to {url}: {error}")),
                    ));
                }
            }
        }
        Ok((trades, pager.shortfall()))
    }

    /// One page's body, within the venue's budget, waiting out rate limits and retrying
    /// failures with backoff.
    async fn fetch(
        &self,
        venue: &Venue,
        url: &str,
        shutdown: &CancellationToken,
    ) -> Result<String, FillError> {
        let mut backoff = Backoff::new(self.retry.retry_delay, self.retry.max_retry_delay);
        let mut failures = 0;
        let cost = venue.protocol.request_cost(RestCall::TradeHistory);
        loop {
            let request = venue.rest.get(cost, url);
            let answer = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Err(FillError::Shutdown),
                answer = request => answer,
            };
            let wait = match answer {
                Ok(body) => return Ok(body),
                Err(FetchError::RateLimited(wait)) => {
                    self.metrics.rate_limited.inc();
                    tracing::info!(%url, ?wait, "Rate limited; waiting as the venue asks.");
                    wait
                }
                Err(FetchError::Failed(error)) => {
                    self.metrics.request_failures.inc();
                    failures += 1;
                    if failures >= self.retry.attempts {
                        return Err(FillError::Unavailable(error));
                    }
                    tracing::warn!(%error, failures, "History request failed; retrying.");
                    backoff.next_delay()
                }
            };
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Err(FillError::Shutdown),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The state of a gap whose fill recovered `recovered` trades: of `expected` known missing
/// ones (a range of ids), or of a time window, with the venue's `shortfalls`.
pub(crate) fn verdict(expected: Option<u64>, recovered: u64, shortfalls: Vec<String>) -> GapState {
    let shortfall = (!shortfalls.is_empty()).then(|| shortfalls.join("; "));
    match expected {
        Some(expected) => {
            let unrecovered = expected.saturating_sub(recovered);
            let status = if unrecovered == 0 {
                GapStatus::Filled
            } else if recovered > 0 {
                GapStatus::Partial
            } else {
                GapStatus::Unfillable
            };
            let detail = shortfall.or_else(|| {
                (unrecovered > 0).then(|| {
                    format!("the venue's history lacks {unrecovered} of the {expected} missing ids")
                })
            });
            GapState {
                status,
                recovered: Some(recovered),
                unrecovered: Some(unrecovered),
                detail,
            }
        }
        None => match shortfall {
            None => GapState {
                status: GapStatus::Filled,
                recovered: Some(recovered),
                unrecovered: Some(0),
                detail: None,
            },
            Some(detail) => GapState {
                status: if recovered > 0 {
                    GapStatus::Partial
                } else {
                    GapStatus::Unfillable
                },
                recovered: Some(recovered),
                unrecovered: None,
                detail: Some(detail),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_filled_partial_or_unfillable_by_what_was_recovered() {
        let filled = verdict(Some(5), 5, Vec::new());
        assert_eq!(filled.status, GapStatus::Filled);
        assert_eq!((filled.recovered, filled.unrecovered), (Some(5), Some(0)));
        assert_eq!(filled.detail, None);

        let partial = verdict(Some(5), 3, Vec::new());
        assert_eq!(partial.status, GapStatus::Partial);
        assert_eq!((partial.recovered, partial.unrecovered), (Some(3), Some(2)));
        assert_eq!(
            partial.detail.as_deref(),
            Some("the venue's history lacks 2 of the 5 missing ids")
        );

        let unfillable = verdict(Some(5), 0, vec!["history starts at id 9".into()]);
        assert_eq!(unfillable.status, GapStatus::Unfillable);
        assert_eq!(unfillable.unrecovered, Some(5));
        assert_eq!(unfillable.detail.as_deref(), Some("history starts at id 9"));
    }

    #[test]
    fn a_window_is_filled_when_the_history_reached_its_start() {
        let filled = verdict(None, 0, Vec::new());
        assert_eq!(filled.status, GapStatus::Filled, "no trade in the window");
        assert_eq!(filled.unrecovered, Some(0));

        let partial = verdict(None, 4, vec!["a".into(), "b".into()]);
        assert_eq!(partial.status, GapStatus::Partial);
        assert_eq!(partial.unrecovered, None, "unknown for a window");
        assert_eq!(partial.detail.as_deref(), Some("a; b"));

        let unfillable = verdict(None, 0, vec!["too old".into()]);
        assert_eq!(unfillable.status, GapStatus::Unfillable);
        assert_eq!(unfillable.recovered, Some(0));
    }
}
