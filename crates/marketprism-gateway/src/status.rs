//! `GET /v1/status`: how the recording is doing now, as JSON, for the status page (`GET /`)
//! and for scripts:
//!
//! * `feeds`: every recorded feed (exchange, market, symbol) with its rows received in the
//!   last minute (`events_last_minute`, `events_per_second`), the receive and venue time of
//!   its latest row and the age of that receive time (`age_seconds`), in total and per data
//!   type;
//! * `consumers`: the lag of storage's and the backfill's durable consumers (`status.*`), as
//!   NATS answers for them: messages not yet delivered (`pending`) and delivered but not yet
//!   acknowledged (`awaiting_ack`), or why NATS did not say;
//! * `gaps`: every collector's `open` gaps, and the `recent` others (closed, filled, partial,
//!   unfillable) whose window ended within the last hour, newest first, at most
//!   [`MAX_GAPS`] of each;
//! * `books`: the best bid and ask (price and size) of the latest stored book of each
//!   symbol.
//!
//! ```json
//! {"now_ms": 1795737660000, "rate_window_seconds": 60,
//!  "feeds": [{"exchange": "binance", "market": "spot", "symbol": "BTC-USDT",
//!    "events_last_minute": 120, "events_per_second": 2.0,
//!    "last_received_ms": 1795737659800, "last_exchange_ms": 1795737659795, "age_seconds": 0.2,
//!    "types": {"trade": {"events_last_minute": 120, "events_per_second": 2.0, ...}}}],
//!  "consumers": [{"role": "storage", "durable": "marketprism-storage", "pending": 0,
//!    "awaiting_ack": 12, "error": null}, ...],
//!  "gaps": {"recent_since_ms": 1795734060000, "limit": 100, "open": [], "recent": []},
//!  "books": [{"exchange": "binance", "market": "spot", "symbol": "BTC-USDT",
//!    "update_id": 42, "exchange_ms": 1795737659000, "received_ms": 1795737659004,
//!    "age_seconds": 1.0, "bid": {"price": "97000.1", "size": "0.5"},
//!    "ask": {"price": "97000.2", "size": "1.25"}}]}
//! ```
//!
//! Times are Unix milliseconds; ages and rates are taken at `now_ms`, the gateway's clock,
//! against receive times, the collectors' clocks. Rates count rows as stored: a row stored
//! twice (a redelivery, or two collectors recording one feed) counts twice until ClickHouse
//! merges the copies. The feed figures read the time columns of every data table, so one
//! answer is computed at most once a [`REUSE`], however many pages ask; a ClickHouse failure
//! is answered 502, a consumer NATS does not describe only fills that consumer's `error`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use clickhouse::Row;
use marketprism_model::GapStatus;
use marketprism_schema::Dialect;
use serde::{Deserialize, Serialize};

use crate::gaps::{gap_columns, GapRow};
use crate::source::Reader;
use crate::tables::{self, decimal_text, gaps_table, EXCHANGE_TIME, RECEIVED_TIME};
use crate::{ApiError, Config};

/// The window of the rates.
const RATE_WINDOW_MS: i64 = 60_000;

/// Gaps not open count as recent when their window ended within this long.
const RECENT_GAPS_MS: i64 = 3_600_000;

/// Most gaps of each list.
pub const MAX_GAPS: usize = 100;

/// How long one answer is served again before the figures are read anew.
pub const REUSE: Duration = Duration::from_secs(1);

/// Longest wait for NATS to describe one consumer.
const CONSUMER_TIMEOUT: Duration = Duration::from_secs(2);

fn default_storage_consumer() -> String {
    "marketprism-storage".to_owned()
}

fn default_backfill_consumer() -> String {
    "marketprism-backfill".to_owned()
}

/// The consumers `/v1/status` reports the lag of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// Storage's durable consumer (storage's `consumer.durable_name`), e.g.
    /// `marketprism-storage`.
    #[serde(default = "default_storage_consumer")]
    pub storage_consumer: String,
    /// The backfill's durable consumer (the backfill's `consumer.durable_name`), e.g.
    /// `marketprism-backfill`.
    #[serde(default = "default_backfill_consumer")]
    pub backfill_consumer: String,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            storage_consumer: default_storage_consumer(),
            backfill_consumer: default_backfill_consumer(),
        }
    }
}

