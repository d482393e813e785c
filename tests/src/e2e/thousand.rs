//! The `thousand` scenario: 1,000 instruments found by discovery (the simulator's 250
//! generated USDT symbols on OKX and Bybit spot and swaps, see [`crate::discovered`]), trades and books of
//! each, while 20 symbols are delisted, every connection is dropped once, and 20 symbols are
//! listed, in that order. Checked against the simulator:
//!
//! * trades: every trade delivered to a feed's connection stored once, and nothing else; the
//!   listed instruments traded; nothing of a delisted one after its delisting;
//! * books: every instrument's latest stored book, and the books of the listed ones stored
//!   once they recorded (while the simulator's history holds them), equal the simulator's
//!   true book at their update id;
//! * gaps: one disconnect gap, covering the drop, for each instrument subscribed when the
//!   connections dropped (not the delisted ones, not the listed ones), and no other but the
//!   disconnect gaps of a connection the simulator dropped as a slow consumer;
//! * connections: no connection or request refused and every peak within the venue's
//!   limits, with the connections each venue accepted;
//! * `instruments`: every instrument the simulator listed, the delisted ones marked delisted
//!   (OKX and Bybit drop them from their lists) and the listed ones trading.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use marketprism_model::{now_ms, GapReason};
use marketprism_sim::{BookKey, Report};
use marketprism_storage::{GapRow, ListingRow, OrderBookRow, StoredRow as _};

use super::scenarios::{
    book_difference, dead_letters, stopped_cleanly, verify_trades, wait_until_done, CATCH_UP,
};
use super::{Check, Checks};
use crate::discovered::{
    self, configured, delisted, instruments, listed, natives, spans, wait_recording, with_rows,
    Instrument, Symbol, DEPTH, FEEDS, RATE,
};
use crate::pipeline::{poll_until, Pipeline};
use crate::services::Services;

const SCENARIO: &str = "thousand";

/// Generated symbols listed from the start; on four feeds, 1,000 instruments.
const PER_FEED: usize = 250;

/// Trades generated: 80 s at [`RATE`], time for the listing changes and the drop.
const TRADES: u64 = 80 * RATE as u64;

/// Longest wait for each step: the instruments recording, a change taking effect.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Between the delistings showing in `instruments` and the drop: the feeds read their
/// lists every second and unsubscribe right after publishing what changed.
const UNSUBSCRIBED: Duration = Duration::from_secs(3);

/// What the run did when.
struct Timeline {
    /// The delisting time of the delisted symbols, Unix ms.
    delisted_ms: i64,
    /// The listing time of the listed symbols, Unix ms.
    listed_ms: i64,
    /// The books of the listed instruments stored once they recorded, compared while the
    /// simulator's history (1,000 events per book) still holds them.
    listed_books: Compared,
}

/// Stored books compared with the simulator's.
#[derive(Default)]
struct Compared {
    books: usize,
    differing: Vec<String>,
    unknown: Vec<String>,
}

/// Compares each of `rows` with the simulator's true book at its update id.
async fn compare_books(pipeline: &Pipeline, rows: &[OrderBookRow]) -> anyhow::Result<Compared> {
    let mut compared = Compared {
        books: rows.len(),
        ..Compared::default()
    };
    for row in rows {
        let native = row.symbol.replace('-', "");
        // Bybit's update ids are event numbers.
        let key = if row.exchange == "bybit" {
            BookKey::Event
        } else {
            BookKey::UpdateId
        };
        match pipeline
            .true_book(&native, key, row.update_id, DEPTH)
            .await?
        {
            Some(truth) => compared.differing.extend(book_difference(row, &truth)),
            None => compared
                .unknown
                .push(format!("{} {} {}", row.exchange, row.symbol, row.update_id)),
        }
    }
    Ok(compared)
}

/// The symbols of the run.
struct Symbols {
    configured: Vec<Symbol>,
    listed: Vec<Symbol>,
    delisted: Vec<Symbol>,
}

