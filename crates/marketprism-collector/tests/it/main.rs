//! The collector against the simulator and a real NATS server.

mod active;
mod books;
mod cluster;
mod coinbase;
mod connections;
mod continuity;
mod derivatives;
mod discovery;
mod markets;
mod outage;
mod polls;
mod publish;
mod ready;
mod unsynced;

use std::time::Duration;

use async_nats::jetstream;
use marketprism_bus::ensure_streams;
use marketprism_collector::{CollectorError, Config, VenueConfig};
use marketprism_model::{codec, Event, Exchange, GapReason, MarketType, Side, Trade, TradeSource};
use marketprism_testkit::{NatsCluster, NatsServer};
use marketprism_venues::VenueKind;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What a run's collector publishes to: one nats-server, or a cluster.
pub(crate) trait Bus {
    /// The `nats.url` reaching it.
    fn url(&self) -> String;
    /// Copies of each stream it keeps.
    fn replicas(&self) -> usize;
}

impl Bus for NatsServer {
    fn url(&self) -> String {
        NatsServer::url(self)
    }

    fn replicas(&self) -> usize {
        1
    }
}

impl Bus for NatsCluster {
    fn url(&self) -> String {
        NatsCluster::url(self)
    }

    fn replicas(&self) -> usize {
        self.nodes().len().min(3)
    }
}

pub(crate) struct Run<N = NatsServer> {
    pub(crate) nats: N,
    pub(crate) context: jetstream::Context,
    pub(crate) config: Config,
    pub(crate) sim_address: String,
    pub(crate) shutdown: CancellationToken,
}

/// A running collector's task.
pub(crate) type Collector = JoinHandle<Result<(), CollectorError>>;

impl<N> Run<N> {
    /// Starts the collector with this run's configuration.
    pub(crate) fn spawn_collector(&self) -> Collector {
        tokio::spawn(marketprism_collector::run(
            self.config.clone(),
            self.shutdown.clone(),
        ))
    }

    /// Shuts the run down and waits for `collector` to stop cleanly.
    pub(crate) async fn stop(&self, collector: Collector) {
        self.shutdown.cancel();
        collector.await.expect("join").expect("clean shutdown");
    }

    /// Runs the collector for `duration`, then reads the simulator's report and stops both.
    /// The simulator stops with the collector: its report is read first.
    pub(crate) async fn collect_for(&self, duration: Duration) -> marketprism_sim::Report {
        let collector = self.spawn_collector();
        tokio::time::sleep(duration).await;
        let report = sim_report(&self.sim_address).await;
        self.stop(collector).await;
        report
    }

    /// `venue` at the simulator: its WebSocket endpoint at `path`, its REST endpoint, and
    /// `symbols`, with no channels and no polls.
    pub(crate) fn sim_venue(&self, venue: VenueKind, path: &str, symbols: &[&str]) -> VenueConfig {
        VenueConfig {
            venue,
            endpoint: Some(format!("ws://{}{path}", self.sim_address)),
            rest_endpoint: Some(format!("http://{}", self.sim_address)),
            symbols: symbols.iter().map(|symbol| (*symbol).to_owned()).collect(),
            channels: Vec::new(),
            polls: Vec::new(),
            discover: None,
        }
    }

    /// The number of messages stored in `stream`.
    pub(crate) async fn stored_messages(&self, stream: &str) -> u64 {
        self.context
            .get_stream(stream)
            .await
            .expect("stream")
            .info()
            .await
            .expect("info")
            .state
            .messages
    }
}

/// A run on a fresh nats-server: the simulator with `sim`, a collector configuration for
/// its Binance spot trades with `watchdog`, and the streams.
pub(crate) async fn start(sim: marketprism_sim::Config, watchdog: &str) -> Run {
    start_on(NatsServer::start().expect("nats-server"), sim, watchdog).await
}

