//! Hot → cold archiving: closed windows only, verified, idempotent, with hot retention that
//! spares the latest states of instruments.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use marketprism_storage::archive::archive;
use marketprism_storage::migrate::migrate;
use marketprism_storage::{
    to_fixed18, ArchiveConfig, ClickHouseConfig, GapRow, ListingRow, OrderBookRow, TradeRow,
};

use crate::{eventually, Harness};

const HOUR: i64 = 3_600_000;

fn trade_at(id: u64, time_ms: i64) -> TradeRow {
    TradeRow {
        exchange: "binance".into(),
        market_type: "spot".into(),
        symbol: "BTC-USDT".into(),
        trade_id: id.to_string(),
        aggregated: 0,
        price: to_fixed18("price", "100.5".parse().expect("valid")).expect("fits"),
        quantity: to_fixed18("quantity", "1".parse().expect("valid")).expect("fits"),
        side: "buy".into(),
        exchange_time: time_ms,
        received_time: time_ms + 3,
        source: "ws".into(),
    }
}

#[tokio::test]
async fn archives_closed_windows_once_and_prunes_hot_after_retention() {
    let harness = Harness::start("archive_hot");
    migrate(&harness.config.clickhouse)
        .await
        .expect("hot schema");
    let hot = harness.client();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let hour = now.div_euclid(HOUR) * HOUR;
    let old = [
        trade_at(1, hour - 5 * HOUR + 10),
        trade_at(2, hour - 4 * HOUR + 20),
        trade_at(3, hour - 2 * HOUR + 30),
    ];
    let recent = trade_at(4, now - 1_000);
    let mut insert = hot.insert::<TradeRow>("trades").await.expect("insert");
    for row in old.iter().chain([&recent]) {
        insert.write(row).await.expect("write");
    }
    insert.end().await.expect("commit");
    let mut insert = hot.insert::<GapRow>("gaps").await.expect("insert");
    insert
        .write(&GapRow {
            exchange: "binance".into(),
            market_type: "spot".into(),
            symbol: "BTC-USDT".into(),
            reason: "disconnect".into(),
            from_time: hour - 4 * HOUR + 5,
            to_time: hour - 4 * HOUR + 900,
            received_time: hour - 4 * HOUR + 900,
            first_missing_id: None,
            last_missing_id: None,
            status: "partial".into(),
            recovered: Some(7),
            unrecovered: Some(3),
            status_detail: "the venue keeps 1000 trades".into(),
            collector: String::new(),
        })
        .await
        .expect("write");
    insert.end().await.expect("commit");

    let book = OrderBookRow {
        exchange: "okx".into(),
        market_type: "spot".into(),
        symbol: "BTC-USDT".into(),
        update_id: 9,
        exchange_time: hour - 3 * HOUR,
        received_time: hour - 3 * HOUR + 2,
        bid_prices: vec![to_fixed18("price", "100".parse().expect("valid")).expect("fits")],
        bid_quantities: vec![to_fixed18("quantity", "1".parse().expect("valid")).expect("fits")],
        ask_prices: Vec::new(),
        ask_quantities: Vec::new(),
    };
    let mut insert = hot
        .insert::<OrderBookRow>("orderbooks")
        .await
        .expect("insert");
    insert.write(&book).await.expect("write");
    insert.end().await.expect("commit");

    // Listed long ago and unchanged since: its row is old, and current.
    let instrument = ListingRow {
        exchange: "binance".into(),
        market_type: "spot".into(),
        symbol: "BTC-USDT".into(),
        venue_symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        settle: None,
        expiry_time: None,
        strike: None,
        option_kind: None,
        trading: 1,
        listed_time: hour - 5 * HOUR,
        delisted_time: None,
        received_time: hour - 5 * HOUR + 7,
    };
    let mut insert = hot
        .insert::<ListingRow>("instruments")
        .await
        .expect("insert");
    insert.write(&instrument).await.expect("write");
    insert.end().await.expect("commit");

    let mut config = ArchiveConfig {
        cold: ClickHouseConfig {
            database: "archive_cold".into(),
            ..harness.config.clickhouse.clone()
        },
        window: Duration::from_secs(3600),
        grace: Duration::from_secs(60),
        interval: Duration::from_secs(60),
        hot_retention: None,
    };
    let first = archive(&harness.config.clickhouse, &config)
        .await
        .expect("first run");
    let trades = &first[0];
    assert_eq!(trades.rows, 3, "the recent trade's window is still open");
    assert!(trades.windows >= 5, "{trades:?}");
    assert_eq!(
        first.iter().map(|report| report.table).collect::<Vec<_>>(),
        [
            "trades",
            "orderbooks",
            "orderbook_deltas",
            "funding_rates",
            "open_interests",
            "liquidations",
            "volatility_indices",
            "long_short_ratios",
            "instruments",
            "gaps"
        ]
    );
    assert_eq!((first[1].rows, first[8].rows, first[9].rows), (1, 1, 1));

    let cold = config.cold.database_client().expect("cold client");
    let archived: Vec<TradeRow> = cold
        .query("SELECT ?fields FROM trades FINAL ORDER BY trade_id")
        .fetch_all()
        .await
        .expect("cold rows");
    assert_eq!(archived, old.to_vec(), "identical rows in the cold tier");
    let archived_books: Vec<OrderBookRow> = cold
        .query("SELECT ?fields FROM orderbooks FINAL")
        .fetch_all()
        .await
        .expect("cold books");
    assert_eq!(archived_books, vec![book]);
    let archived_instruments: Vec<ListingRow> = cold
        .query("SELECT ?fields FROM instruments FINAL")
        .fetch_all()
        .await
        .expect("cold instruments");
    assert_eq!(archived_instruments, vec![instrument.clone()]);

    let second = archive(&harness.config.clickhouse, &config)
        .await
        .expect("second run");
    assert_eq!(
        (second[0].windows, second[0].rows),
        (0, 0),
        "nothing is archived twice"
    );
    assert_eq!(second[0].watermark_ms, trades.watermark_ms);
    assert_eq!(
        cold.query("SELECT count() FROM trades")
            .fetch_one::<u64>()
            .await
            .expect("count"),
        3
    );

    config.hot_retention = Some(Duration::from_secs(3600));
    let third = archive(&harness.config.clickhouse, &config)
        .await
        .expect("pruning run");
    assert!(third[0].pruned);
    assert!(!third[8].pruned, "{:?}", third[8]);
    // Deletion is a mutation: it completes asynchronously. Only the unarchived recent trade stays.
    assert_eq!(eventually(&hot, "SELECT count() FROM trades", 1).await, 1);
    assert_eq!(
        cold.query("SELECT count() FROM trades FINAL")
            .fetch_one::<u64>()
            .await
            .expect("count"),
        3
    );
    let hot_instruments: Vec<ListingRow> = hot
        .query("SELECT ?fields FROM instruments FINAL")
        .fetch_all()
        .await
        .expect("hot instruments");
    assert_eq!(hot_instruments, vec![instrument]);
}