impl StatusConfig {
    /// Checks that serde cannot express: each name is one a JetStream consumer can have.
    pub fn validate(&self) -> Result<(), String> {
        for (key, name) in [
            ("status.storage_consumer", &self.storage_consumer),
            ("status.backfill_consumer", &self.backfill_consumer),
        ] {
            if name.is_empty()
                || name
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>'))
            {
                return Err(format!(
                    "{key} = {name:?}: a consumer name is not empty and has no spaces, '.', '*' or '>'"
                ));
            }
        }
        Ok(())
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// When the figures were taken, Unix milliseconds.
    pub now_ms: i64,
    /// The window of the rates, seconds.
    pub rate_window_seconds: i64,
    /// Every recorded feed, by exchange, market and symbol.
    pub feeds: Vec<Feed>,
    /// The durable consumers' lag.
    pub consumers: Vec<ConsumerLag>,
    /// Open and recent gaps.
    pub gaps: Gaps,
    /// The top of the latest stored book of each symbol, by exchange, market and symbol.
    pub books: Vec<TopOfBook>,
}

/// How one feed, or one data type of it, is being recorded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Activity {
    /// Rows received in the last minute.
    pub events_last_minute: u64,
    /// The same per second.
    pub events_per_second: f64,
    /// The receive time of the latest row, Unix milliseconds.
    pub last_received_ms: i64,
    /// The venue time of the latest row, Unix milliseconds.
    pub last_exchange_ms: i64,
}

/// One feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feed {
    /// The venue, e.g. `binance`.
    pub exchange: String,
    /// The market, e.g. `spot`.
    pub market: String,
    /// The symbol, e.g. `BTC-USDT`.
    pub symbol: String,
    /// Every data type together.
    #[serde(flatten)]
    pub total: Activity,
    /// Seconds from the latest receive time to `now_ms`.
    pub age_seconds: f64,
    /// Each data type recorded, e.g. `trade`.
    pub types: BTreeMap<String, Activity>,
}

/// One durable consumer's lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerLag {
    /// Whose consumer: `storage` or `backfill`.
    pub role: &'static str,
    /// Its durable name.
    pub durable: String,
    /// Messages of the stream not yet delivered to it.
    pub pending: Option<u64>,
    /// Messages delivered to it and not yet acknowledged.
    pub awaiting_ack: Option<u64>,
    /// Why the counts are missing, e.g. that the consumer does not exist.
    pub error: Option<String>,
}

/// Open and recent gaps, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gaps {
    /// Gaps not open are recent when their window ended at or after this, Unix
    /// milliseconds: an hour before `now_ms`.
    pub recent_since_ms: i64,
    /// Most gaps of each list; a full list may have more.
    pub limit: usize,
    /// Gaps still open, latest start first.
    pub open: Vec<GapRow>,
    /// Other gaps that ended within the hour, latest end first.
    pub recent: Vec<GapRow>,
}

/// One side's best level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Level {
    /// The price, as the venue wrote it.
    pub price: String,
    /// The size at that price.
    pub size: String,
}

/// The best bid and ask of a symbol's latest stored book.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopOfBook {
    /// The venue.
    pub exchange: String,
    /// The market.
    pub market: String,
    /// The symbol.
    pub symbol: String,
    /// The book's update id.
    pub update_id: u64,
    /// The book's venue time, Unix milliseconds.
    pub exchange_ms: i64,
    /// The book's receive time, Unix milliseconds.
    pub received_ms: i64,
    /// Seconds from the receive time to `now_ms`.
    pub age_seconds: f64,
    /// The best bid; none when the side is empty.
    pub bid: Option<Level>,
    /// The best ask; none when the side is empty.
    pub ask: Option<Level>,
}

/// One data type's figures of one feed, as [`activity_sql`] answers them.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
struct ActivityRow {
    data_type: String,
    exchange: String,
    market: String,
    symbol: String,
    events_last_minute: u64,
    last_received_ms: i64,
    last_exchange_ms: i64,
}

/// A latest book with its first level per side (empty arrays for an empty side), as
/// [`books_sql`] answers it.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
struct BookRow {
    exchange: String,
    market: String,
    symbol: String,
    update_id: u64,
    exchange_ms: i64,
    received_ms: i64,
    bid_price: Vec<String>,
    bid_size: Vec<String>,
    ask_price: Vec<String>,
    ask_size: Vec<String>,
}

