//! REST pollers: one task per polled series, fetching at its interval. A request is never
//! started before the previous one finished (missed ticks are delayed, not stacked), every
//! request spends the venue's budget, a rate-limit answer pauses every request to the venue
//! for its `Retry-After`, and a failing series only logs and counts: the others carry on.
//!
//! A venue answers every poll with its latest values, most of which the previous poll
//! already returned. Only values newer than the newest already published are published
//! again: repeats would otherwise reach the stream whenever the publisher groups them into
//! messages differently from the first time, which defeats the stream's deduplication.

use std::sync::Arc;
use std::time::Duration;

use marketprism_rest::{FetchError, RestClient};
use marketprism_venues::{Poll, RestCall, VenueProtocol};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::publisher::Outgoing;
use marketprism_model::now_ms;

/// One polled series.
pub(crate) struct Poller {
    pub(crate) protocol: Arc<dyn VenueProtocol>,
    pub(crate) rest_endpoint: String,
    pub(crate) poll: Poll,
    pub(crate) every: Duration,
    pub(crate) sender: mpsc::Sender<Outgoing>,
    pub(crate) metrics: Metrics,
}

impl Poller {
    /// Polls until shutdown.
    pub(crate) async fn run(self, client: RestClient, shutdown: CancellationToken) {
        let cost = self.protocol.request_cost(RestCall::Poll(self.poll.kind));
        let series = format!("{} {}", self.poll.kind.as_str(), self.poll.symbol);
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The venue time of the newest value published for this series.
        let mut newest_ms: Option<i64> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let url = match self
                .protocol
                .poll_url(&self.rest_endpoint, &self.poll, now_ms())
            {
                Ok(url) => url,
                Err(error) => {
                    tracing::error!(%series, %error, "Cannot poll this series.");
                    return;
                }
            };
            // The budget holds the request while the venue is paused or its window spent.
            let answer = tokio::select! {
                _ = shutdown.cancelled() => return,
                answer = client.get(cost, &url) => answer,
            };
            match answer {
                Ok(body) => match self.protocol.parse_poll(&self.poll, &body, now_ms()) {
                    Ok(events) => {
                        let published_before = newest_ms;
                        for event in events {
                            let time = event.exchange_time_ms();
                            if published_before.is_some_and(|newest| time <= Some(newest)) {
                                continue;
                            }
                            newest_ms = newest_ms.max(time);
                            if self.sender.send(Outgoing::Event(event)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(error) => {
                        self.metrics.poll_failures.inc();
                        tracing::warn!(%series, %error, "Polled answer not understood.");
                    }
                },
                Err(FetchError::RateLimited(wait)) => {
                    self.metrics.poll_rate_limited.inc();
                    tracing::warn!(%series, ?wait, "Rate limited; the venue's requests pause.");
                }
                Err(FetchError::Failed(reason)) => {
                    self.metrics.poll_failures.inc();
                    tracing::warn!(%series, %reason, "Poll failed; retrying at the next interval.");
                }
            }
        }
    }
}
