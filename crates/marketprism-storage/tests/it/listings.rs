//! Listings become the `instruments` table: one row per instrument, its latest state, on
//! both dialects.

use std::time::Duration;

use marketprism_model::{Event, Exchange, Listing, MarketType, OptionKind};
use marketprism_storage::ListingRow;
use marketprism_testkit::{ClickHouseServer, NatsServer, Release};

use crate::{publish, setup, Harness, Nats};

#[tokio::test]
async fn instruments_hold_each_listings_latest_state_on_current_clickhouse() {
    latest_state_per_instrument(Release::Current).await;
}

#[tokio::test]
async fn instruments_hold_each_listings_latest_state_on_deployed_clickhouse() {
    latest_state_per_instrument(Release::Deployed).await;
}

/// A spot pair as Binance lists it, seen at `received_time_ms`.
fn spot(symbol: &str, received_time_ms: i64) -> Listing {
    let parsed: marketprism_model::Symbol = symbol.parse().expect("valid");
    Listing {
        exchange: Exchange::Binance,
        market_type: MarketType::Spot,
        venue_symbol: symbol.replace('-', ""),
        base: parsed.base().to_owned(),
        quote: parsed.quote().unwrap_or_default().to_owned(),
        symbol: parsed,
        settle: None,
        expiry_ms: None,
        strike: None,
        option_kind: None,
        trading: true,
        listed_ms: 1_600_000_000_000,
        delisted_ms: None,
        received_time_ms,
    }
}

fn option() -> Listing {
    Listing {
        exchange: Exchange::Deribit,
        market_type: MarketType::Options,
        symbol: "BTC-USD-261225-60000-C".parse().expect("valid"),
        venue_symbol: "BTC-25DEC26-60000-C".into(),
        base: "BTC".into(),
        quote: "USD".into(),
        settle: Some("BTC".into()),
        expiry_ms: Some(1_798_185_600_000),
        strike: Some("60000.5".parse().expect("valid")),
        option_kind: Some(OptionKind::Put),
        trading: true,
        listed_ms: 1_700_000_000_000,
        delisted_ms: None,
        received_time_ms: 1_700_000_000_100,
    }
}

async fn latest_state_per_instrument(release: Release) {
    let harness = Harness::start_with(
        Nats::Server(NatsServer::start().expect("nats-server")),
        ClickHouseServer::start_release(release).expect("clickhouse-server"),
        "listings_test",
    );
    let context = setup(&harness).await;
    let t0 = 1_700_000_000_000;
    let btc_halted = Listing {
        trading: false,
        ..spot("BTC-USDT", t0 + 60_000)
    };
    let eth_delisted = Listing {
        trading: false,
        delisted_ms: Some(t0 + 90_000),
        ..spot("ETH-USDT", t0 + 120_000)
    };
    for listing in [
        spot("BTC-USDT", t0),
        spot("ETH-USDT", t0),
        option(),
        btc_halted.clone(),
        eth_delisted.clone(),
        // Republished after a reconnect: the stream keeps one copy.
        btc_halted.clone(),
        // Another collector's older account, arriving last: the newer state stays.
        spot("ETH-USDT", t0 + 60_000),
    ] {
        publish(&context, &Event::Listing(listing)).await;
    }
    let (shutdown, storage) = harness.run_storage();

    let mut expected: Vec<ListingRow> = [btc_halted, eth_delisted, option()]
        .iter()
        .map(|listing| ListingRow::try_from(listing).expect("fits"))
        .collect();
    expected.sort_by(|a, b| {
        (&a.exchange, &a.market_type, &a.symbol).cmp(&(&b.exchange, &b.market_type, &b.symbol))
    });
    let client = harness.client();
    let mut stored = Vec::new();
    for _ in 0..100 {
        stored = client
            .query("SELECT ?fields FROM instruments FINAL ORDER BY exchange, market_type, symbol")
            .fetch_all::<ListingRow>()
            .await
            .expect("instruments");
        if stored == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, expected, "{release}");
    let all: u64 = client
        .query("SELECT count() FROM instruments")
        .fetch_one()
        .await
        .expect("count");
    assert!(
        all <= 6,
        "the republished listing was stored twice: {all} rows"
    );

    shutdown.cancel();
    storage.await.expect("join").expect("clean shutdown");
}
