//! REST pollers against the simulator: the venue's times, deduplication of repeated answers,
//! and a rate-limited series pausing for `Retry-After` while the others carry on.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use marketprism_collector::{PollConfig, PollName, VenueConfig, VenueKind};
use marketprism_model::Event;

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
        venue: VenueKind::BinanceUsdm,
        endpoint: Some(format!("ws://{}/fapi", run.sim_address)),
        rest_endpoint: Some(format!("http://{}", run.sim_address)),
        symbols: vec!["BTC-USDT".into(), "ETH-USDT".into()],
        channels: Vec::new(),
        polls: vec![
            poll(PollName::FundingRate),
            poll(PollName::OpenInterest),
            poll(PollName::LongShortTopPositions),
        ],
    };
    let collector = tokio::spawn(marketprism_collector::run(
        run.config.clone(),
        run.shutdown.clone(),
    ));
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
    run.shutdown.cancel();
    collector.await.expect("join").expect("clean shutdown");
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
    assert!(
        report
            .rest_requests
            .iter()
            .any(|request| request.path != limited.path
                && request.at_ms > limited.at_ms
                && request.at_ms < next_same.at_ms
                && request.status == 200),
        "the other series carried on"
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
