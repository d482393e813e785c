//! `GET /v1/instruments`: what is recorded. One entry per venue, market and symbol, with the
//! first and last venue time of its rows and, per data type present, the same two times:
//!
//! ```json
//! {"instruments": [{"exchange": "binance", "market": "spot", "symbol": "BTC-USDT",
//!   "first_ms": 1795737600000, "last_ms": 1795823999950,
//!   "types": {"trade": {"first_ms": 1795737600000, "last_ms": 1795823999950}}}]}
//! ```
//!
//! Entries are sorted by exchange, market and symbol.

use std::collections::BTreeMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::source::Reader;
use crate::tables::{self, EXCHANGE_TIME};
use crate::ApiError;

/// The first and last venue time of some rows, Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Extent {
    /// The earliest.
    pub first_ms: i64,
    /// The latest.
    pub last_ms: i64,
}

impl Extent {
    fn widen(&mut self, other: Extent) {
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
    }
}

/// One recorded instrument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instrument {
    /// The venue, e.g. `binance`.
    pub exchange: String,
    /// The market, e.g. `spot`.
    pub market: String,
    /// The symbol, e.g. `BTC-USDT`.
    pub symbol: String,
    /// The earliest venue time of any of its rows.
    pub first_ms: i64,
    /// The latest venue time of any of its rows.
    pub last_ms: i64,
    /// Each data type recorded, with its own extent.
    pub types: BTreeMap<&'static str, Extent>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instruments {
    /// Every recorded instrument.
    pub instruments: Vec<Instrument>,
}

#[derive(Debug, Row, Deserialize)]
struct ExtentRow {
    exchange: String,
    market_type: String,
    symbol: String,
    first_ms: i64,
    last_ms: i64,
}

/// Every recorded instrument, from each data table.
pub async fn instruments(reader: &Reader) -> Result<Instruments, ApiError> {
    let dialect = reader.dialect().await?;
    let time = dialect.time_ms(EXCHANGE_TIME);
    let mut found: BTreeMap<(String, String, String), Instrument> = BTreeMap::new();
    for recorded in tables::data_types() {
        let sql = format!(
            "SELECT exchange, market_type, symbol, min({time}) AS first_ms, max({time}) AS last_ms \
             FROM {table} GROUP BY exchange, market_type, symbol",
            table = recorded.table.name
        );
        let rows: Vec<ExtentRow> = reader.query(&sql).await?.fetch_all().await?;
        for row in rows {
            let extent = Extent {
                first_ms: row.first_ms,
                last_ms: row.last_ms,
            };
            let key = (row.exchange, row.market_type, row.symbol);
            let instrument = found.entry(key.clone()).or_insert_with(|| Instrument {
                exchange: key.0,
                market: key.1,
                symbol: key.2,
                first_ms: extent.first_ms,
                last_ms: extent.last_ms,
                types: BTreeMap::new(),
            });
            instrument.first_ms = instrument.first_ms.min(extent.first_ms);
            instrument.last_ms = instrument.last_ms.max(extent.last_ms);
            instrument
                .types
                .entry(recorded.data_type.as_str())
                .and_modify(|known| known.widen(extent))
                .or_insert(extent);
        }
    }
    Ok(Instruments {
        instruments: found.into_values().collect(),
    })
}