impl Symbols {
    /// The instruments subscribed when the connections dropped: the configured ones not
    /// delisted.
    fn subscribed_at_drop(&self) -> BTreeSet<Instrument> {
        let delisted = instruments(&self.delisted);
        instruments(&self.configured)
            .difference(&delisted)
            .cloned()
            .collect()
    }

    /// Every instrument ever listed.
    fn all(&self) -> BTreeSet<Instrument> {
        let mut all = instruments(&self.configured);
        all.extend(instruments(&self.listed));
        all
    }
}

/// Runs the scenario.
pub async fn run(binary: &Path, services: &Services, dir: &Path) -> anyhow::Result<Checks> {
    let symbols = Symbols {
        configured: configured(PER_FEED),
        listed: listed(),
        delisted: delisted(PER_FEED),
    };
    let spec = discovered::spec(SCENARIO, PER_FEED, Some(TRADES));
    let mut pipeline = Pipeline::start(binary, services, &spec, dir).await?;
    let timeline = drive(&pipeline, &symbols).await?;
    let report = wait_until_done(&pipeline).await?;
    let delivered: u64 = report
        .trades
        .iter()
        .filter(|trade| trade.delivered)
        .map(|trade| trade.venues.len() as u64)
        .sum();
    pipeline.wait_for_trades(delivered, CATCH_UP).await?;
    let collector_clean = pipeline.stop_collector()?;
    for table in [OrderBookRow::TABLE, GapRow::TABLE, ListingRow::TABLE] {
        pipeline.wait_until_settled(table).await?;
    }

    // Books first: the simulator's book history moves on.
    let mut checks = verify_books(&pipeline, &symbols, &timeline.listed_books).await?;
    checks.push(Check::equal(
        SCENARIO,
        "trades generated",
        TRADES,
        report.trades.len() as u64,
    ));
    checks.extend(verify_trades(SCENARIO, &pipeline, &report).await?);
    checks.extend(verify_lifetimes(&pipeline, &symbols, &timeline).await?);
    checks.extend(verify_gaps(&pipeline, &symbols, &report).await?);
    checks.extend(verify_connections(&report));
    checks.extend(verify_instruments(&pipeline, &symbols, &report).await?);
    checks.push(dead_letters(SCENARIO, &pipeline).await?);
    checks.push(Check::clean_stop(SCENARIO, collector_clean));
    checks.push(stopped_cleanly(SCENARIO, pipeline)?);
    Ok(checks)
}

/// Waits for every instrument to record, delists, drops every connection once the
/// delistings took effect, waits for every subscribed instrument to record again, lists,
/// and waits for the listed instruments to record.
async fn drive(pipeline: &Pipeline, symbols: &Symbols) -> anyhow::Result<Timeline> {
    wait_recording(pipeline, &instruments(&symbols.configured), 0, STEP_TIMEOUT).await?;
    let delisted_ms = pipeline
        .change_listings(&[], &natives(&symbols.delisted))
        .await?;
    let delisted = instruments(&symbols.delisted);
    let marked = poll_until(STEP_TIMEOUT, || async {
        let rows: Vec<ListingRow> = pipeline.stored("").await?;
        Ok(rows
            .iter()
            .filter(|row| row.trading == 0 && delisted.contains(&key(row)))
            .count()
            == delisted.len())
    })
    .await?;
    if !marked {
        bail!(
            "the delisted instruments are not marked in `instruments` after {} s; collector log:\n{}",
            STEP_TIMEOUT.as_secs(),
            pipeline.runner().log_tail("collector")
        );
    }
    tokio::time::sleep(UNSUBSCRIBED).await;
    pipeline.drop_connections().await?;
    wait_recording(
        pipeline,
        &symbols.subscribed_at_drop(),
        now_ms(),
        STEP_TIMEOUT,
    )
    .await?;
    let listed_ms = pipeline
        .change_listings(&natives(&symbols.listed), &[])
        .await?;
    wait_recording(
        pipeline,
        &instruments(&symbols.listed),
        listed_ms,
        STEP_TIMEOUT,
    )
    .await?;
    let of_listed: Vec<OrderBookRow> = pipeline
        .clickhouse
        .query("SELECT ?fields FROM orderbooks FINAL WHERE has(?, symbol)")
        .bind(
            symbols
                .listed
                .iter()
                .map(|(_, name)| name.as_str())
                .collect::<Vec<_>>(),
        )
        .fetch_all()
        .await?;
    let listed_books = compare_books(pipeline, &of_listed).await?;
    Ok(Timeline {
        delisted_ms,
        listed_ms,
        listed_books,
    })
}

