//! What a replay can ask for (`types`), and the query of each:
//!
//! * a stored data type (`trade`, `orderbook`, …): its rows as stored;
//! * `trade_bar_{interval}` (e.g. `trade_bar_1m`, `trade_bar_10s`): OHLCV bars of the trades,
//!   one per interval with trades, timed at the interval's start (`exchange_time`), with
//!   `open`, `high`, `low`, `close`, `volume`, `buy_volume`, `sell_volume`, `trades` and the
//!   first and last trade's times; intervals are aligned to the Unix epoch, and the bars at
//!   the range's ends cover only the trades within it;
//! * `book_snapshot_{depth}_{interval}` (e.g. `book_snapshot_10_1s`): the top `depth` levels
//!   of the last book recorded at or before each interval's end, timed at that end, for
//!   every interval in which a book was recorded (`update_id` and `book_time` name the book).
//!
//! Every query has the same placeholders, in order: exchange, market, each symbol, from, to.
//! The inner query filters and renames; the outer one computes. An outer alias must not
//! name a column its own expression reads (ClickHouse resolves the name to the alias).

use marketprism_model::DataType;
use marketprism_schema::{Column, Dialect};

use crate::gaps::placeholders;
use crate::tables::{self, decimal_text, Recorded, EXCHANGE_TIME};
use crate::ApiError;

/// Most levels a book snapshot asks for.
const MAX_DEPTH: u32 = 1000;

/// One kind of row a replay serves.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A stored data type.
    Stored(Recorded),
    /// OHLCV bars of the trades.
    TradeBar {
        /// The name asked for, e.g. `trade_bar_1m`.
        name: String,
        /// The bar's width, milliseconds.
        interval_ms: i64,
    },
    /// Top-of-book snapshots at a fixed cadence.
    BookSnapshot {
        /// The name asked for, e.g. `book_snapshot_10_1s`.
        name: String,
        /// Levels per side.
        depth: u32,
        /// The cadence, milliseconds.
        interval_ms: i64,
    },
}

impl Kind {
    /// The kind named `text`, given as parameter `parameter`.
    pub fn parse(parameter: &str, text: &str) -> Result<Kind, ApiError> {
        if let Some(recorded) = tables::data_type(text) {
            return Ok(Kind::Stored(recorded));
        }
        if let Some(interval) = text.strip_prefix("trade_bar_") {
            return Ok(Kind::TradeBar {
                name: text.to_owned(),
                interval_ms: interval_ms(parameter, interval)?,
            });
        }
        if let Some(rest) = text.strip_prefix("book_snapshot_") {
            let (depth, interval) = rest.split_once('_').ok_or_else(|| {
                ApiError::bad(
                    parameter,
                    format!(
                        "{text:?}: book_snapshot_{{depth}}_{{interval}}, e.g. book_snapshot_10_1s"
                    ),
                )
            })?;
            let depth = depth
                .parse::<u32>()
                .ok()
                .filter(|depth| (1..=MAX_DEPTH).contains(depth))
                .ok_or_else(|| {
                    ApiError::bad(
                        parameter,
                        format!("{text:?}: the depth must be 1 to {MAX_DEPTH}"),
                    )
                })?;
            return Ok(Kind::BookSnapshot {
                name: text.to_owned(),
                depth,
                interval_ms: interval_ms(parameter, interval)?,
            });
        }
        let known: Vec<&str> = tables::data_types()
            .map(|recorded| recorded.data_type.as_str())
            .collect();
        Err(ApiError::bad(
            parameter,
            format!(
                "unknown type {text:?}: one of {}, trade_bar_{{interval}} or book_snapshot_{{depth}}_{{interval}}",
                known.join(", ")
            ),
        ))
    }

    /// The name rows of this kind carry as `type`.
    pub fn name(&self) -> &str {
        match self {
            Kind::Stored(recorded) => recorded.data_type.as_str(),
            Kind::TradeBar { name, .. } | Kind::BookSnapshot { name, .. } => name,
        }
    }

    /// The stored data type the rows come from, whose gaps they share.
    pub fn source(&self) -> DataType {
        match self {
            Kind::Stored(recorded) => recorded.data_type,
            Kind::TradeBar { .. } => DataType::Trade,
            Kind::BookSnapshot { .. } => DataType::OrderBook,
        }
    }