/// The query of every data table's figures per feed, with one placeholder per data table:
/// the start of the rate window.
fn activity_sql(dialect: Dialect) -> String {
    let received = dialect.time_ms(RECEIVED_TIME);
    let exchange_time = dialect.time_ms(EXCHANGE_TIME);
    let selects: Vec<String> = tables::data_types()
        .map(|recorded| {
            format!(
                "SELECT '{data_type}' AS data_type, exchange, market_type AS market, symbol, \
                 countIf({received} >= ?) AS events_last_minute, \
                 max({received}) AS last_received_ms, max({exchange_time}) AS last_exchange_ms \
                 FROM {table} GROUP BY exchange, market_type, symbol",
                data_type = recorded.data_type.as_str(),
                table = recorded.table.name,
            )
        })
        .collect();
    // The outer query carries the settings for the whole union.
    format!("SELECT * FROM ({})", selects.join(" UNION ALL "))
}

/// The two lists of gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GapList {
    /// Placeholder: the open status.
    Open,
    /// Placeholders: the open status, the earliest end.
    Recent,
}

/// The query of one list of gaps, at most [`MAX_GAPS`].
fn gaps_sql(dialect: Dialect, list: GapList) -> String {
    let (filter, order) = match list {
        GapList::Open => ("status = ?".to_owned(), "from_ms DESC"),
        GapList::Recent => (
            format!("status != ? AND {} >= ?", dialect.time_ms("to_time")),
            "to_ms DESC",
        ),
    };
    format!(
        "SELECT {columns} FROM {table} FINAL WHERE {filter} \
         ORDER BY {order}, exchange, market, symbol, collector, reason LIMIT {MAX_GAPS}",
        columns = gap_columns(dialect),
        table = gaps_table().name,
    )
}

/// One list of gaps: the open ones, or the others whose window ended at or after
/// `recent_since_ms`.
async fn gap_list(
    reader: &Reader,
    dialect: Dialect,
    list: GapList,
    recent_since_ms: i64,
) -> Result<Vec<GapRow>, ApiError> {
    let query = reader
        .query(&gaps_sql(dialect, list))
        .await?
        .bind(GapStatus::Open.as_str());
    let query = match list {
        GapList::Open => query,
        GapList::Recent => query.bind(recent_since_ms),
    };
    Ok(query.fetch_all().await?)
}

/// The query of each symbol's latest book (by venue time, then update id) with its first
/// level per side. The inner query reads only key and time columns; the outer one finds the
/// books by their key. `GLOBAL` runs the inner query once where the tables are
/// `Distributed`, which a plain `IN` over them is refused.
fn books_sql(dialect: Dialect) -> String {
    let exchange_time = dialect.time_ms(EXCHANGE_TIME);
    let received = dialect.time_ms(RECEIVED_TIME);
    let table = tables::data_types()
        .find(|recorded| recorded.data_type == marketprism_model::DataType::OrderBook)
        .map_or(
            marketprism_schema::migrations::ORDERBOOKS.name,
            |recorded| recorded.table.name,
        );
    let first = |column: &str| {
        format!(
            "arrayMap(x -> {}, arraySlice({column}, 1, 1))",
            decimal_text(dialect, "x")
        )
    };
    format!(
        "SELECT exchange, market_type AS market, symbol, update_id, \
         {exchange_time} AS exchange_ms, {received} AS received_ms, \
         {bid_price} AS bid_price, {bid_size} AS bid_size, \
         {ask_price} AS ask_price, {ask_size} AS ask_size \
         FROM {table} WHERE (exchange, market_type, symbol, update_id) GLOBAL IN \
         (SELECT exchange, market_type, symbol, argMax(update_id, ({exchange_time}, update_id)) \
         FROM {table} GROUP BY exchange, market_type, symbol) \
         ORDER BY exchange, market, symbol LIMIT 1 BY exchange, market, symbol",
        bid_price = first("bid_prices"),
        bid_size = first("bid_quantities"),
        ask_price = first("ask_prices"),
        ask_size = first("ask_quantities"),
    )
}

/// Seconds from `then_ms` to `now_ms`.
fn age_seconds(now_ms: i64, then_ms: i64) -> f64 {
    // Differences of Unix milliseconds are far below 2^53: exact as f64.
    (now_ms - then_ms) as f64 / 1000.0
}

/// `count` rows in the rate window, per second.
fn per_second(count: u64) -> f64 {
    count as f64 * 1000.0 / RATE_WINDOW_MS as f64
}

