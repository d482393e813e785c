//! The `captures` scenario: real exchange captures through the live path (simulator replay
//! → collector → JetStream → storage → ClickHouse), held to what `marketprism replay` makes
//! of the same capture.
//!
//! Every capture in the fixtures of a feed the collector records runs through a pipeline of
//! its own on the scenario's servers: Binance spot and USDⓈ-M, OKX, Deribit, Bybit v5,
//! Coinbase Advanced Trade (`coinbase_spot`) and Coinbase Exchange (`coinbase_exchange`,
//! whose `level2_batch` the simulator serves from the captured `level2`). Skipped, and named
//! in the results: Bybit's 2021 capture (API v2, retired; the collector speaks v5).
//!
//! For each capture:
//! 1. the collector subscribes exactly the streams the capture holds on channels MarketPrism
//!    records: one `[[venues]]` section per captured connection, market and channel set, so
//!    each collector connection receives what one captured connection carried;
//! 2. `marketprism replay --config` of the capture gives the expected events;
//! 3. the simulator replays the capture as fast as possible, held until every collector
//!    connection is subscribed and every Binance USDⓈ-M book's REST snapshot is stored (a
//!    spot snapshot, which has no venue time, publishes nothing before the update that
//!    bridges it; the simulator holds the frames after each snapshot until it is fetched), so
//!    each snapshot is applied before the updates that bridge it, as in the capture;
//! 4. once the replay is over, the collector drained and storage caught up, every table must
//!    hold exactly the expected rows: the same natural keys, every column equal except the
//!    local receive time (and a venue time the receive time stood in for); no gap, no crossed
//!    book, no dead letter.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures::future::BoxFuture;
use marketprism_collector::BooksConfig;
use marketprism_model::Event;
use marketprism_schema::Table;
use marketprism_sim::CapturedConnection;
use marketprism_storage::{
    visit_tables, GapRow, ListingRow, OrderBookRow, StoredRow, TableVisitor,
};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{Check, Checks};
use crate::pipeline::poll_until;
use crate::runner::{Names, Runner, VenueSpec};
use crate::services::Services;

const SCENARIO: &str = "captures";

/// Replay speed: as fast as the simulator can send.
const SPEED: &str = "0";

/// Longest wait for one step of a capture's run (readiness, snapshots, catching up).
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs every capture the collector can record; skips the others.
pub async fn run(binary: &Path, services: &Services, dir: &Path) -> anyhow::Result<Checks> {
    let started = Instant::now();
    let mut checks = Vec::new();
    let mut skipped = Vec::new();
    let mut ran = 0;
    for capture in capture_files()? {
        let name = capture_name(&capture);
        let connections = marketprism_sim::captured_connections(&capture)?;
        let sections = sections(&connections);
        if sections.is_empty() {
            skipped.push(name);
            continue;
        }
        let run = CaptureRun {
            binary,
            services,
            capture: &capture,
            name: &name,
            sections: &sections,
            dir: &dir.join(&name),
        };
        checks.extend(run.run().await?);
        ran += 1;
    }
    let skipped = if skipped.is_empty() {
        "none".to_owned()
    } else {
        skipped.join(", ")
    };
    checks.push(Check::holds(
        SCENARIO,
        "captures run",
        "at least one",
        format!(
            "{ran} in {:.1} s; skipped (no feed the collector records): {skipped}",
            started.elapsed().as_secs_f64(),
        ),
        ran > 0,
    ));
    Ok(checks)
}

/// The capture files, sorted.
fn capture_files() -> anyhow::Result<Vec<PathBuf>> {
    Ok(marketprism_capture::captures("")?
        .into_iter()
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().contains(".jsonl"))
        })
        .collect())
}

/// `binance-spot.20210404T2003Z.jsonl.gz` → `binance-spot.20210404T2003Z`.
fn capture_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.split(".jsonl").next().unwrap_or_default().to_owned()
}

