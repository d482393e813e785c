//! `cargo xtask bench --e2e`: the whole pipeline (simulator → collector → JetStream →
//! storage → ClickHouse, each its own process, as in production) on local servers.
//!
//! * Baselines on the same servers and messages: raw JetStream and raw ClickHouse inserts.
//! * A rate ladder: per step fresh servers, the simulator trading at the step's rate across
//!   many symbols (with their order books, funding rates and liquidations), until loss or lag
//!   appears. Per step: events/s sustained into ClickHouse, loss, consumer lag, catch-up,
//!   receive → commit latency percentiles (storage's histogram) and CPU/RSS per process.
//! * Memory: collector RSS with 200 books of 1,000 levels, and collector/storage RSS over a
//!   steady run.
//! * Backfill: trades recovered per second from the simulator's history, and the live
//!   capture rate with and without a backfill running (see `backfill.rs`).
//!
//! It runs on the servers a local deployment finds ([`Release::Deployed`]): the current
//! ClickHouse of the tests is an engine behind a test front, not a server to measure.
//!
//! Results go to `target/bench/e2e.md` and `e2e.json`. Nothing here asserts a timing.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use marketprism_storage::{GapRow, StoredRow as _, TradeRow};
use marketprism_testkit::Release;
use serde::Serialize;

use super::baselines::{self, Baseline, System};
use super::metrics::{self, Scrape};
use super::process::{rss_kib, Monitor, Usage};
use crate::pipeline::{Pipeline, Settling, Spec};
use crate::runner::VenueSpec;
use crate::services::{self, Services};

/// Options of `cargo xtask bench --e2e`.
#[derive(Debug, Clone, clap::Args)]
pub struct EndToEnd {
    /// Simulator trade rates to climb, trades per second.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,20000,50000,100000,150000,200000,300000"
    )]
    pub rates: Vec<u32>,
    /// Seconds of generation per step.
    #[arg(long, default_value_t = 15)]
    pub step_seconds: u64,
    /// Symbols the simulator trades and keeps books for.
    #[arg(long, default_value_t = 50)]
    pub symbols: usize,
    /// Seconds of the steady-rate memory run.
    #[arg(long, default_value_t = 600)]
    pub soak_seconds: u64,
    /// Trades per second of the steady-rate run.
    #[arg(long, default_value_t = 5_000)]
    pub soak_rate: u32,
    /// Messages (rows) per baseline.
    #[arg(long, default_value_t = 200_000)]
    pub baseline_items: u64,
    /// Trades per second of the live capture measured with and without a backfill running
    /// (0 skips the comparison).
    #[arg(long, default_value_t = 20_000)]
    pub backfill_rate: u32,
    /// Events one and then two storage workers drain from a pre-filled stream (0 skips the
    /// comparison).
    #[arg(long, default_value_t = 400_000)]
    pub workers_events: u64,
    /// Measure the collector recording `--symbols` instruments found by discovery instead
    /// (see `discovery.rs`).
    #[arg(long)]
    pub discovery: bool,
    /// With `--discovery`: seconds measured once every instrument records.
    #[arg(long, default_value_t = 60)]
    pub discovery_seconds: u64,
    /// Measure the cluster topology against one node of each instead (see `cluster.rs`).
    #[arg(long)]
    pub cluster: bool,
    /// Measure the gateway's replay against clickhouse-client instead (see `gateway.rs`).
    #[arg(long)]
    pub gateway: bool,
    /// With `--gateway`: trades written and replayed.
    #[arg(long, default_value_t = 1_000_000)]
    pub gateway_rows: u64,
    /// With `--gateway`: WebSocket clients of the live fan-out, one run per number.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    pub gateway_clients: Vec<usize>,
    /// With `--gateway`: trades per second the simulator makes during the fan-out.
    #[arg(long, default_value_t = 20_000)]
    pub gateway_rate: u32,
    /// With `--cluster`: simulator trade rates to climb on each topology, trades per second.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,20000,50000,100000,150000"
    )]
    pub cluster_rates: Vec<u64>,
    /// With `--cluster`: trades per second while the stream leader is killed.
    #[arg(long, default_value_t = 10_000)]
    pub cluster_stall_rate: u64,
    /// Keep the logs and configs of every run in this directory.
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
}

