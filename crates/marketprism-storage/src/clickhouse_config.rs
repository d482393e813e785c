//! How to reach ClickHouse.

use std::path::PathBuf;
use std::time::Duration;

use marketprism_schema::Dialect;
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
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: default_url(),
            database: default_database(),
            user: default_user(),
            password_file: None,
            request_timeout: default_request_timeout(),
        }
    }
}

impl ClickHouseConfig {
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

    /// A client whose statements run in the configured database.
    pub fn database_client(&self) -> std::io::Result<clickhouse::Client> {
        Ok(self.server_client()?.with_database(&self.database))
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
