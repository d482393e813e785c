//! The gateway against real NATS and ClickHouse servers: known rows and gaps are written to
//! the tables storage writes, then every endpoint's answer is compared with what they hold.

mod api;
mod limits;
mod status;
mod stream;
mod users;

use marketprism_gateway::source::Reader;
use marketprism_gateway::Config;
use marketprism_model::{
    Event, Exchange, MarketType, OrderBook, PriceLevel, Side, Trade, TradeSource,
};
use marketprism_storage::migrate::migrate;
use marketprism_storage::{ClickHouseConfig, GapRow, OrderBookRow, StoredRow, TradeRow};
use marketprism_testkit::{ClickHouseServer, NatsServer, Release};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// 2026-11-27T00:00:00Z, Unix milliseconds: the day the rows are on.
pub(crate) const T0: i64 = 1_795_737_600_000;

/// Servers, a migrated database and a gateway reading it.
pub(crate) struct Harness {
    _nats: NatsServer,
    _clickhouse: ClickHouseServer,
    pub(crate) config: Config,
    pub(crate) base: String,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Harness {
    /// Servers and a migrated database `database`, without a gateway yet.
    pub(crate) async fn servers(
        release: Release,
        database: &str,
    ) -> (NatsServer, ClickHouseServer, Config) {
        let nats = NatsServer::start().expect("nats-server");
        let clickhouse = ClickHouseServer::start_release(release).expect("clickhouse-server");
        let mut config: Config =
            toml::from_str("listen = \"127.0.0.1:0\"\nhealth_interval = \"100ms\"")
                .expect("defaults");
        config.nats.url = nats.url();
        config.clickhouse = ClickHouseConfig {
            url: clickhouse.url(),
            database: database.to_owned(),
            ..ClickHouseConfig::default()
        };
        migrate(&config.clickhouse).await.expect("migrate");
        (nats, clickhouse, config)
    }

    /// Servers holding the rows of [`insert_rows`], and a gateway on `config` as `adjust`
    /// leaves it.
    pub(crate) async fn start(database: &str, adjust: impl FnOnce(&mut Config)) -> Harness {
        Self::start_release(Release::Current, database, adjust).await
    }

    /// [`Harness::start`] on the ClickHouse of `release`.
    pub(crate) async fn start_release(
        release: Release,
        database: &str,
        adjust: impl FnOnce(&mut Config),
    ) -> Harness {
        let (nats, clickhouse, mut config) = Self::servers(release, database).await;
        insert_rows(&config.clickhouse).await;
        adjust(&mut config);
        let shutdown = CancellationToken::new();
        let (address, server) = marketprism_gateway::bind(config.clone(), shutdown.clone())
            .await
            .expect("gateway starts");
        tokio::spawn(server);
        Harness {
            _nats: nats,
            _clickhouse: clickhouse,
            config,
            base: format!("http://{address}"),
            shutdown,
        }
    }

    /// `GET path`: the status and the body.
    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.base))
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// `GET path`, answered 200 with JSON.
    pub(crate) async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|error| panic!("{path}: {error}: {body}"))
    }

    /// `GET path`, answered 200 with NDJSON: its lines.
    pub(crate) async fn ndjson(&self, path: &str) -> Vec<Value> {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.is_empty() || body.ends_with('\n'), "{path}: {body}");
        body.lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"))
            })
            .collect()
    }

    /// The event stream of the harness's NATS, created.
    pub(crate) async fn jetstream(&self) -> async_nats::jetstream::Context {
        let client = marketprism_bus::connect(&self.config.nats, "test")
            .await
            .expect("nats");
        let context = async_nats::jetstream::new(client);
        marketprism_bus::ensure_streams(&context, &self.config.nats.stream)
            .await
            .expect("streams");
        context
    }
}

/// Checks that the gateway's reader on `config` is refused a write.
pub(crate) async fn assert_write_refused(config: &Config) {
    let reader = Reader::new(&config.clickhouse, &config.query).expect("reader");
    let refused = reader
        .query("INSERT INTO gaps SELECT * FROM gaps")
        .await
        .expect("the server's dialect")
        .execute()
        .await
        .expect_err("a write");
    assert!(refused.to_string().contains("readonly"), "{refused}");
}

pub(crate) fn trade(symbol: &str, id: u64, at: i64, price: &str) -> Event {
    Event::Trade(Trade {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        symbol: symbol.parse().expect("valid"),
        trade_id: id.to_string().into(),
        aggregated: false,
        price: price.parse().expect("valid"),
        quantity: "0.00100000".parse().expect("valid"),
        side: if id.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        },
        exchange_time_ms: T0 + at,
        received_time_ms: T0 + at + 5,
        sequence: None,
        source: TradeSource::Ws,
    })
}

