//! Collector configuration, one TOML file.
//!
//! ```toml
//! listen = "127.0.0.1:9101"
//!
//! [nats]
//! url = "nats://127.0.0.1:4222"
//!
//! [[venues]]
//! venue = "binance_spot"
//! symbols = ["BTC-USDT", "ethusdt"]
//! channels = ["trades"]
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use marketprism_model::Symbol;
use marketprism_venues::{binance, Channel, Subscription, VenueError};
use serde::{Deserialize, Serialize};

/// The collector's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// NATS and stream settings.
    #[serde(default)]
    pub nats: marketprism_bus::Config,
    /// Venue feeds to record.
    pub venues: Vec<VenueConfig>,
    /// Reconnect and watchdog settings, shared by every connection.
    #[serde(default)]
    pub connection: ConnectionConfig,
    /// JetStream publishing.
    #[serde(default)]
    pub publish: PublishConfig,
    /// Address of `/health`, `/ready` and `/metrics`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9101))
}

/// A venue and market MarketPrism can record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueKind {
    /// Binance spot.
    BinanceSpot,
}

/// Channel names as written in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelName {
    /// Every trade.
    Trades,
    /// Aggregated trades.
    AggregateTrades,
}

impl From<ChannelName> for Channel {
    fn from(name: ChannelName) -> Self {
        match name {
            ChannelName::Trades => Channel::Trades,
            ChannelName::AggregateTrades => Channel::AggregateTrades,
        }
    }
}

/// One venue feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// Which venue and market.
    pub venue: VenueKind,
    /// WebSocket endpoint (scheme, host, port); the venue's production endpoint by default.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Instruments, normalized (`BTC-USDT`) or venue-native (`btcusdt`).
    pub symbols: Vec<String>,
    /// Channels to subscribe for every symbol.
    pub channels: Vec<ChannelName>,
}

impl VenueConfig {
    /// The endpoint to connect to.
    pub fn endpoint(&self) -> &str {
        match (&self.endpoint, self.venue) {
            (Some(endpoint), _) => endpoint,
            (None, VenueKind::BinanceSpot) => binance::SPOT_WS_ENDPOINT,
        }
    }

    /// The configured symbols, normalized.
    pub fn normalized_symbols(&self) -> Result<Vec<Symbol>, VenueError> {
        self.symbols
            .iter()
            .map(|text| match self.venue {
                VenueKind::BinanceSpot => binance::symbol::parse_configured(text),
            })
            .collect()
    }

    /// Every (channel, symbol) pair.
    pub fn subscriptions(&self) -> Result<Vec<Subscription>, VenueError> {
        let symbols = self.normalized_symbols()?;
        Ok(self
            .channels
            .iter()
            .flat_map(|&channel| {
                symbols.iter().map(move |symbol| Subscription {
                    channel: channel.into(),
                    symbol: symbol.clone(),
                })
            })
            .collect())
    }
}

fn default_backoff_initial() -> Duration {
    Duration::from_millis(250)
}

fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}

fn default_watchdog() -> Duration {
    Duration::from_secs(30)
}

fn default_subscribe_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Reconnect and liveness settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// First reconnect delay, e.g. `250ms`; doubles per failed attempt.
    #[serde(default = "default_backoff_initial", with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Longest reconnect delay, e.g. `30s`.
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// A connection silent for this long (no frame, not even a ping) is replaced, e.g. `30s`.
    #[serde(default = "default_watchdog", with = "humantime_serde")]
    pub watchdog: Duration,
    /// How long to wait for connect plus subscription replies, e.g. `10s`.
    #[serde(default = "default_subscribe_timeout", with = "humantime_serde")]
    pub subscribe_timeout: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            backoff_initial: default_backoff_initial(),
            backoff_max: default_backoff_max(),
            watchdog: default_watchdog(),
            subscribe_timeout: default_subscribe_timeout(),
        }
    }
}

fn default_max_outstanding_acks() -> usize {
    4096
}

fn default_queue_capacity() -> usize {
    16_384
}

/// JetStream publishing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// Most publishes awaiting their JetStream ack at once.
    #[serde(default = "default_max_outstanding_acks")]
    pub max_outstanding_acks: usize,
    /// Events buffered between the connections and the publisher.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            max_outstanding_acks: default_max_outstanding_acks(),
            queue_capacity: default_queue_capacity(),
        }
    }
}

impl Config {
    /// Checks what serde cannot: symbols resolve, lists are non-empty, limits are sane.
    pub fn validate(&self) -> Result<(), String> {
        if self.venues.is_empty() {
            return Err("at least one [[venues]] entry is required".into());
        }
        for (index, venue) in self.venues.iter().enumerate() {
            if venue.symbols.is_empty() || venue.channels.is_empty() {
                return Err(format!(
                    "venues[{index}]: symbols and channels must not be empty"
                ));
            }
            venue
                .subscriptions()
                .map_err(|error| format!("venues[{index}]: {error}"))?;
        }
        if self.publish.max_outstanding_acks == 0 || self.publish.queue_capacity == 0 {
            return Err(
                "publish.max_outstanding_acks and publish.queue_capacity must be at least 1".into(),
            );
        }
        if self.connection.backoff_initial > self.connection.backoff_max {
            return Err("connection.backoff_initial must not exceed connection.backoff_max".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let config: Config = toml::from_str(
            r#"
            [[venues]]
            venue = "binance_spot"
            endpoint = "ws://127.0.0.1:1"
            symbols = ["BTC-USDT", "ethusdt"]
            channels = ["trades", "aggregate_trades"]
            "#,
        )
        .expect("valid config");
        config.validate().expect("consistent");
        let subscriptions = config.venues[0].subscriptions().expect("symbols resolve");
        assert_eq!(subscriptions.len(), 4);
        assert_eq!(subscriptions[1].symbol.as_str(), "ETH-USDT");
    }

    #[test]
    fn reports_typos_and_unknown_symbols() {
        let typo = toml::from_str::<Config>(
            "[[venues]]\nvenue = \"binance_spot\"\nsymbol = []\nchannels = []\n",
        )
        .expect_err("unknown key");
        assert!(typo.to_string().contains("symbol"), "{typo}");

        let config: Config = toml::from_str(
            "[[venues]]\nvenue = \"binance_spot\"\nsymbols = [\"NOTAPAIR\"]\nchannels = [\"trades\"]\n",
        )
        .expect("syntactically valid");
        let error = config.validate().expect_err("unknown symbol");
        assert!(error.contains("NOTAPAIR"), "{error}");
    }
}
