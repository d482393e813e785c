//! Bus configuration: where NATS is and how the streams are sized.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

fn default_url() -> String {
    "nats://127.0.0.1:4222".to_owned()
}

/// How to reach NATS and which streams to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Server URL, e.g. `nats://127.0.0.1:4222`; for a cluster, several separated by
    /// commas (`nats://a:4222,nats://b:4222`), tried in turn. Once connected, the client also
    /// learns the cluster's other servers from the one it reached.
    #[serde(default = "default_url")]
    pub url: String,
    /// A NATS `.creds` file (JWT and seed), when the server requires authentication by
    /// JWT.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// A file holding a user's nkey seed (`SU...`), when the server admits users by nkey
    /// (as `marketprism up` configures it). It should be readable by this service alone.
    #[serde(default)]
    pub nkey_seed_file: Option<PathBuf>,
    /// The event and dead-letter streams.
    #[serde(default)]
    pub stream: StreamConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            url: default_url(),
            credentials_file: None,
            nkey_seed_file: None,
            stream: StreamConfig::default(),
        }
    }
}

impl Config {
    /// The server URLs of [`Config::url`].
    pub fn servers(&self) -> Vec<&str> {
        self.url.split(',').map(str::trim).collect()
    }

    /// Checks what serde cannot: the server URL is a NATS URL, and at most one way to
    /// authenticate is given.
    pub fn validate(&self) -> Result<(), String> {
        for url in self.servers() {
            check_endpoint("nats.url", url, &["nats", "tls", "ws", "wss"])?;
        }
        if !(1..=5).contains(&self.stream.replicas) {
            return Err(format!(
                "nats.stream.replicas = {}: JetStream keeps 1 to 5 copies",
                self.stream.replicas
            ));
        }
        if self.credentials_file.is_some() && self.nkey_seed_file.is_some() {
            return Err(
                "nats.credentials_file and nats.nkey_seed_file are both set: give one".to_owned(),
            );
        }
        Ok(())
    }
}

/// Checks that `value`, the setting `key`, is an absolute URL with a host and one of
/// `schemes`, so that a typo such as `ws//host` fails when the configuration is checked
/// rather than on every connection attempt.
pub fn check_endpoint(key: &str, value: &str, schemes: &[&str]) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|error| format!("{key} = {value:?}: {error}"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!(
            "{key} = {value:?}: the scheme must be one of {}",
            schemes.join(", ")
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{key} = {value:?}: no host"));
    }
    Ok(())
}

fn default_stream_name() -> String {
    "MARKETPRISM".to_owned()
}

fn default_max_age() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

fn default_duplicate_window() -> Duration {
    Duration::from_secs(10 * 60)
}

fn default_max_bytes() -> i64 {
    -1
}

fn default_deadletter_name() -> String {
    "MARKETPRISM_DEADLETTER".to_owned()
}

fn default_state_bucket() -> String {
    "marketprism_feed_state".to_owned()
}

fn default_replicas() -> usize {
    1
}

fn default_deadletter_max_age() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

/// Stream sizing. `streams init` creates the streams or updates them to match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Name of the event stream.
    #[serde(default = "default_stream_name")]
    pub name: String,
    /// How long events are kept when storage is behind, e.g. `7d`.
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// The window in which a repeated `Nats-Msg-Id` is dropped, e.g. `10m`; it must cover the
    /// longest republish delay (a reconnect plus the resent acks window).
    #[serde(default = "default_duplicate_window", with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// Upper bound on the event stream's size in bytes; `-1` for none.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: i64,
    /// Name of the dead-letter stream.
    #[serde(default = "default_deadletter_name")]
    pub deadletter_name: String,
    /// How long dead letters are kept, e.g. `30d`.
    #[serde(default = "default_deadletter_max_age", with = "humantime_serde")]
    pub deadletter_max_age: Duration,
    /// The key-value bucket in which each collector feed keeps where it stopped, so that a
    /// restart records the hole it leaves.
    #[serde(default = "default_state_bucket")]
    pub state_bucket: String,
    /// Copies of every stream and of the bucket, each on its own server of a JetStream
    /// cluster: 1 on a single server, 3 on a cluster (with 3 a stream survives the loss of
    /// one server; with 2 it stops).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            name: default_stream_name(),
            max_age: default_max_age(),
            duplicate_window: default_duplicate_window(),
            max_bytes: default_max_bytes(),
            deadletter_name: default_deadletter_name(),
            deadletter_max_age: default_deadletter_max_age(),
            state_bucket: default_state_bucket(),
            replicas: default_replicas(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_lists_servers_and_replicas_stay_within_what_jetstream_keeps() {
        let mut config = Config {
            url: "nats://a:4222, nats://b:4222,nats://c:4222".to_owned(),
            ..Config::default()
        };
        assert_eq!(
            config.servers(),
            ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
        );
        assert_eq!(config.validate(), Ok(()));
        config.url = "nats://a:4222,ws//b".to_owned();
        assert!(config.validate().is_err());

        config.url = default_url();
        config.stream.replicas = 3;
        assert_eq!(config.validate(), Ok(()));
        for replicas in [0, 6] {
            config.stream.replicas = replicas;
            let error = config.validate().expect_err("out of range");
            assert!(error.contains("nats.stream.replicas"), "{error}");
        }
    }
}
