//! Reading ClickHouse over its HTTP interface, read-only and within the configured limits.
//!
//! Every query ends with `SETTINGS …, max_execution_time = …, max_result_bytes = …,
//! readonly = 1`: the settings of that query only, which the server checks before running
//! it (`readonly` last, since it forbids changing the others once applied), so that
//! even a bug in the gateway cannot write, and no request can hold the server longer or make
//! it send more than configured. Values from requests are bound (`?`, escaped by the client),
//! never written into the SQL text. Streamed answers (`JSONEachRow`, `CSVWithNames`) are read
//! line by line as they arrive ([`Lines`]); an exception the server sends in the middle of
//! one is an error of the read.

use bytes::Bytes;
use clickhouse::query::BytesCursor;
use marketprism_schema::Dialect;
use marketprism_storage::ClickHouseConfig;
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
    settings: String,
    dialect: OnceCell<Dialect>,
}

impl Reader {
    /// A reader of `clickhouse`'s database, within `limits`.
    pub fn new(clickhouse: &ClickHouseConfig, limits: &QueryConfig) -> std::io::Result<Self> {
        let seconds = limits.max_execution_time.as_secs().max(1);
        Ok(Reader {
            client: clickhouse
                .server_client()?
                .with_database(&clickhouse.database),
            settings: format!(
                "\nSETTINGS {QUOTE_64BIT_INTEGERS} = 0, max_execution_time = {seconds}, \
                 max_result_bytes = {}, readonly = 1",
                limits.max_result_bytes.as_u64()
            ),
            dialect: OnceCell::new(),
        })
    }

    /// The server's version, as it answers `SELECT version()`.
    pub async fn version(&self) -> Result<String, clickhouse::error::Error> {
        let version: String = self.query("SELECT version()").fetch_one().await?;
        Ok(version.trim().to_owned())
    }

    /// The server's dialect, asked once.
    pub async fn dialect(&self) -> Result<Dialect, ApiError> {
        self.dialect
            .get_or_try_init(|| async {
                let version = self.version().await?;
                Dialect::for_version(&version).map_err(|error| ApiError::Answer(error.to_string()))
            })
            .await
            .copied()
    }

    /// The query `sql` (with `?` for each value to bind), with the reader's settings.
    pub fn query(&self, sql: &str) -> clickhouse::query::Query {
        let query = self.client.query(&format!("{sql}{}", self.settings));
        match self.dialect.get() {
            // 18.x formats its output before it applies a query's own settings, so 64-bit
            // numbers (the times) would come quoted; the request's setting applies in time.
            Some(Dialect::Legacy) => query.with_setting(QUOTE_64BIT_INTEGERS, "0"),
            _ => query,
        }
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