/// Events per message of the second JetStream baseline: about what the collector's messages
/// carry at 100,000 events/s.
const BATCHED_BASELINE: usize = 16;

/// Longest wait for the pipeline to drain after the simulator finished.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(90);

/// Once generation ended, stored trades that stop growing for this long are all there will be.
const TRADES_STALLED: Duration = Duration::from_secs(5);

/// A step lags when draining takes longer than this after generation ended.
const LAG_TOLERANCE: Duration = Duration::from_secs(5);

/// One rung of the ladder.
#[derive(Debug, Clone, Serialize)]
struct Step {
    offered_trades_per_second: u32,
    trades_generated: u64,
    trades_stored: u64,
    /// Trades generated and never stored.
    loss: u64,
    /// Gap rows the collector recorded (disconnects, sequence breaks).
    gaps: u64,
    events_committed: u64,
    /// Events per bus message, as storage acked them.
    events_per_message: f64,
    sustained_events_per_second: f64,
    /// The largest count of messages pending for storage's consumer.
    max_consumer_lag: u64,
    /// From the end of generation until every event was committed, seconds.
    catch_up_seconds: f64,
    latency_p50_ms: Option<f64>,
    latency_p95_ms: Option<f64>,
    latency_p99_ms: Option<f64>,
    processes: Vec<Usage>,
}

impl Step {
    /// Loss, or a backlog the pipeline did not drain promptly.
    fn saturated(&self) -> bool {
        self.loss > 0 || self.catch_up_seconds > LAG_TOLERANCE.as_secs_f64()
    }
}

/// Collector memory with many deep books.
#[derive(Debug, Clone, Serialize)]
struct BookMemory {
    symbols: usize,
    levels_per_side: u32,
    symbols_with_books: u64,
    collector_rss_mib: f64,
}

/// Memory over a steady run.
#[derive(Debug, Clone, Serialize)]
struct Soak {
    seconds: u64,
    trades_per_second: u32,
    loss: u64,
    /// (seconds since start, collector RSS MiB, storage RSS MiB), every 10 s.
    samples: Vec<(u64, f64, f64)>,
}

#[derive(Debug, Serialize)]
struct Report {
    machine: String,
    services: String,
    baselines: Vec<Baseline>,
    steps: Vec<Step>,
    book_memory: Option<BookMemory>,
    soak: Option<Soak>,
    backfill: Option<super::backfill::BackfillCost>,
    workers: Option<super::workers::WorkerScaling>,
}

/// Runs the benchmark and writes the report.
pub fn run(args: EndToEnd) -> anyhow::Result<()> {
    let binary = marketprism_testkit::build_marketprism(true)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let scratch = tempfile::Builder::new()
        .prefix("marketprism-bench-")
        .tempdir()?;
    let dir = args
        .keep
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    let report = runtime.block_on(measure(&binary, &args, &dir))?;
    let markdown = markdown(&report);
    let out = marketprism_testkit::target_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("e2e.md"), &markdown)?;
    std::fs::write(out.join("e2e.json"), serde_json::to_string_pretty(&report)?)?;
    println!("{markdown}");
    println!("written to {}", out.join("e2e.md").display());
    Ok(())
}

