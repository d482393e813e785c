//! The backfill's part of `cargo xtask bench --e2e`: how fast it recovers trades from the
//! simulator's history, and what it costs the live capture running beside it.
//!
//! Two runs at the same offered rate, each on fresh servers. Both wait until a third of the
//! run's trades were generated, then observe the pipeline to the end. In the second, the
//! backfill runs, and at that moment one `trade_id_gap` per symbol names every trade
//! generated so far: the backfill pages them all from the simulator and republishes them
//! (duplicates of stored rows, so `trades FINAL` counts only live trades) while the live
//! capture goes on. The backfill rate is the trades recovered over the time from publishing
//! the gaps to the last gap's status; the live rate is the trades stored per second while the
//! pipeline was busy after that moment.

use std::path::Path;
use std::time::{Duration, Instant};

use marketprism_model::{Event, Exchange, Gap, GapReason, GapState, IdRange, MarketType};
use marketprism_storage::{StoredRow as _, TradeRow};
use serde::Serialize;

use super::e2e::{observe, spec, EndToEnd};
use crate::pipeline::Pipeline;
use crate::services::Services;

/// The simulator's first trade id of every symbol.
const FIRST_TRADE_ID: u64 = 1_000_000;

/// Longest wait for the backfill to decide every gap.
const BACKFILL_TIMEOUT: Duration = Duration::from_secs(300);

/// The live capture of one run.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Live {
    /// Trades stored per second while the pipeline was busy after the observed start.
    pub(super) trades_per_second: f64,
    /// Trades generated and never stored.
    pub(super) loss: u64,
    /// Receive → commit latency, 99th percentile.
    pub(super) latency_p99_ms: Option<f64>,
}

/// Backfill rate and live capture with and without it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct BackfillCost {
    pub(super) offered_trades_per_second: u32,
    pub(super) without_backfill: Live,
    pub(super) with_backfill: Live,
    /// Trades the backfill recovered and published.
    pub(super) trades_recovered: u64,
    /// From publishing the gaps to the last gap's status, seconds.
    pub(super) backfill_seconds: f64,
    /// Trades recovered per second.
    pub(super) recovered_per_second: f64,
    /// How much lower the live rate was with the backfill, percent.
    pub(super) live_cost_percent: f64,
}

/// Runs both runs at `args.backfill_rate`, each on servers from `start_services`.
pub(super) async fn measure(
    binary: &Path,
    args: &EndToEnd,
    dir: &Path,
    start_services: impl Fn() -> anyhow::Result<Services>,
) -> anyhow::Result<BackfillCost> {
    let rate = args.backfill_rate;
    let services = start_services()?;
    let (without_backfill, _) = run(binary, &services, args, &dir.join("without"), false).await?;
    drop(services);
    let services = start_services()?;
    let (with_backfill, recovery) = run(binary, &services, args, &dir.join("with"), true).await?;
    let (trades_recovered, backfill_seconds) = recovery.unwrap_or_default();
    let live_cost_percent = 100.0
        * (without_backfill.trades_per_second - with_backfill.trades_per_second)
        / without_backfill.trades_per_second.max(f64::EPSILON);
    Ok(BackfillCost {
        offered_trades_per_second: rate,
        without_backfill,
        with_backfill,
        trades_recovered,
        backfill_seconds,
        recovered_per_second: trades_recovered as f64 / backfill_seconds.max(f64::EPSILON),
        live_cost_percent,
    })
}

