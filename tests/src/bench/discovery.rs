//! `cargo xtask bench --e2e --discovery --symbols 1000`: the collector recording `--symbols`
//! instruments it finds by discovery (the `thousand` scenario's recording, see
//! [`crate::discovered`]: generated USDT symbols on four feeds, trades and books of each)
//! for `--discovery-seconds` once every instrument records, with 20 symbols listed halfway.
//! It reports the collector's peak RSS, its CPU per 10,000 events/s stored, the connections
//! it opened per venue, and the time from each listing to the new instrument's first stored
//! event on every feed.
//!
//! It runs on the servers a local deployment finds, as the other end-to-end benchmarks do.
//! Results go to `target/bench/discovery.md` and `discovery.json`. Nothing here asserts a
//! timing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use marketprism_model::now_ms;
use marketprism_testkit::Release;
use serde::Serialize;

use super::e2e::EndToEnd;
use super::metrics;
use super::process::{Monitor, Usage};
use crate::discovered::{
    self, configured, instruments, listed, natives, wait_recording, with_rows, Instrument, FEEDS,
    RATE,
};
use crate::pipeline::Pipeline;
use crate::services;

/// Longest wait for every instrument to record at the start.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

/// Longest wait for a listed instrument's first stored event.
const LISTING_TIMEOUT: Duration = Duration::from_secs(60);

/// What the run measured.
#[derive(Debug, Serialize)]
struct DiscoveryCost {
    machine: String,
    services: String,
    instruments: usize,
    feeds: usize,
    trades_per_second: u32,
    seconds: f64,
    /// Rows storage committed over the measured interval.
    events_stored: u64,
    events_per_second: f64,
    /// Collector CPU over the measured interval, percent of one core.
    collector_cpu_percent: f64,
    /// Collector CPU per 10,000 events/s stored, percent of one core.
    cpu_percent_per_10k_events: f64,
    /// The collector's largest RSS over the whole run, startup included, MiB.
    collector_peak_rss_mib: f64,
    /// Connections the simulator accepted per venue (its limits' name).
    connections: BTreeMap<String, u64>,
    /// Per listed symbol, from its listing to a stored event of it on every feed, ms.
    listing_to_stored_ms: Vec<i64>,
}

/// Runs the benchmark and writes the report.
pub fn run(args: &EndToEnd) -> anyhow::Result<()> {
    let binary = marketprism_testkit::build_marketprism(true)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let scratch = tempfile::Builder::new()
        .prefix("marketprism-bench-")
        .tempdir()?;
    let dir = args
        .keep
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    let cost = runtime.block_on(measure(&binary, args, &dir.join("discovery")))?;
    let markdown = markdown(&cost);
    let out = marketprism_testkit::target_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("discovery.md"), &markdown)?;
    std::fs::write(
        out.join("discovery.json"),
        serde_json::to_string_pretty(&cost)?,
    )?;
    println!("{markdown}");
    println!("written to {}", out.join("discovery.md").display());
    Ok(())
}