/// A Binance spot book of `symbol` at `at` from [`T0`], received 4 ms later, with `bids`
/// and `asks` as (price, quantity).
pub(crate) fn book(
    symbol: &str,
    update_id: u64,
    at: i64,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
) -> Event {
    let levels = |side: &[(&str, &str)]| {
        side.iter()
            .map(|(price, quantity)| {
                PriceLevel::new(
                    price.parse().expect("valid"),
                    quantity.parse().expect("valid"),
                )
            })
            .collect()
    };
    Event::OrderBook(OrderBook {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        symbol: symbol.parse().expect("valid"),
        update_id,
        exchange_time_ms: T0 + at,
        received_time_ms: T0 + at + 4,
        bids: levels(bids),
        asks: levels(asks),
    })
}

/// A gap row of a Binance spot feed, its window from [`T0`].
pub(crate) fn gap(
    symbol: &str,
    collector: &str,
    reason: &str,
    status: &str,
    (from, to): (i64, i64),
) -> GapRow {
    GapRow {
        exchange: "binance".into(),
        market_type: "spot".into(),
        symbol: symbol.into(),
        reason: reason.into(),
        from_time: T0 + from,
        to_time: T0 + to,
        received_time: T0 + to,
        first_missing_id: None,
        last_missing_id: None,
        status: status.into(),
        recovered: None,
        unrecovered: None,
        status_detail: String::new(),
        collector: collector.into(),
    }
}

/// The [`gap`] of the same arguments as the API answers it (`/v1/coverage`, `/v1/status`).
pub(crate) fn stored_gap(
    symbol: &str,
    collector: &str,
    reason: &str,
    status: &str,
    (from, to): (i64, i64),
) -> Value {
    json!({
        "exchange": "binance", "market": "spot", "symbol": symbol, "collector": collector,
        "reason": reason, "status": status, "from_ms": T0 + from, "to_ms": T0 + to,
        "recovered": null, "unrecovered": null, "status_detail": "",
    })
}

pub(crate) async fn write<R: StoredRow>(client: &clickhouse::Client, rows: &[R]) {
    let mut insert = client.insert::<R>(R::TABLE.name).await.expect("insert");
    for row in rows {
        insert.write(row).await.expect("write");
    }
    insert.end().await.expect("commit");
}

pub(crate) fn rows<R: StoredRow>(events: &[Event]) -> Vec<R> {
    events
        .iter()
        .map(|event| R::from_event(event).expect("its table").expect("storable"))
        .collect()
}

/// The rows every test reads, times from [`T0`]:
///
/// * BTC-USDT trades at 0, 1 s, 61 s, 61.5 s and 179 s, books at 61.2 s and 120.5 s, each
///   written twice (a redelivery, which `FINAL` hides);
/// * one unnamed collector's BTC-USDT gaps: a filled trade-id gap at 5–6 s, an open
///   disconnect at 62–90 s, a closed sequence break at 100–110 s;
/// * an ETH-USDT trade at 62 s, and the gaps of collectors `a` (10–20 s) and `b` (15–30 s).
pub(crate) async fn insert_rows(config: &ClickHouseConfig) {
    let client = config.database_client().expect("client");
    let trades = [
        trade("BTC-USDT", 0, 0, "97000.5"),
        trade("BTC-USDT", 1, 1_000, "97001"),
        trade("BTC-USDT", 2, 61_000, "97002.25"),
        trade("BTC-USDT", 3, 61_500, "97003"),
        trade("BTC-USDT", 4, 179_000, "97004"),
        trade("ETH-USDT", 10, 62_000, "3500.1"),
    ];
    let book = |update_id: u64, at: i64| {
        book(
            "BTC-USDT",
            update_id,
            at,
            &[("100.10", "2"), ("99.5", "0.001")],
            &[("100.2", "0.5")],
        )
    };
    let books = [book(100, 61_200), book(101, 120_500)];
    for _ in 0..2 {
        write::<TradeRow>(&client, &rows(&trades)).await;
        write::<OrderBookRow>(&client, &rows(&books)).await;
    }
    write(
        &client,
        &[
            gap("BTC-USDT", "", "trade_id_gap", "filled", (5_000, 6_000)),
            gap("BTC-USDT", "", "disconnect", "open", (62_000, 90_000)),
            gap(
                "BTC-USDT",
                "",
                "sequence_break",
                "closed",
                (100_000, 110_000),
            ),
            gap("ETH-USDT", "a", "disconnect", "open", (10_000, 20_000)),
            gap("ETH-USDT", "b", "stale", "open", (15_000, 30_000)),
        ],
    )
    .await;
}

/// The 400 answer's named parameter.
pub(crate) async fn bad_parameter(harness: &Harness, path: &str) -> String {
    let (status, body) = harness.get(path).await;
    assert_eq!(status, 400, "{path}: {body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    body["parameter"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no parameter in {body}"))
        .to_owned()
}