/// One run; with `backfill`, also the trades it recovered and how long that took.
async fn run(
    binary: &Path,
    services: &Services,
    args: &EndToEnd,
    dir: &Path,
    backfill: bool,
) -> anyhow::Result<(Live, Option<(u64, f64)>)> {
    let name = if backfill {
        "backfillwith"
    } else {
        "backfillwithout"
    };
    let rate = args.backfill_rate;
    let spec = spec(name, args, rate, args.step_seconds);
    let symbols = spec.symbols.len() as u64;
    let mut pipeline = Pipeline::start(binary, services, &spec, dir).await?;
    if backfill {
        pipeline.start_backfill()?;
    }
    let third = u64::from(rate) * args.step_seconds / 3;
    let generated = loop {
        let summary = pipeline.sim_summary().await?;
        if summary.trades_generated >= third || summary.done {
            break summary.trades_generated;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stored_before = pipeline.count(TradeRow::TABLE, true).await?;
    let recovering = if backfill {
        let gaps = gaps_over(&spec.symbols, generated);
        let published = Instant::now();
        pipeline.publish(gaps).await?;
        Some(published)
    } else {
        None
    };
    let observed = observe(&mut pipeline, services).await?;
    let recovery = match recovering {
        Some(published) => Some(wait_for_backfill(&pipeline, symbols, published).await?),
        None => None,
    };
    let stored = pipeline.count(TradeRow::TABLE, true).await?;
    pipeline.stop()?;
    let live = Live {
        trades_per_second: stored.saturating_sub(stored_before) as f64
            / observed.busy_seconds.max(f64::EPSILON),
        loss: observed.summary.trades_generated.saturating_sub(stored),
        latency_p99_ms: observed
            .interval
            .latency_quantile(0.99)
            .map(|seconds| seconds * 1000.0),
    };
    Ok((live, recovery))
}

/// One `trade_id_gap` per symbol naming every trade of it among the first `generated`: the
/// simulator deals its trades to the symbols in rotation, numbering each symbol's from
/// [`FIRST_TRADE_ID`].
fn gaps_over(symbols: &[(String, String)], generated: u64) -> Vec<Event> {
    let count = symbols.len() as u64;
    let now = marketprism_model::now_ms();
    symbols
        .iter()
        .enumerate()
        .filter_map(|(index, (_, normalized))| {
            let trades = generated / count + u64::from((index as u64) < generated % count);
            let symbol = normalized.parse().ok()?;
            (trades > 0).then(|| {
                Event::Gap(Gap {
                    exchange: Exchange::Binance,
                    market_type: MarketType::Spot,
                    symbol,
                    from_ms: now - 1,
                    to_ms: now,
                    reason: GapReason::TradeIdGap,
                    received_time_ms: now,
                    missing_ids: Some(IdRange {
                        first: FIRST_TRADE_ID,
                        last: FIRST_TRADE_ID + trades - 1,
                        aggregated: false,
                    }),
                    state: GapState::default(),
                    collector: None,
                })
            })
        })
        .collect()
}

/// Waits until the backfill decided `gaps` gaps: the trades it recovered and the seconds
/// since `published`, as its metrics say.
async fn wait_for_backfill(
    pipeline: &Pipeline,
    gaps: u64,
    published: Instant,
) -> anyhow::Result<(u64, f64)> {
    loop {
        let text = pipeline.backfill_metrics().await?;
        let decided = sum(&text, "marketprism_backfill_gaps_total");
        if decided >= gaps as f64 || published.elapsed() > BACKFILL_TIMEOUT {
            let recovered = sum(&text, "marketprism_backfill_trades_recovered_total");
            return Ok((recovered as u64, published.elapsed().as_secs_f64()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The sum of the values of metric `name` over its labels, in Prometheus text.
fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_name_each_symbols_share_of_the_rotation() {
        let symbols = vec![
            ("AUSDT".to_owned(), "A-USDT".to_owned()),
            ("BUSDT".to_owned(), "B-USDT".to_owned()),
        ];
        let ranges: Vec<IdRange> = gaps_over(&symbols, 5)
            .into_iter()
            .filter_map(|event| match event {
                Event::Gap(gap) => gap.missing_ids,
                _ => None,
            })
            .collect();
        assert_eq!(ranges[0].last - ranges[0].first + 1, 3);
        assert_eq!(ranges[1].last - ranges[1].first + 1, 2);
    }

    #[test]
    fn metrics_are_summed_over_their_labels_only() {
        let text = "# HELP x\nmarketprism_backfill_gaps_total{status=\"filled\"} 3\n\
                    marketprism_backfill_gaps_total{status=\"partial\"} 1\n\
                    marketprism_backfill_gaps_skipped_total 9\n";
        assert_eq!(sum(text, "marketprism_backfill_gaps_total"), 4.0);
    }
}
