//! `migrate` is idempotent and the rows round-trip through the real server unchanged.

use marketprism_schema::migrations::{GAPS, GAPS_COLLECTOR, GAPS_MISSING_IDS, GAPS_STATE};
use marketprism_schema::Dialect;
use marketprism_storage::migrate::migrate;
use marketprism_storage::{
    to_fixed18, validating, ClickHouseConfig, GapRow, OrderBookRow, TradeRow,
};
use marketprism_testkit::{ClickHouseServer, Release};

use crate::Harness;

#[tokio::test]
async fn migrate_twice_then_round_trip_every_row_type() {
    let harness = Harness::start("migrate_test");
    let first = migrate(&harness.config.clickhouse)
        .await
        .expect("first run");
    assert_eq!(first.applied, (1..=16).collect::<Vec<_>>());
    assert_eq!(
        first.dialect,
        Dialect::for_version(&first.server_version).expect("known version")
    );
    let second = migrate(&harness.config.clickhouse)
        .await
        .expect("second run");
    assert!(second.applied.is_empty());
    assert_eq!(second.already_applied, (1..=16).collect::<Vec<_>>());

    let client = validating(harness.client(), first.dialect);
    let trade = TradeRow {
        exchange: "binance".into(),
        market_type: "spot".into(),
        symbol: "BTC-USDT".into(),
        trade_id: "123".into(),
        aggregated: 1,
        price: to_fixed18(
            "price",
            "99999999999999999999.123456789012345678"
                .parse()
                .expect("valid"),
        )
        .expect("fits"),
        quantity: to_fixed18("quantity", "0.000000000000000001".parse().expect("valid"))
            .expect("fits"),
        side: "sell".into(),
        exchange_time: 1_700_000_000_123,
        received_time: 1_700_000_000_456,
        source: "ws".into(),
    };
    let mut insert = client.insert::<TradeRow>("trades").await.expect("insert");
    insert.write(&trade).await.expect("write");
    insert.end().await.expect("commit");
    let back: Vec<TradeRow> = client
        .query("SELECT ?fields FROM trades")
        .fetch_all()
        .await
        .expect("select");
    assert_eq!(back, vec![trade]);

    let gap = GapRow {
        exchange: "binance".into(),
        market_type: "spot".into(),
        symbol: "ETH-USDT".into(),
        reason: "stale".into(),
        from_time: 1,
        to_time: 2,
        received_time: 3,
        first_missing_id: Some(12),
        last_missing_id: Some(u64::MAX),
        status: "partial".into(),
        recovered: Some(7),
        unrecovered: Some(3),
        status_detail: "the venue keeps 1000 trades".into(),
        collector: "collector-a".into(),
    };
    let mut insert = client.insert::<GapRow>("gaps").await.expect("insert");
    insert.write(&gap).await.expect("write");
    insert.end().await.expect("commit");
    let back: Vec<GapRow> = client
        .query("SELECT ?fields FROM gaps")
        .fetch_all()
        .await
        .expect("select");
    assert_eq!(back, vec![gap.clone()]);
    // Another collector's account of the same window is a row of its own.
    let other = GapRow {
        collector: "collector-b".into(),
        ..gap.clone()
    };
    let mut insert = client.insert::<GapRow>("gaps").await.expect("insert");
    insert.write(&other).await.expect("write");
    insert.end().await.expect("commit");
    let back: Vec<GapRow> = client
        .query("SELECT ?fields FROM gaps FINAL ORDER BY collector")
        .fetch_all()
        .await
        .expect("select");
    assert_eq!(back, vec![gap, other]);

    let fixed = |text: &str| to_fixed18("level", text.parse().expect("valid")).expect("fits");
    let book = OrderBookRow {
        exchange: "okx".into(),
        market_type: "perpetual".into(),
        symbol: "BTC-USDT".into(),
        update_id: u64::MAX,
        exchange_time: 1_700_000_000_123,
        received_time: 1_700_000_000_456,
        bid_prices: vec![fixed("100.5"), fixed("100.25")],
        bid_quantities: vec![fixed("1"), fixed("0.000000000000000001")],
        ask_prices: vec![fixed("100.75")],
        ask_quantities: vec![fixed("3")],
    };
    let mut insert = client
        .insert::<OrderBookRow>("orderbooks")
        .await
        .expect("insert");
    insert.write(&book).await.expect("write");
    insert.end().await.expect("commit");
    let back: Vec<OrderBookRow> = client
        .query("SELECT ?fields FROM orderbooks")
        .fetch_all()
        .await
        .expect("select");
    assert_eq!(back, vec![book]);
}

