//! Backfill configuration, one TOML file (or the `[backfill]` section of a combined one).

use std::net::SocketAddr;
use std::time::Duration;

use marketprism_collector::{PublishConfig, RestConfig};
use marketprism_venues::{Channel, VenueKind};
use serde::{Deserialize, Serialize};

/// The backfill service's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// NATS and stream settings.
    #[serde(default)]
    pub nats: marketprism_bus::Config,
    /// The durable consumer of gap events.
    #[serde(default)]
    pub consumer: ConsumerConfig,
    /// How recovered trades and gap statuses are published; by default each event alone, so
    /// that its `Nats-Msg-Id` is the one the live event had when published alone.
    #[serde(default = "default_publish")]
    pub publish: PublishConfig,
    /// The venues whose gaps are filled; a gap of any other venue is recorded unfillable.
    #[serde(default)]
    pub venues: Vec<VenueConfig>,
    /// Address of `/health`, `/ready` and `/metrics`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The share of each venue's REST limits the backfill spends; by default a quarter, so
    /// that with the collector's half the venue keeps a quarter in reserve.
    #[serde(default = "default_rest")]
    pub rest: RestConfig,
}

fn default_rest() -> RestConfig {
    RestConfig { budget_share: 0.25 }
}

fn default_publish() -> PublishConfig {
    PublishConfig {
        max_events_per_message: 1,
        ..PublishConfig::default()
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9103))
}

/// One venue and market whose trade gaps are filled from its REST history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// Which venue and market.
    pub venue: VenueKind,
    /// REST endpoint (scheme, host, port); the venue's production endpoint by default.
    #[serde(default)]
    pub rest_endpoint: Option<String>,
    /// The trade channels the collector records for the venue (`trades`,
    /// `aggregate_trades`): a gap over a time window is filled for each. By default the
    /// venue's trade stream (aggregates on Binance USDⓈ-M, single trades elsewhere).
    #[serde(default)]
    pub channels: Vec<Channel>,
}

impl VenueConfig {
    /// The REST endpoint to ask.
    pub fn rest_endpoint(&self) -> &str {
        self.rest_endpoint
            .as_deref()
            .unwrap_or(self.venue.default_rest_endpoint())
    }

    /// The trade channels filled for a time window: whether each is aggregated.
    pub fn aggregated_streams(&self) -> Vec<bool> {
        if self.channels.is_empty() {
            return vec![self.venue == VenueKind::BinanceUsdm];
        }
        self.channels
            .iter()
            .map(|channel| *channel == Channel::AggregateTrades)
            .collect()
    }
}

fn default_durable_name() -> String {
    "marketprism-backfill".to_owned()
}

/// A gap is acked once filled; paging a long one can take minutes (rate limits), and the
/// consumer keeps it in progress meanwhile.
fn default_ack_wait() -> Duration {
    Duration::from_secs(60)
}

fn default_retry_delay() -> Duration {
    Duration::from_secs(1)
}

fn default_max_retry_delay() -> Duration {
    Duration::from_secs(60)
}

fn default_attempts() -> u32 {
    5
}

/// The durable consumer of `gap.>` subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Durable name; instances sharing it share the gaps.
    #[serde(default = "default_durable_name")]
    pub durable_name: String,
    /// How long JetStream waits for an ack before redelivering, e.g. `60s`; a gap being
    /// filled is kept in progress every third of it.
    #[serde(default = "default_ack_wait", with = "humantime_serde")]
    pub ack_wait: Duration,
    /// Delay before retrying a failed history request, e.g. `1s`; doubles per failure.
    #[serde(default = "default_retry_delay", with = "humantime_serde")]
    pub retry_delay: Duration,
    /// Cap of that delay, e.g. `60s`.
    #[serde(default = "default_max_retry_delay", with = "humantime_serde")]
    pub max_retry_delay: Duration,
    /// Failed attempts at one history page before the gap is left for redelivery.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            durable_name: default_durable_name(),
            ack_wait: default_ack_wait(),
            retry_delay: default_retry_delay(),
            max_retry_delay: default_max_retry_delay(),
            attempts: default_attempts(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nats: marketprism_bus::Config::default(),
            consumer: ConsumerConfig::default(),
            publish: default_publish(),
            venues: Vec::new(),
            listen: default_listen(),
            rest: default_rest(),
        }
    }
}

impl Config {
    /// Cross-field checks that serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        self.nats.validate()?;
        if self.consumer.attempts == 0 {
            return Err("consumer.attempts must be at least 1".into());
        }
        if self.consumer.ack_wait < std::time::Duration::from_secs(1) {
            return Err("consumer.ack_wait must be at least 1s".into());
        }
        for venue in &self.venues {
            let name = format!("{:?}", venue.venue);
            marketprism_bus::check_endpoint(
                &format!("venues.rest_endpoint of {name}"),
                venue.rest_endpoint(),
                &["http", "https"],
            )?;
            for channel in &venue.channels {
                let offered = match channel {
                    Channel::Trades => venue.venue != VenueKind::BinanceUsdm,
                    Channel::AggregateTrades => {
                        matches!(venue.venue, VenueKind::BinanceSpot | VenueKind::BinanceUsdm)
                    }
                    _ => false,
                };
                if !offered {
                    return Err(format!(
                        "venue {name}: channel {} has no trade history to fill from",
                        channel.as_str()
                    ));
                }
            }
        }
        for (index, venue) in self.venues.iter().enumerate() {
            if self.venues[..index]
                .iter()
                .any(|earlier| earlier.venue == venue.venue)
            {
                return Err("each venue may be listed once".into());
            }
        }
        Ok(())
    }
}