async fn measure(binary: &Path, args: &EndToEnd, dir: &Path) -> anyhow::Result<Report> {
    let services = services::start(Release::Deployed)?;
    let description = services.description.clone();
    eprintln!("baselines: {} messages/rows each", args.baseline_items);
    let baselines = vec![
        baselines::jetstream(&services, args.baseline_items, 1).await?,
        baselines::jetstream(&services, args.baseline_items, BATCHED_BASELINE).await?,
        baselines::clickhouse(
            binary,
            &services,
            &dir.join("baseline"),
            args.baseline_items,
        )
        .await?,
    ];
    drop(services);

    let mut steps = Vec::new();
    for &rate in &args.rates {
        eprintln!("step: {rate} trades/s for {} s", args.step_seconds);
        let services = services::start(Release::Deployed)?;
        let step = step(
            binary,
            &services,
            args,
            rate,
            &dir.join(format!("step-{rate}")),
        )
        .await?;
        let saturated = step.saturated();
        if saturated {
            eprintln!(
                "loss or lag at {rate} trades/s (lost {}, {} gaps recorded, catch-up {:.1} s): the ladder stops here",
                step.loss, step.gaps, step.catch_up_seconds
            );
        }
        steps.push(step);
        if saturated {
            break;
        }
    }

    eprintln!("memory: 200 books of 1,000 levels");
    let services = services::start(Release::Deployed)?;
    let book_memory = Some(book_memory(binary, &services, &dir.join("books")).await?);
    drop(services);

    let backfill = if args.backfill_rate > 0 {
        eprintln!(
            "backfill: live capture at {} trades/s with and without a backfill",
            args.backfill_rate
        );
        Some(
            super::backfill::measure(binary, args, &dir.join("backfill"), || {
                services::start(Release::Deployed)
            })
            .await?,
        )
    } else {
        None
    };

    let workers = if args.workers_events > 0 {
        eprintln!(
            "storage workers: {} events drained by one, then by two",
            args.workers_events
        );
        Some(
            super::workers::measure(binary, args.workers_events, &dir.join("workers"), || {
                services::start(Release::Deployed)
            })
            .await?,
        )
    } else {
        None
    };

    let soak = if args.soak_seconds > 0 {
        eprintln!(
            "steady run: {} trades/s for {} s",
            args.soak_rate, args.soak_seconds
        );
        let services = services::start(Release::Deployed)?;
        Some(soak(binary, &services, args, &dir.join("soak")).await?)
    } else {
        None
    };
    Ok(Report {
        machine: super::machine(),
        services: description,
        baselines,
        steps,
        book_memory,
        soak,
        backfill,
        workers,
    })
}

/// Simulator symbols `X000USDT`, `X001USDT`, ... with their normalized names.
pub(super) fn symbols(count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|index| (format!("X{index:03}USDT"), format!("X{index:03}-USDT")))
        .collect()
}

/// Trades and books on Binance spot, funding rates and liquidations on USDⓈ-M.
fn venues(symbols: &[(String, String)], books: bool) -> Vec<VenueSpec> {
    let mut spot = VenueSpec::binance_spot(symbols, vec!["trades"]);
    if books {
        spot.channels.push("orderbook");
    }
    let futures = VenueSpec {
        venue: "binance_usdm",
        path: "/fapi",
        channels: vec!["funding_rate", "liquidations"],
        ..spot.clone()
    };
    vec![spot, futures]
}

pub(super) fn spec(name: &str, args: &EndToEnd, rate: u32, seconds: u64) -> Spec {
    let symbols = symbols(args.symbols);
    Spec {
        name: name.into(),
        venues: venues(&symbols, true),
        symbols,
        rate,
        count: Some(u64::from(rate) * seconds),
        seed: 5,
        book_deltas: false,
        book_interval: Duration::ZERO,
        book_levels: marketprism_sim::DEFAULT_LEVELS,
    }
}

fn all_pids(pipeline: &Pipeline, services: &Services) -> Vec<(&'static str, u32)> {
    let mut pids = pipeline.pids();
    pids.extend(services.pids.iter().copied());
    pids
}

/// What the pipeline did while the simulator generated and until it drained.
pub(super) struct Observed {
    pub(super) summary: marketprism_sim::Summary,
    pub(super) interval: Scrape,
    max_lag: u64,
    /// From the first generated trade to the last commit, seconds.
    pub(super) busy_seconds: f64,
    catch_up_seconds: f64,
    processes: Vec<Usage>,
}

