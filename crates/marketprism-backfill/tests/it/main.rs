//! The backfill against the simulator's trade history and a real NATS server: gaps the
//! collector recorded, or gaps published for windows the simulator's history no longer holds.

mod binance;
mod bybit;
mod lanes;
mod resume;
mod stored;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream;
use marketprism_backfill::BackfillError;
use marketprism_collector::CollectorError;
use marketprism_model::{codec, Event, Gap, GapReason};
use marketprism_testkit::NatsServer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// NATS, the simulator and a collector of `venue` (a `[[venues]]` body without endpoints)
/// recording into the stream; the backfill is started by the test.
pub(crate) struct Run {
    pub(crate) _nats: NatsServer,
    pub(crate) context: jetstream::Context,
    pub(crate) collector: marketprism_collector::Config,
    pub(crate) sim_address: String,
    pub(crate) shutdown: CancellationToken,
}

/// Starts NATS, the simulator and the streams; `venue` is the collector's venue section,
/// with `SIM` standing for the simulator's address.
pub(crate) async fn start(sim: marketprism_sim::Config, venue: &str) -> Run {
    let nats = NatsServer::start().expect("nats-server");
    let shutdown = CancellationToken::new();
    let (sim_address, sim_server) = marketprism_sim::bind(sim, shutdown.clone())
        .await
        .expect("sim");
    tokio::spawn(sim_server);
    let collector: marketprism_collector::Config = toml::from_str(&format!(
        r#"
        listen = "127.0.0.1:0"
        [nats]
        url = "{nats}"
        [connection]
        backoff_initial = "50ms"
        backoff_max = "200ms"
        [[venues]]
        rest_endpoint = "http://{sim_address}"
        {venue}
        "#,
        nats = nats.url(),
        venue = venue.replace("SIM", &sim_address.to_string()),
    ))
    .expect("collector config");
    let client = marketprism_bus::connect(&collector.nats, "test")
        .await
        .expect("connect");
    let context = jetstream::new(client);
    marketprism_bus::ensure_streams(&context, &collector.nats.stream)
        .await
        .expect("streams");
    Run {
        _nats: nats,
        context,
        collector,
        sim_address: sim_address.to_string(),
        shutdown,
    }
}

impl Run {
    /// Starts the collector.
    pub(crate) fn spawn_collector(&self) -> JoinHandle<Result<(), CollectorError>> {
        tokio::spawn(marketprism_collector::run(
            self.collector.clone(),
            self.shutdown.clone(),
        ))
    }

    /// Starts the backfill with `venues` (a TOML array of tables), on this run's NATS.
    pub(crate) fn spawn_backfill(&self, venues: &str) -> JoinHandle<Result<(), BackfillError>> {
        self.spawn_backfill_until(venues, self.shutdown.clone())
    }

    /// Starts the backfill with `venues` until `shutdown` is cancelled.
    pub(crate) fn spawn_backfill_until(
        &self,
        venues: &str,
        shutdown: CancellationToken,
    ) -> JoinHandle<Result<(), BackfillError>> {
        let config: marketprism_backfill::Config = toml::from_str(&format!(
            r#"
            listen = "127.0.0.1:0"
            [nats]
            url = "{nats}"
            [consumer]
            retry_delay = "50ms"
            max_retry_delay = "200ms"
            {venues}
            "#,
            nats = self.collector.nats.url,
        ))
        .expect("backfill config");
        tokio::spawn(marketprism_backfill::run(config, shutdown))
    }

    /// Every event in the stream, in order.
    pub(crate) async fn events(&self) -> Vec<Event> {
        let name = &self.collector.nats.stream.name;
        let mut stream = self.context.get_stream(name).await.expect("stream");
        let last = stream.info().await.expect("info").state.last_sequence;
        let mut events = Vec::new();
        for sequence in 1..=last {
            let message = stream.get_raw_message(sequence).await.expect("message");
            events.extend(codec::decode(&message.subject, &message.payload).expect("events"));
        }
        events
    }

    /// The simulator's report.
    pub(crate) async fn report(&self) -> marketprism_sim::Report {
        reqwest::get(format!("http://{}/control/report", self.sim_address))
            .await
            .expect("report")
            .json()
            .await
            .expect("report JSON")
    }

    /// The simulator's report once it has generated all its trades (waiting up to 30 s).
    pub(crate) async fn generated(&self) -> marketprism_sim::Report {
        for _ in 0..300 {
            let report = self.report().await;
            if report.done {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the simulator did not generate its trades within 30 s");
    }

    /// Waits (up to a minute) until every open trade gap in the stream has a decided status
    /// published after it, and returns each gap's latest state, keyed as the `gaps` table is.
    pub(crate) async fn decided_gaps(&self) -> BTreeMap<GapKey, Gap> {
        for _ in 0..600 {
            let latest = latest_gaps(&self.events().await);
            if latest
                .values()
                .all(|gap| gap.reason.is_book_only() || !gap.state.status.is_open())
            {
                return latest;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "gaps still open: {:?}",
            latest_gaps(&self.events().await)
                .values()
                .filter(|gap| gap.state.status.is_open())
                .collect::<Vec<_>>()
        );
    }

    /// Publishes `gap` as the collector would.
    pub(crate) async fn publish_gap(&self, gap: Gap) {
        marketprism_collector::publish_events(
            &self.collector.nats,
            &self.collector.publish,
            [Event::Gap(gap)],
        )
        .await
        .expect("gap published");
    }

    /// Stops everything, expecting `tasks` to end cleanly.
    pub(crate) async fn stop(
        &self,
        collector: JoinHandle<Result<(), CollectorError>>,
        backfill: JoinHandle<Result<(), BackfillError>>,
    ) {
        self.shutdown.cancel();
        collector.await.expect("join").expect("collector");
        backfill.await.expect("join").expect("backfill");
    }
}

/// The natural key of a `gaps` row.
pub(crate) type GapKey = (String, String, &'static str, i64, i64);

/// The latest published state of every gap, by key: what the `gaps` table keeps.
pub(crate) fn latest_gaps(events: &[Event]) -> BTreeMap<GapKey, Gap> {
    let mut latest = BTreeMap::new();
    for event in events {
        if let Event::Gap(gap) = event {
            let key = (
                gap.symbol.to_string(),
                gap.market_type.to_string(),
                gap.reason.as_str(),
                gap.from_ms,
                gap.to_ms,
            );
            latest.insert(key, gap.clone());
        }
    }
    latest
}

/// A simulator of `symbols` generating `rate` trades a second.
pub(crate) fn sim_config(symbols: &[&str], rate: u32) -> marketprism_sim::Config {
    marketprism_sim::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        symbols: symbols.iter().map(|symbol| (*symbol).to_owned()).collect(),
        rate,
        ping_interval: Duration::from_secs(60),
        ..marketprism_sim::Config::default()
    }
}

/// True for a reason whose window covers every trade of the instrument.
pub(crate) fn is_window(reason: GapReason) -> bool {
    matches!(
        reason,
        GapReason::Disconnect | GapReason::Stale | GapReason::Restart
    )
}
