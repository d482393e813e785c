//! Storage against real NATS and ClickHouse servers.

mod analytics;
mod archive;
mod clickhouse_cluster;
mod cluster;
mod consume;
mod failures;
mod listings;
mod migrate;
mod ready;

use std::time::Duration;

use async_nats::jetstream;
use marketprism_bus::ensure_streams;
use marketprism_model::codec;
use marketprism_storage::migrate::migrate;

use marketprism_model::{
    Event, Exchange, FundingRate, Gap, GapReason, GapState, Liquidation, LongShortRatio,
    MarketType, OpenInterest, OrderBook, OrderBookDelta, PriceLevel, RatioKind, Side, Trade,
    TradeSource, VolatilityIndex,
};
use marketprism_storage::{ClickHouseConfig, Config};
use marketprism_testkit::{ClickHouseServer, NatsCluster, NatsServer};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Servers for one test, with a configuration pointing at them.
pub(crate) struct Harness {
    pub(crate) nats: Nats,
    pub(crate) clickhouse: ClickHouseServer,
    pub(crate) config: Config,
}

/// The NATS a harness runs on, held so that it lives as long as the test.
pub(crate) enum Nats {
    /// One server.
    Server(NatsServer),
    /// A JetStream cluster, its streams with three replicas.
    Cluster(NatsCluster),
}

impl Harness {
    pub(crate) fn start(database: &str) -> Self {
        Self::start_on(
            Nats::Server(NatsServer::start().expect("nats-server")),
            database,
        )
    }

    pub(crate) fn start_on(nats: Nats, database: &str) -> Self {
        Self::start_with(
            nats,
            ClickHouseServer::start().expect("clickhouse-server"),
            database,
        )
    }

    /// Servers for one test on `nats` and `clickhouse`.
    pub(crate) fn start_with(nats: Nats, clickhouse: ClickHouseServer, database: &str) -> Self {
        let mut config: Config = toml::from_str("listen = \"127.0.0.1:0\"").expect("defaults");
        match &nats {
            Nats::Server(server) => config.nats.url = server.url(),
            Nats::Cluster(cluster) => {
                config.nats.url = cluster.url();
                config.nats.stream.replicas = 3;
            }
        }
        config.clickhouse = ClickHouseConfig {
            url: clickhouse.url(),
            database: database.to_owned(),
            ..ClickHouseConfig::default()
        };
        config.batch.max_wait = std::time::Duration::from_millis(200);
        config.consumer.retry_delay = std::time::Duration::from_millis(200);
        Harness {
            nats,
            clickhouse,
            config,
        }
    }

    /// Runs storage on the harness's configuration until the returned token is cancelled.
    pub(crate) fn run_storage(
        &self,
    ) -> (
        CancellationToken,
        JoinHandle<Result<(), marketprism_storage::StorageError>>,
    ) {
        let shutdown = CancellationToken::new();
        let storage = tokio::spawn(marketprism_storage::run(
            self.config.clone(),
            shutdown.clone(),
        ));
        (shutdown, storage)
    }

    /// The harness's configuration, giving up on a silent ClickHouse quickly: 1 s requests,
    /// a 3 s ack wait and retries at most 500 ms apart.
    pub(crate) fn impatient_config(&self) -> Config {
        let mut config = self.config.clone();
        config.clickhouse.request_timeout = Duration::from_secs(1);
        config.consumer.ack_wait = Duration::from_secs(3);
        config.consumer.max_retry_delay = Duration::from_millis(500);
        config
    }

    pub(crate) fn client(&self) -> clickhouse::Client {
        self.config.clickhouse.database_client().expect("client")
    }
}

pub(crate) fn trade(id: u64, price: &str) -> Event {
    Event::Trade(Trade {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        symbol: "BTC-USDT".parse().expect("valid"),
        trade_id: id.to_string().into(),
        aggregated: false,
        price: price.parse().expect("valid"),
        quantity: "0.00100000".parse().expect("valid"),
        side: Side::Buy,
        exchange_time_ms: 1_700_000_000_000 + id as i64,
        received_time_ms: 1_700_000_000_005 + id as i64,
        sequence: None,
        source: TradeSource::Ws,
    })
}

pub(crate) fn gap() -> Event {
    Event::Gap(Gap {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        symbol: "BTC-USDT".parse().expect("valid"),
        from_ms: 1_700_000_000_000,
        to_ms: 1_700_000_001_000,
        reason: GapReason::Disconnect,
        received_time_ms: 1_700_000_001_000,
        missing_ids: None,
        state: GapState::default(),
        collector: None,
    })
}

pub(crate) fn orderbook(update_id: u64) -> Event {
    let level = |price: &str, quantity: &str| {
        PriceLevel::new(
            price.parse().expect("valid"),
            quantity.parse().expect("valid"),
        )
    };
    Event::OrderBook(OrderBook {
        exchange: Exchange::Okx,
        market_type: MarketType::Perpetual,
        symbol: "BTC-USDT".parse().expect("valid"),
        update_id,
        exchange_time_ms: 1_700_000_000_000,
        received_time_ms: 1_700_000_000_004,
        bids: vec![level("100.10", "2"), level("99.5", "0.001")],
        asks: vec![level("100.2", "0.5")],
    })
}

