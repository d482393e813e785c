//! The `zero-gap` scenario: every venue with trades, under load, through every fault the
//! recorder must survive, with the backfill filling what the faults cost from the venues'
//! REST history.
//!
//! Faults, in order: three stale depth snapshots in a row and then every connection dropped;
//! a SIGKILL of the collector and a restart; a SIGTERM and a restart; the backfill stopped
//! while every connection drops, until Bybit's history (its latest 1,000 trades per symbol)
//! no longer reaches back to the gap; every service stopped and nats-server restarted, as
//! `marketprism down` and `up` do; a 60 s stop (SIGSTOP) of nats-server.
//!
//! Checks: `trades FINAL` holds every trade the simulator generated, including those sent
//! while no connection was open, on every feed whose venue keeps the history; every trade
//! still missing (Bybit's) lies inside a gap recorded `partial` or `unfillable`; every trade
//! gap was decided and its counts add up; the stale break cost one snapshot request per stale
//! snapshot plus the one that bridged, spaced as the backoff allows; no REST request went
//! beyond a venue's limits. Per feed it reports the trades the faults cost the live capture
//! and the trades the backfill recovered.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use marketprism_model::{now_ms, GapReason};
use marketprism_sim::{Report, SimTrade};
use marketprism_storage::{GapRow, StoredRow as _, TradeRow};
use serde::Deserialize;

use super::scenarios::{dead_letters, difference, normalized, stopped_cleanly, wait_until_done};
use super::{Check, Checks};
use crate::pipeline::{Pipeline, Spec};
use crate::runner::{named, VenueSpec};
use crate::services::Services;

const SCENARIO: &str = "zero-gap";

/// Trades per second over both symbols.
const RATE: u32 = 300;

/// Trades generated: about two minutes at [`RATE`], longer than the faults take.
const TRADES: u64 = 36_000;

/// Stale snapshots in a row before the book syncs again.
const STALE: u32 = 3;

/// How long nats-server is stopped.
const NATS_STOP: Duration = Duration::from_secs(60);

/// Trades per symbol Bybit's recent-trade history holds.
const BYBIT_HISTORY: u64 = 1_000;

/// Longest wait for the backfill to decide every trade gap after the simulator finished.
const BACKFILL_TIMEOUT: Duration = Duration::from_secs(300);

/// The collector's first delay before another depth snapshot (its default).
const SNAPSHOT_RETRY_INITIAL: Duration = Duration::from_millis(500);

/// Every venue that records trades, with Binance spot's books for the stale snapshots.
fn venues() -> Vec<VenueSpec> {
    let symbols = vec!["BTC-USDT".to_owned(), "ETH-USDT".to_owned()];
    let venue = |venue, path, channels| VenueSpec {
        venue,
        path,
        symbols: symbols.clone(),
        channels,
        polls: Vec::new(),
        discover: None,
    };
    vec![
        venue("binance_spot", "", vec!["trades", "orderbook"]),
        venue("binance_usdm", "/fapi", vec!["aggregate_trades"]),
        venue("okx_spot", "", vec!["trades"]),
        venue("okx_swap", "", vec!["trades"]),
        venue("deribit_perpetual", "", vec!["trades"]),
        venue("bybit_spot", "", vec!["trades"]),
        venue("bybit_linear", "", vec!["trades"]),
    ]
}

/// The trade feeds as the simulator labels them; all but Bybit's keep their whole history.
const FEEDS: [(&str, bool); 7] = [
    ("binance/spot", true),
    ("binance/perpetual/aggregate", true),
    ("okx/spot", true),
    ("okx/perpetual", true),
    ("deribit/perpetual", true),
    ("bybit/spot", false),
    ("bybit/perpetual", false),
];

/// The feed label of a stored trade.
fn feed_of(exchange: &str, market_type: &str, aggregated: u8) -> String {
    let aggregate = if aggregated == 1 { "/aggregate" } else { "" };
    format!("{exchange}/{market_type}{aggregate}")
}

