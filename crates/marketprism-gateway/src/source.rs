//! Reading ClickHouse over its HTTP interface, read-only and within the configured limits.
//!
//! Every query carries the settings `max_execution_time`, `max_result_bytes` and
//! `readonly = 1` (unless the user is read-only by its profile already), for that query
//! only (see [`Reader::query`]), so that even a bug in the gateway cannot write,
//! and no request can hold the server longer or make it send more than configured.
//! Values from requests are bound (`?`, escaped by the client), never written into the SQL
//! text. Streamed answers (`JSONEachRow`, `CSVWithNames`) are read
//! line by line as they arrive ([`Lines`]); an exception the server sends in the middle of
//! one is an error of the read.

use bytes::Bytes;
use clickhouse::query::BytesCursor;
use clickhouse::Row;
use marketprism_schema::Dialect;
use marketprism_storage::ClickHouseConfig;
use serde::Deserialize;
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::OnceCell;

use crate::config::QueryConfig;
use crate::ApiError;

/// The setting that writes 64-bit integers (times, update ids) as JSON numbers.
const QUOTE_64BIT_INTEGERS: &str = "output_format_json_quote_64bit_integers";

/// Longest line of a streamed answer: far beyond any row (a 1,000-level book is ~60 KiB).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// The ClickHouse the API reads.
#[derive(Debug)]
pub struct Reader {
    client: clickhouse::Client,
    /// The limits and output settings of every query.
    limits: Vec<(&'static str, String)>,
    session: OnceCell<Session>,
}

/// What the reader learns of the server and its user before the first query.
#[derive(Debug)]
struct Session {
    dialect: Dialect,
    /// The settings of every query, `readonly` (when sent) last.
    settings: Vec<(&'static str, String)>,
}

/// The server's version and the user's `readonly`.
#[derive(Debug, Row, Deserialize)]
struct Probe {
    version: String,
    readonly: String,
}

impl Reader {
    /// A reader of `clickhouse`'s database, within `limits`.
    pub fn new(clickhouse: &ClickHouseConfig, limits: &QueryConfig) -> std::io::Result<Self> {
        let seconds = limits.max_execution_time.as_secs().max(1);
        Ok(Reader {
            client: clickhouse
                .server_client()?
                .with_database(&clickhouse.database),
            limits: vec![
                (QUOTE_64BIT_INTEGERS, "0".to_owned()),
                ("max_execution_time", seconds.to_string()),
                (
                    "max_result_bytes",
                    limits.max_result_bytes.as_u64().to_string(),
                ),
            ],
            session: OnceCell::new(),
        })
    }

    /// The server's version, as it answers `SELECT version()`.
    pub async fn version(&self) -> Result<String, clickhouse::error::Error> {
        let version: String = self.client.query("SELECT version()").fetch_one().await?;
        Ok(version.trim().to_owned())
    }

    /// The server's dialect and the settings its user takes, asked once: a user read-only
    /// by its profile (`readonly = 2`) may not change `readonly`, so it is sent only to a
    /// user that may write; a user with `readonly = 1` may change no setting at all, so the
    /// limits cannot be applied and nothing is read.
    async fn session(&self) -> Result<&Session, ApiError> {
        self.session
            .get_or_try_init(|| async {
                let probe: Probe = self
                    .client
                    .query(
                        "SELECT version() AS version, value AS readonly \
                         FROM system.settings WHERE name = 'readonly'",
                    )
                    .fetch_one()
                    .await?;
                let dialect = Dialect::for_version(&probe.version)
                    .map_err(|error| ApiError::Answer(error.to_string()))?;
                let mut settings = self.limits.clone();
                match probe.readonly.trim() {
                    "0" => settings.push(("readonly", "1".to_owned())),
                    "2" => {}
                    other => {
                        return Err(ApiError::Answer(format!(
                            "the ClickHouse user has readonly = {other}, which forbids the \
                             gateway's query limits: give it a profile with readonly = 2"
                        )))
                    }
                }
                Ok(Session { dialect, settings })
            })
            .await
    }

    /// The server's dialect, asked once.
    pub async fn dialect(&self) -> Result<Dialect, ApiError> {
        Ok(self.session().await?.dialect)
    }

    /// The query `sql` (with `?` for each value to bind), with the reader's settings, for the
    /// server's dialect and user (asked first, once).
    ///
    /// Current servers take them as the query's `SETTINGS` clause, which they check before
    /// running any part of it. 18.x takes them as parameters of the request: it applies a
    /// query's own clause after it formats the output (so 64-bit numbers would come quoted)
    /// and, in `INSERT … SELECT`, after the insert is allowed. Parameters are no choice for
    /// current servers only because the test harness's front over the chdb engine applies
    /// them to its one session, which `readonly` would leave read-only for good.
    pub async fn query(&self, sql: &str) -> Result<clickhouse::query::Query, ApiError> {
        let session = self.session().await?;
        Ok(match session.dialect {
            Dialect::Legacy => session
                .settings
                .iter()
                .fold(self.client.query(sql), |query, (name, value)| {
                    query.with_setting(*name, value.as_str())
                }),
            Dialect::Modern => {
                let clause: Vec<String> = session
                    .settings
                    .iter()
                    .map(|(name, value)| format!("{name} = {value}"))
                    .collect();
                self.client
                    .query(&format!("{sql}\nSETTINGS {}", clause.join(", ")))
            }
        })
    }
}

/// The lines of a streamed answer, each with its `\n`.
pub struct Lines {
    cursor: BytesCursor,
}

impl Lines {
    /// The lines of `query`'s answer in `format` (a line-per-row format such as
    /// `JSONEachRow`).
    pub fn new(query: clickhouse::query::Query, format: &str) -> Result<Self, ApiError> {
        Ok(Lines {
            cursor: query.fetch_bytes(format)?,
        })
    }

    /// The next line; `None` at the end of the answer.
    pub async fn next(&mut self) -> Result<Option<Bytes>, ApiError> {
        let mut line = Vec::new();
        let read = self
            .cursor
            .read_until(b'\n', &mut line)
            .await
            .map_err(read_error)?;
        if read == 0 {
            return Ok(None);
        }
        if line.len() > MAX_LINE {
            return Err(ApiError::Answer(format!(
                "a row of {} bytes is longer than {MAX_LINE}",
                line.len()
            )));
        }
        // A server that fails after it began its answer appends its exception to it; the
        // client recognises some forms, and no row starts so.
        if line.starts_with(b"Code: ") {
            return Err(ApiError::Answer(format!(
                "the server failed in the middle of its answer: {}",
                String::from_utf8_lossy(&line).trim_end()
            )));
        }
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        Ok(Some(Bytes::from(line)))
    }
}

/// The cursor's read error as the API's: the server's own error when it sent one.
fn read_error(error: std::io::Error) -> ApiError {
    match error.downcast::<clickhouse::error::Error>() {
        Ok(error) => ApiError::ClickHouse(error),
        Err(error) => ApiError::Answer(error.to_string()),
    }
}
