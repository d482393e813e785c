//! `gateway`: the gateway's answers against the truth of a run with a fault. Binance spot
//! trades of four symbols are recorded while the simulator drops the collector's connection
//! once; meanwhile a WebSocket client connects to `/v1/stream` with `start` at the run's
//! beginning, so it replays what the stream holds and switches to live under load.
//!
//! * the WebSocket client received every event of its subjects exactly once: the same trades
//!   as the stream holds, each as often as the stream holds it, and every trade the
//!   simulator delivered, with one `replay_completed` marker;
//! * `/v1/replay` gives exactly the trades `trades FINAL` holds, which are the delivered
//!   ones, in venue-time order, with a gap row for each symbol that has a stored gap;
//! * `/v1/coverage` of each symbol lists its stored gaps, counts its stored trades, and calls
//!   the range incomplete.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures::StreamExt as _;
use marketprism_model::now_ms;
use marketprism_storage::{GapRow, TradeRow};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::scenarios::CATCH_UP;
use super::scenarios::{binance_spot_trades, normalized, wait_until_delivered, wait_until_done};
use super::{Check, Checks};
use crate::pipeline::Pipeline;
use crate::services::Services;

const SCENARIO: &str = "gateway";

/// Trades generated, at [`RATE`] per second.
const TRADES: u64 = 20_000;

/// Simulated trades per second.
const RATE: u32 = 2_000;

/// A trade's identity: (normalized symbol, trade id).
type Key = (String, String);

/// Runs the scenario in `dir` with `binary` on `services`.
pub async fn run(binary: &Path, services: &Services, dir: &Path) -> anyhow::Result<Checks> {
    let started_ms = now_ms();
    let spec = binance_spot_trades(SCENARIO, RATE, TRADES, 17);
    let pipeline = Pipeline::start(binary, services, &spec, dir).await?;
    let mut gateway = pipeline.runner().start_gateway()?;
    let base = format!("127.0.0.1:{}", pipeline.runner().ports.gateway);
    let symbols: Vec<String> = spec
        .symbols
        .iter()
        .map(|(_, normalized)| normalized.clone())
        .collect();

    wait_until_delivered(&pipeline, (TRADES / 4) as usize).await?;
    let url = format!(
        "ws://{base}/v1/stream?types=trade&exchange=binance&market=spot&symbols={}&start={started_ms}",
        symbols.join(",")
    );
    let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let heard = Shared::default();
    let client = tokio::spawn(listen(socket, heard.clone()));

    wait_until_delivered(&pipeline, (TRADES / 2) as usize).await?;
    pipeline.drop_connections().await?;
    let report = wait_until_done(&pipeline).await?;
    let delivered: HashSet<Key> = report
        .trades
        .iter()
        .filter(|trade| trade.delivered)
        .map(|trade| (normalized(&trade.symbol), trade.trade_id.to_string()))
        .collect();
    pipeline
        .wait_for_trades(delivered.len() as u64, CATCH_UP)
        .await?;
    let in_stream = stream_trades(&pipeline).await?;
    let heard = wait_for(&heard, in_stream.len()).await;
    client.abort();

    let mut checks = vec![Check::holds(
        SCENARIO,
        "the drop cost trades (fault really injected)",
        "some not delivered",
        format!("{} of {TRADES} delivered", delivered.len()),
        delivered.len() < TRADES as usize,
    )];
    checks.extend(stream_checks(&heard, &in_stream, &delivered));
    let stored_trades: Vec<TradeRow> = pipeline.stored("").await?;
    let stored: HashSet<Key> = stored_trades
        .iter()
        .map(|row| (row.symbol.clone(), row.trade_id.clone()))
        .collect();
    let gaps: Vec<GapRow> = pipeline.stored("").await?;
    let to_ms = now_ms() + 1;
    let http = reqwest::Client::new();
    checks.extend(
        replay_checks(
            &http,
            &base,
            &symbols,
            (started_ms, to_ms),
            &stored,
            &delivered,
            &gaps,
        )
        .await?,
    );
    for symbol in &symbols {
        checks.extend(
            coverage_checks(
                &http,
                &base,
                symbol,
                (started_ms, to_ms),
                &stored_trades,
                &gaps,
            )
            .await?,
        );
    }
    gateway.terminate(Duration::from_secs(10))?;
    checks.push(super::scenarios::stopped_cleanly(SCENARIO, pipeline)?);
    Ok(checks)
}