    /// The query of this kind's rows for `symbols` symbols, ordered by `exchange_time`; with
    /// `csv`, the columns `gap_to_time` and `gap_reasons` (empty) close every row.
    pub fn sql(&self, dialect: Dialect, symbols: usize, csv: bool) -> String {
        let table = tables::data_types()
            .find(|recorded| recorded.data_type == self.source())
            .map_or(self.source().as_str(), |recorded| recorded.table.name);
        let time = dialect.time_ms(EXCHANGE_TIME);
        let filter = format!(
            "FROM {table} FINAL WHERE exchange = ? AND market_type = ? \
             AND symbol IN ({symbols}) AND {time} >= ? AND {time} < ?",
            symbols = placeholders(symbols),
        );
        let mut outputs = vec![format!("'{}' AS type", self.name())];
        let (inner, group) = match self {
            Kind::Stored(recorded) => {
                let columns = marketprism_schema::columns(recorded.table);
                let (times, others): (Vec<&Column>, Vec<&Column>) = columns
                    .iter()
                    .partition(|column| column.name == EXCHANGE_TIME);
                outputs.extend(
                    times
                        .into_iter()
                        .chain(others)
                        .map(|column| tables::output_expression(column, dialect)),
                );
                let order: Vec<&str> = std::iter::once(EXCHANGE_TIME)
                    .chain(
                        recorded
                            .table
                            .order_by
                            .iter()
                            .copied()
                            .filter(|key| *key != EXCHANGE_TIME),
                    )
                    .collect();
                (
                    format!("SELECT * {filter}"),
                    format!("ORDER BY {}", order.join(", ")),
                )
            }
            Kind::TradeBar { interval_ms, .. } => {
                let text = |expression: &str| decimal_text(dialect, expression);
                outputs.extend([
                    format!("intDiv(time_ms, {interval_ms}) * {interval_ms} AS exchange_time"),
                    "exchange".to_owned(),
                    "market_type".to_owned(),
                    "symbol".to_owned(),
                    format!("{} AS open", text("argMin(price, (time_ms, trade_id))")),
                    format!("{} AS high", text("max(price)")),
                    format!("{} AS low", text("min(price)")),
                    format!("{} AS close", text("argMax(price, (time_ms, trade_id))")),
                    format!("{} AS volume", text("sum(quantity)")),
                    format!("{} AS buy_volume", text("sumIf(quantity, side = 'buy')")),
                    format!("{} AS sell_volume", text("sumIf(quantity, side = 'sell')")),
                    "count() AS trades".to_owned(),
                    "min(time_ms) AS first_trade_time".to_owned(),
                    "max(time_ms) AS last_trade_time".to_owned(),
                ]);
                (
                    format!(
                        "SELECT exchange, market_type, symbol, trade_id, price, quantity, side, \
                         {time} AS time_ms {filter}"
                    ),
                    "GROUP BY exchange, market_type, symbol, exchange_time \
                     ORDER BY exchange_time, symbol"
                        .to_owned(),
                )
            }
            Kind::BookSnapshot {
                depth, interval_ms, ..
            } => {
                outputs.extend([
                    // A book at an interval's end belongs to that end's snapshot.
                    format!(
                        "(intDiv(time_ms - 1, {interval_ms}) + 1) * {interval_ms} AS exchange_time"
                    ),
                    "exchange".to_owned(),
                    "market_type".to_owned(),
                    "symbol".to_owned(),
                    "argMax(book_update_id, (time_ms, book_update_id)) AS update_id".to_owned(),
                    "max(time_ms) AS book_time".to_owned(),
                ]);
                for side in [
                    "bid_prices",
                    "bid_quantities",
                    "ask_prices",
                    "ask_quantities",
                ] {
                    outputs.push(format!(
                        "arrayMap(x -> {}, arraySlice(argMax(book_{side}, (time_ms, book_update_id)), 1, {depth})) AS {side}",
                        decimal_text(dialect, "x")
                    ));
                }
                (
                    format!(
                        "SELECT exchange, market_type, symbol, update_id AS book_update_id, \
                         {time} AS time_ms, bid_prices AS book_bid_prices, \
                         bid_quantities AS book_bid_quantities, ask_prices AS book_ask_prices, \
                         ask_quantities AS book_ask_quantities {filter}"
                    ),
                    "GROUP BY exchange, market_type, symbol, exchange_time \
                     ORDER BY exchange_time, symbol"
                        .to_owned(),
                )
            }
        };
        if csv {
            outputs.push("'' AS gap_to_time".to_owned());
            outputs.push("'' AS gap_reasons".to_owned());
        }
        format!("SELECT {} FROM ({inner}) {group}", outputs.join(", "))
    }
}

/// An interval such as `1m`, `10s` or `250ms`, in milliseconds.
fn interval_ms(parameter: &str, text: &str) -> Result<i64, ApiError> {
    humantime::parse_duration(text)
        .ok()
        .and_then(|interval| i64::try_from(interval.as_millis()).ok())
        .filter(|ms| *ms >= 1)
        .ok_or_else(|| {
            ApiError::bad(
                parameter,
                format!("{text:?} is not an interval of at least 1ms, e.g. 1s, 1m, 250ms"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_kinds_are_parsed_from_their_names() {
        let bar = Kind::parse("types", "trade_bar_1m").expect("valid");
        assert!(matches!(
            bar,
            Kind::TradeBar {
                interval_ms: 60_000,
                ..
            }
        ));
        assert_eq!(
            (bar.name(), bar.source()),
            ("trade_bar_1m", DataType::Trade)
        );
        let book = Kind::parse("types", "book_snapshot_10_250ms").expect("valid");
        assert!(matches!(
            book,
            Kind::BookSnapshot {
                depth: 10,
                interval_ms: 250,
                ..
            }
        ));
        assert_eq!(book.source(), DataType::OrderBook);
        for bad in [
            "trade_bar_",
            "trade_bar_0s",
            "book_snapshot_0_1s",
            "book_snapshot_10",
            "bars",
        ] {
            assert!(Kind::parse("types", bad).is_err(), "{bad}");
        }
        assert!(matches!(Kind::parse("types", "trade"), Ok(Kind::Stored(_))));
    }
}
