//! REST pollers against the simulator: the venue's times, deduplication of repeated answers,
//! and a rate-limit answer pausing every request to the venue for `Retry-After`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use marketprism_collector::{PollConfig, VenueConfig};
use marketprism_model::{Event, RatioKind};
use marketprism_venues::{PollKind, VenueKind};

use crate::{all_events, sim_config, sim_report, start};

#[tokio::test]
async fn pollers_publish_venue_times_once_and_honour_retry_after() {
    let mut run = start(sim_config(10), "30s").await;
    let poll = |data| PollConfig {
        data,
        interval: Duration::from_millis(300),
        period: "5m".into(),
    };
    run.config.venues[0] = VenueConfig {
        polls: vec![
            poll(PollKind::FundingRate),
            poll(PollKind::OpenInterest),
            poll(PollKind::LongShortRatio(RatioKind::TopPositions)),
        ],
        ..run.sim_venue(VenueKind::BinanceUsdm, "/fapi", &["BTC-USDT", "ETH-USDT"])
    };
    let collector = run.spawn_collector();
    let http = reqwest::Client::new();
    let sim = run.sim_address.clone();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    http.post(format!("http://{sim}/control/rate-limit"))
        .json(&serde_json::json!({ "requests": 1, "retry_after_s": 2 }))
        .send()
        .await
        .expect("rate limit injected");
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let report = sim_report(&sim).await;
    // The simulator stops with the collector: read its report first.
    run.stop(collector).await;
    let limited = report
        .rest_requests
        .iter()
        .find(|request| request.status == 429)
        .expect("one poll was rate limited");
    let next_same = report
        .rest_requests
        .iter()
        .find(|request| request.path == limited.path && request.at_ms > limited.at_ms)
        .expect("the limited series resumed");
    assert!(
        next_same.at_ms - limited.at_ms >= 2_000,
        "the series waited Retry-After: {limited:?} then {next_same:?}"
    );
    // The other series pause too: within Retry-After the venue sees at most the requests
    // that were already on their way (one per other series).
    let during_pause: Vec<_> = report
        .rest_requests
        .iter()
        .filter(|request| request.at_ms > limited.at_ms && request.at_ms < limited.at_ms + 2_000)
        .collect();
    assert!(
        during_pause.len() <= 5,
        "every series of the venue paused: {during_pause:?}"
    );
    assert!(
        report
            .rest_requests
            .iter()
            .any(|request| request.path != limited.path
                && request.at_ms >= limited.at_ms + 2_000
                && request.status == 200),
        "the other series resumed"
    );

    let mut times: HashMap<String, Vec<i64>> = HashMap::new();
    for event in all_events(&run.context, &run.config.nats.stream.name).await {
        let time = event
            .exchange_time_ms()
            .expect("polled data has venue time");
        assert_eq!(
            time % 1_000,
            0,
            "the simulator's time, not the receive time"
        );
        assert!(event.received_time_ms() >= time);
        assert!(matches!(
            event,
            Event::FundingRate(_) | Event::OpenInterest(_) | Event::LongShortRatio(_)
        ));
        times.entry(event.subject()).or_default().push(time);
    }
    for subject in [
        "funding_rate.binance.perpetual.BTC-USDT",
        "open_interest.binance.perpetual.ETH-USDT",
        "long_short_ratio.binance.perpetual.BTC-USDT",
    ] {
        let series = times.get(subject).expect("published");
        let distinct: BTreeSet<i64> = series.iter().copied().collect();
        assert!(distinct.len() >= 3, "{subject}: {series:?}");
        assert_eq!(
            distinct.len(),
            series.len(),
            "{subject}: repeated answers are stored once"
        );
    }
}

