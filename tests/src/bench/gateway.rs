//! `cargo xtask bench --e2e --gateway`: the gateway's replay throughput against
//! `clickhouse-client` running the equivalent query, in the same run, on the deployed
//! clickhouse-server (Debian's 18.16, whose package has `clickhouse-client`).
//!
//! `--gateway-rows` BTC-USDT trades, one a millisecond, are written to a fresh database.
//! Then, best of three each:
//!
//! * the gateway: `GET /v1/replay?…&types=trade` (NDJSON), read to the end as a client reads
//!   it, rows counted by line;
//! * the baseline: `clickhouse-client --query 'SELECT * FROM trades FINAL WHERE … ORDER BY
//!   exchange_time FORMAT JSONEachRow'`, the same rows in the same order as JSON lines, its
//!   output read to the end the same way.
//!
//! Then the live fan-out, once with each framing (`frames=event`, `frames=array`) for each
//! number of clients: the pipeline (simulator, collector, NATS, storage) with the gateway as
//! a process of its own, `--gateway-clients` WebSocket clients (1, 10, 100) following every
//! symbol's trades while the
//! simulator makes `--gateway-rate` (20,000) trades a second for `--step-seconds`. For every
//! trade a client receives, the latency is its arrival less the collector's receive time
//! (`received_time_ms`, the same clock): p50, p99 and the largest, over all clients, with the
//! events and frames received and the clients closed as too slow. The baseline, in the same
//! run, is the bus alone: one ordered JetStream consumer of the same trades, read without
//! the gateway on a thread of its own, which the gateway's own readers can at best equal.
//! The clients run in this process, on the same cores as everything else; each run reports
//! the CPU of every process (the gateway, the clients, the pipeline and the servers), to
//! tell the gateway's share from the clients'.
//!
//! Results go to `target/bench/gateway.md` and `gateway.json`. Nothing here asserts a timing.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use marketprism_model::{Exchange, MarketType, Side, Trade, TradeSource};
use marketprism_storage::migrate::migrate;
use marketprism_storage::{ClickHouseConfig, StoredRow as _, TradeRow};
use marketprism_testkit::{ClickHouseServer, NatsServer, Release};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use std::path::Path;

use marketprism_model::now_ms;

use super::e2e::{symbols, EndToEnd};
use super::process::{Monitor, Usage};
use crate::pipeline::{Pipeline, Spec};
use crate::runner::VenueSpec;
use crate::services;

/// 2026-11-27T00:00:00Z: the first trade's venue time.
const T0: i64 = 1_795_737_600_000;

/// Rows written to ClickHouse per insert.
const INSERT_CHUNK: u64 = 100_000;

/// Measurements of each side; the best counts.
const ROUNDS: usize = 3;

/// One reader's best round.
#[derive(Debug, Clone, Serialize)]
struct Reading {
    rows: u64,
    bytes: u64,
    seconds: f64,
    rows_per_second: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    machine: String,
    server: String,
    rows: u64,
    gateway: Reading,
    clickhouse_client: Reading,
    ratio: f64,
    fan_out: Vec<FanOut>,
}

/// The live fan-out's figures with one framing.
#[derive(Debug, Serialize)]
struct FanOut {
    frames: &'static str,
    clients: usize,
    offered_trades_per_second: u32,
    seconds: u64,
    events_received: u64,
    frames_received: u64,
    fewest_events_of_a_client: u64,
    clients_closed: usize,
    close_reasons: Vec<String>,
    clients_latency: Latency,
    bus_latency: Latency,
    cpu: Vec<Usage>,
}

/// Quantiles of latencies, milliseconds.
#[derive(Debug, Serialize)]
struct Latency {
    p50_ms: u64,
    p99_ms: u64,
    max_ms: u64,
}

/// Latencies counted per millisecond.
#[derive(Debug, Clone)]
struct Histogram(Vec<u64>);

impl Histogram {
    fn new() -> Self {
        Histogram(vec![0; LATENCY_BUCKETS + 1])
    }