/// When each fault happened, for the checks.
#[derive(Debug, Default)]
struct Timeline {
    /// From the drop that followed the stale snapshots to the next fault, Unix ms.
    stale_break: (i64, i64),
    /// Trades generated when nats-server was resumed.
    generated_at_nats_resume: u64,
    /// Whether each SIGTERM of a service ended with exit 0.
    clean_stops: Vec<(&'static str, bool)>,
}

/// Runs the scenario.
pub async fn run(binary: &Path, services: &mut Services, dir: &Path) -> anyhow::Result<Checks> {
    let spec = Spec {
        name: "zerogap".into(),
        symbols: vec![
            ("BTCUSDT".into(), "BTC-USDT".into()),
            ("ETHUSDT".into(), "ETH-USDT".into()),
        ],
        rate: RATE,
        count: Some(TRADES),
        seed: 23,
        venues: venues(),
        book_deltas: false,
        book_interval: Duration::ZERO,
        book_levels: marketprism_sim::DEFAULT_LEVELS,
    };
    let mut pipeline = Pipeline::start(binary, services, &spec, dir).await?;
    pipeline.start_backfill()?;
    let timeline = inject_faults(&mut pipeline, services).await?;

    let report = wait_until_done(&pipeline).await?;
    wait_until_decided(&pipeline).await?;
    pipeline.wait_until_settled(TradeRow::TABLE).await?;

    let mut checks = vec![
        Check::equal(
            SCENARIO,
            "trades generated",
            TRADES,
            report.trades.len() as u64,
        ),
        Check::holds(
            SCENARIO,
            "trades sent while no connection was open (faults really injected)",
            "> 0",
            format!(
                "{}",
                report
                    .trades
                    .iter()
                    .filter(|trade| !trade.delivered)
                    .count()
            ),
            report.trades.iter().any(|trade| !trade.delivered),
        ),
        Check::holds(
            SCENARIO,
            "load went on after nats-server resumed",
            &format!("< {TRADES} generated at resume"),
            format!("{} generated at resume", timeline.generated_at_nats_resume),
            timeline.generated_at_nats_resume < TRADES,
        ),
    ];
    for (service, clean) in &timeline.clean_stops {
        checks.push(Check::holds(
            SCENARIO,
            &format!("{service} stops cleanly on SIGTERM"),
            "exit 0",
            if *clean { "exit 0" } else { "non-zero exit" }.into(),
            *clean,
        ));
    }
    let gaps: Vec<GapRow> = pipeline.stored("").await?;
    checks.extend(verify_trades(&pipeline, &report, &gaps).await?);
    checks.extend(verify_gaps(&gaps)?);
    checks.extend(verify_requests(&report, timeline.stale_break));
    checks.push(dead_letters(SCENARIO, &pipeline).await?);
    checks.push(stopped_cleanly(SCENARIO, pipeline)?);
    Ok(checks)
}

/// Injects the faults in order while the simulator generates trades.
async fn inject_faults(
    pipeline: &mut Pipeline,
    services: &mut Services,
) -> anyhow::Result<Timeline> {
    let mut timeline = Timeline::default();
    let seconds = |seconds: u64| u64::from(RATE) * seconds;
    let mut generated = generated_after(pipeline, seconds(3)).await?;

    // Three stale snapshots in a row: the drop makes the book sync again, and only the
    // fourth snapshot bridges the stream.
    pipeline.stale_snapshots("BTCUSDT", STALE as usize).await?;
    let dropped = now_ms();
    pipeline.drop_connections().await?;
    generated = generated_after(pipeline, generated + seconds(6)).await?;
    timeline.stale_break = (dropped, now_ms());

    pipeline.kill_collector()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    pipeline.restart_collector()?;
    generated = generated_after(pipeline, generated + seconds(3)).await?;

    let clean = pipeline.stop_collector()?;
    timeline.clean_stops.push(("collector", clean));
    tokio::time::sleep(Duration::from_secs(1)).await;
    pipeline.restart_collector()?;
    generated = generated_after(pipeline, generated + seconds(3)).await?;

    // With the backfill stopped, Bybit's history moves past the gaps of this drop: each
    // symbol gets half the trades, and well over its history's worth follow the drop.
    let clean = pipeline.stop_backfill()?;
    timeline.clean_stops.push(("backfill", clean));
    pipeline.drop_connections().await?;
    generated = generated_after(pipeline, generated + 2 * (BYBIT_HISTORY + 500)).await?;
    pipeline.start_backfill()?;

    // `marketprism down`, then `up`: every service stops, and so does nats-server.
    let clean = pipeline.stop_collector()?;
    timeline.clean_stops.push(("collector", clean));
    let clean = pipeline.stop_backfill()?;
    timeline.clean_stops.push(("backfill", clean));
    let clean = pipeline.stop_storage()?;
    timeline.clean_stops.push(("storage", clean));
    services.nats_server().restart()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    pipeline.restart_storage()?;
    pipeline.restart_collector()?;
    pipeline.start_backfill()?;
    generated_after(pipeline, generated + seconds(3)).await?;

    // nats-server answers nothing for a minute; the collector spools.
    services.nats_server().pause()?;
    tokio::time::sleep(NATS_STOP).await;
    services.nats_server().resume()?;
    timeline.generated_at_nats_resume = pipeline.sim_summary().await?.trades_generated;
    Ok(timeline)
}

/// Waits until the simulator generated at least `trades`; returns how many it has.
async fn generated_after(pipeline: &Pipeline, trades: u64) -> anyhow::Result<u64> {
    loop {
        let summary = pipeline.sim_summary().await?;
        if summary.trades_generated >= trades || summary.done {
            return Ok(summary.trades_generated);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a stored gap concerns trades (so the backfill must decide it).
fn is_trade_gap(gap: &GapRow) -> anyhow::Result<bool> {
    Ok(!named::<GapReason>(&gap.reason)?.is_book_only())
}

/// Waits until no trade gap is open: the backfill decided each.
async fn wait_until_decided(pipeline: &Pipeline) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let gaps: Vec<GapRow> = pipeline.stored("").await?;
        let mut open = 0;
        for gap in &gaps {
            if is_trade_gap(gap)? && gap.status == "open" {
                open += 1;
            }
        }
        if open == 0 {
            return Ok(());
        }
        if started.elapsed() > BACKFILL_TIMEOUT {
            bail!(
                "{open} trade gaps still open {} s after the simulator finished",
                BACKFILL_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Per feed, trades received live and trades only the backfill stored.
#[derive(Debug, clickhouse::Row, Deserialize)]
struct FeedSources {
    exchange: String,
    market_type: String,
    aggregated: u8,
    live: u64,
    recovered: u64,
}

/// Every generated trade is stored on every feed with history; every trade missing
/// elsewhere lies in a gap that says it could not be filled.
async fn verify_trades(
    pipeline: &Pipeline,
    report: &Report,
    gaps: &[GapRow],
) -> anyhow::Result<Checks> {
    let rows: Vec<TradeRow> = pipeline.stored("").await?;
    let generated: HashMap<(String, u64), &SimTrade> = report
        .trades
        .iter()
        .map(|trade| ((normalized(&trade.symbol), trade.trade_id), trade))
        .collect();
    let mut stored: HashMap<String, HashSet<(String, u64)>> = HashMap::new();
    let mut never_generated = 0;
    let mut differing = Vec::new();
    for row in &rows {
        let key = (row.symbol.clone(), row.trade_id.parse().unwrap_or(u64::MAX));
        match generated.get(&key) {
            None => never_generated += 1,
            Some(trade) => {
                if let Some(difference) = difference(row, trade) {
                    differing.push(difference);
                }
                stored
                    .entry(feed_of(&row.exchange, &row.market_type, row.aggregated))
                    .or_default()
                    .insert(key);
            }
        }
    }
    let sources: Vec<FeedSources> = pipeline
        .clickhouse
        .query(
            "SELECT exchange, market_type, aggregated, \
                 countIf(has(sources, 'ws')) AS live, \
                 countIf(NOT has(sources, 'ws')) AS recovered \
             FROM (SELECT exchange, market_type, aggregated, symbol, trade_id, \
                       groupUniqArray(source) AS sources \
                   FROM trades GROUP BY exchange, market_type, aggregated, symbol, trade_id) \
             GROUP BY exchange, market_type, aggregated",
        )
        .fetch_all()
        .await?;
    let sources: BTreeMap<String, &FeedSources> = sources
        .iter()
        .map(|feed| {
            (
                feed_of(&feed.exchange, &feed.market_type, feed.aggregated),
                feed,
            )
        })
        .collect();

    let mut checks = Vec::new();
    let empty = HashSet::new();
    for (feed, keeps_history) in FEEDS {
        let stored = stored.get(feed).unwrap_or(&empty);
        // A feed records from its first subscription: trades the simulator generated while
        // another venue's connection was already open but this one's not yet are before
        // its start, not lost.
        let mut first_stored: HashMap<&str, u64> = HashMap::new();
        for (symbol, id) in stored {
            let first = first_stored.entry(symbol.as_str()).or_insert(*id);
            *first = (*first).min(*id);
        }
        let missing: Vec<&SimTrade> = report
            .trades
            .iter()
            .filter(|trade| {
                let symbol = normalized(&trade.symbol);
                first_stored
                    .get(symbol.as_str())
                    .is_none_or(|first| trade.trade_id >= *first)
                    && !stored.contains(&(symbol, trade.trade_id))
            })
            .collect();
        let (live, recovered) = sources
            .get(feed)
            .map_or((0, 0), |feed| (feed.live, feed.recovered));
        checks.push(Check::measured(
            SCENARIO,
            &format!("{feed}: lost live / recovered / missing"),
            format!(
                "{} / {recovered} / {}",
                TRADES.saturating_sub(live),
                missing.len()
            ),
        ));
        if keeps_history {
            checks.push(Check::holds(
                SCENARIO,
                &format!("{feed}: generated trades missing"),
                "0",
                missing.first().map_or_else(
                    || "0".to_owned(),
                    |first| {
                        format!(
                            "{}, e.g. {} {} at {} ms",
                            missing.len(),
                            first.symbol,
                            first.trade_id,
                            first.trade_time_ms
                        )
                    },
                ),
                missing.is_empty(),
            ));
        } else {
            let (exchange, market_type) = feed.split_once('/').unwrap_or((feed, ""));
            let unexplained: Vec<&&SimTrade> = missing
                .iter()
                .filter(|trade| {
                    let symbol = normalized(&trade.symbol);
                    !gaps.iter().any(|gap| {
                        gap.exchange == exchange
                            && gap.market_type == market_type
                            && gap.symbol == symbol
                            && matches!(gap.status.as_str(), "partial" | "unfillable")
                            && gap.from_time <= trade.trade_time_ms
                            && trade.trade_time_ms <= gap.to_time
                    })
                })
                .collect();
            checks.push(Check::holds(
                SCENARIO,
                &format!("{feed}: missing trades outside a partial or unfillable gap"),
                "0",
                unexplained.first().map_or_else(
                    || "0".to_owned(),
                    |first| {
                        format!(
                            "{}, e.g. {} {} at {} ms",
                            unexplained.len(),
                            first.symbol,
                            first.trade_id,
                            first.trade_time_ms
                        )
                    },
                ),
                unexplained.is_empty(),
            ));
            let short = gaps
                .iter()
                .filter(|gap| {
                    gap.exchange == exchange
                        && gap.market_type == market_type
                        && matches!(gap.status.as_str(), "partial" | "unfillable")
                })
                .count();
            checks.push(Check::holds(
                SCENARIO,
                &format!("{feed}: gaps the short history could not fill"),
                "> 0",
                short.to_string(),
                short > 0,
            ));
        }
    }
    checks.push(Check::equal(
        SCENARIO,
        "rows never generated",
        0,
        never_generated,
    ));
    checks.push(Check::none_of(
        SCENARIO,
        "field values identical to the sim, live or recovered",
        "differing",
        &differing,
    ));
    Ok(checks)
}

/// Every trade gap was decided, with counts that add up.
fn verify_gaps(gaps: &[GapRow]) -> anyhow::Result<Checks> {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    let mut undecided = 0;
    let mut inconsistent = Vec::new();
    for gap in gaps {
        if !is_trade_gap(gap)? {
            continue;
        }
        *by_status.entry(gap.status.as_str()).or_default() += 1;
        if !matches!(gap.status.as_str(), "filled" | "partial" | "unfillable") {
            undecided += 1;
        }
        let adds_up = match (gap.first_missing_id, gap.last_missing_id) {
            // An id gap wants every id of its range.
            (Some(first), Some(last)) => {
                gap.recovered.unwrap_or_default() + gap.unrecovered.unwrap_or_default()
                    == last - first + 1
            }
            // A window is filled only when nothing is left unrecovered.
            _ => gap.status != "filled" || gap.unrecovered == Some(0),
        };
        let explained = gap.status == "filled" || !gap.status_detail.is_empty();
        if !adds_up || !explained {
            inconsistent.push(format!(
                "{} {} {} {} {}: recovered {:?}, unrecovered {:?}, detail {:?}",
                gap.exchange,
                gap.market_type,
                gap.symbol,
                gap.reason,
                gap.status,
                gap.recovered,
                gap.unrecovered,
                gap.status_detail
            ));
        }
    }
    let restarts = gaps
        .iter()
        .filter(|gap| gap.reason == GapReason::Restart.as_str())
        .count();
    Ok(vec![
        Check::measured(
            SCENARIO,
            "trade gaps by status",
            by_status
                .iter()
                .map(|(status, count)| format!("{status} {count}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Check::holds(
            SCENARIO,
            "restart gaps recorded (three restarts, every feed)",
            "> 0",
            restarts.to_string(),
            restarts > 0,
        ),
        Check::equal(SCENARIO, "trade gaps left undecided", 0, undecided),
        Check::none_of(
            SCENARIO,
            "decided gaps whose counts and detail explain them",
            "unexplained",
            &inconsistent,
        ),
    ])
}

/// The stale break's snapshot requests stay within the backoff's bound, and no venue was
/// asked beyond its limits.
fn verify_requests(report: &Report, (from_ms, to_ms): (i64, i64)) -> Checks {
    let times: Vec<i64> = report
        .rest_requests
        .iter()
        .filter(|request| {
            request.path.starts_with("/api/v3/depth?symbol=BTCUSDT&")
                && (from_ms..=to_ms).contains(&request.at_ms)
        })
        .map(|request| request.at_ms)
        .collect();
    // The n-th retry waits at least half of the initial delay doubled n - 1 times.
    let too_soon = times
        .windows(2)
        .enumerate()
        .filter(|(retry, pair)| {
            let floor = SNAPSHOT_RETRY_INITIAL.as_millis() as i64 * (1 << retry) / 2;
            pair[1] - pair[0] < floor
        })
        .count();
    let spacing: Vec<String> = times
        .windows(2)
        .map(|pair| format!("{} ms", pair[1] - pair[0]))
        .collect();
    let over_limits: Vec<String> = report
        .rest_usage
        .iter()
        .filter(|(_, usage)| {
            usage.answered_429 > 0
                || usage.answered_418 > 0
                || usage.answered_403 > 0
                || usage.peak_window_weight > usage.limit
        })
        .map(|(venue, usage)| format!("{venue}: {usage:?}"))
        .collect();
    vec![
        Check::equal(
            SCENARIO,
            "snapshot requests in the stale break",
            u64::from(STALE) + 1,
            times.len() as u64,
        ),
        Check::holds(
            SCENARIO,
            "snapshot retries spaced by the backoff",
            "each at least half its ceiling",
            spacing.join(", "),
            too_soon == 0,
        ),
        Check::holds(
            SCENARIO,
            "REST requests within every venue's limits",
            "no 429, 418 or 403, peak <= limit",
            if over_limits.is_empty() {
                format!("{} venues within", report.rest_usage.len())
            } else {
                over_limits.join("; ")
            },
            over_limits.is_empty(),
        ),
    ]
}
