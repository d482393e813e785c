//! The end-to-end scenarios and the verification of ClickHouse against the simulator.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use marketprism_model::{now_ms, Decimal, GapReason};
use marketprism_sim::{BookFault, BookKey, Report, SimTrade, TrueBook};
use marketprism_storage::{from_fixed18, GapRow, OrderBookRow, StoredRow as _, TradeRow};

use super::instruments::stored_symbol;
use super::{Args, Check, Checks};
use crate::pipeline::{Pipeline, Spec};
use crate::runner::VenueSpec;
use crate::services::Services;

/// Longest wait for ClickHouse to catch up after the simulator finished.
pub(super) const CATCH_UP: Duration = Duration::from_secs(120);

/// The four Binance spot symbols the scenarios trade: (native, normalized).
pub(super) fn symbols() -> Vec<(String, String)> {
    [
        ("BTCUSDT", "BTC-USDT"),
        ("ETHUSDT", "ETH-USDT"),
        ("SOLUSDT", "SOL-USDT"),
        ("BNBBTC", "BNB-BTC"),
    ]
    .iter()
    .map(|(native, normalized)| ((*native).to_owned(), (*normalized).to_owned()))
    .collect()
}

/// Binance spot trades of every symbol at `rate` until `count`, nothing else.
pub(super) fn binance_spot_trades(name: &str, rate: u32, count: u64, seed: u64) -> Spec {
    Spec {
        name: name.into(),
        symbols: symbols(),
        rate,
        count: Some(count),
        seed,
        venues: vec![VenueSpec::binance_spot(&symbols(), vec!["trades"])],
        book_deltas: false,
        book_interval: Duration::ZERO,
        book_levels: marketprism_sim::DEFAULT_LEVELS,
    }
}

