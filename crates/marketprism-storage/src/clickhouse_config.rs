//! How to reach ClickHouse: one server, or a node of a cluster of shards and replicas.
//!
//! On a cluster (`cluster` set) every table is a `Distributed` table of the same name over
//! replicated `<table>_local` tables (see `marketprism_schema::Cluster`), and storage inserts
//! through the `Distributed` tables with `insert_distributed_sync = 1`: the insert returns
//! only once every shard's part of the rows is written to a replica of that shard, so a
//! commit means the rows are stored and acking after it keeps the at-least-once promise.
//! With asynchronous distribution the node would only have queued the rows on its own disk,
//! where a lost node loses them after the ack. Inserting into the local tables directly
//! would need storage to shard rows itself and to know every node.
//!
//! Retried inserts do not duplicate rows. A retried batch is the same rows in the same
//! order, which the `Distributed` table splits into the same block per shard; the replica
//! receiving it finds the block's checksum among the shard's recent blocks in ZooKeeper (the
//! last 100, `replicated_deduplication_window`) and drops it (`Replicated*MergeTree` insert deduplication, which ClickHouse 18.16 applies to
//! a retried identical insert through a `Distributed` table with `insert_distributed_sync =
//! 1`: the shards' row counts do not change, without `FINAL`, which the cluster tests
//! check). Rows redelivered in other batches form other blocks and are stored again; the
//! `ReplacingMergeTree` keys make them invisible to `FINAL`, as on one server.

use std::path::PathBuf;
use std::time::Duration;

use marketprism_schema::{Cluster, Dialect};
use serde::{Deserialize, Serialize};

fn default_url() -> String {
    "http://127.0.0.1:8123".to_owned()
}

fn default_database() -> String {
    "marketprism".to_owned()
}

fn default_user() -> String {
    "default".to_owned()
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

/// ClickHouse connection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP interface URL, e.g. `http://127.0.0.1:8123`.
    #[serde(default = "default_url")]
    pub url: String,
    /// Database holding MarketPrism's tables; `migrate` creates it.
    #[serde(default = "default_database")]
    pub database: String,
    /// User name.
    #[serde(default = "default_user")]
    pub user: String,
    /// File whose first line is the password; none for a password-less user.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Longest wait for an answer to one request (an insert of one table's rows, a query),
    /// e.g. `30s`; a request without an answer by then failed and is retried.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The cluster the tables live on, as the servers' `remote_servers` name it, e.g.
    /// `marketprism`; absent for one server. `url` is then any node of the cluster, and
    /// `migrate` creates the schema on every node (`ON CLUSTER`). A plain identifier, like
    /// `database`, which is then part of the tables' ZooKeeper paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// On a cluster of servers older than 20.3 only: the HTTP URL of one node of each shard,
    /// e.g. `["http://ch1:8123", "http://ch3:8123"]`. Those servers cannot extend a table's
    /// key `ON CLUSTER`, so `migrate` runs such a migration on each of these nodes, and
    /// replication carries it to the other replicas. Not needed on newer servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shard_urls: Vec<String>,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: default_url(),
            database: default_database(),
            user: default_user(),
            password_file: None,
            request_timeout: default_request_timeout(),
            cluster: None,
            shard_urls: Vec::new(),
        }
    }
}

impl ClickHouseConfig {
    /// The cluster holding the tables, `None` for one server; an error when the cluster or
    /// database name is not a plain identifier.
    pub fn cluster(&self) -> Result<Option<Cluster>, marketprism_schema::NameError> {
        self.cluster
            .as_deref()
            .map(|name| Cluster::new(name, &self.database))
            .transpose()
    }

    /// Checks the settings that serde cannot: the cluster's names, and that `shard_urls`
    /// go with a cluster; `key` names this section in messages, e.g. `clickhouse`.
    pub fn validate(&self, key: &str) -> Result<(), String> {
        self.cluster()
            .map_err(|error| format!("{key}.cluster: {error}"))?;
        if self.cluster.is_none() && !self.shard_urls.is_empty() {
            return Err(format!("{key}.shard_urls needs {key}.cluster"));
        }
        for url in &self.shard_urls {
            marketprism_bus::check_endpoint(&format!("{key}.shard_urls"), url, &["http", "https"])?;
        }
        Ok(())
    }