/// One `[[venues]]` section of the collector.
#[derive(Debug, PartialEq, Eq)]
struct Section {
    /// Venue kind, e.g. `okx_swap`.
    venue: &'static str,
    /// Path of the venue on the simulator, before the protocol's own (`/fapi` for USDⓈ-M,
    /// `/ws-feed` for Coinbase Exchange).
    path: &'static str,
    /// Symbols, as the venue names them.
    symbols: Vec<String>,
    channels: BTreeSet<&'static str>,
}

impl Section {
    /// The collector's venue for this section.
    fn venue(&self) -> VenueSpec {
        VenueSpec {
            venue: self.venue,
            path: self.path,
            symbols: self.symbols.clone(),
            channels: self.channels.iter().copied().collect(),
            polls: Vec::new(),
            discover: None,
        }
    }
}

/// A captured stream as the collector subscribes to it.
struct Subscribed {
    venue: &'static str,
    path: &'static str,
    symbol: String,
    channels: &'static [&'static str],
}

/// What the collector subscribes to receive a captured stream; `None` for channels it does
/// not record (Binance `bookTicker` and `kline`, OKX and Deribit tickers, Bybit spot tickers,
/// Coinbase `ticker`, `candles` and heartbeats).
fn subscribed(endpoint: &str, stream: &str) -> Option<Subscribed> {
    let found = |venue, path, symbol: &str, channels| {
        Some(Subscribed {
            venue,
            path,
            symbol: symbol.to_owned(),
            channels,
        })
    };
    match endpoint {
        "/stream" | "/fapi/stream" => {
            let (venue, path) = if endpoint == "/stream" {
                ("binance_spot", "")
            } else {
                ("binance_usdm", "/fapi")
            };
            let (symbol, channel) = stream.split_once('@')?;
            let channels: &[&str] = match channel {
                "trade" => &["trades"],
                "aggTrade" => &["aggregate_trades"],
                "depth@100ms" => &["orderbook"],
                "markPrice@1s" => &["funding_rate"],
                _ => return None,
            };
            found(venue, path, &symbol.to_ascii_uppercase(), channels)
        }
        "/ws/v5/public" => {
            let (channel, instrument) = stream.split_once(':')?;
            let channels: &[&str] = match channel {
                books if books.starts_with("books") => &["orderbook"],
                "trades" => &["trades"],
                "funding-rate" => &["funding_rate"],
                "open-interest" => &["open_interest"],
                _ => return None,
            };
            // OKX serves every market on one endpoint and the instrument id names it; an
            // `okx_spot` section subscribes any other instrument id (futures, options) as
            // written.
            let venue = if instrument.ends_with("-SWAP") {
                "okx_swap"
            } else {
                "okx_spot"
            };
            found(venue, "", instrument, channels)
        }
        "/ws/api/v2" => {
            let mut parts = stream.split('.');
            let (kind, instrument) = (parts.next()?, parts.next()?);
            let channels: &[&str] = match kind {
                "book" => &["orderbook"],
                "trades" => &["trades"],
                "deribit_volatility_index" => {
                    let currency = instrument.split('_').next()?.to_ascii_uppercase();
                    return found("deribit_options", "", &currency, &["volatility_index"]);
                }
                _ => return None,
            };
            let venue = if instrument.ends_with("-PERPETUAL") {
                "deribit_perpetual"
            } else {
                "deribit_options"
            };
            found(venue, "", instrument, channels)
        }
        "/v5/public/spot" | "/v5/public/linear" => {
            let linear = endpoint.ends_with("linear");
            let venue = if linear { "bybit_linear" } else { "bybit_spot" };
            let (topic, symbol) = stream.rsplit_once('.')?;
            let channels: &[&str] = match topic {
                "publicTrade" => &["trades"],
                book if book.starts_with("orderbook.") => &["orderbook"],
                "tickers" if linear => &["funding_rate", "open_interest"],
                "allLiquidation" if linear => &["liquidations"],
                _ => return None,
            };
            found(venue, "", symbol, channels)
        }
        "/" => {
            let (channel, product) = stream.split_once(':')?;
            let channels: &[&str] = match channel {
                "market_trades" => &["trades"],
                "level2" => &["orderbook"],
                _ => return None,
            };
            found("coinbase_spot", "", product, channels)
        }
        // Coinbase Exchange: the collector's `level2_batch` is served the captured `level2`.
        "/ws-feed" => {
            let (channel, product) = stream.split_once(':')?;
            let channels: &[&str] = match channel {
                "matches" => &["trades"],
                "level2" => &["orderbook"],
                _ => return None,
            };
            found("coinbase_exchange", "/ws-feed", product, channels)
        }
        _ => None,
    }
}