pub(super) async fn wait_until_done(pipeline: &Pipeline) -> anyhow::Result<Report> {
    loop {
        let report = pipeline.sim_report().await?;
        if report.done {
            return Ok(report);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(super) async fn wait_until_delivered(
    pipeline: &Pipeline,
    at_least: usize,
) -> anyhow::Result<()> {
    while pipeline
        .sim_report()
        .await?
        .trades
        .iter()
        .filter(|trade| trade.delivered)
        .count()
        < at_least
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// N trades at a high rate, no faults; `scenario` names the checks.
pub async fn baseline(
    scenario: &'static str,
    binary: &Path,
    services: &Services,
    args: &Args,
    dir: &Path,
) -> anyhow::Result<Checks> {
    let spec = binance_spot_trades(scenario, args.rate, args.trades, 7);
    let pipeline = Pipeline::start(binary, services, &spec, dir).await?;
    let report = wait_until_done(&pipeline).await?;
    let (_, caught_up) = pipeline.wait_for_trades(args.trades, CATCH_UP).await?;

    let mut checks = vec![
        Check::equal(
            scenario,
            "trades generated",
            args.trades,
            report.trades.len() as u64,
        ),
        Check::equal(
            scenario,
            "trades delivered",
            args.trades,
            report.trades.iter().filter(|trade| trade.delivered).count() as u64,
        ),
    ];
    checks.extend(verify_trades(scenario, &pipeline, &report).await?);
    let gaps: Vec<GapRow> = pipeline.stored("").await?;
    checks.push(Check::equal(scenario, "gaps recorded", 0, gaps.len()));
    checks.push(dead_letters(scenario, &pipeline).await?);
    if let Some(first) = report.trades.first() {
        let caught_up_ms =
            now_ms() - i64::try_from(caught_up.elapsed().as_millis()).unwrap_or_default();
        let seconds = (caught_up_ms - first.trade_time_ms).max(0) as f64 / 1000.0;
        checks.push(Check::measured(
            scenario,
            "sustained rate into ClickHouse",
            format!(
                "{:.0} trades/s ({} in {seconds:.2} s, sim rate {})",
                args.trades as f64 / seconds,
                args.trades,
                args.rate
            ),
        ));
    }
    checks.push(stopped_cleanly(scenario, pipeline)?);
    Ok(checks)
}

/// Storage killed and restarted; the collector's connection dropped once.
pub async fn faults(binary: &Path, services: &Services, dir: &Path) -> anyhow::Result<Checks> {
    const SCENARIO: &str = "faults";
    const TRADES: u64 = 40_000;
    let spec = binance_spot_trades(SCENARIO, 4_000, TRADES, 11);
    let mut pipeline = Pipeline::start(binary, services, &spec, dir).await?;

    wait_until_delivered(&pipeline, (TRADES / 4) as usize).await?;
    pipeline.kill_storage()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    pipeline.restart_storage()?;
    wait_until_delivered(&pipeline, (TRADES * 11 / 20) as usize).await?;
    pipeline.drop_connections().await?;

    let report = wait_until_done(&pipeline).await?;
    let delivered = report.trades.iter().filter(|trade| trade.delivered).count() as u64;
    pipeline.wait_for_trades(delivered, CATCH_UP).await?;

    let missed: Vec<&SimTrade> = report
        .trades
        .iter()
        .filter(|trade| !trade.delivered)
        .collect();
    let mut checks = vec![
        Check::equal(
            SCENARIO,
            "trades generated",
            TRADES,
            report.trades.len() as u64,
        ),
        Check::holds(
            SCENARIO,
            "the drop cost trades (fault really injected)",
            "0 < missed",
            format!("{} missed, {delivered} delivered", missed.len()),
            !missed.is_empty(),
        ),
        Check::equal(
            SCENARIO,
            "disconnects injected",
            1,
            report.disconnects_ms.len(),
        ),
    ];
    checks.extend(verify_trades(SCENARIO, &pipeline, &report).await?);
    checks.extend(verify_gaps(SCENARIO, &pipeline, &report, &missed).await?);
    checks.push(dead_letters(SCENARIO, &pipeline).await?);
    let raw = pipeline.count(TradeRow::TABLE, false).await?;
    checks.push(Check::measured(
        SCENARIO,
        "rows before merge (redeliveries)",
        format!("{raw} ({} duplicates)", raw.saturating_sub(delivered)),
    ));
    checks.push(stopped_cleanly(SCENARIO, pipeline)?);
    Ok(checks)
}

/// Trades and order books of every symbol while the simulator breaks BTCUSDT's book stream
/// three times (a dropped update, two swapped updates, a drop whose resync first receives a
/// snapshot older than the stream); every stored book must equal the simulator's true book
/// at its update id, and each break must leave exactly one gap.
pub async fn books(binary: &Path, services: &Services, dir: &Path) -> anyhow::Result<Checks> {
    const SCENARIO: &str = "books";
    const TRADES: u64 = 6_000;
    const DEPTH: usize = 50;
    let spec = Spec {
        name: SCENARIO.into(),
        symbols: symbols(),
        rate: 500,
        count: Some(TRADES),
        seed: 13,
        venues: vec![VenueSpec::binance_spot(
            &symbols(),
            vec!["trades", "orderbook"],
        )],
        book_deltas: false,
        book_interval: Duration::ZERO,
        book_levels: marketprism_sim::DEFAULT_LEVELS,
    };
    let mut pipeline = Pipeline::start(binary, services, &spec, dir).await?;
    wait_until_delivered(&pipeline, 500).await?;
    for faults in [
        vec![BookFault::Drop],
        vec![BookFault::Reorder],
        vec![BookFault::StaleSnapshot, BookFault::Drop],
    ] {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for fault in faults {
            pipeline.inject_book_fault(fault, "BTCUSDT").await?;
        }
    }
    let report = wait_until_done(&pipeline).await?;
    // Every trade reaches ClickHouse before the collector stops: stopping it as soon as the
    // simulator is done would cut off the frames still in its socket.
    pipeline.wait_for_trades(TRADES, CATCH_UP).await?;
    let collector_clean = pipeline.stop_collector()?;
    let stored = pipeline.wait_until_settled(OrderBookRow::TABLE).await?;

    let rows: Vec<OrderBookRow> = pipeline.stored("symbol, update_id").await?;
    let mut differing = Vec::new();
    let mut unknown = 0;
    for row in &rows {
        let native = row.symbol.replace('-', "");
        match pipeline
            .true_book(&native, BookKey::UpdateId, row.update_id, DEPTH)
            .await?
        {
            Some(truth) => {
                if let Some(difference) = book_difference(row, &truth) {
                    differing.push(difference);
                }
            }
            None => unknown += 1,
        }
    }
    let gaps: Vec<GapRow> = pipeline.stored("").await?;
    let book_gaps = |symbol: &str| {
        gaps.iter()
            .filter(|gap| gap.symbol == symbol && gap.reason == "sequence_break")
            .count()
    };
    let per_symbol: Vec<String> = symbols()
        .iter()
        .map(|(_, symbol)| {
            let count = rows.iter().filter(|row| &row.symbol == symbol).count();
            format!("{symbol} {count}")
        })
        .collect();

    let mut checks = vec![
        Check::holds(
            SCENARIO,
            "books stored for every symbol",
            "> 20 each",
            per_symbol.join(", "),
            symbols()
                .iter()
                .all(|(_, symbol)| rows.iter().filter(|row| &row.symbol == symbol).count() > 20),
        ),
        Check::equal(
            SCENARIO,
            "rows in orderbooks FINAL",
            stored,
            rows.len() as u64,
        ),
        Check::equal(SCENARIO, "books without a true book", 0, unknown),
        Check::none_of(
            SCENARIO,
            "every book equals the sim's at its update id",
            "differing",
            &differing,
        ),
        Check::equal(
            SCENARIO,
            "sequence-break gaps for BTC-USDT",
            3,
            book_gaps("BTC-USDT"),
        ),
        Check::equal(
            SCENARIO,
            "gaps for the unbroken symbols",
            0,
            gaps.iter().filter(|gap| gap.symbol != "BTC-USDT").count(),
        ),
        Check::clean_stop(SCENARIO, collector_clean),
    ];
    checks.extend(verify_trades(SCENARIO, &pipeline, &report).await?);
    checks.push(dead_letters(SCENARIO, &pipeline).await?);
    checks.push(stopped_cleanly(SCENARIO, pipeline)?);
    Ok(checks)
}

/// Compares a stored book with the simulator's; `None` when identical.
pub(super) fn book_difference(row: &OrderBookRow, truth: &TrueBook) -> Option<String> {
    let side = |prices: &[i128], quantities: &[i128]| -> Vec<(Decimal, Decimal)> {
        prices
            .iter()
            .zip(quantities)
            .map(|(price, quantity)| (from_fixed18(*price), from_fixed18(*quantity)))
            .collect()
    };
    let expected = |levels: &[[String; 2]]| -> Vec<(Decimal, Decimal)> {
        levels
            .iter()
            .filter_map(|[price, quantity]| {
                Some((
                    Decimal::from_str(price).ok()?.normalize(),
                    Decimal::from_str(quantity).ok()?.normalize(),
                ))
            })
            .collect()
    };
    let same = side(&row.bid_prices, &row.bid_quantities) == expected(&truth.bids)
        && side(&row.ask_prices, &row.ask_quantities) == expected(&truth.asks);
    (!same).then(|| format!("{} at update {}", row.symbol, row.update_id))
}

/// Stops the pipeline; collector and storage must drain and exit 0 on SIGTERM.
pub(super) fn stopped_cleanly(scenario: &'static str, pipeline: Pipeline) -> anyhow::Result<Check> {
    let clean = pipeline.stop()?;
    Ok(Check::holds(
        scenario,
        "collector and storage stop cleanly",
        "exit 0 after SIGTERM",
        if clean { "exit 0" } else { "non-zero exit" }.into(),
        clean,
    ))
}

/// The simulator's quote assets, longest first where one ends another (`USDT`, `USD`).
const QUOTES: [&str; 5] = ["USDT", "USDC", "USD", "BTC", "ETH"];

/// A simulator symbol (Binance form, `BTCUSDT`) normalized (`BTC-USDT`); as is when it ends
/// in no quote asset.
pub(super) fn normalized(native: &str) -> String {
    QUOTES
        .iter()
        .find_map(|quote| {
            let base = native.strip_suffix(quote)?;
            (!base.is_empty()).then(|| format!("{base}-{quote}"))
        })
        .unwrap_or_else(|| native.to_owned())
}

/// A trade row's identity: exchange, market, aggregated, symbol, trade id.
type TradeKey = (String, String, u8, String, String);

/// Every delivered trade once per venue and market it was written for, under the symbol of
/// the market's instrument.
fn expected_trades(report: &Report) -> HashMap<TradeKey, &SimTrade> {
    let mut expected = HashMap::new();
    for trade in report.trades.iter().filter(|trade| trade.delivered) {
        for venue in &trade.venues {
            let mut parts = venue.split('/');
            let (exchange, market) = (parts.next(), parts.next());
            let aggregated = u8::from(parts.next() == Some("aggregate"));
            let (exchange, market) = (exchange.unwrap_or_default(), market.unwrap_or_default());
            let key = (
                exchange.to_owned(),
                market.to_owned(),
                aggregated,
                stored_symbol(&format!("{exchange}/{market}"), &trade.symbol),
                trade.trade_id.to_string(),
            );
            expected.insert(key, trade);
        }
    }
    expected
}

/// The trades table holds exactly the delivered trades, once per venue and market they were
/// written for, with identical values.
pub(super) async fn verify_trades(
    scenario: &'static str,
    pipeline: &Pipeline,
    report: &Report,
) -> anyhow::Result<Checks> {
    let expected = expected_trades(report);
    let rows: Vec<TradeRow> = pipeline.stored("").await?;
    let distinct: u64 = pipeline
        .clickhouse
        .query("SELECT uniqExact(exchange, market_type, symbol, aggregated, trade_id) FROM trades")
        .fetch_one()
        .await?;

    let mut unexpected = Vec::new();
    let mut differing = Vec::new();
    let mut seen = 0;
    for row in &rows {
        let key = (
            row.exchange.clone(),
            row.market_type.clone(),
            row.aggregated,
            row.symbol.clone(),
            row.trade_id.clone(),
        );
        match expected.get(&key) {
            None => unexpected.push(format!(
                "{}/{} {} {} at {} ms ({}, received {} ms)",
                row.exchange,
                row.market_type,
                row.symbol,
                row.trade_id,
                row.exchange_time,
                row.source,
                row.received_time
            )),
            Some(trade) => {
                seen += 1;
                if let Some(difference) = difference(row, trade) {
                    differing.push(difference);
                }
            }
        }
    }
    let missing = expected.len() - seen;
    Ok(vec![
        Check::equal(scenario, "rows in trades FINAL", expected.len(), rows.len()),
        Check::equal(
            scenario,
            "distinct trade keys",
            expected.len() as u64,
            distinct,
        ),
        Check::equal(scenario, "delivered trades missing", 0, missing),
        Check::none_of(scenario, "rows never delivered", "rows", &unexpected),
        Check::none_of(
            scenario,
            "field values identical to the sim",
            "differing",
            &differing,
        ),
    ])
}

/// Compares a row with what the simulator sent; `None` when identical.
pub(super) fn difference(row: &TradeRow, trade: &SimTrade) -> Option<String> {
    let decimal = |text: &str| Decimal::from_str(text).map(|value| value.normalize()).ok();
    let side = if trade.buyer_is_maker { "sell" } else { "buy" };
    let same = Some(from_fixed18(row.price)) == decimal(&trade.price)
        && Some(from_fixed18(row.quantity)) == decimal(&trade.quantity)
        && row.side == side
        && row.exchange_time == trade.trade_time_ms
        && row.received_time >= trade.trade_time_ms;
    (!same).then(|| format!("{row:?} vs {trade:?}"))
}

/// The collector killed with SIGKILL and started again, later stopped with SIGTERM and
/// started again, while the simulator goes on generating trades: every trade is stored or
/// named by a `trade_id_gap`, and each restart leaves a `restart` gap per symbol that covers
/// the trades lost.
pub async fn restarts(binary: &Path, services: &Services, dir: &Path) -> anyhow::Result<Checks> {
    const SCENARIO: &str = "restarts";
    const TRADES: u64 = 30_000;
    let spec = binance_spot_trades(SCENARIO, 3_000, TRADES, 17);
    let mut pipeline = Pipeline::start(binary, services, &spec, dir).await?;

    wait_until_delivered(&pipeline, (TRADES / 4) as usize).await?;
    pipeline.kill_collector()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    pipeline.restart_collector()?;
    wait_until_delivered(&pipeline, (TRADES * 11 / 20) as usize).await?;
    let collector_clean = pipeline.stop_collector()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    pipeline.restart_collector()?;
    let report = wait_until_done(&pipeline).await?;
    let delivered = report.trades.iter().filter(|trade| trade.delivered).count();
    // Settled once the last trades delivered are stored: the rest are lost to the restarts.
    pipeline.wait_until_settled(TradeRow::TABLE).await?;

    let stored: std::collections::HashSet<(String, String)> = pipeline
        .stored::<TradeRow>("")
        .await?
        .into_iter()
        .map(|row| (row.symbol, row.trade_id))
        .collect();
    let gaps: Vec<GapRow> = pipeline.stored("").await?;
    let of_reason = |reason: GapReason| {
        gaps.iter()
            .filter(move |gap| gap.reason == reason.as_str())
            .collect::<Vec<_>>()
    };
    let (restart_gaps, id_gaps) = (
        of_reason(GapReason::Restart),
        of_reason(GapReason::TradeIdGap),
    );
    let named = |symbol: &str, id: u64| {
        id_gaps.iter().any(|gap| {
            gap.symbol == symbol
                && gap.first_missing_id <= Some(id)
                && Some(id) <= gap.last_missing_id
        })
    };
    let mut lost = Vec::new();
    let mut named_but_stored = 0;
    for trade in &report.trades {
        let symbol = normalized(&trade.symbol);
        let is_stored = stored.contains(&(symbol.clone(), trade.trade_id.to_string()));
        if !is_stored {
            lost.push(trade);
        }
        if is_stored && named(&symbol, trade.trade_id) {
            named_but_stored += 1;
        }
    }
    let unaccounted = lost
        .iter()
        .filter(|trade| !named(&normalized(&trade.symbol), trade.trade_id))
        .count();
    let outside_restart_gaps = lost
        .iter()
        .filter(|trade| {
            let symbol = normalized(&trade.symbol);
            !restart_gaps.iter().any(|gap| {
                gap.symbol == symbol
                    && gap.from_time <= trade.trade_time_ms
                    && trade.trade_time_ms <= gap.to_time
            })
        })
        .count();
    let all_symbols = symbols();
    let two_each = all_symbols.iter().all(|(_, symbol)| {
        restart_gaps
            .iter()
            .filter(|gap| &gap.symbol == symbol)
            .count()
            == 2
    });

    let mut checks = vec![
        Check::equal(
            SCENARIO,
            "trades generated",
            TRADES,
            report.trades.len() as u64,
        ),
        Check::holds(
            SCENARIO,
            "the restarts cost trades (faults really injected)",
            "0 < lost",
            format!("{} lost, {delivered} delivered", lost.len()),
            !lost.is_empty(),
        ),
        Check::holds(
            SCENARIO,
            "two restart gaps per symbol",
            &format!("{} gaps", 2 * all_symbols.len()),
            format!("{} gaps", restart_gaps.len()),
            two_each && restart_gaps.len() == 2 * all_symbols.len(),
        ),
        Check::equal(
            SCENARIO,
            "trades neither stored nor named by a trade_id_gap",
            0,
            unaccounted,
        ),
        Check::equal(
            SCENARIO,
            "lost trades outside a restart gap",
            0,
            outside_restart_gaps,
        ),
        Check::measured(
            SCENARIO,
            "stored trades also named missing (read after the last save before the SIGKILL)",
            named_but_stored.to_string(),
        ),
        Check::clean_stop(SCENARIO, collector_clean),
    ];
    checks.push(dead_letters(SCENARIO, &pipeline).await?);
    checks.push(stopped_cleanly(SCENARIO, pipeline)?);
    Ok(checks)
}

/// One disconnect gap per symbol, covering the injected disconnect and every trade missed
/// during it; and, since Binance numbers trades without holes, `trade_id_gap`s naming exactly
/// the missed trades.
async fn verify_gaps(
    scenario: &'static str,
    pipeline: &Pipeline,
    report: &Report,
    missed: &[&SimTrade],
) -> anyhow::Result<Checks> {
    let gaps: Vec<GapRow> = pipeline.stored("").await?;
    let (id_gaps, disconnect_gaps): (Vec<&GapRow>, Vec<&GapRow>) = gaps
        .iter()
        .partition(|gap| gap.reason == GapReason::TradeIdGap.as_str());
    let mut per_symbol: HashMap<&str, Vec<&GapRow>> = HashMap::new();
    for gap in &disconnect_gaps {
        per_symbol.entry(gap.symbol.as_str()).or_default().push(gap);
    }
    let all_symbols = symbols();
    let one_each = all_symbols.iter().all(|(_, symbol)| {
        per_symbol
            .get(symbol.as_str())
            .is_some_and(|list| list.len() == 1)
    });
    let disconnect = report.disconnects_ms.first().copied().unwrap_or_default();
    let covers_disconnect = !disconnect_gaps.is_empty()
        && disconnect_gaps
            .iter()
            .all(|gap| gap.from_time <= disconnect && disconnect <= gap.to_time);
    let uncovered = missed
        .iter()
        .filter(|trade| {
            let symbol = normalized(&trade.symbol);
            !per_symbol.get(symbol.as_str()).is_some_and(|list| {
                list.iter().any(|gap| {
                    gap.from_time <= trade.trade_time_ms && trade.trade_time_ms <= gap.to_time
                })
            })
        })
        .count();
    let named = |trade: &&&SimTrade| {
        let symbol = normalized(&trade.symbol);
        id_gaps.iter().any(|gap| {
            gap.symbol == symbol
                && gap.first_missing_id <= Some(trade.trade_id)
                && Some(trade.trade_id) <= gap.last_missing_id
        })
    };
    let named_missed = missed.iter().filter(named).count();
    let ids_named: u64 = id_gaps
        .iter()
        .filter_map(|gap| Some(gap.last_missing_id? - gap.first_missing_id? + 1))
        .sum();
    let widest = disconnect_gaps
        .iter()
        .map(|gap| gap.to_time - gap.from_time)
        .max()
        .unwrap_or_default();
    Ok(vec![
        Check::holds(
            scenario,
            "one disconnect gap per symbol",
            &format!("{} gaps, one per symbol", all_symbols.len()),
            format!("{} gaps", disconnect_gaps.len()),
            one_each && disconnect_gaps.len() == all_symbols.len(),
        ),
        Check::holds(
            scenario,
            "gaps cover the disconnect",
            "from <= drop <= to",
            format!("widest gap {widest} ms"),
            covers_disconnect,
        ),
        Check::equal(scenario, "missed trades outside any gap", 0, uncovered),
        Check::equal(
            scenario,
            "missed trades named by a trade_id_gap",
            missed.len(),
            named_missed,
        ),
        Check::equal(
            scenario,
            "trade ids named missing",
            missed.len() as u64,
            ids_named,
        ),
    ])
}

/// Nothing was dead-lettered: every frame parsed and every message decoded.
pub(super) async fn dead_letters(
    scenario: &'static str,
    pipeline: &Pipeline,
) -> anyhow::Result<Check> {
    let messages = pipeline.dead_letters().await?;
    Ok(Check::equal(scenario, "dead letters", 0, messages))
}