/// The instrument a listing row names.
fn key(row: &ListingRow) -> Instrument {
    (
        row.exchange.clone(),
        row.market_type.clone(),
        row.symbol.clone(),
    )
}

/// `exchange/market symbol`, for the examples checks quote.
fn named(instrument: &Instrument) -> String {
    format!("{}/{} {}", instrument.0, instrument.1, instrument.2)
}

/// Every instrument ever listed recorded trades; the listed ones traded; nothing of a
/// delisted one (trade or book) is newer than its delisting.
async fn verify_lifetimes(
    pipeline: &Pipeline,
    symbols: &Symbols,
    timeline: &Timeline,
) -> anyhow::Result<Checks> {
    let traded = with_rows(pipeline, "trades", 0).await?;
    let all = symbols.all();
    let untraded: Vec<String> = all.difference(&traded).map(named).collect();
    let listed = instruments(&symbols.listed);
    let listed_traded = listed.intersection(&traded).count();
    let delisted = instruments(&symbols.delisted);
    let mut late = Vec::new();
    for table in ["trades", "orderbooks"] {
        late.extend(
            with_rows(pipeline, table, timeline.delisted_ms)
                .await?
                .intersection(&delisted)
                .map(|instrument| format!("{table}: {}", named(instrument))),
        );
    }
    let early: Vec<String> = spans(pipeline, "trades")
        .await?
        .iter()
        .filter(|(instrument, (first, _))| {
            listed.contains(*instrument) && *first < timeline.listed_ms
        })
        .map(|(instrument, _)| named(instrument))
        .collect();
    Ok(vec![
        Check::holds(
            SCENARIO,
            "every instrument ever listed recorded trades",
            &format!("{} instruments", all.len()),
            format!("{} instruments", all.len() - untraded.len()),
            untraded.is_empty(),
        ),
        Check::equal(
            SCENARIO,
            "instruments listed at run time with trades",
            listed.len(),
            listed_traded,
        ),
        Check::none_of(
            SCENARIO,
            "rows of a listed instrument before its listing",
            "instruments",
            &early,
        ),
        Check::none_of(
            SCENARIO,
            "rows of a delisted instrument after its delisting",
            "instruments",
            &late,
        ),
    ])
}