/// The feeds of `rows` (one per feed and data type), each with its totals, in order.
fn feeds(rows: Vec<ActivityRow>, now_ms: i64) -> Vec<Feed> {
    let mut found: BTreeMap<(String, String, String), BTreeMap<String, Activity>> = BTreeMap::new();
    for row in rows {
        let activity = Activity {
            events_last_minute: row.events_last_minute,
            events_per_second: per_second(row.events_last_minute),
            last_received_ms: row.last_received_ms,
            last_exchange_ms: row.last_exchange_ms,
        };
        found
            .entry((row.exchange, row.market, row.symbol))
            .or_default()
            .insert(row.data_type, activity);
    }
    found
        .into_iter()
        .filter_map(|((exchange, market, symbol), types)| {
            let events_last_minute = types.values().map(|kind| kind.events_last_minute).sum();
            let total = Activity {
                events_last_minute,
                events_per_second: per_second(events_last_minute),
                last_received_ms: types.values().map(|kind| kind.last_received_ms).max()?,
                last_exchange_ms: types.values().map(|kind| kind.last_exchange_ms).max()?,
            };
            Some(Feed {
                exchange,
                market,
                symbol,
                age_seconds: age_seconds(now_ms, total.last_received_ms),
                total,
                types,
            })
        })
        .collect()
}

/// The first element of each of two parallel one-element arrays.
fn level(prices: Vec<String>, sizes: Vec<String>) -> Option<Level> {
    Some(Level {
        price: prices.into_iter().next()?,
        size: sizes.into_iter().next()?,
    })
}

impl TopOfBook {
    fn new(row: BookRow, now_ms: i64) -> Self {
        TopOfBook {
            age_seconds: age_seconds(now_ms, row.received_ms),
            exchange: row.exchange,
            market: row.market,
            symbol: row.symbol,
            update_id: row.update_id,
            exchange_ms: row.exchange_ms,
            received_ms: row.received_ms,
            bid: level(row.bid_price, row.bid_size),
            ask: level(row.ask_price, row.ask_size),
        }
    }
}

/// What `/v1/status` asks NATS, and its latest answer.
pub(crate) struct StatusSource {
    jetstream: jetstream::Context,
    stream: String,
    config: StatusConfig,
    latest: tokio::sync::Mutex<Option<(Instant, Arc<Status>)>>,
}

impl StatusSource {
    /// Asks NATS through `nats` for the consumers `config.status` names on `config`'s
    /// stream.
    pub(crate) fn new(config: &Config, nats: &async_nats::Client) -> Self {
        StatusSource {
            jetstream: jetstream::new(nats.clone()),
            stream: config.nats.stream.name.clone(),
            config: config.status.clone(),
            latest: tokio::sync::Mutex::new(None),
        }
    }

    /// The latest answer if younger than [`REUSE`], else a new one read through `reader`.
    /// Requests arriving while one is computed wait for it rather than query again.
    pub(crate) async fn current(&self, reader: &Reader) -> Result<Arc<Status>, ApiError> {
        let mut latest = self.latest.lock().await;
        if let Some((taken, status)) = latest.as_ref() {
            if taken.elapsed() < REUSE {
                return Ok(status.clone());
            }
        }
        let status = Arc::new(self.read(reader).await?);
        *latest = Some((Instant::now(), status.clone()));
        Ok(status)
    }

    async fn read(&self, reader: &Reader) -> Result<Status, ApiError> {
        let now_ms = marketprism_model::now_ms();
        let consumers = async {
            let (storage, backfill) = tokio::join!(
                self.lag("storage", &self.config.storage_consumer),
                self.lag("backfill", &self.config.backfill_consumer),
            );
            vec![storage, backfill]
        };
        let (tables, consumers) = tokio::join!(read_tables(reader, now_ms), consumers);
        let (feeds, gaps, books) = tables?;
        Ok(Status {
            now_ms,
            rate_window_seconds: RATE_WINDOW_MS / 1000,
            feeds,
            consumers,
            gaps,
            books,
        })
    }