/// Samples the pipeline every 250 ms until the simulator is done and every trade it generated
/// is in ClickHouse (or their count stops growing); then stops the collector (which
/// publishes what it holds) and samples until storage has committed everything (or the drain
/// times out). Stopping the collector as soon as generation ends would cut off the trades
/// still on their way through the simulator's socket and count them as lost.
pub(super) async fn observe(
    pipeline: &mut Pipeline,
    services: &Services,
) -> anyhow::Result<Observed> {
    let mut monitor = Monitor::new(&all_pids(pipeline, services));
    let before = metrics::parse(&pipeline.storage_metrics().await?);
    let mut last = before.clone();
    let mut last_change = Instant::now();
    let mut first_trade: Option<Instant> = None;
    let mut generation_done: Option<Instant> = None;
    let mut trades_arriving = Settling::default();
    let mut collector_stopped = false;
    let mut max_lag = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        monitor.sample();
        let summary = pipeline.sim_summary().await?;
        if summary.trades_generated > 0 {
            first_trade.get_or_insert_with(Instant::now);
        }
        let lag = pipeline.consumer_lag().await?;
        max_lag = max_lag.max(lag);
        let scrape = metrics::parse(&pipeline.storage_metrics().await?);
        if scrape.rows != last.rows {
            last_change = Instant::now();
        }
        last = scrape;
        if !summary.done {
            continue;
        }
        let done_at = *generation_done.get_or_insert_with(Instant::now);
        if !collector_stopped {
            // Copies not yet merged count too: cheap, and never below the distinct count.
            let stored = pipeline.count(TradeRow::TABLE, false).await?;
            let arrived = stored >= summary.trades_generated;
            if !arrived
                && !trades_arriving.settled(stored, TRADES_STALLED)
                && done_at.elapsed() < DRAIN_TIMEOUT
            {
                continue;
            }
            // Books and derivatives never stop: end the input with the trades.
            pipeline.stop_collector()?;
            collector_stopped = true;
        }
        let drained = lag == 0 && last_change.elapsed() > Duration::from_secs(2);
        if drained || done_at.elapsed() > DRAIN_TIMEOUT {
            let start = first_trade.unwrap_or(done_at);
            return Ok(Observed {
                summary,
                interval: last.since(&before),
                max_lag,
                busy_seconds: last_change.saturating_duration_since(start).as_secs_f64(),
                catch_up_seconds: last_change.saturating_duration_since(done_at).as_secs_f64(),
                processes: monitor.finish(),
            });
        }
    }
}

fn millis(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|seconds| seconds * 1000.0)
}

async fn step(
    binary: &Path,
    services: &Services,
    args: &EndToEnd,
    rate: u32,
    dir: &Path,
) -> anyhow::Result<Step> {
    let spec = spec(&format!("bench{rate}"), args, rate, args.step_seconds);
    let mut pipeline = Pipeline::start(binary, services, &spec, dir).await?;
    let observed = observe(&mut pipeline, services).await?;
    let stored = pipeline.count(TradeRow::TABLE, true).await?;
    let gaps = pipeline.count(GapRow::TABLE, true).await?;
    pipeline.stop()?;
    let events = observed.interval.rows as u64;
    Ok(Step {
        offered_trades_per_second: rate,
        trades_generated: observed.summary.trades_generated,
        trades_stored: stored,
        loss: observed.summary.trades_generated.saturating_sub(stored),
        gaps,
        events_committed: events,
        events_per_message: observed.interval.rows / observed.interval.messages.max(1.0),
        sustained_events_per_second: events as f64 / observed.busy_seconds.max(f64::EPSILON),
        max_consumer_lag: observed.max_lag,
        catch_up_seconds: observed.catch_up_seconds,
        latency_p50_ms: millis(observed.interval.latency_quantile(0.50)),
        latency_p95_ms: millis(observed.interval.latency_quantile(0.95)),
        latency_p99_ms: millis(observed.interval.latency_quantile(0.99)),
        processes: observed.processes,
    })
}