/// Samples `pids` every 250 ms until `done`: the whole run's usage and the measured
/// interval's, which starts when `measuring` is set.
fn sample(
    pids: Vec<(&'static str, u32)>,
    measuring: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(Vec<Usage>, Vec<Usage>)> {
    tokio::spawn(async move {
        let mut whole = Monitor::new(&pids);
        let mut interval: Option<Monitor> = None;
        while !done.load(Ordering::Relaxed) {
            whole.sample();
            if measuring.load(Ordering::Relaxed) {
                interval.get_or_insert_with(|| Monitor::new(&pids)).sample();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        (
            whole.finish(),
            interval.map(Monitor::finish).unwrap_or_default(),
        )
    })
}

async fn measure(binary: &Path, args: &EndToEnd, dir: &Path) -> anyhow::Result<DiscoveryCost> {
    let services = services::start(Release::Deployed)?;
    let per_feed = args.symbols.div_ceil(FEEDS.len());
    let spec = discovered::spec("discovery", per_feed, None);
    eprintln!(
        "discovery: {} instruments ({per_feed} symbols on {} feeds), {RATE} trades/s, {} s",
        per_feed * FEEDS.len(),
        FEEDS.len(),
        args.discovery_seconds
    );
    let pipeline = Pipeline::start(binary, &services, &spec, dir).await?;
    let pids: Vec<(&'static str, u32)> = pipeline
        .pids()
        .into_iter()
        .filter(|(name, _)| *name == "collector")
        .collect();
    let (measuring, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let sampler = sample(pids, measuring.clone(), done.clone());
    wait_recording(
        &pipeline,
        &instruments(&configured(per_feed)),
        0,
        STARTUP_TIMEOUT,
    )
    .await?;

    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let before = metrics::parse(&pipeline.storage_metrics().await?);
    let seconds = Duration::from_secs(args.discovery_seconds);
    tokio::time::sleep(seconds / 2).await;
    let listing_to_stored_ms = listing_latencies(&pipeline).await?;
    tokio::time::sleep(seconds.saturating_sub(started.elapsed())).await;
    let after = metrics::parse(&pipeline.storage_metrics().await?);
    let elapsed = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (whole, interval) = sampler.await?;
    let report = pipeline.sim_report().await?;
    pipeline.stop()?;

    let events_stored = after.since(&before).rows as u64;
    let events_per_second = events_stored as f64 / elapsed.max(f64::EPSILON);
    let collector_cpu_percent = interval.first().map_or(0.0, |usage| usage.cpu_percent);
    Ok(DiscoveryCost {
        machine: super::machine(),
        services: services.description.clone(),
        instruments: per_feed * FEEDS.len(),
        feeds: FEEDS.len(),
        trades_per_second: RATE,
        seconds: elapsed,
        events_stored,
        events_per_second,
        collector_cpu_percent,
        cpu_percent_per_10k_events: collector_cpu_percent * 10_000.0
            / events_per_second.max(f64::EPSILON),
        collector_peak_rss_mib: whole.first().map_or(0.0, |usage| usage.rss_max_mib),
        connections: report
            .ws_usage
            .iter()
            .map(|(venue, usage)| (venue.clone(), usage.connections))
            .collect(),
        listing_to_stored_ms,
    })
}

/// Lists the 20 symbols and polls until each has a stored event (trade or book) on every
/// feed; per symbol, the time from its listing until then, ms.
async fn listing_latencies(pipeline: &Pipeline) -> anyhow::Result<Vec<i64>> {
    let symbols = listed();
    let listed_ms = pipeline.change_listings(&natives(&symbols), &[]).await?;
    let wanted = instruments(&symbols);
    let mut first_stored: BTreeMap<Instrument, i64> = BTreeMap::new();
    let started = Instant::now();
    while first_stored.len() < wanted.len() && started.elapsed() < LISTING_TIMEOUT {
        let now = now_ms();
        let mut stored: BTreeSet<Instrument> = with_rows(pipeline, "trades", listed_ms).await?;
        stored.extend(with_rows(pipeline, "orderbooks", listed_ms).await?);
        for instrument in stored.intersection(&wanted) {
            first_stored.entry(instrument.clone()).or_insert(now);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::ensure!(
        first_stored.len() == wanted.len(),
        "{} of {} listed instruments stored nothing within {} s",
        wanted.len() - first_stored.len(),
        wanted.len(),
        LISTING_TIMEOUT.as_secs()
    );
    let mut latencies: Vec<i64> = symbols
        .iter()
        .map(|(_, name)| {
            first_stored
                .iter()
                .filter(|((_, _, symbol), _)| symbol == name)
                .map(|(_, at)| at - listed_ms)
                .max()
                .unwrap_or_default()
        })
        .collect();
    latencies.sort_unstable();
    Ok(latencies)
}

fn markdown(cost: &DiscoveryCost) -> String {
    let p50 = cost
        .listing_to_stored_ms
        .get(cost.listing_to_stored_ms.len() / 2)
        .copied()
        .unwrap_or_default();
    let max = cost
        .listing_to_stored_ms
        .last()
        .copied()
        .unwrap_or_default();
    let connections: Vec<String> = cost
        .connections
        .iter()
        .map(|(venue, count)| format!("{venue} {count}"))
        .collect();
    format!(
        "Machine: {}\nServers: {}\n\n\
         | instruments (feeds) | trades/s offered | seconds | events/s stored | collector CPU % | CPU % per 10k events/s | collector peak RSS MiB | connections opened | listing → first stored event p50 / max ms ({} listings) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---|---:|\n\
         | {} ({}) | {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {} | {p50} / {max} |\n",
        cost.machine,
        cost.services,
        cost.listing_to_stored_ms.len(),
        cost.instruments,
        cost.feeds,
        cost.trades_per_second,
        cost.seconds,
        cost.events_per_second,
        cost.collector_cpu_percent,
        cost.cpu_percent_per_10k_events,
        cost.collector_peak_rss_mib,
        connections.join(", "),
    )
}