/// A published value in the simulator's terms: kind, symbol without dashes, venue time and
/// named values.
type Polled = (&'static str, String, i64, Vec<(String, String)>);

/// The simulator's key and values of a polled long/short ratio or volatility index.
fn polled(event: &Event) -> Option<Polled> {
    let text = |value: &marketprism_model::Decimal| value.to_string();
    match event {
        Event::LongShortRatio(ratio) => {
            let mut values = vec![
                ("kind".to_owned(), ratio.kind.as_str().to_owned()),
                ("period".to_owned(), ratio.period.clone()),
                ("ratio".to_owned(), text(&ratio.ratio)),
            ];
            for (name, share) in [
                ("long_share", ratio.long_share),
                ("short_share", ratio.short_share),
            ] {
                if let Some(share) = share {
                    values.push((name.to_owned(), text(&share)));
                }
            }
            Some((
                "long_short_ratio",
                ratio.symbol.as_str().replace('-', ""),
                ratio.exchange_time_ms,
                values,
            ))
        }
        Event::VolatilityIndex(index) => Some((
            "volatility_index",
            index.symbol.as_str().to_owned(),
            index.exchange_time_ms,
            vec![("value".to_owned(), text(&index.value))],
        )),
        _ => None,
    }
}

#[tokio::test]
async fn okx_and_bybit_ratios_and_deribit_volatility_history_match_the_simulator() {
    let mut run = start(sim_config(10), "30s").await;
    let poll = |data, period: &str| PollConfig {
        data,
        interval: Duration::from_millis(700),
        period: period.into(),
    };
    let venue = |venue, symbols: &[&str], polls| VenueConfig {
        polls,
        ..run.sim_venue(venue, "", symbols)
    };
    run.config.venues = vec![
        venue(
            VenueKind::OkxSwap,
            &["BTC-USDT"],
            vec![
                poll(PollKind::LongShortRatio(RatioKind::TopAccounts), "5m"),
                poll(PollKind::LongShortRatio(RatioKind::TopPositions), "5m"),
                poll(PollKind::LongShortRatio(RatioKind::AllAccounts), "1h"),
            ],
        ),
        venue(
            VenueKind::BybitLinear,
            &["ETH-USDT"],
            vec![poll(PollKind::LongShortRatio(RatioKind::AllAccounts), "5m")],
        ),
        venue(
            VenueKind::DeribitOptions,
            &["BTC"],
            vec![poll(PollKind::VolatilityIndex, "1m")],
        ),
    ];
    let report = run.collect_for(Duration::from_millis(2_500)).await;

    let events: Vec<_> = all_events(&run.context, &run.config.nats.stream.name)
        .await
        .iter()
        .filter_map(polled)
        .collect();
    for (kind, symbol, time, values) in &events {
        let matched = report.derivatives.iter().any(|sent| {
            sent.kind == *kind
                && &sent.symbol == symbol
                && sent.time_ms == *time
                && sent.values.iter().all(|(name, value)| {
                    values.iter().any(|(published_name, published)| {
                        published_name == name
                            && (published == value
                                || published.parse::<marketprism_model::Decimal>().ok()
                                    == value.parse().ok())
                    })
                })
        });
        assert!(
            matched,
            "{kind} {symbol} at {time} {values:?} was not answered as such"
        );
    }
    let series = |kind: &str, symbol: &str, ratio_kind: &str| {
        events
            .iter()
            .filter(|(event_kind, event_symbol, _, values)| {
                *event_kind == kind
                    && event_symbol == symbol
                    && (ratio_kind.is_empty()
                        || values.contains(&("kind".to_owned(), ratio_kind.to_owned())))
            })
            .count()
    };
    assert!(series("long_short_ratio", "BTCUSDT", "top_accounts") >= 1);
    assert!(series("long_short_ratio", "BTCUSDT", "top_positions") >= 1);
    assert!(
        series("long_short_ratio", "BTC", "all_accounts") >= 1,
        "OKX's all-account series is per currency"
    );
    assert!(series("long_short_ratio", "ETHUSDT", "all_accounts") >= 1);
    // The first DVOL poll backfills 1,000 one-minute candles; later polls repeat them (one
    // more if a minute turned meanwhile), and repeats are stored once.
    let history = series("volatility_index", "BTC", "");
    assert!(
        (1_000..=1_001).contains(&history),
        "{history} candles stored"
    );
    assert!(report.rest_requests.iter().any(|request| request
        .path
        .starts_with("/api/v5/rubik/stat/contracts/long-short-account-ratio?BTC")));
}