    /// Counts the latency of an event the collector received at `received_ms`, now.
    fn record_since(&mut self, received_ms: i64) {
        let latency = usize::try_from((now_ms() - received_ms).max(0)).unwrap_or(usize::MAX);
        self.0[latency.min(LATENCY_BUCKETS)] += 1;
    }

    fn add(&mut self, other: &Histogram) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine += theirs;
        }
    }

    fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    fn quantile(&self, q: f64) -> u64 {
        let rank = ((self.count() as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        self.0
            .iter()
            .position(|count| {
                seen += count;
                seen >= rank
            })
            .unwrap_or_default() as u64
    }

    fn latency(&self) -> Latency {
        Latency {
            p50_ms: self.quantile(0.5),
            p99_ms: self.quantile(0.99),
            max_ms: self
                .0
                .iter()
                .rposition(|count| *count > 0)
                .unwrap_or_default() as u64,
        }
    }
}

/// Latencies are counted per millisecond up to this; later ones count here.
const LATENCY_BUCKETS: usize = 60_000;

/// Runs the benchmark and writes its report.
pub fn run(args: &EndToEnd) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let binary = marketprism_testkit::build_marketprism(true)?;
    let report = runtime.block_on(async {
        let mut report = measure(args.gateway_rows).await?;
        for &clients in &args.gateway_clients {
            for frames in ["event", "array"] {
                report
                    .fan_out
                    .push(fan_out(&binary, args, clients, frames).await?);
            }
        }
        anyhow::Ok(report)
    })?;
    let markdown = markdown(&report);
    let out = marketprism_testkit::target_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("gateway.md"), &markdown)?;
    std::fs::write(
        out.join("gateway.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{markdown}");
    println!("written to {}", out.join("gateway.md").display());
    Ok(())
}

