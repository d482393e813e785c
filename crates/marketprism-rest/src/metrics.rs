//! Counters of REST requests per venue: requests sent, weight spent per bucket, requests that
//! waited for budget, and rate-limit answers (each pausing the venue). A service registers
//! them under its own prefix.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Label pairs of one series.
type Labels = Vec<(&'static str, String)>;

/// REST counters, shared by every client of a process.
#[derive(Debug, Clone, Default)]
pub struct RestMetrics {
    pub(crate) requests: Family<Labels, Counter>,
    pub(crate) weight: Family<Labels, Counter>,
    pub(crate) budget_waits: Family<Labels, Counter>,
    pub(crate) rate_limited: Family<Labels, Counter>,
}

impl RestMetrics {
    /// Registers the counters in `registry` (under the caller's prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "rest_requests",
            "REST requests sent, per venue",
            self.requests.clone(),
        );
        registry.register(
            "rest_weight",
            "REST request weight spent, per venue and limit bucket",
            self.weight.clone(),
        );
        registry.register(
            "rest_budget_waits",
            "REST requests that waited for the venue's budget, per venue",
            self.budget_waits.clone(),
        );
        registry.register(
            "rest_rate_limited",
            "Rate-limit and ban answers (429, 418, Bybit's 403), each pausing every request to the venue, per venue and status",
            self.rate_limited.clone(),
        );
    }

    /// Creates `venue`'s series at zero in every family (weight under `bucket`, rate limits
    /// under 429), so that an exposition lists each family before the first request:
    /// prometheus-client writes a labelled family only once it holds a series.
    pub fn create_series(&self, venue: &str, bucket: &str) {
        let venue_labels = venue_label(venue);
        self.requests.get_or_create(&venue_labels).inc_by(0);
        self.budget_waits.get_or_create(&venue_labels).inc_by(0);
        self.weight
            .get_or_create(&vec![
                ("venue", venue.to_owned()),
                ("bucket", bucket.to_owned()),
            ])
            .inc_by(0);
        self.rate_limited
            .get_or_create(&vec![
                ("venue", venue.to_owned()),
                ("status", "429".to_owned()),
            ])
            .inc_by(0);
    }

    /// Requests sent to `venue`.
    pub fn requests(&self, venue: &str) -> u64 {
        self.requests.get_or_create(&venue_label(venue)).get()
    }

    /// Requests to `venue` that waited for budget.
    pub fn budget_waits(&self, venue: &str) -> u64 {
        self.budget_waits.get_or_create(&venue_label(venue)).get()
    }

    /// Rate-limit answers of HTTP `status` from `venue`.
    pub fn rate_limited(&self, venue: &str, status: u16) -> u64 {
        self.rate_limited
            .get_or_create(&vec![
                ("venue", venue.to_owned()),
                ("status", status.to_string()),
            ])
            .get()
    }
}

pub(crate) fn venue_label(venue: &str) -> Labels {
    vec![("venue", venue.to_owned())]
}