/// Every instrument's latest stored book, and the books of the instruments listed at run
/// time stored once they recorded, equal the simulator's true book at their update id.
async fn verify_books(
    pipeline: &Pipeline,
    symbols: &Symbols,
    listed_books: &Compared,
) -> anyhow::Result<Checks> {
    let latest: Vec<OrderBookRow> = pipeline
        .clickhouse
        .query(
            "SELECT ?fields FROM orderbooks FINAL \
             ORDER BY exchange, market_type, symbol, update_id DESC \
             LIMIT 1 BY exchange, market_type, symbol",
        )
        .fetch_all()
        .await?;
    let compared = compare_books(pipeline, &latest).await?;
    let all = symbols.all();
    let booked: BTreeSet<Instrument> = latest
        .iter()
        .map(|row| {
            (
                row.exchange.clone(),
                row.market_type.clone(),
                row.symbol.clone(),
            )
        })
        .collect();
    let books = compared.books + listed_books.books;
    let differing: Vec<&String> = compared
        .differing
        .iter()
        .chain(&listed_books.differing)
        .collect();
    let unknown: Vec<String> = compared
        .unknown
        .iter()
        .chain(&listed_books.unknown)
        .cloned()
        .collect();
    Ok(vec![
        Check::holds(
            SCENARIO,
            "books stored for every instrument ever listed",
            &format!("{} instruments", all.len()),
            format!("{} instruments", all.intersection(&booked).count()),
            all.is_subset(&booked) && booked.len() == all.len(),
        ),
        Check::none_of(SCENARIO, "books without a true book", "unknown", &unknown),
        Check::holds(
            SCENARIO,
            "latest book of each instrument, the listed ones' books, equal the sim's",
            &format!("{books} of {books} books equal"),
            format!(
                "{} of {books} books equal ({} of listed instruments){}",
                books - differing.len(),
                listed_books.books,
                differing
                    .first()
                    .map_or_else(String::new, |first| format!(", e.g. {first} differs"))
            ),
            differing.is_empty() && listed_books.books > 0,
        ),
    ])
}

/// One disconnect gap covering the drop for each instrument subscribed when the
/// connections dropped, and no other gap but those of a connection the simulator dropped as a
/// slow consumer (which lost data too: on a loaded machine the collector can fall behind).
async fn verify_gaps(
    pipeline: &Pipeline,
    symbols: &Symbols,
    report: &Report,
) -> anyhow::Result<Checks> {
    let gaps: Vec<GapRow> = pipeline.stored("").await?;
    let subscribed = symbols.subscribed_at_drop();
    let dropped_ms = report.disconnects_ms.first().copied();
    let covers = |gap: &GapRow, at_ms: i64| gap.from_time <= at_ms && at_ms <= gap.to_time;
    let mut of_drop: BTreeMap<Instrument, usize> = BTreeMap::new();
    let mut of_slow = 0;
    let mut unexplained = Vec::new();
    for gap in &gaps {
        let instrument = (
            gap.exchange.clone(),
            gap.market_type.clone(),
            gap.symbol.clone(),
        );
        let disconnect = gap.reason == GapReason::Disconnect.as_str();
        if disconnect
            && subscribed.contains(&instrument)
            && dropped_ms.is_some_and(|at| covers(gap, at))
        {
            *of_drop.entry(instrument).or_default() += 1;
        } else if disconnect
            && report
                .slow_consumers
                .iter()
                .any(|slow| slow.exchange == gap.exchange && covers(gap, slow.at_ms))
        {
            of_slow += 1;
        } else {
            unexplained.push(format!(
                "{} {} {}..{}",
                gap.reason,
                named(&instrument),
                gap.from_time,
                gap.to_time
            ));
        }
    }
    let once = subscribed
        .iter()
        .filter(|instrument| of_drop.get(*instrument) == Some(&1))
        .count();
    Ok(vec![
        Check::equal(
            SCENARIO,
            "disconnects injected",
            1,
            report.disconnects_ms.len(),
        ),
        Check::holds(
            SCENARIO,
            "one disconnect gap covering the drop per instrument subscribed at it",
            &format!("{} instruments, one gap each", subscribed.len()),
            format!(
                "{once} instruments with one gap, {} such gaps",
                of_drop.values().sum::<usize>()
            ),
            once == subscribed.len() && of_drop.len() == subscribed.len(),
        ),
        Check::none_of(
            SCENARIO,
            "other gaps (not of the drop nor of a slow-consumer disconnect)",
            "gaps",
            &unexplained,
        ),
        Check::measured(
            SCENARIO,
            "slow-consumer disconnects (the simulator's) and their gaps",
            format!(
                "{} disconnects, {of_slow} gaps",
                report.slow_consumers.len()
            ),
        ),
    ])
}