/// A run as [`start`] makes, on `nats`.
pub(crate) async fn start_on<N: Bus>(
    nats: N,
    sim: marketprism_sim::Config,
    watchdog: &str,
) -> Run<N> {
    let shutdown = CancellationToken::new();
    let (sim_address, sim_server) = marketprism_sim::bind(sim, shutdown.clone())
        .await
        .expect("sim");
    tokio::spawn(sim_server);
    let config: Config = toml::from_str(&format!(
        r#"
        listen = "127.0.0.1:0"
        [nats]
        url = "{nats}"
        stream.replicas = {replicas}
        [connection]
        backoff_initial = "50ms"
        backoff_max = "200ms"
        watchdog = "{watchdog}"
        [[venues]]
        venue = "binance_spot"
        endpoint = "ws://{sim_address}"
        rest_endpoint = "http://{sim_address}"
        symbols = ["BTC-USDT", "ETH-USDT"]
        channels = ["trades"]
        "#,
        nats = nats.url(),
        replicas = nats.replicas(),
    ))
    .expect("config");
    let client = marketprism_bus::connect(&config.nats, "test")
        .await
        .expect("connect");
    let context = jetstream::new(client);
    ensure_streams(&context, &config.nats.stream)
        .await
        .expect("streams");
    Run {
        nats,
        context,
        config,
        sim_address: sim_address.to_string(),
        shutdown,
    }
}

pub(crate) fn sim_config(rate: u32) -> marketprism_sim::Config {
    marketprism_sim::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        rate,
        ping_interval: Duration::from_secs(60),
        ..marketprism_sim::Config::default()
    }
}

/// The simulator symbol behind a normalized symbol: a pair's assets (`BTC-USDT` →
/// `BTCUSDT`), also where an OKX or a linear Deribit id goes on (`BTC-USDT-261225`,
/// `BTC-USDT-25DEC26-60000-C` → `BTCUSDT`); an inverse Deribit option names its base alone
/// (`BTC-25DEC26-60000-C` → `BTCUSD`), a volatility index its currency (`BTC`).
pub(crate) fn sim_symbol(symbol: &str) -> String {
    let mut segments = symbol.split('-');
    let base = segments.next().unwrap_or_default();
    match segments.next() {
        None => base.to_owned(),
        Some(quote) if quote.bytes().all(|byte| byte.is_ascii_alphabetic()) => {
            format!("{base}{quote}")
        }
        Some(_) => format!("{base}USD"),
    }
}

/// Every event in the stream, in order.
/// Every market-data and gap event in the stream, in order: the listings the collector
/// publishes from the venues' instrument lists are left out (see [`stored_listings`]).
pub(crate) async fn all_events(context: &jetstream::Context, stream: &str) -> Vec<Event> {
    let mut events = stored(context, stream).await;
    events.retain(|event| !matches!(event, Event::Listing(_)));
    events
}

/// Every listing in the stream, in order.
pub(crate) async fn stored_listings(
    context: &jetstream::Context,
    stream: &str,
) -> Vec<marketprism_model::Listing> {
    stored(context, stream)
        .await
        .into_iter()
        .filter_map(|event| match event {
            Event::Listing(listing) => Some(listing),
            _ => None,
        })
        .collect()
}

/// Every event in the stream, in order.
async fn stored(context: &jetstream::Context, stream: &str) -> Vec<Event> {
    let mut stream = context.get_stream(stream).await.expect("stream");
    let last = stream.info().await.expect("info").state.last_sequence;
    let mut events = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await.expect("message");
        events.extend(codec::decode(&message.subject, &message.payload).expect("valid events"));
    }
    events
}

/// A Binance spot trade of `symbol` at 100.5 for 0.001, received a millisecond after
/// `exchange_time_ms`.
pub(crate) fn trade(symbol: &str, side: Side, trade_id: String, exchange_time_ms: i64) -> Event {
    Event::Trade(Trade {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        symbol: symbol.parse().expect("valid"),
        trade_id: trade_id.into(),
        aggregated: false,
        price: "100.5".parse().expect("valid"),
        quantity: "0.001".parse().expect("valid"),
        side,
        exchange_time_ms,
        received_time_ms: exchange_time_ms + 1,
        sequence: None,
        source: TradeSource::Ws,
    })
}