pub(crate) fn orderbook_delta(update_id: u64) -> Event {
    let level = |price: &str, quantity: &str| {
        PriceLevel::new(
            price.parse().expect("valid"),
            quantity.parse().expect("valid"),
        )
    };
    Event::OrderBookDelta(OrderBookDelta {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        symbol: "BTC-USDT".parse().expect("valid"),
        snapshot: false,
        first_update_id: update_id - 2,
        update_id,
        exchange_time_ms: 1_700_000_000_000,
        received_time_ms: 1_700_000_000_004,
        bids: vec![level("100.10", "0")],
        asks: vec![level("100.2", "0.5"), level("100.3", "1")],
    })
}

/// One event of each derivatives data type, with optional fields both set and absent.
pub(crate) fn derivatives() -> Vec<Event> {
    let decimal = |text: &str| text.parse().expect("valid");
    let symbol = || "BTC-USDT".parse().expect("valid");
    vec![
        Event::FundingRate(FundingRate {
            exchange: Exchange::Binance,
            market_type: MarketType::Perpetual,
            symbol: symbol(),
            funding_rate: decimal("0.00010000"),
            predicted_rate: None,
            next_funding_time_ms: Some(1_700_006_400_000),
            mark_price: Some(decimal("65117.43000000")),
            index_price: None,
            exchange_time_ms: 1_700_000_000_000,
            received_time_ms: 1_700_000_000_003,
        }),
        Event::OpenInterest(OpenInterest {
            exchange: Exchange::Bybit,
            market_type: MarketType::Perpetual,
            symbol: symbol(),
            open_interest: decimal("59892.404"),
            open_interest_value: Some(decimal("3899995666.09")),
            exchange_time_ms: 1_700_000_000_000,
            received_time_ms: 1_700_000_000_003,
        }),
        Event::Liquidation(Liquidation {
            exchange: Exchange::Okx,
            market_type: MarketType::Perpetual,
            symbol: symbol(),
            side: Side::Sell,
            price: decimal("64000.1"),
            quantity: decimal("12"),
            exchange_time_ms: 1_700_000_000_000,
            received_time_ms: 1_700_000_000_003,
        }),
        Event::VolatilityIndex(VolatilityIndex {
            exchange: Exchange::Deribit,
            market_type: MarketType::Options,
            symbol: "BTC".parse().expect("valid"),
            value: decimal("52.31"),
            exchange_time_ms: 1_700_000_000_000,
            received_time_ms: 1_700_000_000_003,
        }),
        Event::LongShortRatio(LongShortRatio {
            exchange: Exchange::Binance,
            market_type: MarketType::Perpetual,
            symbol: symbol(),
            kind: RatioKind::TopPositions,
            period: "5m".into(),
            ratio: decimal("1.4342"),
            long_share: Some(decimal("0.5891")),
            short_share: Some(decimal("0.4108")),
            exchange_time_ms: 1_700_000_000_000,
            received_time_ms: 1_700_000_000_003,
        }),
    ]
}

/// Polls `query` until it returns `expected` or ten seconds pass; returns the last value.
pub(crate) async fn eventually(client: &clickhouse::Client, query: &str, expected: u64) -> u64 {
    let mut last = 0;
    for _ in 0..100 {
        last = client.query(query).fetch_one::<u64>().await.unwrap_or(0);
        if last == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    last
}

pub(crate) async fn publish(context: &jetstream::Context, event: &Event) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, event.msg_id().as_str());
    context
        .publish_with_headers(event.subject(), headers, codec::encode(event).into())
        .await
        .expect("publish")
        .await
        .expect("ack");
}

pub(crate) async fn consumer_info(
    context: &jetstream::Context,
    harness: &Harness,
) -> jetstream::consumer::Info {
    let mut consumer: jetstream::consumer::PullConsumer = context
        .get_stream(&harness.config.nats.stream.name)
        .await
        .expect("stream")
        .get_consumer(&harness.config.consumer.durable_name)
        .await
        .expect("consumer");
    consumer.info().await.expect("consumer info").clone()
}

/// The dead-letter stream, once it holds `count` messages (up to five seconds).
pub(crate) async fn dead_letters(
    context: &jetstream::Context,
    harness: &Harness,
    count: u64,
) -> jetstream::stream::Stream {
    let mut deadletters = context
        .get_stream(&harness.config.nats.stream.deadletter_name)
        .await
        .expect("dead-letter stream");
    let mut stored = 0;
    for _ in 0..50 {
        stored = deadletters.info().await.expect("info").state.messages;
        if stored == count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, count);
    deadletters
}

pub(crate) async fn setup(harness: &Harness) -> jetstream::Context {
    migrate(&harness.config.clickhouse).await.expect("migrate");
    let client = marketprism_bus::connect(&harness.config.nats, "test")
        .await
        .expect("connect");
    let context = jetstream::new(client);
    ensure_streams(&context, &harness.config.nats.stream)
        .await
        .expect("streams");
    context
}
