//! Gateway configuration, one TOML file: where it listens, the NATS and ClickHouse it reads
//! (the same sections as storage's), the limits of every ClickHouse query, and the API keys.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use marketprism_storage::ClickHouseConfig;
use serde::{Deserialize, Serialize};

use crate::status::StatusConfig;
use crate::stream::LiveConfig;

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9104))
}

fn default_health_interval() -> Duration {
    Duration::from_secs(5)
}

/// The gateway service's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the API and of `/health`, `/ready` and `/metrics`, e.g. `127.0.0.1:9104`.
    /// Any address other than a loopback one needs `api_keys_file`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A file of API keys, stored hashed: one SHA-256 of a key per line, as 64 hex digits,
    /// optionally followed by a name for the key and its limit `requests_per_minute=N`; `#`
    /// starts a comment (see [`crate::auth`]). When
    /// set, every `/v1/` request needs a key, as `Authorization: Bearer <key>` or
    /// `X-API-Key: <key>`. Required when `listen` is not a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_keys_file: Option<PathBuf>,
    /// NATS, whose state `/health` reports.
    #[serde(default)]
    pub nats: marketprism_bus::Config,
    /// The ClickHouse the API reads, best through a user that can only read.
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
    /// Limits of every query the gateway runs.
    #[serde(default)]
    pub query: QueryConfig,
    /// How often the dependencies' state is checked for `/health`, e.g. `5s`.
    #[serde(default = "default_health_interval", with = "humantime_serde")]
    pub health_interval: Duration,
    /// The live stream, `WS /v1/stream`.
    #[serde(default)]
    pub live: LiveConfig,
    /// The consumers whose lag `/v1/status` and the status page show.
    #[serde(default)]
    pub status: StatusConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            api_keys_file: None,
            nats: marketprism_bus::Config::default(),
            clickhouse: ClickHouseConfig::default(),
            query: QueryConfig::default(),
            health_interval: default_health_interval(),
            live: LiveConfig::default(),
            status: StatusConfig::default(),
        }
    }
}

impl Config {
    /// Cross-field checks that serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        self.nats.validate()?;
        self.clickhouse.validate("clickhouse")?;
        marketprism_bus::check_endpoint(
            "clickhouse.url",
            &self.clickhouse.url,
            &["http", "https"],
        )?;
        if !self.listen.ip().is_loopback() && self.api_keys_file.is_none() {
            return Err(format!(
                "listen = {}: an address other than loopback needs api_keys_file",
                self.listen
            ));
        }
        if self.query.max_execution_time.is_zero() {
            return Err("query.max_execution_time must be positive".into());
        }
        if self.query.max_result_bytes.as_u64() == 0 {
            return Err("query.max_result_bytes must be positive".into());
        }
        if self.query.max_coverage_range < Duration::from_secs(60) {
            return Err("query.max_coverage_range must be at least 1m".into());
        }
        if self.health_interval.is_zero() {
            return Err("health_interval must be positive".into());
        }
        self.status.validate()?;
        self.live.validate()
    }
}

fn default_max_execution_time() -> Duration {
    Duration::from_secs(300)
}

fn default_max_result_bytes() -> ByteSize {
    ByteSize::gib(10)
}

fn default_max_coverage_range() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

/// Limits applied to every ClickHouse query, as settings of that query (`readonly = 1`
/// always): a replay larger than them ends with an error instead of loading the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// ClickHouse's `max_execution_time`: longest a query, a replay included, runs, e.g.
    /// `5m`.
    #[serde(default = "default_max_execution_time", with = "humantime_serde")]
    pub max_execution_time: Duration,
    /// ClickHouse's `max_result_bytes`: most uncompressed bytes one query returns, e.g.
    /// `10GiB`.
    #[serde(default = "default_max_result_bytes")]
    pub max_result_bytes: ByteSize,
    /// Longest `from`..`to` range of `/v1/coverage`, which answers one count per minute,
    /// e.g. `30d`.
    #[serde(default = "default_max_coverage_range", with = "humantime_serde")]
    pub max_coverage_range: Duration,
    /// The collectors that record every feed, by the names they give their gaps (their
    /// `collector.name`), e.g. `["a", "b"]` for an active-active pair: a feed misses data
    /// only where all of them recorded a gap. Empty: the collectors named in the feed's gap
    /// rows (with one unnamed collector, its gaps are the feed's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collectors: Vec<String>,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            max_execution_time: default_max_execution_time(),
            max_result_bytes: default_max_result_bytes(),
            max_coverage_range: default_max_coverage_range(),
            collectors: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn defaults_bind_loopback_and_validate() {
        let config = parse("");
        assert_eq!(config.listen, default_listen());
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.query.max_result_bytes, ByteSize::gib(10));
        let limits = parse("[query]\nmax_execution_time = \"30s\"\nmax_result_bytes = \"1 MiB\"");
        assert_eq!(limits.query.max_execution_time, Duration::from_secs(30));
        assert_eq!(limits.query.max_result_bytes, ByteSize::mib(1));
    }

    #[test]
    fn an_exposed_gateway_needs_api_keys() {
        let exposed = parse("listen = \"0.0.0.0:9104\"");
        let error = exposed.validate().expect_err("no keys");
        assert!(error.contains("api_keys_file"), "{error}");
        let keyed = parse("listen = \"0.0.0.0:9104\"\napi_keys_file = \"/etc/keys\"");
        assert_eq!(keyed.validate(), Ok(()));
    }

    #[test]
    fn unknown_keys_and_zero_limits_are_refused() {
        assert!(toml::from_str::<Config>("lisen = \"127.0.0.1:1\"").is_err());
        let zero = parse("[query]\nmax_execution_time = \"0s\"");
        assert!(zero.validate().is_err());
    }
}
