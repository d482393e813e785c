//! Derivatives channels against the simulator: every published funding rate, open interest,
//! liquidation and volatility index carries exactly the values and the time the simulator
//! wrote for its market, on every venue and market that streams them.

use std::collections::BTreeMap;
use std::time::Duration;

use marketprism_collector::VenueConfig;
use marketprism_model::{Decimal, Event};
use marketprism_sim::SentDerivative;
use marketprism_venues::{Channel, VenueKind};

use crate::{all_events, sim_config, sim_symbol, start};

/// A published derivatives event as the simulator's terms: its kind, symbol (normalized),
/// venue time, values, and market (`exchange/market`, as the simulator labels what it sent).
type Published = (String, String, i64, BTreeMap<String, String>, String);

/// The simulator's key and values of a published derivatives event, and its market.
fn published(event: &Event) -> Option<Published> {
    let text = |value: &Decimal| value.to_string();
    let (kind, symbol, time, values, exchange, market_type) = match event {
        Event::FundingRate(rate) => {
            let mut values =
                BTreeMap::from([("funding_rate".to_owned(), text(&rate.funding_rate))]);
            for (name, value) in [
                ("mark_price", rate.mark_price),
                ("index_price", rate.index_price),
            ] {
                if let Some(value) = value {
                    values.insert(name.to_owned(), text(&value));
                }
            }
            (
                "funding_rate",
                &rate.symbol,
                rate.exchange_time_ms,
                values,
                rate.exchange,
                rate.market_type,
            )
        }
        Event::OpenInterest(interest) => {
            let mut values =
                BTreeMap::from([("open_interest".to_owned(), text(&interest.open_interest))]);
            if let Some(value) = interest.open_interest_value {
                values.insert("open_interest_value".to_owned(), text(&value));
            }
            (
                "open_interest",
                &interest.symbol,
                interest.exchange_time_ms,
                values,
                interest.exchange,
                interest.market_type,
            )
        }
        Event::Liquidation(liquidation) => (
            "liquidation",
            &liquidation.symbol,
            liquidation.exchange_time_ms,
            BTreeMap::from([
                ("side".to_owned(), liquidation.side.as_str().to_owned()),
                ("price".to_owned(), text(&liquidation.price)),
                ("quantity".to_owned(), text(&liquidation.quantity)),
            ]),
            liquidation.exchange,
            liquidation.market_type,
        ),
        Event::VolatilityIndex(index) => (
            "volatility_index",
            &index.symbol,
            index.exchange_time_ms,
            BTreeMap::from([("value".to_owned(), text(&index.value))]),
            index.exchange,
            index.market_type,
        ),
        _ => return None,
    };
    Some((
        kind.to_owned(),
        symbol.as_str().to_owned(),
        time,
        values,
        format!("{}/{}", exchange.as_str(), market_type.as_str()),
    ))
}

/// Whether a published value equals what the simulator wrote (as decimals, or as text).
fn same(published: &str, sent: &str) -> bool {
    match (published.parse::<Decimal>(), sent.parse::<Decimal>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => published == sent,
    }
}