async fn measure(rows: u64) -> anyhow::Result<Report> {
    let nats = NatsServer::start()?;
    let clickhouse = ClickHouseServer::start_release(Release::Deployed)?;
    let tcp_port = clickhouse
        .tcp_port()
        .context("the baseline needs clickhouse-server and clickhouse-client")?;
    let database = "bench_gateway";
    let mut config: marketprism_gateway::Config =
        toml::from_str("listen = \"127.0.0.1:0\"").context("defaults")?;
    config.nats.url = nats.url();
    config.clickhouse = ClickHouseConfig {
        url: clickhouse.url(),
        database: database.to_owned(),
        ..ClickHouseConfig::default()
    };
    migrate(&config.clickhouse).await?;
    insert(&config.clickhouse, rows).await?;

    let shutdown = CancellationToken::new();
    let (address, server) = marketprism_gateway::bind(config, shutdown.clone()).await?;
    tokio::spawn(server);
    let (from, to) = (T0, T0 + i64::try_from(rows)?);
    let url = format!(
        "http://{address}/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade&from={from}&to={to}"
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut gateway = Vec::new();
    for _ in 0..ROUNDS {
        gateway.push(replay(&http, &url).await?);
    }
    let query = format!(
        "SELECT * FROM {table} FINAL WHERE exchange = 'binance' AND market_type = 'spot' \
         AND symbol = 'BTC-USDT' AND exchange_time >= {from} AND exchange_time < {to} \
         ORDER BY exchange_time FORMAT JSONEachRow",
        table = TradeRow::TABLE.name
    );
    let mut client = Vec::new();
    for _ in 0..ROUNDS {
        let query = query.clone();
        let database = database.to_owned();
        client.push(
            tokio::task::spawn_blocking(move || clickhouse_client(tcp_port, &database, &query))
                .await??,
        );
    }
    shutdown.cancel();
    let best = |sides: Vec<Reading>| {
        sides
            .into_iter()
            .max_by(|left, right| left.rows_per_second.total_cmp(&right.rows_per_second))
    };
    let gateway = best(gateway).context("no gateway round")?;
    let clickhouse_client = best(client).context("no clickhouse-client round")?;
    anyhow::ensure!(
        gateway.rows >= rows && clickhouse_client.rows == rows,
        "rows differ: {rows} written, {} replayed (gap rows included), {} from clickhouse-client",
        gateway.rows,
        clickhouse_client.rows
    );
    Ok(Report {
        machine: super::machine(),
        server: clickhouse.description(),
        rows,
        ratio: gateway.rows_per_second / clickhouse_client.rows_per_second,
        gateway,
        clickhouse_client,
        fan_out: Vec::new(),
    })
}

/// What one WebSocket client saw.
struct Listener {
    latencies: Histogram,
    frames: u64,
    closed: Option<String>,
}

/// The live fan-out with `frames` framing: clients following every symbol's trades while the
/// pipeline runs, and the bus's own delivery of the same trades.
async fn fan_out(
    binary: &Path,
    args: &EndToEnd,
    client_count: usize,
    frames: &'static str,
) -> anyhow::Result<FanOut> {
    let services = services::start(Release::Current)?;
    let symbols = symbols(4);
    let spec = Spec {
        name: format!("bench_fan_out_{frames}"),
        venues: vec![VenueSpec::binance_spot(&symbols, vec!["trades"])],
        symbols: symbols.clone(),
        rate: args.gateway_rate,
        count: Some(u64::from(args.gateway_rate) * args.step_seconds),
        seed: 5,
        book_deltas: false,
        book_interval: Duration::ZERO,
        book_levels: marketprism_sim::DEFAULT_LEVELS,
    };
    let dir = tempfile::Builder::new()
        .prefix("marketprism-bench-fan-out-")
        .tempdir()?;
    let pipeline = Pipeline::start(binary, &services, &spec, dir.path()).await?;
    let mut gateway = pipeline.runner().start_gateway()?;
    let normalized: Vec<&str> = symbols.iter().map(|(_, symbol)| symbol.as_str()).collect();
    let url = format!(
        "ws://127.0.0.1:{}/v1/stream?types=trade&symbols={}&frames={frames}",
        pipeline.runner().ports.gateway,
        normalized.join(",")
    );
    let stop = CancellationToken::new();
    let bus = {
        let (nats, stop) = (pipeline.runner().nats(), stop.clone());
        // A runtime of its own, so that the clients' work does not delay it.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(read_bus(nats, stop))
        })
    };
    let mut pids = pipeline.pids();
    pids.extend(services.pids.iter().copied());
    pids.extend([("gateway", gateway.pid()), ("clients", std::process::id())]);
    let mut monitor = Monitor::new(&pids);
    let mut clients = Vec::new();
    for _ in 0..client_count {
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
        clients.push(tokio::spawn(listen(socket, stop.clone())));
    }
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        monitor.sample();
        if pipeline.runner().sim_summary().await?.done
            || started.elapsed() > Duration::from_secs(args.step_seconds * 3)
        {
            break;
        }
    }
    let cpu = monitor.finish();
    // What is still on its way arrives meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.cancel();
    let mut histogram = Histogram::new();
    let (mut frames_received, mut fewest, mut close_reasons) = (0, u64::MAX, Vec::new());
    for client in clients {
        let listener = client.await?;
        histogram.add(&listener.latencies);
        frames_received += listener.frames;
        fewest = fewest.min(listener.latencies.count());
        close_reasons.extend(listener.closed);
    }
    let bus = bus
        .join()
        .map_err(|_| anyhow::anyhow!("the bus reader panicked"))??;
    gateway.terminate(Duration::from_secs(10))?;
    drop(pipeline);
    Ok(FanOut {
        frames,
        clients: client_count,
        offered_trades_per_second: args.gateway_rate,
        seconds: args.step_seconds,
        events_received: histogram.count(),
        frames_received,
        fewest_events_of_a_client: if fewest == u64::MAX { 0 } else { fewest },
        clients_closed: close_reasons.len(),
        close_reasons: close_reasons.into_iter().take(3).collect(),
        clients_latency: histogram.latency(),
        bus_latency: bus.latency(),
        cpu,
    })
}