    /// A client for the server, without a default database. Row validation is off until
    /// the server's dialect is known: turn it on with [`validating`] once it is.
    pub fn server_client(&self) -> std::io::Result<clickhouse::Client> {
        let mut client = clickhouse::Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_validation(false);
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!(
                        "cannot read ClickHouse password file {}: {error}",
                        path.display()
                    ),
                )
            })?;
            client = client.with_password(text.lines().next().unwrap_or_default());
        }
        Ok(client)
    }

    /// A client whose statements run in the configured database. Its inserts into
    /// `Distributed` tables return once every shard has its rows (see the module
    /// documentation), whether or not `cluster` is configured: a deployment whose tables
    /// are `Distributed` but whose storage omits `cluster` must not fall back to queued,
    /// asynchronous inserts, which a lost node loses after the ack. Tables of other engines
    /// ignore the setting.
    pub fn database_client(&self) -> std::io::Result<clickhouse::Client> {
        Ok(self
            .server_client()?
            .with_database(&self.database)
            .with_setting("insert_distributed_sync", "1"))
    }

    /// [`ClickHouseConfig::database_client`] for another node of the cluster, at `url`.
    pub fn node_client(&self, url: &str) -> std::io::Result<clickhouse::Client> {
        Ok(self.database_client()?.with_url(url))
    }
}

/// The server's version, as `SELECT version()` answers it (e.g. `26.9.2.1`).
pub async fn server_version(client: &clickhouse::Client) -> clickhouse::error::Result<String> {
    let version: String = client.query("SELECT version()").fetch_one().await?;
    Ok(version.trim().to_owned())
}

/// `client` with row validation set for a server of `dialect`: the client then checks every
/// row type against the table's columns before writing or reading. Validation reads
/// `RowBinaryWithNamesAndTypes`, which legacy servers lack, so it is on for the modern
/// dialect only; on legacy servers the schema round-trip tests catch drift instead.
pub fn validating(client: clickhouse::Client, dialect: Dialect) -> clickhouse::Client {
    client.with_validation(dialect == Dialect::Modern)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ClickHouseConfig {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn a_cluster_takes_plain_names_and_shard_urls_need_a_cluster() {
        let single = parse("");
        assert_eq!(single.cluster(), Ok(None));
        assert_eq!(single.validate("clickhouse"), Ok(()));

        let cluster = parse(
            "cluster = \"marketprism\"\nshard_urls = [\"http://ch1:8123\", \"http://ch3:8123\"]",
        );
        let parsed = cluster.cluster().expect("plain names").expect("a cluster");
        assert_eq!(
            (parsed.name(), parsed.database()),
            ("marketprism", "marketprism")
        );
        assert_eq!(cluster.validate("clickhouse"), Ok(()));

        let dashed = parse("cluster = \"market-prism\"");
        let error = dashed
            .validate("clickhouse")
            .expect_err("not an identifier");
        assert!(error.starts_with("clickhouse.cluster: "), "{error}");
        let quoted_database = parse("cluster = \"c\"\ndatabase = \"a b\"");
        assert!(quoted_database.validate("archive.cold").is_err());

        let orphan = parse("shard_urls = [\"http://ch1:8123\"]");
        assert_eq!(
            orphan.validate("clickhouse"),
            Err("clickhouse.shard_urls needs clickhouse.cluster".to_owned())
        );
        let not_http = parse("cluster = \"c\"\nshard_urls = [\"nats://ch1:4222\"]");
        assert!(not_http.validate("clickhouse").is_err());
    }

    #[test]
    fn a_single_server_serializes_without_cluster_keys() {
        let text = toml::to_string(&ClickHouseConfig::default()).expect("serializes");
        assert!(
            !text.contains("cluster") && !text.contains("shard_urls"),
            "{text}"
        );
    }
}