/// The collector's sections for a capture: per captured connection, the instruments of one
/// venue captured on the same channels share a section, in the order they first appear.
fn sections(connections: &[CapturedConnection]) -> Vec<Section> {
    let mut sections = Vec::new();
    for connection in connections {
        let mut instruments: Vec<Section> = Vec::new();
        for stream in &connection.streams {
            let Some(wanted) = subscribed(connection.endpoint, stream) else {
                continue;
            };
            let known = instruments.iter_mut().find(|instrument| {
                (instrument.venue, instrument.path) == (wanted.venue, wanted.path)
                    && instrument.symbols == [wanted.symbol.as_str()]
            });
            match known {
                Some(instrument) => instrument.channels.extend(wanted.channels),
                None => instruments.push(Section {
                    venue: wanted.venue,
                    path: wanted.path,
                    symbols: vec![wanted.symbol],
                    channels: wanted.channels.iter().copied().collect(),
                }),
            }
        }
        let first = sections.len();
        for instrument in instruments {
            let shared = sections[first..].iter_mut().find(|section: &&mut Section| {
                (section.venue, section.path, &section.channels)
                    == (instrument.venue, instrument.path, &instrument.channels)
            });
            match shared {
                Some(section) => section.symbols.extend(instrument.symbols),
                None => sections.push(instrument),
            }
        }
    }
    sections
}

/// One capture through its own pipeline.
struct CaptureRun<'a> {
    binary: &'a Path,
    services: &'a Services,
    capture: &'a Path,
    name: &'a str,
    sections: &'a [Section],
    dir: &'a Path,
}