/// Reads every trade of the run's stream through one ordered consumer, as the gateway's
/// readers do, counting each trade's latency, until `stop` is cancelled.
async fn read_bus(
    nats: marketprism_bus::Config,
    stop: CancellationToken,
) -> anyhow::Result<Histogram> {
    use futures::StreamExt as _;
    let client = marketprism_bus::connect(&nats, "bench-bus-baseline").await?;
    let consumer = async_nats::jetstream::new(client)
        .get_stream(&nats.stream.name)
        .await?
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: "trade.>".to_owned(),
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut histogram = Histogram::new();
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => break,
            message = messages.next() => match message {
                Some(message) => message?,
                None => break,
            },
        };
        let payload = String::from_utf8_lossy(&message.payload);
        for received in received_times_ms(&payload) {
            histogram.record_since(received);
        }
    }
    Ok(histogram)
}

/// Reads one client's frames, counting each trade's latency by millisecond, until it is
/// closed or `stop` is cancelled.
async fn listen(
    mut socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    stop: CancellationToken,
) -> Listener {
    use futures::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let mut listener = Listener {
        latencies: Histogram::new(),
        frames: 0,
        closed: None,
    };
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => break,
            frame = socket.next() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        match frame {
            Ok(Message::Text(text)) => {
                listener.frames += 1;
                for received in received_times_ms(&text) {
                    listener.latencies.record_since(received);
                }
            }
            Ok(Message::Close(close)) => {
                listener.closed =
                    Some(close.map_or_else(String::new, |close| close.reason.to_string()));
                break;
            }
            Ok(_) => {}
            Err(error) => {
                listener.closed = Some(error.to_string());
                break;
            }
        }
    }
    listener
}

/// The `received_time_ms` of every event in `text` (one event or an array), found without
/// parsing the JSON.
fn received_times_ms(text: &str) -> impl Iterator<Item = i64> + '_ {
    const KEY: &[u8] = b"\"received_time_ms\":";
    memchr::memmem::find_iter(text.as_bytes(), KEY).filter_map(|at| {
        let digits = &text.as_bytes()[at + KEY.len()..];
        let end = digits
            .iter()
            .position(|byte| !byte.is_ascii_digit())
            .unwrap_or(digits.len());
        std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
    })
}

/// Writes `rows` BTC-USDT trades, one a millisecond from [`T0`].
async fn insert(config: &ClickHouseConfig, rows: u64) -> anyhow::Result<()> {
    let client = config.database_client()?;
    for first in (0..rows).step_by(usize::try_from(INSERT_CHUNK)?) {
        let mut insert = client.insert::<TradeRow>(TradeRow::TABLE.name).await?;
        for id in first..(first + INSERT_CHUNK).min(rows) {
            let at = T0 + i64::try_from(id)?;
            let trade = Trade {
                exchange: Exchange::Binance,
                market_type: MarketType::Spot,
                symbol: "BTC-USDT".parse()?,
                trade_id: id.to_string().into(),
                aggregated: false,
                price: format!("{}.{:02}", 90_000 + id % 1_000, id % 100).parse()?,
                quantity: "0.00150000".parse()?,
                side: if id % 2 == 0 { Side::Buy } else { Side::Sell },
                exchange_time_ms: at,
                received_time_ms: at + 3,
                sequence: None,
                source: TradeSource::Ws,
            };
            insert.write(&TradeRow::try_from(&trade)?).await?;
        }
        insert.end().await?;
    }
    Ok(())
}

/// One replay through the gateway, read to the end.
async fn replay(http: &reqwest::Client, url: &str) -> anyhow::Result<Reading> {
    let started = Instant::now();
    let mut response = http.get(url).send().await?.error_for_status()?;
    let (mut rows, mut bytes) = (0_u64, 0_u64);
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len() as u64;
        rows += chunk.iter().filter(|byte| **byte == b'\n').count() as u64;
    }
    Ok(side(rows, bytes, started.elapsed()))
}

