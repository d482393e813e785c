//! Storage on a replicated, sharded ClickHouse (2 shards × 2 replicas of Debian's 18.16 with
//! ZooKeeper): `migrate` creates the schema on every node once; rows written by the
//! consumer are split between the shards by symbol and held by both replicas of each
//! shard; a retried insert adds no row; an insert succeeds with a replica down, which
//! catches up once back; archiving reads the cluster and prunes its local tables.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use marketprism_bus::ensure_streams;
use marketprism_model::Event;
use marketprism_schema::Dialect;
use marketprism_storage::archive::archive;
use marketprism_storage::migrate::{migrate, MigrateError};
use marketprism_storage::{to_fixed18, ArchiveConfig, ClickHouseConfig, Config, TradeRow};
use marketprism_testkit::{ClickHouseCluster, NatsServer};
use tokio_util::sync::CancellationToken;

use crate::{publish, trade};

/// Symbols of the trades written: enough for both shards to get some.
const SYMBOLS: [&str; 8] = [
    "BTC-USDT",
    "ETH-USDT",
    "SOL-USDT",
    "XRP-USDT",
    "DOGE-USDT",
    "ADA-USDT",
    "BNB-USDT",
    "LTC-USDT",
];

/// Longest wait for rows to arrive or replicate.
const WAIT: Duration = Duration::from_secs(120);

/// Trade `id`, of one of [`SYMBOLS`] by id.
fn spread_trade(id: u64) -> Event {
    let mut event = trade(id, "100.5");
    if let Event::Trade(trade) = &mut event {
        trade.symbol = SYMBOLS[id as usize % SYMBOLS.len()]
            .parse()
            .expect("valid symbol");
    }
    event
}

/// The row storage writes for [`spread_trade`]`(id)`.
fn spread_row(id: u64) -> TradeRow {
    TradeRow {
        exchange: "binance".into(),
        market_type: "spot".into(),
        symbol: SYMBOLS[id as usize % SYMBOLS.len()].into(),
        trade_id: id.to_string(),
        aggregated: 0,
        price: to_fixed18("price", "100.5".parse().expect("valid")).expect("fits"),
        quantity: to_fixed18("quantity", "0.001".parse().expect("valid")).expect("fits"),
        side: "buy".into(),
        exchange_time: 1_700_000_000_000 + id as i64,
        received_time: 1_700_000_000_005 + id as i64,
        source: "ws".into(),
    }
}

/// The settings of `database` on `cluster`, reached through its first node.
fn cluster_config(cluster: &ClickHouseCluster, database: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: cluster.url(0, 0),
        database: database.to_owned(),
        cluster: Some(cluster.name().to_owned()),
        shard_urls: (0..cluster.shards())
            .map(|shard| cluster.url(shard, 0))
            .collect(),
        ..ClickHouseConfig::default()
    }
}

/// `query`'s single number on `client`.
async fn number(client: &clickhouse::Client, query: &str) -> u64 {
    client
        .query(query)
        .fetch_one::<u64>()
        .await
        .unwrap_or_else(|error| panic!("{query}: {error}"))
}