/// No refusal, every peak within its limit, and the connections each venue accepted.
fn verify_connections(report: &Report) -> Checks {
    let over: Vec<String> = report
        .ws_usage
        .iter()
        .flat_map(|(venue, usage)| {
            [
                (
                    "connection attempts",
                    usage.peak_connection_attempts,
                    usage.connection_limit,
                ),
                ("streams", usage.peak_streams, usage.streams_limit),
                ("request arguments", usage.peak_args, usage.args_limit),
                ("messages", usage.peak_messages, usage.messages_limit),
            ]
            .into_iter()
            .filter(|(_, peak, limit)| peak > limit)
            .map(move |(what, peak, limit)| format!("{venue}: {peak} {what} > {limit}"))
        })
        .collect();
    let per_venue: Vec<String> = report
        .ws_usage
        .iter()
        .map(|(venue, usage)| {
            format!(
                "{venue} {} (at once {}, streams {}/{})",
                usage.connections,
                usage.peak_open_connections,
                usage.peak_streams,
                usage.streams_limit
            )
        })
        .collect();
    vec![
        Check::within_ws_limits(SCENARIO, report),
        Check::none_of(SCENARIO, "peaks within every venue's limits", "over", &over),
        Check::measured(
            SCENARIO,
            "connections accepted per venue",
            per_venue.join(", "),
        ),
    ]
}

/// `instruments` holds every instrument the simulator listed, and only those: the delisted
/// ones not trading and delisted no earlier than the simulator delisted them (OKX and Bybit
/// drop them from their lists), the others trading and listed no earlier than the simulator
/// listed them.
async fn verify_instruments(
    pipeline: &Pipeline,
    symbols: &Symbols,
    report: &Report,
) -> anyhow::Result<Checks> {
    let rows: Vec<ListingRow> = pipeline.stored("").await?;
    let all = symbols.all();
    let stored: BTreeSet<Instrument> = rows.iter().map(key).collect();
    let delisted = instruments(&symbols.delisted);
    let listed_ms = |row: &ListingRow| {
        report
            .listings
            .get(&row.symbol.replace('-', ""))
            .map(|listing| (listing.listed_ms, listing.delisted_ms))
    };
    let mut wrong = Vec::new();
    for row in &rows {
        let instrument = key(row);
        let Some((listed_ms, delisted_ms)) = listed_ms(row) else {
            continue;
        };
        let right = if delisted.contains(&instrument) {
            row.trading == 0
                && row
                    .delisted_time
                    .zip(delisted_ms)
                    .is_some_and(|(stored, sim)| stored >= sim)
        } else {
            row.trading == 1 && row.delisted_time.is_none() && row.listed_time >= listed_ms
        };
        if !right {
            wrong.push(format!(
                "{}: trading {}, listed {}, delisted {:?}",
                named(&instrument),
                row.trading,
                row.listed_time,
                row.delisted_time
            ));
        }
    }
    let per_feed: Vec<String> = FEEDS
        .iter()
        .map(|feed| {
            let count = rows
                .iter()
                .filter(|row| row.exchange == feed.exchange && row.market_type == feed.market)
                .count();
            format!("{} {count}", feed.label())
        })
        .collect();
    let missing: Vec<String> = all.difference(&stored).map(named).collect();
    let unexpected: Vec<String> = stored.difference(&all).map(named).collect();
    Ok(vec![
        Check::holds(
            SCENARIO,
            "instruments holds every instrument the sim listed",
            &format!("{} instruments", all.len()),
            format!("{} ({})", stored.len(), per_feed.join(", ")),
            missing.is_empty(),
        ),
        Check::none_of(
            SCENARIO,
            "instruments the sim never listed",
            "instruments",
            &unexpected,
        ),
        Check::none_of(
            SCENARIO,
            "delisted ones marked, listed ones trading",
            "wrong",
            &wrong,
        ),
    ])
}
