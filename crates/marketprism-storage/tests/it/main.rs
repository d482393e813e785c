//! Storage against real NATS and ClickHouse servers.

mod archive;
mod consume;
mod migrate;

use marketprism_model::{
    Event, Exchange, Gap, GapReason, MarketType, OrderBook, OrderBookDelta, PriceLevel, Side, Trade,
};
use marketprism_storage::{ClickHouseConfig, Config};
use marketprism_testkit::{ClickHouseServer, NatsServer};

/// Servers for one test, with a configuration pointing at them.
pub(crate) struct Harness {
    /// Held so the servers live as long as the test.
    _nats: NatsServer,
    _clickhouse: ClickHouseServer,
    pub(crate) config: Config,
}

impl Harness {
    pub(crate) fn start(database: &str) -> Self {
        let nats = NatsServer::start().expect("nats-server");
        let clickhouse = ClickHouseServer::start().expect("clickhouse-server");
        let mut config: Config = toml::from_str("listen = \"127.0.0.1:0\"").expect("defaults");
        config.nats.url = nats.url();
        config.clickhouse = ClickHouseConfig {
            url: clickhouse.url(),
            database: database.to_owned(),
            ..ClickHouseConfig::default()
        };
        config.batch.max_wait = std::time::Duration::from_millis(200);
        config.consumer.nak_delay = std::time::Duration::from_millis(200);
        Harness {
            _nats: nats,
            _clickhouse: clickhouse,
            config,
        }
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
        trade_id: id.to_string(),
        aggregated: false,
        price: price.parse().expect("valid"),
        quantity: "0.00100000".parse().expect("valid"),
        side: Side::Buy,
        exchange_time_ms: 1_700_000_000_000 + id as i64,
        received_time_ms: 1_700_000_000_005 + id as i64,
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
