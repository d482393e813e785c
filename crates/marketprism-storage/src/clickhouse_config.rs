//! How to reach ClickHouse.

use std::path::PathBuf;

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
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: default_url(),
            database: default_database(),
            user: default_user(),
            password_file: None,
        }
    }
}

impl ClickHouseConfig {
    /// A client for the server, without a default database. Row validation is off: it needs
    /// `RowBinaryWithNamesAndTypes`, which legacy servers lack, and the schema tests cover
    /// drift instead.
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