/// Once the simulator has made every trade: the trades it delivered, as `SYMBOL:id` with
/// the simulator's symbol (`BTCUSDT`).
pub(crate) async fn delivered_trades(sim_address: &str) -> std::collections::HashSet<String> {
    let report = finished_report(sim_address).await;
    report
        .trades
        .iter()
        .filter(|trade| trade.delivered)
        .map(|trade| format!("{}:{}", trade.symbol, trade.trade_id))
        .collect()
}

/// The simulator's report once it has made every trade.
pub(crate) async fn finished_report(sim_address: &str) -> marketprism_sim::Report {
    loop {
        let report = sim_report(sim_address).await;
        if report.done {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Price levels of a book frame's `[price, quantity]` pairs.
pub(crate) fn levels(side: &[[String; 2]]) -> Vec<marketprism_model::PriceLevel> {
    side.iter()
        .map(|[price, quantity]| {
            marketprism_model::PriceLevel::new(
                price.parse::<marketprism_model::Decimal>().expect("price"),
                quantity
                    .parse::<marketprism_model::Decimal>()
                    .expect("quantity"),
            )
        })
        .collect()
}

/// The simulator's report.
pub(crate) async fn sim_report(sim_address: &str) -> marketprism_sim::Report {
    reqwest::get(format!("http://{sim_address}/control/report"))
        .await
        .expect("report")
        .json()
        .await
        .expect("report JSON")
}

/// Waits up to ten seconds for an event on `subject` and returns the first.
async fn first_event(context: &jetstream::Context, stream: &str, subject: &str) -> Option<Event> {
    for _ in 0..100 {
        let first = all_events(context, stream)
            .await
            .into_iter()
            .find(|event| event.subject() == subject);
        if first.is_some() {
            return first;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Waits up to ten seconds for the last message on `subject` and decodes its last event.
pub(crate) async fn last_event(
    context: &jetstream::Context,
    stream: &str,
    subject: &str,
) -> Option<Event> {
    let stream = context.get_stream(stream).await.expect("stream");
    for _ in 0..100 {
        if let Ok(message) = stream.get_last_raw_message_by_subject(subject).await {
            return codec::decode(subject, &message.payload)
                .expect("valid events")
                .pop();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn publishes_trades_and_a_gap_per_symbol_after_a_dropped_connection() {
    let run = start(sim_config(200), "30s").await;
    let collector = run.spawn_collector();
    let stream = &run.config.nats.stream.name;

    let Some(Event::Trade(trade)) =
        last_event(&run.context, stream, "trade.binance.spot.BTC-USDT").await
    else {
        panic!("no trade published");
    };
    assert_eq!(trade.symbol.as_str(), "BTC-USDT");

    reqwest::Client::new()
        .post(format!("http://{}/control/disconnect", run.sim_address))
        .send()
        .await
        .expect("disconnect");
    for symbol in ["BTC-USDT", "ETH-USDT"] {
        // The disconnect gap comes first; the trades the reconnect missed follow it as a
        // `trade_id_gap`.
        let Some(Event::Gap(gap)) =
            first_event(&run.context, stream, &format!("gap.binance.spot.{symbol}")).await
        else {
            panic!("no gap for {symbol}");
        };
        assert_eq!(gap.reason, GapReason::Disconnect);
        assert!(gap.from_ms <= gap.to_ms);
    }

    run.stop(collector).await;
}

#[tokio::test]
async fn a_silent_socket_is_replaced_and_reported_stale() {
    // Rate 0: the simulator accepts the subscription, then never sends a frame.
    let run = start(sim_config(0), "300ms").await;
    let collector = run.spawn_collector();
    let Some(Event::Gap(gap)) = last_event(
        &run.context,
        &run.config.nats.stream.name,
        "gap.binance.spot.ETH-USDT",
    )
    .await
    else {
        panic!("no gap after the watchdog fired");
    };
    assert_eq!(gap.reason, GapReason::Stale);
    run.stop(collector).await;
}

#[tokio::test]
async fn unparseable_frames_are_dead_lettered_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("capture.jsonl");
    let frame = |payload: &str| {
        serde_json::json!({"venue": "binance-spot", "kind": "ws", "recv_ts": 1.0, "conn": "c", "url": "wss://x", "payload": payload})
            .to_string()
    };
    let broken = r#"{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":1,"p":"one","q":"1","T":1,"m":true}}"#;
    let valid = r#"{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":2,"p":"1.5","q":"1","T":1,"m":true}}"#;
    std::fs::write(&capture, format!("{}\n{}\n", frame(broken), frame(valid)))
        .expect("write capture");
    let mut sim = sim_config(0);
    sim.replay = Some(capture);
    sim.replay_speed = 0.0;

    let run = start(sim, "30s").await;
    let collector = run.spawn_collector();
    let Some(Event::Trade(trade)) = last_event(
        &run.context,
        &run.config.nats.stream.name,
        "trade.binance.spot.BTC-USDT",
    )
    .await
    else {
        panic!("the valid frame was not published");
    };
    assert_eq!(trade.trade_id, "2");
    let deadletters = run
        .context
        .get_stream(&run.config.nats.stream.deadletter_name)
        .await
        .expect("stream");
    let letter = deadletters
        .get_last_raw_message_by_subject("deadletter.collector.binance.spot")
        .await
        .expect("dead letter stored");
    assert_eq!(letter.payload.as_ref(), broken.as_bytes());
    run.stop(collector).await;
}

#[tokio::test]
async fn a_nats_restart_loses_and_duplicates_nothing() {
    let mut sim = sim_config(500);
    sim.count = Some(2000);
    let mut run = start(sim, "30s").await;
    let collector = run.spawn_collector();
    let stream_name = run.config.nats.stream.name.clone();
    last_event(&run.context, &stream_name, "trade.binance.spot.ETH-USDT")
        .await
        .expect("publishing");

    run.nats.restart().expect("restart nats-server");

    let report = finished_report(&run.sim_address).await;
    let delivered = report.trades.iter().filter(|trade| trade.delivered).count();
    assert!(delivered > 0);
    let mut stored = Vec::new();
    for _ in 0..200 {
        stored = all_events(&run.context, &stream_name).await;
        if stored.len() >= delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let distinct: std::collections::HashSet<String> = stored.iter().map(Event::msg_id).collect();
    assert_eq!(
        (stored.len(), distinct.len()),
        (delivered, delivered),
        "every delivered trade stored exactly once"
    );
    run.stop(collector).await;
}

/// A window of unresolved publishes larger than the NATS client's default ack permits
/// (5,000) must not stall publishing, even when the server stops answering for a while and
/// every permit is taken.
#[tokio::test]
async fn a_publish_window_beyond_the_client_default_survives_a_stalled_server() {
    const EVENTS: u64 = 30_000;
    let run = start(sim_config(0), "30s").await;
    let events =
        (0..EVENTS).map(|index| trade("BTC-USDT", Side::Buy, index.to_string(), 1_700_000_000_000));
    let nats = run.config.nats.clone();
    // One event per message, so that the window holds more publishes than the client's
    // default of 5,000 permits.
    let publish = marketprism_collector::PublishConfig {
        max_outstanding_acks: 16_384,
        max_events_per_message: 1,
        ..Default::default()
    };
    let publishing = tokio::spawn(async move {
        marketprism_collector::publish_events(&nats, &publish, events).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    run.nats.pause().expect("pause nats-server");
    tokio::time::sleep(Duration::from_secs(3)).await;
    run.nats.resume().expect("resume nats-server");
    let published = tokio::time::timeout(Duration::from_secs(60), publishing)
        .await
        .expect("publishing finished instead of stalling")
        .expect("join")
        .expect("published");
    assert_eq!(published, EVENTS);
    assert_eq!(
        run.stored_messages(&run.config.nats.stream.name).await,
        EVENTS
    );
}

#[tokio::test]
async fn a_backlog_is_published_in_fewer_messages_every_event_once_in_order() {
    const EVENTS: u64 = 20_000;
    let run = start(sim_config(0), "30s").await;
    let events: Vec<Event> = (0..EVENTS)
        .map(|index| {
            let symbol = if index % 3 == 0 {
                "ETH-USDT"
            } else {
                "BTC-USDT"
            };
            trade(
                symbol,
                Side::Sell,
                index.to_string(),
                1_700_000_000_000 + index as i64,
            )
        })
        .collect();
    let published = marketprism_collector::publish_events(
        &run.config.nats,
        &marketprism_collector::PublishConfig::default(),
        events.clone(),
    )
    .await
    .expect("published");
    assert_eq!(published, EVENTS);

    let stream = &run.config.nats.stream.name;
    let messages = run.stored_messages(stream).await;
    assert!(
        messages < EVENTS,
        "{messages} messages for {EVENTS} queued events"
    );
    let stored = all_events(&run.context, stream).await;
    for symbol in ["BTC-USDT", "ETH-USDT"] {
        let of_symbol = |events: &[Event]| -> Vec<Event> {
            events
                .iter()
                .filter(|event| event.symbol().as_str() == symbol)
                .cloned()
                .collect()
        };
        assert_eq!(of_symbol(&stored), of_symbol(&events), "{symbol}");
    }
}

/// Trades of BTC-USDT and ETH-USDT reach the stream, the `NOPE-USDT` configured beside them
/// is counted once in `symbols_refused`, and no gap was recorded: the collector behaves as
/// if the symbol had never been configured.
async fn recorded_without_nope(run: &Run, port: u16) {
    let stream = &run.config.nats.stream.name;
    for symbol in ["BTC-USDT", "ETH-USDT"] {
        let trade = last_event(
            &run.context,
            stream,
            &format!("trade.binance.spot.{symbol}"),
        )
        .await;
        assert!(
            matches!(trade, Some(Event::Trade(_))),
            "no {symbol} trade with NOPE-USDT configured beside it"
        );
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.lines().any(|line| {
            line.starts_with("marketprism_collector_symbols_refused_total") && line.ends_with(" 1")
        }),
        "{metrics}"
    );
    let events = all_events(&run.context, stream).await;
    let gaps: Vec<&Event> = events
        .iter()
        .filter(|event| matches!(event, Event::Gap(_)))
        .collect();
    assert!(gaps.is_empty(), "{gaps:?}");
}

/// The run's collector on a fixed port, recording BTC-USDT, NOPE-USDT (which the simulator
/// does not list) and ETH-USDT; the port.
fn with_nope(run: &mut Run) -> u16 {
    let port = marketprism_servers::free_port().expect("port");
    run.config.listen = ([127, 0, 0, 1], port).into();
    run.config.venues[0].symbols = vec![
        "BTC-USDT".to_owned(),
        "NOPE-USDT".to_owned(),
        "ETH-USDT".to_owned(),
    ];
    port
}

#[tokio::test]
async fn a_symbol_the_venue_does_not_list_is_left_out_before_subscribing() {
    let mut run = start(sim_config(200), "30s").await;
    let port = with_nope(&mut run);
    let collector = run.spawn_collector();
    recorded_without_nope(&run, port).await;
    let report = sim_report(&run.sim_address).await;
    run.stop(collector).await;
    assert!(
        report
            .rest_requests
            .iter()
            .any(|request| request.path.starts_with("/api/v3/exchangeInfo")),
        "the instrument list was not asked for"
    );
}

/// Without an instrument list (the REST endpoint does not answer), the venue's refusal of
/// the subscription names the symbol, which is left out, and the other symbols record.
#[tokio::test]
async fn a_symbol_the_venue_refuses_is_left_out_and_the_others_record() {
    let mut run = start(sim_config(200), "30s").await;
    let port = with_nope(&mut run);
    let closed = marketprism_servers::free_port().expect("port");
    run.config.venues[0].rest_endpoint = Some(format!("http://127.0.0.1:{closed}"));
    let collector = run.spawn_collector();
    recorded_without_nope(&run, port).await;
    run.stop(collector).await;
}