#[tokio::test]
async fn migrate_reports_an_unreachable_server() {
    let config = marketprism_storage::ClickHouseConfig {
        url: format!(
            "http://127.0.0.1:{}",
            marketprism_servers::free_port().expect("port")
        ),
        ..Default::default()
    };
    let error = migrate(&config).await.expect_err("nothing listens there");
    assert!(error.to_string().contains("reading the version"), "{error}");
}

/// Tests run against a current server, where the client checks every row type against its
/// table: a table that drifted from the row type is refused before anything is written.
#[tokio::test]
async fn current_servers_validate_rows_against_the_tables() {
    let harness = Harness::start("validation_test");
    let report = migrate(&harness.config.clickhouse).await.expect("migrate");
    assert_eq!(report.dialect, Dialect::Modern, "{}", report.server_version);
    let client = validating(harness.client(), report.dialect);
    client
        .query("CREATE TABLE drifted (exchange String, price Float64) ENGINE = Memory")
        .execute()
        .await
        .expect("create");
    let trade = TradeRow {
        exchange: "binance".into(),
        market_type: "spot".into(),
        symbol: "BTC-USDT".into(),
        trade_id: "1".into(),
        aggregated: 0,
        price: to_fixed18("price", "1".parse().expect("valid")).expect("fits"),
        quantity: to_fixed18("quantity", "1".parse().expect("valid")).expect("fits"),
        side: "buy".into(),
        exchange_time: 1,
        received_time: 2,
        source: "ws".into(),
    };
    let written = async {
        let mut insert = client.insert::<TradeRow>("drifted").await?;
        insert.write(&trade).await?;
        insert.end().await
    }
    .await;
    assert!(
        matches!(written, Err(clickhouse::error::Error::SchemaMismatch(_))),
        "{written:?}"
    );
    let rows: u64 = client
        .query("SELECT count() FROM drifted")
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(rows, 0);
}

/// A run interrupted between a column migration's `ALTER` and its record (here: the record
/// table lost, one column of two added) is completed by running `migrate` again, on either
/// dialect.
#[tokio::test]
async fn an_interrupted_column_migration_completes_on_a_second_run() {
    for release in [Release::Current, Release::Deployed] {
        let server = ClickHouseServer::start_release(release).expect("clickhouse-server");
        let config = ClickHouseConfig {
            url: server.url(),
            database: "interrupted_test".into(),
            ..ClickHouseConfig::default()
        };
        migrate(&config).await.expect("first run");
        let client = config.database_client().expect("client");
        for statement in [
            "ALTER TABLE gaps DROP COLUMN last_missing_id",
            "DROP TABLE schema_migrations",
        ] {
            client.query(statement).execute().await.expect(statement);
        }
        let again = migrate(&config).await.expect("second run");
        assert_eq!(again.applied, (1..=16).collect::<Vec<_>>(), "{release}");
        let columns: Vec<String> = client
            .query("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'gaps'")
            .fetch_all()
            .await
            .expect("columns");
        let mut expected: Vec<&str> = [
            GAPS.columns,
            GAPS_MISSING_IDS.columns,
            GAPS_STATE.columns,
            GAPS_COLLECTOR.columns,
        ]
        .concat()
        .iter()
        .map(|column| column.name)
        .collect();
        expected.sort_unstable();
        let mut columns = columns;
        columns.sort_unstable();
        assert_eq!(columns, expected, "{release}");
    }
}
