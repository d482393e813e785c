//! The aggregates analysts run most, typed as they would type them, on both dialects: the
//! volume (`sum(quantity)`) exact from the tables, notional and VWAP from the float views.

use marketprism_model::Decimal;
use marketprism_storage::migrate::migrate;
use marketprism_storage::{to_fixed18, ClickHouseConfig, LiquidationRow, TradeRow};
use marketprism_testkit::{ClickHouseServer, Release};

/// Prices and quantities whose decimal products overflow `Decimal(38, 18)`.
const FILLS: [(&str, &str); 3] = [
    ("97123.45678901", "1.5"),
    ("97200.1", "0.25"),
    ("96999.99", "2.00000001"),
];

#[tokio::test]
async fn volume_notional_and_vwap_on_current_clickhouse() {
    volume_notional_and_vwap(Release::Current).await;
}

#[tokio::test]
async fn volume_notional_and_vwap_on_deployed_clickhouse() {
    volume_notional_and_vwap(Release::Deployed).await;
}

fn fixed(field: &'static str, text: &str) -> i128 {
    to_fixed18(field, text.parse().expect("valid decimal")).expect("fits")
}

fn trade(id: usize, (price, quantity): (&str, &str)) -> TradeRow {
    TradeRow {
        exchange: "binance".into(),
        market_type: "spot".into(),
        symbol: "BTC-USDT".into(),
        trade_id: id.to_string(),
        aggregated: 0,
        price: fixed("price", price),
        quantity: fixed("quantity", quantity),
        side: "buy".into(),
        exchange_time: 1_700_000_000_000 + id as i64,
        received_time: 1_700_000_000_100 + id as i64,
        source: "ws".into(),
    }
}

fn liquidation(id: usize, (price, quantity): (&str, &str)) -> LiquidationRow {
    LiquidationRow {
        exchange: "binance".into(),
        market_type: "perpetual".into(),
        symbol: "BTC-USDT".into(),
        side: "sell".into(),
        price: fixed("price", price),
        quantity: fixed("quantity", quantity),
        exchange_time: 1_700_000_000_000 + id as i64,
        received_time: 1_700_000_000_100 + id as i64,
    }
}

/// Writes `rows` twice, as a redelivery would: the views must count each row once.
async fn insert_twice<R>(client: &clickhouse::Client, table: &str, rows: &[R])
where
    R: clickhouse::RowOwned + clickhouse::RowWrite,
{
    for _ in 0..2 {
        let mut insert = client.insert::<R>(table).await.expect("insert");
        for row in rows {
            insert.write(row).await.expect("write");
        }
        insert.end().await.expect("commit");
    }
}

/// One row of `query`'s TabSeparated answer, split into its fields.
async fn answer(client: &clickhouse::Client, query: &str) -> Vec<String> {
    let bytes = client
        .query(query)
        .fetch_bytes("TabSeparated")
        .expect("query")
        .collect()
        .await
        .unwrap_or_else(|error| panic!("{query}: {error}"));
    String::from_utf8(bytes.to_vec())
        .expect("utf-8")
        .trim_end()
        .split('\t')
        .map(str::to_owned)
        .collect()
}

fn assert_close(what: &str, got: &str, want: Decimal) {
    let got: f64 = got
        .parse()
        .unwrap_or_else(|_| panic!("{what}: {got:?} is no number"));
    let want: f64 = want.to_string().parse().expect("decimal renders a number");
    assert!(
        ((got - want) / want).abs() < 1e-12,
        "{what}: got {got}, want {want}"
    );
}

async fn volume_notional_and_vwap(release: Release) {
    let server = ClickHouseServer::start_release(release).expect("clickhouse-server");
    let config = ClickHouseConfig {
        url: server.url(),
        database: "analytics_test".into(),
        ..ClickHouseConfig::default()
    };
    migrate(&config).await.expect("migrate");
    let client = config.database_client().expect("client");

    let volume: Decimal = FILLS
        .iter()
        .map(|(_, quantity)| quantity.parse::<Decimal>().expect("valid"))
        .sum();
    let notional: Decimal = FILLS
        .iter()
        .map(|(price, quantity)| {
            price.parse::<Decimal>().expect("valid") * quantity.parse::<Decimal>().expect("valid")
        })
        .sum();
    let vwap = notional / volume;

    let trades: Vec<TradeRow> = FILLS
        .into_iter()
        .enumerate()
        .map(|(id, fill)| trade(id, fill))
        .collect();
    insert_twice(&client, "trades", &trades).await;
    let liquidations: Vec<LiquidationRow> = FILLS
        .into_iter()
        .enumerate()
        .map(|(id, fill)| liquidation(id, fill))
        .collect();
    insert_twice(&client, "liquidations", &liquidations).await;

    for (table, view) in [
        ("trades", "trades_float"),
        ("liquidations", "liquidations_float"),
    ] {
        let exact = answer(
            &client,
            &format!("SELECT sum(quantity) FROM {table} FINAL WHERE symbol = 'BTC-USDT'"),
        )
        .await;
        let exact: Decimal = exact[0].parse().expect("a decimal");
        assert_eq!(exact, volume, "{table}: sum(quantity) on {release}");

        let row = answer(
            &client,
            &format!(
                "SELECT count(), sum(quantity), sum(notional), sum(notional) / sum(quantity) \
                 FROM {view} WHERE symbol = 'BTC-USDT'"
            ),
        )
        .await;
        assert_eq!(row[0], FILLS.len().to_string(), "{view}: rows on {release}");
        assert_close(&format!("{view} volume on {release}"), &row[1], volume);
        assert_close(&format!("{view} notional on {release}"), &row[2], notional);
        assert_close(&format!("{view} VWAP on {release}"), &row[3], vwap);
    }
}