/// Polls `query` on `client` until it answers `expected`; panics with `what` and the last
/// answer after [`WAIT`].
async fn wait_for(client: &clickhouse::Client, query: &str, expected: u64, what: &str) {
    let started = Instant::now();
    loop {
        let answer = client.query(query).fetch_one::<u64>().await;
        if matches!(answer, Ok(value) if value == expected) {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "{what}: `{query}` answered {answer:?}, not {expected}, for {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The rows of each shard, once every running replica of it (all but `down`) holds the
/// same number of rows in its local `trades`, counted without `FINAL` so that a duplicate
/// would show, and the shards add up to `total`. A synchronous insert through the
/// `Distributed` table returns once one replica of each shard has the rows; the others
/// catch up after.
async fn converged_per_shard(
    cluster: &ClickHouseCluster,
    config: &ClickHouseConfig,
    total: u64,
    down: Option<(usize, usize)>,
    what: &str,
) -> Vec<u64> {
    let started = Instant::now();
    loop {
        let mut per_shard = Vec::with_capacity(cluster.shards());
        let mut agree = true;
        for shard in 0..cluster.shards() {
            let mut counts = Vec::new();
            for replica in (0..cluster.replicas()).filter(|&replica| down != Some((shard, replica)))
            {
                let node = config
                    .node_client(&cluster.url(shard, replica))
                    .expect("node client");
                counts.push(number(&node, "SELECT count() FROM trades_local").await);
            }
            agree &= counts.windows(2).all(|pair| pair[0] == pair[1]);
            per_shard.push(counts.first().copied().unwrap_or_default());
        }
        if agree && per_shard.iter().sum::<u64>() == total {
            return per_shard;
        }
        assert!(
            started.elapsed() < WAIT,
            "{what}: the replicas did not converge on {total} rows for {WAIT:?}: {per_shard:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn storage_on_two_shards_of_two_replicas() {
    let mut cluster = ClickHouseCluster::start(2, 2).expect("clickhouse cluster");
    let clickhouse = cluster_config(&cluster, "cluster_storage");

    // The schema, on every node, once.
    let first = migrate(&clickhouse).await.unwrap_or_else(|error| {
        panic!(
            "first run: {error}; the first node's log ends:\n{}",
            marketprism_servers::log_tail(&cluster.log_path(0, 0), 40)
        )
    });
    assert_eq!(first.dialect, Dialect::Legacy, "{}", first.server_version);
    assert_eq!(first.applied, (1..=16).collect::<Vec<_>>());
    let second = migrate(&clickhouse).await.expect("second run");
    assert!(second.applied.is_empty(), "{second:?}");
    assert_eq!(second.already_applied, (1..=16).collect::<Vec<_>>());
    for shard in 0..2 {
        for replica in 0..2 {
            let node = clickhouse
                .node_client(&cluster.url(shard, replica))
                .expect("node client");
            wait_for(
                &node,
                "SELECT uniqExact(version) FROM schema_migrations",
                16,
                &format!("migration records on shard {shard} replica {replica}"),
            )
            .await;
            // The key extension reached every replica of every shard.
            let key =
                "ORDER BY (exchange, market_type, symbol, reason, from_time, to_time, collector)";
            let started = Instant::now();
            loop {
                let create: String = node
                    .query("SHOW CREATE TABLE gaps_local")
                    .fetch_one()
                    .await
                    .expect("gaps_local");
                if create.contains(key) {
                    break;
                }
                assert!(
                    started.elapsed() < WAIT,
                    "shard {shard} replica {replica}: no {key} after {WAIT:?}: {create}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    // The schema record is shared: migrating through another node applies nothing.
    let elsewhere = migrate(&ClickHouseConfig {
        url: cluster.url(1, 1),
        ..clickhouse.clone()
    })
    .await
    .expect("run through another node");
    assert!(elsewhere.applied.is_empty(), "{elsewhere:?}");
    // Extending a key on 18.16 takes one node of each shard: two of one shard are refused.
    let wrong = migrate(&ClickHouseConfig {
        database: "cluster_wrong_shards".into(),
        shard_urls: vec![cluster.url(0, 0), cluster.url(0, 1)],
        ..clickhouse.clone()
    })
    .await
    .expect_err("two nodes of the first shard");
    assert!(
        matches!(&wrong, MigrateError::ShardUrls { problem, .. } if problem.contains("second node of shard 01")),
        "{wrong}"
    );

    // Storage's consumer writes through the Distributed tables.
    let nats = NatsServer::start().expect("nats-server");
    let mut config: Config = toml::from_str("listen = \"127.0.0.1:0\"").expect("defaults");
    config.nats.url = nats.url();
    config.clickhouse = clickhouse.clone();
    config.batch.max_wait = Duration::from_millis(200);
    config.consumer.retry_delay = Duration::from_millis(200);
    config.validate().expect("valid configuration");
    let bus = marketprism_bus::connect(&config.nats, "test")
        .await
        .expect("connect");
    let context = async_nats::jetstream::new(bus);
    ensure_streams(&context, &config.nats.stream)
        .await
        .expect("streams");
    let shutdown = CancellationToken::new();
    let storage = tokio::spawn(marketprism_storage::run(config.clone(), shutdown.clone()));

    for id in 1..=200 {
        publish(&context, &spread_trade(id)).await;
    }
    let client = clickhouse.database_client().expect("client");
    wait_for(
        &client,
        "SELECT count() FROM trades FINAL",
        200,
        "trades through the Distributed table",
    )
    .await;
    let per_shard = converged_per_shard(&cluster, &clickhouse, 200, None, "consumed trades").await;
    assert!(
        per_shard.iter().all(|rows| *rows > 0),
        "both shards hold rows: {per_shard:?}"
    );
    eprintln!("rows per shard after consuming: {per_shard:?}");

    // The same batch inserted twice, as a retried insert would: no row more.
    let batch: Vec<TradeRow> = (1001..=1050).map(spread_row).collect();
    for attempt in 0..2 {
        let mut insert = client.insert::<TradeRow>("trades").await.expect("insert");
        for row in &batch {
            insert.write(row).await.expect("write");
        }
        insert
            .end()
            .await
            .unwrap_or_else(|error| panic!("insert {attempt}: {error}"));
    }
    let with_batch =
        converged_per_shard(&cluster, &clickhouse, 250, None, "a batch inserted twice").await;
    let stored = number(&client, "SELECT count() FROM trades").await;
    assert_eq!(stored, 250, "without FINAL, through the Distributed table");

    // One replica of the second shard down: inserts still commit.
    cluster.kill(1, 1).expect("kill");
    for id in 201..=300 {
        publish(&context, &spread_trade(id)).await;
    }
    wait_for(
        &client,
        "SELECT count() FROM trades FINAL",
        350,
        "trades written with a replica down",
    )
    .await;
    let with_replica_down = converged_per_shard(
        &cluster,
        &clickhouse,
        350,
        Some((1, 1)),
        "trades written with a replica down",
    )
    .await;
    assert!(
        with_replica_down[1] > with_batch[1],
        "the second shard got rows while its replica was down: {with_batch:?} → {with_replica_down:?}"
    );

    // The replica comes back and catches up.
    cluster.restart(1, 1).expect("restart");
    let after_restart = converged_per_shard(
        &cluster,
        &clickhouse,
        350,
        None,
        "after the replica restarted",
    )
    .await;
    assert_eq!(after_restart, with_replica_down);
    eprintln!("rows per shard after the restart: {with_replica_down:?}");
    let returned = clickhouse
        .node_client(&cluster.url(1, 1))
        .expect("node client");
    assert_eq!(
        number(&returned, "SELECT count() FROM trades_float").await,
        350,
        "the view reads every shard from any node"
    );

    shutdown.cancel();
    storage
        .await
        .expect("storage task")
        .expect("storage stops cleanly");

    archive_from_the_cluster(&cluster).await;
}

/// Archiving reads the hot cluster through the Distributed tables and prunes archived rows
/// from every shard's local tables.
async fn archive_from_the_cluster(cluster: &ClickHouseCluster) {
    const HOUR: i64 = 3_600_000;
    let hot_config = cluster_config(cluster, "cluster_archive_hot");
    migrate(&hot_config).await.expect("hot schema");
    let hot = hot_config.database_client().expect("hot client");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let hour = now.div_euclid(HOUR) * HOUR;
    let at = |id: u64, time_ms: i64| TradeRow {
        exchange_time: time_ms,
        received_time: time_ms + 3,
        ..spread_row(id)
    };
    let old: Vec<TradeRow> = (0..8).map(|id| at(id, hour - 3 * HOUR + 10)).collect();
    let recent = at(8, now - 1_000);
    let mut insert = hot.insert::<TradeRow>("trades").await.expect("insert");
    for row in old.iter().chain([&recent]) {
        insert.write(row).await.expect("write");
    }
    insert.end().await.expect("commit");

    let mut config = ArchiveConfig {
        cold: ClickHouseConfig {
            url: cluster.url(0, 0),
            database: "cluster_archive_cold".into(),
            ..ClickHouseConfig::default()
        },
        window: Duration::from_secs(3600),
        grace: Duration::from_secs(60),
        interval: Duration::from_secs(60),
        hot_retention: None,
    };
    let first = archive(&hot_config, &config).await.expect("first run");
    assert_eq!(first[0].table, "trades");
    assert_eq!(first[0].rows, 8, "{:?}", first[0]);
    let cold = config.cold.database_client().expect("cold client");
    let mut archived: Vec<TradeRow> = cold
        .query("SELECT ?fields FROM trades FINAL")
        .fetch_all()
        .await
        .expect("cold rows");
    archived.sort_by(|left, right| left.trade_id.cmp(&right.trade_id));
    assert_eq!(archived, old, "identical rows in the cold tier");

    config.hot_retention = Some(Duration::from_secs(3600));
    let pruning = archive(&hot_config, &config).await.expect("pruning run");
    assert!(pruning[0].pruned);
    // Deletion is a mutation, asynchronous on each shard: only the recent trade stays.
    wait_for(
        &hot,
        "SELECT count() FROM trades",
        1,
        "archived rows pruned from the cluster",
    )
    .await;
}
