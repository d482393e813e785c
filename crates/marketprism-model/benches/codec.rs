//! Wire codec throughput: encoding and decoding trade events, against `serde_json` on the
//! equivalent untyped `Value`s as the baseline measured in the same run.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use marketprism_model::{codec, Event, Exchange, MarketType, Side, Trade, TradeSource};

fn events() -> Vec<Event> {
    (0..1000_u64)
        .map(|index| {
            Event::Trade(Trade {
                exchange: Exchange::Binance,
                market_type: MarketType::Spot,
                symbol: "BTC-USDT".parse().expect("valid"),
                trade_id: (665_076_760 + index).to_string().into(),
                aggregated: index % 2 == 0,
                price: marketprism_model::Decimal::new(5_800_103_000_000 + index as i64, 8),
                quantity: marketprism_model::Decimal::new(8_620_500 + index as i64, 8),
                side: if index % 3 == 0 {
                    Side::Sell
                } else {
                    Side::Buy
                },
                exchange_time_ms: 1_617_566_591_314 + index as i64,
                received_time_ms: 1_617_566_592_629 + index as i64,
                sequence: None,
                source: TradeSource::Ws,
            })
        })
        .collect()
}

fn codec_benches(c: &mut Criterion) {
    let events = events();
    let subject = events[0].subject();
    let bodies: Vec<Vec<u8>> = events.iter().map(codec::encode).collect();
    let values: Vec<serde_json::Value> = bodies
        .iter()
        .map(|body| serde_json::from_slice(body).expect("valid JSON"))
        .collect();

    let mut group = c.benchmark_group("trade_events");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("marketprism_encode", |bencher| {
        bencher.iter(|| {
            events
                .iter()
                .map(|event| black_box(codec::encode(event)).len())
                .sum::<usize>()
        })
    });
    group.bench_function("baseline_encode_value", |bencher| {
        bencher.iter(|| {
            values
                .iter()
                .map(|value| black_box(serde_json::to_vec(value).unwrap_or_default()).len())
                .sum::<usize>()
        })
    });
    group.bench_function("marketprism_decode", |bencher| {
        bencher.iter(|| {
            bodies
                .iter()
                .filter(|body| codec::decode(&subject, black_box(body)).is_ok())
                .count()
        })
    });
    group.bench_function("baseline_decode_value", |bencher| {
        bencher.iter(|| {
            bodies
                .iter()
                .filter(|body| serde_json::from_slice::<serde_json::Value>(black_box(body)).is_ok())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, codec_benches);
criterion_main!(benches);
