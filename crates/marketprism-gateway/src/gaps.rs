//! The gap rows of a feed and where the feed itself misses data.
//!
//! Each collector records its own gaps (`gaps.collector`). A gap leaves data missing unless
//! a backfill `filled` it, and only for the data types its reason concerns
//! ([`crate::tables::gap_concerns`]). The feed misses a span where every collector of the
//! feed missed it ([`marketprism_model::coverage::feed_gaps`]); the collectors of a feed are
//! `query.collectors` when configured, else those named in the feed's gap rows.

use std::collections::BTreeSet;

use clickhouse::Row;
use marketprism_model::coverage::{feed_gaps, Span};
use marketprism_model::{DataType, Exchange, GapStatus, MarketType, Symbol};
use marketprism_schema::Dialect;
use serde::{Deserialize, Serialize};

use crate::source::Reader;
use crate::tables::{gap_concerns, gaps_table};
use crate::ApiError;

/// One collector's gap, as stored (the latest status of its key, `FINAL`), in the columns
/// of [`gap_columns`].
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct GapRow {
    /// The venue, e.g. `binance`.
    pub exchange: String,
    /// The market, e.g. `spot`.
    pub market: String,
    /// The instrument.
    pub symbol: String,
    /// The collector that recorded it; empty when collectors are not named.
    pub collector: String,
    /// Why data may be missing, e.g. `disconnect`.
    pub reason: String,
    /// Where it stands: `open`, `closed`, `filled`, `partial`, `unfillable`.
    pub status: String,
    /// Start of the window, Unix milliseconds.
    pub from_ms: i64,
    /// End of the window, Unix milliseconds.
    pub to_ms: i64,
    /// Trades a backfill recovered.
    pub recovered: Option<u64>,
    /// Trades known missing that a backfill did not recover.
    pub unrecovered: Option<u64>,
    /// What the backfill said.
    pub status_detail: String,
}

impl GapRow {
    /// Whether data of `data_type` is missing in the gap's window.
    pub fn leaves_missing(&self, data_type: DataType) -> bool {
        self.status != GapStatus::Filled.as_str() && gap_concerns(&self.reason, data_type)
    }

    /// The gap's window.
    pub fn span(&self) -> Span {
        Span::new(self.from_ms, self.to_ms)
    }
}

/// `?, ?, …` for `count` values.
pub(crate) fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// The columns of [`GapRow`] in its order, selected from the gaps table.
pub(crate) fn gap_columns(dialect: Dialect) -> String {
    format!(
        "exchange, market_type AS market, symbol, collector, reason, status, \
         {from_time} AS from_ms, {to_time} AS to_ms, recovered, unrecovered, status_detail",
        from_time = dialect.time_ms("from_time"),
        to_time = dialect.time_ms("to_time"),
    )
}

/// `sql`, whose first placeholders are an exchange, a market and `symbols` (as
/// [`placeholders`]), with those bound.
async fn feed_query(
    reader: &Reader,
    sql: &str,
    exchange: Exchange,
    market: MarketType,
    symbols: &[Symbol],
) -> Result<clickhouse::query::Query, ApiError> {
    let query = reader
        .query(sql)
        .await?
        .bind(exchange.as_str())
        .bind(market.as_str());
    Ok(symbols
        .iter()
        .fold(query, |query, symbol| query.bind(symbol.as_str())))
}

/// The gap rows of `symbols` whose window meets `from_ms..to_ms`, in time order.
pub async fn gap_rows(
    reader: &Reader,
    dialect: Dialect,
    exchange: Exchange,
    market: MarketType,
    symbols: &[Symbol],
    (from_ms, to_ms): (i64, i64),
) -> Result<Vec<GapRow>, ApiError> {
    let sql = format!(
        "SELECT {columns} FROM {table} FINAL \
         WHERE exchange = ? AND market_type = ? AND symbol IN ({symbols}) \
         AND {from_time} < ? AND {to_time} > ? \
         ORDER BY from_ms, to_ms, symbol, collector, reason",
        columns = gap_columns(dialect),
        table = gaps_table().name,
        symbols = placeholders(symbols.len()),
        from_time = dialect.time_ms("from_time"),
        to_time = dialect.time_ms("to_time"),
    );
    let query = feed_query(reader, &sql, exchange, market, symbols).await?;
    Ok(query.bind(to_ms).bind(from_ms).fetch_all().await?)
}