/// One run of `query` by clickhouse-client, its output read to the end.
fn clickhouse_client(port: u16, database: &str, query: &str) -> anyhow::Result<Reading> {
    let started = Instant::now();
    let mut child = Command::new("clickhouse-client")
        .args([
            "--port",
            &port.to_string(),
            "--database",
            database,
            "--query",
            query,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running clickhouse-client (Debian: apt-get install clickhouse-client)")?;
    let mut stdout = child.stdout.take().context("clickhouse-client's output")?;
    let (mut rows, mut bytes) = (0_u64, 0_u64);
    let mut buffer = vec![0_u8; 1 << 16];
    loop {
        let read = stdout.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        bytes += read as u64;
        rows += buffer[..read].iter().filter(|byte| **byte == b'\n').count() as u64;
    }
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "clickhouse-client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(side(rows, bytes, started.elapsed()))
}

fn side(rows: u64, bytes: u64, elapsed: Duration) -> Reading {
    let seconds = elapsed.as_secs_f64();
    Reading {
        rows,
        bytes,
        seconds,
        rows_per_second: rows as f64 / seconds.max(f64::EPSILON),
    }
}

fn markdown(report: &Report) -> String {
    let line = |name: &str, side: &Reading| {
        format!(
            "| {name} | {} | {:.1} MB | {:.2} s | {:.0} |\n",
            side.rows,
            side.bytes as f64 / 1e6,
            side.seconds,
            side.rows_per_second
        )
    };
    let mut markdown = format!(
        "# Gateway replay\n\n{}\n\nServer: {}. {} BTC-USDT trades, one query, best of {ROUNDS}.\n\n\
         | reader | rows | bytes | time | rows/s |\n|---|---|---|---|---|\n{}{}\n\
         Gateway over clickhouse-client: {:.2}×\n\n## Live fan-out\n\n",
        report.machine,
        report.server,
        report.rows,
        line("gateway /v1/replay (NDJSON)", &report.gateway),
        line("clickhouse-client (JSONEachRow)", &report.clickhouse_client),
        report.ratio,
    );
    if let Some(first) = report.fan_out.first() {
        markdown.push_str(&format!(
            "Clients following 4 symbols' trades at {} trades/s for {} s. Latency from the \
             collector's receive time to the client's (clients), and to one JetStream consumer \
             read without the gateway (bus), in ms.\n\n\
             | clients | frames | events received | frames received | fewest events of a client | clients closed | clients p50 / p99 / max | bus p50 / p99 / max |\n\
             |---|---|---|---|---|---|---|---|\n",
            first.offered_trades_per_second, first.seconds
        ));
    }
    for fan_out in &report.fan_out {
        let latency = |latency: &Latency| {
            format!(
                "{} / {} / {}",
                latency.p50_ms, latency.p99_ms, latency.max_ms
            )
        };
        markdown.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            fan_out.clients,
            fan_out.frames,
            fan_out.events_received,
            fan_out.frames_received,
            fan_out.fewest_events_of_a_client,
            fan_out.clients_closed,
            latency(&fan_out.clients_latency),
            latency(&fan_out.bus_latency),
        ));
    }
    markdown.push_str("\nCPU while the simulator generated, % of one core:\n\n");
    for fan_out in &report.fan_out {
        let cpu: Vec<String> = fan_out
            .cpu
            .iter()
            .map(|usage| format!("{} {:.0}", usage.name, usage.cpu_percent))
            .collect();
        markdown.push_str(&format!(
            "- {} clients, `frames={}`: {}\n",
            fan_out.clients,
            fan_out.frames,
            cpu.join(", ")
        ));
    }
    for fan_out in &report.fan_out {
        if !fan_out.close_reasons.is_empty() {
            markdown.push_str(&format!(
                "\nClosed, {} clients with `frames={}`: {}\n",
                fan_out.clients,
                fan_out.frames,
                fan_out.close_reasons.join("; ")
            ));
        }
    }
    markdown
}