async fn derivatives_match_the_simulator(
    venue: VenueKind,
    path: &str,
    symbols: &[&str],
    channels: Vec<Channel>,
    kinds: &[&str],
) {
    let mut run = start(sim_config(10), "30s").await;
    run.config.venues[0] = VenueConfig {
        channels,
        ..run.sim_venue(venue, path, symbols)
    };
    // Liquidations come every third second: six seconds hold at least two.
    let report = run.collect_for(Duration::from_millis(6_500)).await;
    let market = format!(
        "{}/{}",
        venue.exchange().as_str(),
        venue.market_type().as_str()
    );

    let events: Vec<_> = all_events(&run.context, &run.config.nats.stream.name)
        .await
        .iter()
        .filter_map(published)
        .collect();
    for kind in kinds {
        let count = events
            .iter()
            .filter(|(event_kind, ..)| event_kind == kind)
            .count();
        assert!(count >= 2, "{venue:?}: only {count} {kind} events");
    }
    for (kind, symbol, time, values, published_market) in &events {
        assert!(
            symbols.contains(&symbol.as_str()) && published_market == &market,
            "{venue:?}: {kind} of {published_market} {symbol}, which is not configured"
        );
        let sent: Vec<&SentDerivative> = report
            .derivatives
            .iter()
            .filter(|sent| {
                sent.venue == market
                    && &sent.kind == kind
                    && sent.symbol == sim_symbol(symbol)
                    && sent.time_ms == *time
            })
            .collect();
        assert!(
            sent.iter()
                .any(|sent| sent.values.iter().all(|(name, value)| {
                    values
                        .get(name)
                        .is_some_and(|published| same(published, value))
                })),
            "{venue:?}: {kind} {symbol} at {time} {values:?} was not sent as such: {sent:?}"
        );
    }
    // Nothing the simulator wrote before the last second is missing.
    let newest = events
        .iter()
        .map(|(_, _, time, ..)| *time)
        .max()
        .unwrap_or(0);
    let configured: Vec<String> = symbols.iter().map(|symbol| sim_symbol(symbol)).collect();
    for sent in report.derivatives.iter().filter(|sent| {
        sent.venue == market
            && kinds.contains(&sent.kind.as_str())
            && configured.contains(&sent.symbol)
            && sent.time_ms < newest - 1_000
    }) {
        assert!(
            events
                .iter()
                .any(|(kind, symbol, time, ..)| kind == &sent.kind
                    && sim_symbol(symbol) == sent.symbol
                    && *time == sent.time_ms),
            "{venue:?}: {sent:?} was never published"
        );
    }
}

/// Binance's `!forceOrder@arr` reports every contract; only the configured one is recorded.
#[tokio::test]
async fn binance_usdm_funding_and_liquidations_of_the_configured_symbols_only() {
    derivatives_match_the_simulator(
        VenueKind::BinanceUsdm,
        "/fapi",
        &["BTC-USDT"],
        vec![Channel::FundingRate, Channel::Liquidations],
        &["funding_rate", "liquidation"],
    )
    .await;
}

#[tokio::test]
async fn okx_funding_and_open_interest() {
    derivatives_match_the_simulator(
        VenueKind::OkxSwap,
        "",
        &["BTC-USDT", "ETH-USDT"],
        vec![Channel::FundingRate, Channel::OpenInterest],
        &["funding_rate", "open_interest"],
    )
    .await;
}

/// OKX's `open-interest` of expiry futures, each recorded for the futures market.
#[tokio::test]
async fn okx_futures_open_interest() {
    derivatives_match_the_simulator(
        VenueKind::OkxFutures,
        "",
        &["BTC-USDT-261225", "ETH-USDT-261225"],
        vec![Channel::OpenInterest],
        &["open_interest"],
    )
    .await;
}

/// OKX's `open-interest` of options, each recorded for the options market.
#[tokio::test]
async fn okx_options_open_interest() {
    derivatives_match_the_simulator(
        VenueKind::OkxOptions,
        "",
        &["BTC-USDT-261225-60000-C"],
        vec![Channel::OpenInterest],
        &["open_interest"],
    )
    .await;
}

/// OKX's `liquidation-orders` reports every swap; only the configured one is recorded.
#[tokio::test]
async fn okx_liquidations_of_the_configured_swaps_only() {
    derivatives_match_the_simulator(
        VenueKind::OkxSwap,
        "",
        &["ETH-USDT"],
        vec![Channel::Liquidations, Channel::FundingRate],
        &["liquidation", "funding_rate"],
    )
    .await;
}

#[tokio::test]
async fn bybit_tickers_and_liquidations() {
    derivatives_match_the_simulator(
        VenueKind::BybitLinear,
        "",
        &["BTC-USDT", "ETH-USDT"],
        vec![
            Channel::FundingRate,
            Channel::OpenInterest,
            Channel::Liquidations,
        ],
        &["funding_rate", "open_interest", "liquidation"],
    )
    .await;
}

#[tokio::test]
async fn deribit_volatility_index() {
    derivatives_match_the_simulator(
        VenueKind::DeribitOptions,
        "",
        &["BTC", "ETH"],
        vec![Channel::VolatilityIndex],
        &["volatility_index"],
    )
    .await;
}