/// The collector with 200 symbols' books of 1,000 levels per side, once they are synced.
async fn book_memory(binary: &Path, services: &Services, dir: &Path) -> anyhow::Result<BookMemory> {
    const SYMBOLS: usize = 200;
    const LEVELS: u32 = 1_000;
    let symbols = symbols(SYMBOLS);
    let spec = Spec {
        name: "bookmemory".into(),
        venues: vec![VenueSpec::binance_spot(&symbols, vec!["orderbook"])],
        symbols,
        rate: 100,
        count: None,
        seed: 9,
        book_deltas: false,
        book_interval: Duration::from_secs(1),
        book_levels: LEVELS,
    };
    let pipeline = Pipeline::start(binary, services, &spec, dir).await?;
    let started = Instant::now();
    let mut synced = 0;
    while started.elapsed() < Duration::from_secs(180) {
        synced = pipeline
            .clickhouse
            .query("SELECT uniqExact(symbol) FROM orderbooks")
            .fetch_one()
            .await?;
        if synced >= SYMBOLS as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Let a few more updates land on every book before reading.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let collector = pipeline
        .pids()
        .into_iter()
        .find(|(name, _)| *name == "collector")
        .and_then(|(_, pid)| rss_kib(pid))
        .unwrap_or_default();
    pipeline.stop()?;
    Ok(BookMemory {
        symbols: SYMBOLS,
        levels_per_side: LEVELS,
        symbols_with_books: synced,
        collector_rss_mib: collector as f64 / 1024.0,
    })
}

/// Collector and storage RSS every 10 s over a steady run.
async fn soak(
    binary: &Path,
    services: &Services,
    args: &EndToEnd,
    dir: &Path,
) -> anyhow::Result<Soak> {
    let spec = spec("soak", args, args.soak_rate, args.soak_seconds);
    let mut pipeline = Pipeline::start(binary, services, &spec, dir).await?;
    let pids = pipeline.pids();
    let pid = |wanted: &str| {
        pids.iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, pid)| *pid)
    };
    let (collector, storage) = (pid("collector"), pid("storage"));
    let mib = |pid: Option<u32>| pid.and_then(rss_kib).unwrap_or_default() as f64 / 1024.0;
    let started = Instant::now();
    let mut samples = Vec::new();
    loop {
        samples.push((started.elapsed().as_secs(), mib(collector), mib(storage)));
        if pipeline.sim_summary().await?.done {
            break;
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    let observed = observe(&mut pipeline, services).await?;
    let stored = pipeline.count(TradeRow::TABLE, true).await?;
    pipeline.stop()?;
    Ok(Soak {
        seconds: args.soak_seconds,
        trades_per_second: args.soak_rate,
        loss: observed.summary.trades_generated.saturating_sub(stored),
        samples,
    })
}

fn optional_ms(value: Option<f64>) -> String {
    match value {
        Some(ms) if ms.is_infinite() => "> 30 s".into(),
        Some(ms) => format!("{ms:.0}"),
        None => "-".into(),
    }
}

fn markdown(report: &Report) -> String {
    let mut text = format!(
        "Machine: {}\nServers: {}\n\n",
        report.machine, report.services
    );
    text.push_str(
        "| baseline | events | bytes/message | events/s | published and acked, events/s |\n|---|---:|---:|---:|---:|\n",
    );
    for baseline in &report.baselines {
        text.push_str(&format!(
            "| {} | {} | {} | {:.0} | {} |\n",
            baseline.name,
            baseline.items,
            baseline.message_bytes,
            baseline.per_second,
            baseline
                .publish_per_second
                .map_or_else(|| "-".to_owned(), |rate| format!("{rate:.0}")),
        ));
    }
    let rate = |system: System| {
        report
            .baselines
            .iter()
            .find(|baseline| baseline.system == system)
            .map_or(f64::NAN, |baseline| baseline.per_second)
    };
    let single = rate(System::JetStream {
        events_per_message: 1,
    });
    let batched = rate(System::JetStream {
        events_per_message: BATCHED_BASELINE,
    });
    let clickhouse = rate(System::ClickHouse);
    text.push_str(&format!(
        "\n| offered trades/s | events/s into ClickHouse | × JetStream 1/msg | × JetStream {BATCHED_BASELINE}/msg | × ClickHouse | events/message | loss | gaps | max lag (messages) | catch-up s | p50 ms | p95 ms | p99 ms | CPU % (RSS MiB) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    ));
    for step in &report.steps {
        let processes: Vec<String> = step
            .processes
            .iter()
            .map(|usage| {
                format!(
                    "{} {:.0} ({:.0})",
                    usage.name, usage.cpu_percent, usage.rss_max_mib
                )
            })
            .collect();
        text.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {:.1} | {} | {} | {} | {} |\n",
            step.offered_trades_per_second,
            step.sustained_events_per_second,
            step.sustained_events_per_second / single,
            step.sustained_events_per_second / batched,
            step.sustained_events_per_second / clickhouse,
            step.events_per_message,
            step.loss,
            step.gaps,
            step.max_consumer_lag,
            step.catch_up_seconds,
            optional_ms(step.latency_p50_ms),
            optional_ms(step.latency_p95_ms),
            optional_ms(step.latency_p99_ms),
            processes.join(", "),
        ));
    }
    if let Some(memory) = &report.book_memory {
        text.push_str(&format!(
            "\nCollector RSS with {} books of {} levels per side ({} synced): {:.1} MiB\n",
            memory.symbols,
            memory.levels_per_side,
            memory.symbols_with_books,
            memory.collector_rss_mib
        ));
    }
    if let Some(cost) = &report.backfill {
        text.push_str(&format!(
            "\nBackfill: {} trades recovered from the simulator in {:.1} s, {:.0} trades/s. Live capture at {} trades/s offered: {:.0} trades/s stored without a backfill (loss {}, p99 {} ms), {:.0} with one running (loss {}, p99 {} ms): {:.1} % lower\n",
            cost.trades_recovered,
            cost.backfill_seconds,
            cost.recovered_per_second,
            cost.offered_trades_per_second,
            cost.without_backfill.trades_per_second,
            cost.without_backfill.loss,
            optional_ms(cost.without_backfill.latency_p99_ms),
            cost.with_backfill.trades_per_second,
            cost.with_backfill.loss,
            optional_ms(cost.with_backfill.latency_p99_ms),
            cost.live_cost_percent,
        ));
    }
    if let Some(scaling) = &report.workers {
        let rates: Vec<String> = scaling
            .drains
            .iter()
            .map(|drain| {
                format!(
                    "{} worker(s) {:.0} events/s",
                    drain.workers, drain.events_per_second
                )
            })
            .collect();
        text.push_str(&format!(
            "
Storage workers sharing the consumer, draining {} events: {}; two / one = {:.2}\n",
            scaling.events,
            rates.join(", "),
            scaling.ratio,
        ));
    }
    if let Some(soak) = &report.soak {
        let at = |index: usize| soak.samples.get(index).copied();
        let first_minute = soak
            .samples
            .iter()
            .find(|(seconds, ..)| *seconds >= 60)
            .copied();
        let last = soak.samples.last().copied();
        let max = |pick: fn(&(u64, f64, f64)) -> f64| {
            soak.samples.iter().map(pick).fold(0.0_f64, f64::max)
        };
        text.push_str(&format!(
            "\nSteady run, {} trades/s for {} s (loss {}): collector RSS {} MiB at start, {} at 1 min, {} at the end, max {:.1}; storage {} / {} / {}, max {:.1}\n",
            soak.trades_per_second,
            soak.seconds,
            soak.loss,
            at(0).map_or("-".into(), |sample| format!("{:.1}", sample.1)),
            first_minute.map_or("-".into(), |sample| format!("{:.1}", sample.1)),
            last.map_or("-".into(), |sample| format!("{:.1}", sample.1)),
            max(|sample| sample.1),
            at(0).map_or("-".into(), |sample| format!("{:.1}", sample.2)),
            first_minute.map_or("-".into(), |sample| format!("{:.1}", sample.2)),
            last.map_or("-".into(), |sample| format!("{:.1}", sample.2)),
            max(|sample| sample.2),
        ));
    }
    text
}