impl CaptureRun<'_> {
    /// Database, stream and consumer names of this capture.
    fn id(&self) -> String {
        self.name
            .chars()
            .map(|character| {
                if character.is_ascii_alphanumeric() {
                    character.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect()
    }

    fn names(&self) -> Names {
        let id = self.id();
        Names::new(
            format!("marketprism_{id}"),
            format!("MARKETPRISM_CAPTURE_{}", id.to_ascii_uppercase()),
            format!("storage-capture-{id}"),
        )
    }

    async fn run(&self) -> anyhow::Result<Checks> {
        let started = Instant::now();
        let runner = Runner::new(self.binary, self.services, self.dir, self.names())?;
        let venues = self
            .sections
            .iter()
            .map(|section| section.venue().config(runner.ports.sim))
            .collect::<anyhow::Result<_>>()?;
        // Every book and every applied message, as `marketprism replay` publishes them.
        let books = BooksConfig {
            deltas: true,
            interval: Duration::ZERO,
            ..BooksConfig::default()
        };
        runner.write_storage_config(&runner.storage_config())?;
        runner.write_collector_config(&runner.collector_config(books, venues))?;
        let expected = self.expected(&runner)?;
        runner.init()?;

        let mut sim = runner.start_sim([
            OsStr::new("--replay"),
            self.capture.as_os_str(),
            OsStr::new("--replay-speed"),
            OsStr::new(SPEED),
            OsStr::new("--replay-hold"),
            // Pings keep the collector's watchdog quiet while the replay is held.
            OsStr::new("--ping-interval"),
            OsStr::new("1"),
        ])?;
        let mut storage = runner.start_storage()?;
        let mut collector = runner.start_collector()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let clickhouse = clickhouse::Client::default()
            .with_url(&self.services.clickhouse_url)
            .with_database(&runner.names.database)
            .with_validation(false);
        let mut checks = Vec::new();
        let snapshot_books = self.snapshot_books();
        let snapshots_stored = poll_until(STEP_TIMEOUT, || async {
            Ok(count(&clickhouse, OrderBookRow::TABLE.name).await? >= snapshot_books)
        })
        .await?;
        if !snapshots_stored {
            checks.push(Check::holds(
                SCENARIO,
                &format!(
                    "{}: REST snapshot books stored before the replay",
                    self.name
                ),
                &format!("{snapshot_books} books"),
                format!(
                    "{} books",
                    count(&clickhouse, OrderBookRow::TABLE.name).await?
                ),
                false,
            ));
        }
        let sim_url = format!("http://127.0.0.1:{}", runner.ports.sim);
        http.post(format!("{sim_url}/control/start"))
            .send()
            .await?
            .error_for_status()?;
        self.wait_for(&runner, "the replay to finish", "sim", || async {
            let summary: marketprism_sim::Summary = http
                .get(format!("{sim_url}/control/summary"))
                .send()
                .await?
                .json()
                .await?;
            Ok(summary.done)
        })
        .await?;
        // Every expected row stored (or the comparison says which are missing); then the
        // collector drains and storage catches up, so that no late row escapes the comparison.
        poll_until(STEP_TIMEOUT, || async {
            for (table, rows) in &expected.tables {
                if count(&clickhouse, table).await? < rows.len() as u64 {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await?;
        let collector_clean = collector.terminate(Duration::from_secs(20))?.success();
        self.wait_for(&runner, "storage to catch up", "storage", || async {
            runner.consumer_lag().await.map(|lag| lag == 0)
        })
        .await?;

        checks.push(compare(self.name, &clickhouse, &expected).await?);
        checks.push(self.health(&runner, &clickhouse).await?);
        let storage_clean = storage.terminate(Duration::from_secs(20))?.success();
        sim.terminate(Duration::from_secs(5))?;
        checks.push(Check::holds(
            SCENARIO,
            &format!("{}: collector and storage stop cleanly", self.name),
            "exit 0 after SIGTERM",
            format!(
                "collector {}, storage {}; run {:.1} s",
                exit_text(collector_clean),
                exit_text(storage_clean),
                started.elapsed().as_secs_f64()
            ),
            collector_clean && storage_clean,
        ));
        runner.delete_streams().await?;
        Ok(checks)
    }

    /// What `marketprism replay` makes of the capture with the collector's settings.
    fn expected(&self, runner: &Runner) -> anyhow::Result<Expected> {
        let log = runner.log("replay");
        let output = Command::new(self.binary)
            .arg("replay")
            .arg(self.capture)
            .arg("--config")
            .arg(runner.collector_config_path())
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .output()
            .context("running marketprism replay")?;
        if !output.status.success() {
            bail!(
                "marketprism replay {} failed ({}); log:\n{}",
                self.capture.display(),
                output.status,
                runner.log_tail("replay")
            );
        }
        let mut expected = Expected::default();
        for line in String::from_utf8(output.stdout)?.lines() {
            let event: Event = serde_json::from_str(line)
                .with_context(|| format!("marketprism replay printed {line:?}"))?;
            let (table, row) = row_of(&event)?;
            expected.add(table, row);
        }
        Ok(expected)
    }

    /// How many books are published from a REST snapshot alone: the Binance USDⓈ-M symbols
    /// subscribed to books (the captures hold a snapshot of each, with its venue time; a spot
    /// book waits for the update that bridges its snapshot, which has none).
    fn snapshot_books(&self) -> u64 {
        let books: BTreeSet<(&str, &str)> = self
            .sections
            .iter()
            .filter(|section| {
                section.venue == "binance_usdm" && section.channels.contains("orderbook")
            })
            .flat_map(|section| {
                section
                    .symbols
                    .iter()
                    .map(move |symbol| (section.venue, symbol.as_str()))
            })
            .collect();
        books.len() as u64
    }

    /// Polls `done` until it holds, failing after [`STEP_TIMEOUT`] with `log`'s tail.
    async fn wait_for<F, Fut>(
        &self,
        runner: &Runner,
        what: &str,
        log: &str,
        done: F,
    ) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        if poll_until(STEP_TIMEOUT, done).await? {
            return Ok(());
        }
        bail!(
            "{}: waited {} s for {what}; {log} log:\n{}",
            self.name,
            STEP_TIMEOUT.as_secs(),
            runner.log_tail(log)
        )
    }

    /// No gap, no crossed book, no dead letter.
    async fn health(
        &self,
        runner: &Runner,
        clickhouse: &clickhouse::Client,
    ) -> anyhow::Result<Check> {
        let gaps = count(clickhouse, GapRow::TABLE.name).await?;
        let crossed: u64 = clickhouse
            .query(
                "SELECT count() FROM orderbooks FINAL WHERE length(bid_prices) > 0 \
                 AND length(ask_prices) > 0 AND bid_prices[1] >= ask_prices[1]",
            )
            .fetch_one()
            .await?;
        let letters = runner.dead_letters().await?;
        Ok(Check::equal(
            SCENARIO,
            &format!("{}: gaps, crossed books, dead letters", self.name),
            "0, 0, 0".to_owned(),
            format!("{gaps}, {crossed}, {letters}"),
        ))
    }
}

fn exit_text(clean: bool) -> &'static str {
    if clean {
        "exit 0"
    } else {
        "non-zero exit"
    }
}

/// The merged row count of the table named `table`.
async fn count(clickhouse: &clickhouse::Client, table: &str) -> anyhow::Result<u64> {
    Ok(clickhouse
        .query(&format!("SELECT count() FROM {table} FINAL"))
        .fetch_one()
        .await?)
}

/// A row as compared: column → the JSON text of its value.
type Fields = BTreeMap<String, String>;

/// A row's natural key: its `ORDER BY` columns' values.
type Key = Vec<String>;

/// The rows `marketprism replay` produced, per table and natural key.
#[derive(Default)]
struct Expected {
    tables: BTreeMap<&'static str, BTreeMap<Key, Fields>>,
    /// Events whose key an earlier event had, with other values: ClickHouse keeps one.
    conflicting: Vec<String>,
}

impl Expected {
    fn add(&mut self, table: &'static Table, row: Fields) {
        let key = key_of(table, &row);
        let rows = self.tables.entry(table.name).or_default();
        match rows.get(&key) {
            Some(earlier) if !same(earlier, &row) => {
                self.conflicting.push(format!("{} {key:?}", table.name))
            }
            Some(_) => {}
            None => {
                rows.insert(key, row);
            }
        }
    }
}

/// The natural key of `row` in `table`.
fn key_of(table: &Table, row: &Fields) -> Key {
    table
        .order_by
        .iter()
        .map(|column| row.get(*column).cloned().unwrap_or_default())
        .collect()
}

/// A row's columns.
fn fields<R: Serialize>(row: &R) -> anyhow::Result<Fields> {
    let text = serde_json::to_string(row)?;
    let raw: BTreeMap<String, Box<RawValue>> = serde_json::from_str(&text)?;
    Ok(raw
        .into_iter()
        .map(|(column, value)| (column, value.get().to_owned()))
        .collect())
}

/// Whether two rows of one event agree: every column equal except the local receive time,
/// and the venue time equal unless each row's receive time stood in for it (the venue sent
/// none, as a Bybit push without `ts` for its tickers).
fn same(expected: &Fields, stored: &Fields) -> bool {
    const RECEIVED: &str = "received_time";
    const VENUE: &str = "exchange_time";
    let stood_in = |row: &Fields| {
        row.get(VENUE)
            .is_some_and(|venue| row.get(RECEIVED) == Some(venue))
    };
    let others = |row: &'_ Fields| {
        row.iter()
            .filter(|(column, _)| *column != RECEIVED && *column != VENUE)
            .map(|(column, value)| (column.clone(), value.clone()))
            .collect::<Vec<_>>()
    };
    others(expected) == others(stored)
        && (expected.get(VENUE) == stored.get(VENUE) || (stood_in(expected) && stood_in(stored)))
}

/// The table and row an event is stored as.
fn row_of(event: &Event) -> anyhow::Result<(&'static Table, Fields)> {
    struct RowOf<'a> {
        event: &'a Event,
        row: Option<anyhow::Result<(&'static Table, Fields)>>,
    }
    impl TableVisitor for RowOf<'_> {
        fn visit<R: StoredRow>(&mut self) {
            if let Some(row) = R::from_event(self.event) {
                self.row = Some(
                    row.map_err(anyhow::Error::from)
                        .and_then(|row| Ok((R::TABLE, fields(&row)?))),
                );
            }
        }
    }
    let mut visitor = RowOf { event, row: None };
    visit_tables(&mut visitor);
    visitor
        .row
        .unwrap_or_else(|| bail!("no table stores {:?} events", event.data_type()))
}

/// Every table with a fetch of its stored rows.
fn stored_tables(
    clickhouse: &clickhouse::Client,
) -> Vec<(&'static Table, BoxFuture<'_, anyhow::Result<Vec<Fields>>>)> {
    struct Fetches<'a> {
        clickhouse: &'a clickhouse::Client,
        tables: Vec<(&'static Table, BoxFuture<'a, anyhow::Result<Vec<Fields>>>)>,
    }
    impl<'a> TableVisitor for Fetches<'a> {
        fn visit<R: StoredRow>(&mut self) {
            let clickhouse = self.clickhouse;
            let fetch = async move {
                let rows: Vec<R> = clickhouse
                    .query(&format!("SELECT ?fields FROM {} FINAL", R::TABLE.name))
                    .fetch_all()
                    .await?;
                rows.iter().map(fields).collect()
            };
            self.tables.push((R::TABLE, Box::pin(fetch)));
        }
    }
    let mut fetches = Fetches {
        clickhouse,
        tables: Vec::new(),
    };
    visit_tables(&mut fetches);
    fetches.tables
}

/// Every table of the schema against the expected rows, by natural key; `instruments` is
/// left out, since replay reads no instrument list.
async fn compare(
    name: &str,
    clickhouse: &clickhouse::Client,
    expected: &Expected,
) -> anyhow::Result<Check> {
    let empty = BTreeMap::new();
    let mut counts = Vec::new();
    let mut problems = expected
        .conflicting
        .iter()
        .map(|key| format!("replay gave two values for {key}"))
        .collect::<Vec<_>>();
    for (schema, rows) in stored_tables(clickhouse) {
        let table = schema.name;
        // Listings come from the venue's instrument list, which replay does not read.
        if table == ListingRow::TABLE.name {
            continue;
        }
        let wanted = expected.tables.get(table).unwrap_or(&empty);
        let mut found: HashMap<Key, Fields> = HashMap::new();
        for row in rows.await? {
            found.insert(key_of(schema, &row), row);
        }
        let missing: Vec<&Key> = wanted
            .keys()
            .filter(|key| !found.contains_key(*key))
            .collect();
        let unexpected: Vec<&Key> = found
            .keys()
            .filter(|key| !wanted.contains_key(*key))
            .collect();
        let differing: Vec<&Key> = wanted
            .iter()
            .filter(|(key, row)| found.get(*key).is_some_and(|stored| !same(row, stored)))
            .map(|(key, _)| key)
            .collect();
        for (what, keys) in [
            ("missing", &missing),
            ("unexpected", &unexpected),
            ("differing", &differing),
        ] {
            if let Some(first) = keys.first() {
                problems.push(format!("{table}: {} {what}, e.g. {first:?}", keys.len()));
            }
        }
        if !wanted.is_empty() || !found.is_empty() {
            counts.push(format!("{table} {}", found.len()));
        }
    }
    let rows: usize = expected.tables.values().map(BTreeMap::len).sum();
    Ok(Check::holds(
        SCENARIO,
        &format!("{name}: ClickHouse holds what replay produces"),
        &format!("{rows} rows, each equal"),
        if problems.is_empty() {
            counts.join(", ")
        } else {
            problems.join("; ")
        },
        problems.is_empty() && rows > 0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_subscribe_what_each_captured_connection_holds() {
        let connection = |label: &str, endpoint, streams: &[&str]| CapturedConnection {
            label: label.to_owned(),
            endpoint,
            streams: streams.iter().map(|stream| (*stream).to_owned()).collect(),
        };
        let okx = [
            "books-l2-tbt:ONT-USDT",
            "trades:ONT-USDT",
            "tickers:ONT-USDT",
            "books-l2-tbt:XMR-USDT-SWAP",
            "trades:XMR-USDT-SWAP",
            "books-l2-tbt:FUN-BTC",
            "books-l2-tbt:BTC-USD-210924-66000-C",
        ];
        let sections = sections(&[
            connection("OKX.ws.1", "/ws/v5/public", &okx),
            connection("OKX.ws.2", "/ws/v5/public", &okx[..2]),
            connection(
                "BINANCE.ws.1",
                "/fapi/stream",
                &[
                    "ksmusdt@depth@100ms",
                    "ksmusdt@bookTicker",
                    "ksmusdt@aggTrade",
                ],
            ),
            connection("BYBIT.ws.3", "/v5/public/spot", &["tickers.BTCUSDT"]),
            connection(
                "COINBASE.ws.2",
                "/",
                &[
                    "level2:BTC-USD",
                    "market_trades:BTC-USD",
                    "heartbeats",
                    "market_trades:ETH-USD",
                ],
            ),
            connection(
                "COINBASE.ws.28",
                "/ws-feed",
                &["level2:SKL-BTC", "matches:SKL-BTC", "ticker:SKL-BTC"],
            ),
        ]);
        let section = |venue, path, symbols: &[&str], channels: &[&'static str]| Section {
            venue,
            path,
            symbols: symbols.iter().map(|symbol| (*symbol).to_owned()).collect(),
            channels: channels.iter().copied().collect(),
        };
        assert_eq!(
            sections,
            [
                section("okx_spot", "", &["ONT-USDT"], &["orderbook", "trades"]),
                section("okx_swap", "", &["XMR-USDT-SWAP"], &["orderbook", "trades"]),
                section(
                    "okx_spot",
                    "",
                    &["FUN-BTC", "BTC-USD-210924-66000-C"],
                    &["orderbook"]
                ),
                section("okx_spot", "", &["ONT-USDT"], &["orderbook", "trades"]),
                section(
                    "binance_usdm",
                    "/fapi",
                    &["KSMUSDT"],
                    &["aggregate_trades", "orderbook"]
                ),
                section("coinbase_spot", "", &["BTC-USD"], &["orderbook", "trades"]),
                section("coinbase_spot", "", &["ETH-USD"], &["trades"]),
                section(
                    "coinbase_exchange",
                    "/ws-feed",
                    &["SKL-BTC"],
                    &["orderbook", "trades"]
                ),
            ]
        );
    }

    #[test]
    fn compared_rows_leave_out_local_receive_times() {
        let row = |exchange_time: i64, received_time: i64| {
            fields(&GapRow {
                exchange: "binance".into(),
                market_type: "spot".into(),
                symbol: "BTC-USDT".into(),
                reason: "disconnect".into(),
                from_time: 1,
                to_time: 2,
                received_time,
                first_missing_id: None,
                last_missing_id: None,
                status: "open".into(),
                recovered: None,
                unrecovered: None,
                status_detail: String::new(),
                collector: String::new(),
            })
            .map(|mut fields| {
                fields.insert("exchange_time".into(), exchange_time.to_string());
                fields
            })
            .expect("fields")
        };
        assert!(same(&row(1, 5), &row(1, 9)), "receive times differ");
        assert!(!same(&row(1, 5), &row(3, 5)), "venue times differ");
        assert!(same(&row(5, 5), &row(9, 9)), "each receive time stood in");
        assert!(
            same(&row(5, 5), &row(5, 9)),
            "a venue time equal to a receive time by chance"
        );
        assert!(!same(&row(5, 5), &row(7, 9)));
        let book = fields(&OrderBookRow {
            exchange: "binance".into(),
            market_type: "spot".into(),
            symbol: "BTC-USDT".into(),
            update_id: 7,
            exchange_time: 5,
            received_time: 5,
            bid_prices: vec![58_001_030_000_000_000_000_000],
            bid_quantities: vec![1],
            ask_prices: vec![],
            ask_quantities: vec![],
        })
        .expect("fields");
        assert_eq!(book["bid_prices"], "[58001030000000000000000]", "exact");
        assert_eq!(
            key_of(OrderBookRow::TABLE, &book),
            ["\"binance\"", "\"spot\"", "\"BTC-USDT\"", "7"]
        );
    }
}