    /// The lag of consumer `durable` of the stream, or why NATS did not tell it.
    async fn lag(&self, role: &'static str, durable: &str) -> ConsumerLag {
        let asked = tokio::time::timeout(
            CONSUMER_TIMEOUT,
            self.jetstream
                .get_consumer_from_stream::<jetstream::consumer::Config, _, _>(
                    durable,
                    &self.stream,
                ),
        )
        .await;
        let (pending, awaiting_ack, error) = match asked {
            Ok(Ok(consumer)) => {
                let info = consumer.cached_info();
                (
                    Some(info.num_pending),
                    Some(u64::try_from(info.num_ack_pending).unwrap_or(u64::MAX)),
                    None,
                )
            }
            Ok(Err(error)) => (
                None,
                None,
                Some(format!(
                    "consumer {durable} of stream {}: {error}",
                    self.stream
                )),
            ),
            Err(_) => (
                None,
                None,
                Some(format!(
                    "NATS did not describe consumer {durable} of stream {} within {} s",
                    self.stream,
                    CONSUMER_TIMEOUT.as_secs()
                )),
            ),
        };
        ConsumerLag {
            role,
            durable: durable.to_owned(),
            pending,
            awaiting_ack,
            error,
        }
    }
}

/// The feeds, gaps and books, read through `reader` at `now_ms`.
async fn read_tables(
    reader: &Reader,
    now_ms: i64,
) -> Result<(Vec<Feed>, Gaps, Vec<TopOfBook>), ApiError> {
    let dialect = reader.dialect().await?;
    let activity = async {
        let since = now_ms - RATE_WINDOW_MS;
        let query = tables::data_types()
            .fold(reader.query(&activity_sql(dialect)).await?, |query, _| {
                query.bind(since)
            });
        Ok::<_, ApiError>(feeds(query.fetch_all().await?, now_ms))
    };
    let recent_since_ms = now_ms - RECENT_GAPS_MS;
    let open = gap_list(reader, dialect, GapList::Open, recent_since_ms);
    let recent = gap_list(reader, dialect, GapList::Recent, recent_since_ms);
    let books = async {
        let rows: Vec<BookRow> = reader.query(&books_sql(dialect)).await?.fetch_all().await?;
        Ok::<_, ApiError>(
            rows.into_iter()
                .map(|row| TopOfBook::new(row, now_ms))
                .collect(),
        )
    };
    let (feeds, open, recent, books) = futures::try_join!(activity, open, recent, books)?;
    Ok((
        feeds,
        Gaps {
            recent_since_ms,
            limit: MAX_GAPS,
            open,
            recent,
        },
        books,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn activity(data_type: &str, symbol: &str, count: u64, received: i64) -> ActivityRow {
        ActivityRow {
            data_type: data_type.into(),
            exchange: "binance".into(),
            market: "spot".into(),
            symbol: symbol.into(),
            events_last_minute: count,
            last_received_ms: received,
            last_exchange_ms: received - 5,
        }
    }

    #[test]
    fn the_activity_query_reads_every_data_table_once_in_either_dialect() {
        let count = tables::data_types().count();
        for dialect in Dialect::ALL {
            let sql = activity_sql(dialect);
            assert_eq!(sql.matches('?').count(), count, "{sql}");
            assert_eq!(sql.matches(" UNION ALL ").count(), count - 1, "{sql}");
            for recorded in tables::data_types() {
                assert_eq!(
                    sql.matches(&format!(" FROM {} ", recorded.table.name))
                        .count(),
                    1,
                    "{sql}"
                );
                assert!(sql.contains(&format!("'{}' AS data_type", recorded.data_type.as_str())));
            }
            assert!(!sql.contains("FROM gaps"), "{sql}");
        }
        assert!(activity_sql(Dialect::Legacy).contains("countIf(received_time >= ?)"));
        assert!(activity_sql(Dialect::Modern)
            .contains("countIf(toUnixTimestamp64Milli(received_time) >= ?)"));
    }

    #[test]
    fn gap_and_book_queries_are_limited_and_take_their_values_bound() {
        for dialect in Dialect::ALL {
            let open = gaps_sql(dialect, GapList::Open);
            assert_eq!(open.matches('?').count(), 1, "{open}");
            assert!(open.ends_with(&format!("LIMIT {MAX_GAPS}")), "{open}");
            assert!(open.contains("FROM gaps FINAL"), "{open}");
            let recent = gaps_sql(dialect, GapList::Recent);
            assert_eq!(recent.matches('?').count(), 2, "{recent}");
            assert!(recent.ends_with(&format!("LIMIT {MAX_GAPS}")), "{recent}");
            let books = books_sql(dialect);
            assert_eq!(books.matches('?').count(), 0, "{books}");
            assert!(books.contains("FROM orderbooks WHERE"), "{books}");
            assert!(
                books.ends_with("LIMIT 1 BY exchange, market, symbol"),
                "{books}"
            );
        }
        assert!(gaps_sql(Dialect::Legacy, GapList::Recent).contains("to_time >= ?"));
        assert!(
            books_sql(Dialect::Legacy).contains("argMax(update_id, (exchange_time, update_id))")
        );
    }

    #[test]
    fn feeds_sum_their_data_types_and_take_the_latest_times() {
        let now = 1_000_000;
        let rows = vec![
            activity("trade", "ETH-USDT", 6, now - 2_500),
            activity("trade", "BTC-USDT", 90, now - 200),
            activity("orderbook", "BTC-USDT", 30, now - 700),
        ];
        let feeds = feeds(rows, now);
        let names: Vec<&str> = feeds.iter().map(|feed| feed.symbol.as_str()).collect();
        assert_eq!(names, ["BTC-USDT", "ETH-USDT"]);
        let btc = &feeds[0];
        assert_eq!(btc.total.events_last_minute, 120);
        assert_eq!(btc.total.events_per_second, 2.0);
        assert_eq!(btc.total.last_received_ms, now - 200);
        assert_eq!(btc.total.last_exchange_ms, now - 205);
        assert_eq!(btc.age_seconds, 0.2);
        assert_eq!(btc.types["orderbook"].events_per_second, 0.5);
        assert_eq!(feeds[1].age_seconds, 2.5);
        assert_eq!(feeds[1].total.events_per_second, 0.1);
    }

    #[test]
    fn the_answer_has_the_documented_shape() {
        let now = 1_795_737_660_000;
        let book = BookRow {
            exchange: "binance".into(),
            market: "spot".into(),
            symbol: "BTC-USDT".into(),
            update_id: 42,
            exchange_ms: now - 1_004,
            received_ms: now - 1_000,
            bid_price: vec!["97000.1".into()],
            bid_size: vec!["0.5".into()],
            ask_price: Vec::new(),
            ask_size: Vec::new(),
        };
        let status = Status {
            now_ms: now,
            rate_window_seconds: 60,
            feeds: feeds(vec![activity("trade", "BTC-USDT", 120, now - 200)], now),
            consumers: vec![ConsumerLag {
                role: "storage",
                durable: "marketprism-storage".into(),
                pending: Some(0),
                awaiting_ack: Some(12),
                error: None,
            }],
            gaps: Gaps {
                recent_since_ms: now - RECENT_GAPS_MS,
                limit: MAX_GAPS,
                open: Vec::new(),
                recent: Vec::new(),
            },
            books: vec![TopOfBook::new(book, now)],
        };
        let trade = json!({
            "events_last_minute": 120, "events_per_second": 2.0,
            "last_received_ms": now - 200, "last_exchange_ms": now - 205,
        });
        assert_eq!(
            serde_json::to_value(&status).expect("serializes"),
            json!({
                "now_ms": now, "rate_window_seconds": 60,
                "feeds": [{
                    "exchange": "binance", "market": "spot", "symbol": "BTC-USDT",
                    "events_last_minute": 120, "events_per_second": 2.0,
                    "last_received_ms": now - 200, "last_exchange_ms": now - 205,
                    "age_seconds": 0.2, "types": {"trade": trade},
                }],
                "consumers": [{
                    "role": "storage", "durable": "marketprism-storage",
                    "pending": 0, "awaiting_ack": 12, "error": null,
                }],
                "gaps": {"recent_since_ms": now - 3_600_000, "limit": 100, "open": [], "recent": []},
                "books": [{
                    "exchange": "binance", "market": "spot", "symbol": "BTC-USDT",
                    "update_id": 42, "exchange_ms": now - 1_004, "received_ms": now - 1_000,
                    "age_seconds": 1.0, "bid": {"price": "97000.1", "size": "0.5"}, "ask": null,
                }],
            })
        );
    }

    #[test]
    fn consumer_names_default_to_storage_and_backfill_and_are_checked() {
        let config = StatusConfig::default();
        assert_eq!(
            config.storage_consumer,
            marketprism_storage::ConsumerConfig::default().durable_name
        );
        assert_eq!(config.backfill_consumer, "marketprism-backfill");
        assert_eq!(config.validate(), Ok(()));
        for bad in ["", "two words", "a.b", "a*", ">"] {
            let config = StatusConfig {
                backfill_consumer: bad.into(),
                ..StatusConfig::default()
            };
            let error = config.validate().expect_err(bad);
            assert!(error.contains("status.backfill_consumer"), "{error}");
        }
    }
}