/// What the WebSocket client heard: trades by key, in order, and where the replay ended.
#[derive(Debug, Default, Clone)]
struct Heard {
    trades: Vec<Key>,
    replay_completed: Vec<usize>,
    closed: Option<String>,
}

type Shared = std::sync::Arc<std::sync::Mutex<Heard>>;

/// Records the socket's frames into `heard` until it closes or the task is aborted.
async fn listen(
    mut socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    heard: Shared,
) {
    let record = |update: &mut dyn FnMut(&mut Heard)| {
        update(
            &mut heard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    };
    while let Some(frame) = socket.next().await {
        match frame {
            Ok(Message::Text(text)) => {
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                match frame["type"].as_str() {
                    Some("trade") => {
                        let key = (
                            frame["symbol"].as_str().unwrap_or_default().to_owned(),
                            frame["trade_id"].as_str().unwrap_or_default().to_owned(),
                        );
                        record(&mut |heard| heard.trades.push(key.clone()));
                    }
                    Some("replay_completed") => record(&mut |heard| {
                        let at = heard.trades.len();
                        heard.replay_completed.push(at);
                    }),
                    _ => {}
                }
            }
            Ok(Message::Close(close)) => {
                record(&mut |heard| heard.closed = Some(format!("{close:?}")));
                return;
            }
            Ok(_) => {}
            Err(error) => {
                record(&mut |heard| heard.closed = Some(error.to_string()));
                return;
            }
        }
    }
}

/// What the client heard, once it has `expected` trades or after [`CATCH_UP`].
async fn wait_for(heard: &Shared, expected: usize) -> Heard {
    let started = Instant::now();
    loop {
        let now = heard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if now.trades.len() >= expected || now.closed.is_some() || started.elapsed() > CATCH_UP {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every trade event of the run's stream, in stream order.
async fn stream_trades(pipeline: &Pipeline) -> anyhow::Result<Vec<Key>> {
    let runner = pipeline.runner();
    let client = marketprism_bus::connect(&runner.nats(), "e2e-gateway").await?;
    let mut consumer = async_nats::jetstream::new(client)
        .get_stream(&runner.names.stream)
        .await?
        .create_consumer(pull::OrderedConfig {
            filter_subject: "trade.binance.spot.*".to_owned(),
            deliver_policy: DeliverPolicy::All,
            ..pull::OrderedConfig::default()
        })
        .await?;
    let mut trades = Vec::new();
    if consumer.info().await?.num_pending == 0 {
        return Ok(trades);
    }
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        for event in marketprism_model::codec::decode(&message.subject, &message.payload)? {
            if let marketprism_model::Event::Trade(trade) = event {
                trades.push((trade.symbol.to_string(), trade.trade_id.to_string()));
            }
        }
        if message
            .info()
            .map_err(|error| anyhow::anyhow!("{error}"))?
            .pending
            == 0
        {
            break;
        }
    }
    Ok(trades)
}

/// How often each key occurs in `keys`.
fn occurrences(keys: &[Key]) -> BTreeMap<&Key, usize> {
    let mut counts: BTreeMap<&Key, usize> = BTreeMap::new();
    for key in keys {
        *counts.entry(key).or_default() += 1;
    }
    counts
}

fn stream_checks(heard: &Heard, in_stream: &[Key], delivered: &HashSet<Key>) -> Checks {
    let heard_counts = occurrences(&heard.trades);
    let stream_counts = occurrences(in_stream);
    let differing = stream_counts
        .iter()
        .filter(|(key, times)| heard_counts.get(*key) != Some(times))
        .count()
        + heard_counts
            .keys()
            .filter(|key| !stream_counts.contains_key(*key))
            .count();
    let heard_set: HashSet<&Key> = heard.trades.iter().collect();
    let missing = delivered
        .iter()
        .filter(|key| !heard_set.contains(key))
        .count();
    vec![
        Check::equal(
            SCENARIO,
            "WebSocket from start: trades differing from the stream (missing, extra or repeated)",
            0,
            differing,
        ),
        Check::equal(
            SCENARIO,
            "WebSocket from start: delivered trades not received",
            0,
            missing,
        ),
        Check::holds(
            SCENARIO,
            "WebSocket from start: one replay_completed marker",
            "exactly one",
            format!(
                "{} (after trade {:?}); {} trades; closed: {}",
                heard.replay_completed.len(),
                heard.replay_completed.first(),
                heard.trades.len(),
                heard.closed.as_deref().unwrap_or("no")
            ),
            heard.replay_completed.len() == 1,
        ),
    ]
}

async fn replay_checks(
    http: &reqwest::Client,
    base: &str,
    symbols: &[String],
    (from_ms, to_ms): (i64, i64),
    stored: &HashSet<Key>,
    delivered: &HashSet<Key>,
    gaps: &[GapRow],
) -> anyhow::Result<Checks> {
    let url = format!(
        "http://{base}/v1/replay?exchange=binance&market=spot&symbols={}&types=trade&from={from_ms}&to={to_ms}",
        symbols.join(",")
    );
    let body = http
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let mut trades = Vec::new();
    let mut gap_symbols = HashSet::new();
    let mut out_of_order = 0;
    let mut last_time = i64::MIN;
    for line in body.lines().filter(|line| !line.is_empty()) {
        let row: Value = serde_json::from_str(line).with_context(|| format!("{url}: {line}"))?;
        match row["type"].as_str() {
            Some("trade") => {
                let time = row["exchange_time"].as_i64().unwrap_or_default();
                if time < last_time {
                    out_of_order += 1;
                }
                last_time = time;
                trades.push((
                    row["symbol"].as_str().unwrap_or_default().to_owned(),
                    row["trade_id"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            Some("gap") => {
                gap_symbols.insert(row["symbol"].as_str().unwrap_or_default().to_owned());
            }
            other => anyhow::bail!("{url}: unexpected row type {other:?}: {line}"),
        }
    }
    let replayed: HashSet<Key> = trades.iter().cloned().collect();
    let symbols_with_gaps: HashSet<String> = gaps.iter().map(|gap| gap.symbol.clone()).collect();
    Ok(vec![
        Check::equal(
            SCENARIO,
            "/v1/replay: trade rows, each once",
            trades.len(),
            replayed.len(),
        ),
        Check::holds(
            SCENARIO,
            "/v1/replay = trades FINAL = delivered",
            "the same trades",
            format!(
                "{} replayed, {} stored, {} delivered",
                replayed.len(),
                stored.len(),
                delivered.len()
            ),
            &replayed == stored && stored == delivered,
        ),
        Check::equal(
            SCENARIO,
            "/v1/replay: rows out of venue-time order",
            0,
            out_of_order,
        ),
        Check::holds(
            SCENARIO,
            "/v1/replay: a gap row for every symbol with a stored gap",
            &format!("{} symbols with gaps, each", symbols_with_gaps.len()),
            format!("gap rows for {} symbols", gap_symbols.len()),
            !symbols_with_gaps.is_empty() && symbols_with_gaps.is_subset(&gap_symbols),
        ),
    ])
}

async fn coverage_checks(
    http: &reqwest::Client,
    base: &str,
    symbol: &str,
    (from_ms, to_ms): (i64, i64),
    trades: &[TradeRow],
    gaps: &[GapRow],
) -> anyhow::Result<Checks> {
    let url = format!(
        "http://{base}/v1/coverage?exchange=binance&market=spot&symbol={symbol}&type=trade&from={from_ms}&to={to_ms}"
    );
    let coverage: Value = http
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let stored_gaps = gaps.iter().filter(|gap| gap.symbol == symbol).count();
    let stored_trades = trades.iter().filter(|trade| trade.symbol == symbol).count() as u64;
    let listed = coverage["gaps"].as_array().map_or(0, Vec::len);
    let counted: u64 = coverage["minutes"]
        .as_array()
        .map(|minutes| {
            minutes
                .iter()
                .filter_map(|minute| minute["events"].as_u64())
                .sum()
        })
        .unwrap_or_default();
    Ok(vec![
        Check::equal(
            SCENARIO,
            &format!("/v1/coverage {symbol}: gaps = stored gap rows"),
            stored_gaps,
            listed,
        ),
        Check::equal(
            SCENARIO,
            &format!("/v1/coverage {symbol}: events per minute add up to the stored trades"),
            stored_trades,
            counted,
        ),
        Check::holds(
            SCENARIO,
            &format!("/v1/coverage {symbol}: incomplete, as it has a gap"),
            "complete = false when a gap was stored",
            format!(
                "complete = {}, {stored_gaps} gaps",
                coverage["complete"].as_bool().unwrap_or(true)
            ),
            stored_gaps == 0 || coverage["complete"] == Value::Bool(false),
        ),
    ])
}
