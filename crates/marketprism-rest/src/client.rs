//! `GET` requests within a venue's budget: each request waits until its weight fits (or a
//! pause ends), the venue's reported used weight is recorded, and a 429 or 418 (or the
//! venue's own ban answer, e.g. Bybit's 403) pauses every request to that venue for its
//! `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use marketprism_model::now_ms;
use marketprism_venues::{RequestCost, RestLimits};
use reqwest::StatusCode;

use crate::budget::{Budget, Wait};
use crate::metrics::{venue_label, RestMetrics};

/// Pause after a 429 or 418 that names no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Why a request produced no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The venue answered 429, 418 or its ban answer; every request to it is paused this
    /// long.
    #[error("rate limited by the venue for {0:?}")]
    RateLimited(Duration),
    /// Anything else: connection, status, body.
    #[error("{0}")]
    Failed(String),
}

/// One venue's budget and its identity.
#[derive(Debug)]
struct Venue {
    limits: RestLimits,
    budget: Mutex<Budget>,
    metrics: RestMetrics,
}

impl Venue {
    fn budget(&self) -> MutexGuard<'_, Budget> {
        // The budget holds plain counts, valid whatever a panicking holder was doing.
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A REST client for one venue endpoint; clones share its budget.
#[derive(Debug, Clone)]
pub struct RestClient {
    http: reqwest::Client,
    venue: Arc<Venue>,
    /// The part (0 to 1) of each window's allowance this caller's requests leave unspent
    /// for the venue's other callers.
    reserve: f64,
}

impl RestClient {
    /// A client for a venue with `limits`, of which this process spends at most `share`
    /// (0 to 1) per window.
    pub fn new(
        http: reqwest::Client,
        limits: RestLimits,
        share: f64,
        metrics: RestMetrics,
    ) -> Self {
        RestClient {
            http,
            venue: Arc::new(Venue {
                limits,
                budget: Mutex::new(Budget::new(&limits, share)),
                metrics,
            }),
            reserve: 0.0,
        }
    }

    /// A client sharing this one's budget whose requests leave `share` (0 to 1) of each
    /// window's allowance to the venue's other callers: for a caller with many requests at
    /// once (book snapshots), so that they never hold the others (instrument lists, polls)
    /// back until the next window.
    pub fn leaving(&self, share: f64) -> RestClient {
        RestClient {
            reserve: share.clamp(0.0, 1.0),
            ..self.clone()
        }
    }

    /// The venue's limits.
    pub fn limits(&self) -> &RestLimits {
        &self.venue.limits
    }

    /// `GET url` costing `cost`, once the budget allows it; returns the body of a successful
    /// answer. The HTTP client's timeout bounds the request itself, not the wait for the
    /// budget. A 429, a 418 or the venue's ban answer pauses every request to the venue for
    /// its `Retry-After` (the ban's own pause when it names none) and is returned as
    /// [`FetchError::RateLimited`]; the caller's next request waits it out.
    pub async fn get(&self, cost: RequestCost, url: &str) -> Result<String, FetchError> {
        let venue = &self.venue;
        let name = venue.limits.name;
        let mut waited = false;
        loop {
            let now = now_ms();
            let admission = venue.budget().try_spend(cost, self.reserve, now);
            let wait = match admission {
                Ok(()) => break,
                Err(wait) => wait,
            };
            if !waited {
                waited = true;
                venue
                    .metrics
                    .budget_waits
                    .get_or_create(&venue_label(name))
                    .inc();
            }
            let delay = Duration::from_millis(u64::try_from(wait.until_ms() - now).unwrap_or(0));
            match wait {
                Wait::Paused { .. } => {
                    tracing::debug!(
                        venue = name,
                        ?delay,
                        "Venue paused after a rate-limit answer; waiting."
                    )
                }
                Wait::Budget { .. } => {
                    tracing::debug!(
                        venue = name,
                        bucket = cost.bucket,
                        ?delay,
                        "Request budget spent; waiting for the next window."
                    )
                }
            }
            tokio::time::sleep(delay).await;
        }
        venue
            .metrics
            .requests
            .get_or_create(&venue_label(name))
            .inc();
        venue
            .metrics
            .weight
            .get_or_create(&vec![
                ("venue", name.to_owned()),
                ("bucket", cost.bucket.to_owned()),
            ])
            .inc_by(u64::from(cost.weight));

        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|error| FetchError::Failed(format!("GET {url}: {error}")))?;
        if let Some(header) = venue.limits.used_weight_header {
            let used = response
                .headers()
                .get(header.name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u32>().ok());
            if let Some(used) = used {
                venue.budget().venue_reported(header.bucket, used, now_ms());
            }
        }
        let status = response.status();
        let ban = venue.limits.ban.filter(|ban| ban.status == status.as_u16());
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::IM_A_TEAPOT
            || ban.is_some()
        {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map_or_else(
                    || ban.map_or(DEFAULT_RETRY_AFTER, |ban| ban.pause),
                    Duration::from_secs,
                );
            let until =
                now_ms().saturating_add(i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX));
            venue.budget().pause(until);
            venue
                .metrics
                .rate_limited
                .get_or_create(&vec![
                    ("venue", name.to_owned()),
                    ("status", status.as_u16().to_string()),
                ])
                .inc();
            tracing::warn!(venue = name, %status, ?retry_after, "Rate limited; pausing every request to the venue.");
            return Err(FetchError::RateLimited(retry_after));
        }
        if !status.is_success() {
            return Err(FetchError::Failed(format!("GET {url}: HTTP {status}")));
        }
        response
            .text()
            .await
            .map_err(|error| FetchError::Failed(format!("GET {url}: {error}")))
    }

    /// When the pause ordered by the venue's last rate-limit answer ends (Unix ms), while one
    /// is in force.
    pub fn paused_until(&self) -> Option<i64> {
        self.venue.budget().paused_until(now_ms())
    }

    /// In `bucket`'s current window: the weight this process spent and the least the venue
    /// has counted (its last report plus what was spent since).
    pub fn used(&self, bucket: &str) -> Option<(u32, u32)> {
        self.venue.budget().used(bucket, now_ms())
    }
}

/// The clients of one process, one per venue endpoint and set of limits, so that every
/// caller of a venue (book snapshots, pollers, backfill) spends the same budget.
#[derive(Debug)]
pub struct RestClients {
    http: reqwest::Client,
    share: f64,
    metrics: RestMetrics,
    clients: HashMap<(String, &'static str), RestClient>,
}

impl RestClients {
    /// Clients making requests with `http`, each spending at most `share` of its venue's
    /// limits.
    pub fn new(http: reqwest::Client, share: f64, metrics: RestMetrics) -> Self {
        RestClients {
            http,
            share,
            metrics,
            clients: HashMap::new(),
        }
    }

    /// The client of the venue with `limits` at `endpoint`, created on first use.
    pub fn client(&mut self, endpoint: &str, limits: RestLimits) -> RestClient {
        self.clients
            .entry((endpoint.trim_end_matches('/').to_owned(), limits.name))
            .or_insert_with(|| {
                RestClient::new(self.http.clone(), limits, self.share, self.metrics.clone())
            })
            .clone()
    }
}