/// The collectors of each of `symbols`' feeds, as `(symbol, collector)` pairs: `configured`
/// when given, else those named in the feeds' gap rows of all time.
pub async fn collectors(
    reader: &Reader,
    configured: &[String],
    exchange: Exchange,
    market: MarketType,
    symbols: &[Symbol],
) -> Result<BTreeSet<(String, String)>, ApiError> {
    if !configured.is_empty() {
        return Ok(symbols
            .iter()
            .flat_map(|symbol| {
                configured
                    .iter()
                    .map(|collector| (symbol.to_string(), collector.clone()))
            })
            .collect());
    }
    #[derive(Row, Deserialize)]
    struct Named {
        symbol: String,
        collector: String,
    }
    let sql = format!(
        "SELECT DISTINCT symbol, collector FROM {table} \
         WHERE exchange = ? AND market_type = ? AND symbol IN ({symbols})",
        table = gaps_table().name,
        symbols = placeholders(symbols.len()),
    );
    let named: Vec<Named> = feed_query(reader, &sql, exchange, market, symbols)
        .await?
        .fetch_all()
        .await?;
    Ok(named
        .into_iter()
        .map(|named| (named.symbol, named.collector))
        .collect())
}

/// Where the feed of `symbol` misses data of `data_type` within `from_ms..to_ms`: the spans
/// every one of its `collectors` missed, cut to the range.
pub fn feed_missing(
    rows: &[GapRow],
    collectors: &BTreeSet<(String, String)>,
    symbol: &str,
    data_type: DataType,
    (from_ms, to_ms): (i64, i64),
) -> Vec<Span> {
    let accounts: Vec<Vec<Span>> = collectors
        .iter()
        .filter(|(feed, _)| feed == symbol)
        .map(|(_, collector)| {
            rows.iter()
                .filter(|row| {
                    row.symbol == symbol
                        && &row.collector == collector
                        && row.leaves_missing(data_type)
                })
                .map(GapRow::span)
                .collect()
        })
        .collect();
    feed_gaps(&accounts)
        .into_iter()
        .filter_map(|span| {
            let cut = Span {
                from_ms: span.from_ms.max(from_ms),
                to_ms: span.to_ms.min(to_ms),
            };
            (cut.from_ms < cut.to_ms).then_some(cut)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(collector: &str, reason: &str, status: &str, from_ms: i64, to_ms: i64) -> GapRow {
        GapRow {
            exchange: "binance".into(),
            market: "spot".into(),
            symbol: "BTC-USDT".into(),
            collector: collector.into(),
            reason: reason.into(),
            status: status.into(),
            from_ms,
            to_ms,
            recovered: None,
            unrecovered: None,
            status_detail: String::new(),
        }
    }

    fn named(names: &[&str]) -> BTreeSet<(String, String)> {
        names
            .iter()
            .map(|name| ("BTC-USDT".to_owned(), (*name).to_owned()))
            .collect()
    }

    #[test]
    fn the_feed_misses_what_every_collector_missed_unless_filled() {
        let rows = [
            row("a", "disconnect", "open", 100, 200),
            row("b", "disconnect", "open", 150, 300),
            row("a", "trade_id_gap", "filled", 400, 500),
            row("b", "trade_id_gap", "filled", 400, 500),
            row("a", "sequence_break", "closed", 600, 700),
            row("b", "sequence_break", "closed", 600, 700),
        ];
        let both = named(&["a", "b"]);
        let range = (0, 1000);
        assert_eq!(
            feed_missing(&rows, &both, "BTC-USDT", DataType::Trade, range),
            [Span::new(150, 200)]
        );
        assert_eq!(
            feed_missing(&rows, &both, "BTC-USDT", DataType::OrderBook, range),
            [Span::new(150, 200), Span::new(600, 700)]
        );
        // Cut to the range.
        assert_eq!(
            feed_missing(&rows, &both, "BTC-USDT", DataType::Trade, (160, 180)),
            [Span::new(160, 180)]
        );
        // A third collector without gaps covers everything.
        assert_eq!(
            feed_missing(
                &rows,
                &named(&["a", "b", "c"]),
                "BTC-USDT",
                DataType::Trade,
                range
            ),
            []
        );
        assert_eq!(placeholders(3), "?, ?, ?");
    }
}
