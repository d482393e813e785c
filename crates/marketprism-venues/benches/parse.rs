//! Parser throughput on the real captures, per venue and channel: every frame through the
//! venue's `parse`, against a generic `serde_json::Value` parse of the same frames as the
//! baseline measured in the same run. `cargo xtask bench` turns the timings into frames/s,
//! MB/s and ratios.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use marketprism_capture::{captures, read_capture, RecordKind};
use marketprism_model::MarketType;
use marketprism_venues::binance::{symbol::SymbolMap, Binance};
use marketprism_venues::bybit::Bybit;
use marketprism_venues::deribit::Deribit;
use marketprism_venues::okx::Okx;
use marketprism_venues::VenueProtocol;

/// The WebSocket frames of captures named `prefix*` whose text contains `marker`.
fn frames(prefix: &str, marker: &str) -> Vec<String> {
    let paths = captures(prefix).expect("captures (set MARKETPRISM_CAPTURES)");
    paths
        .iter()
        .flat_map(|path| read_capture(path).expect("capture reads"))
        .filter(|record| record.kind == RecordKind::Ws && record.payload.contains(marker))
        .map(|record| record.payload)
        .collect()
}

/// Records the workload's size for the report.
fn write_workload(name: &str, frames: &[String]) {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        Into::into,
    );
    let dir = target.join("bench/workloads");
    let bytes: usize = frames.iter().map(String::len).sum();
    let body = format!("{{\"frames\":{},\"bytes\":{bytes}}}", frames.len());
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(format!("{name}.json")), body);
    }
}

fn parse(c: &mut Criterion) {
    let feeds: Vec<(&str, Box<dyn VenueProtocol>, Vec<String>)> = vec![
        (
            "binance_spot_trades",
            Box::new(Binance::spot(SymbolMap::default())),
            frames("binance-spot.", "@aggTrade\""),
        ),
        (
            "binance_spot_depth",
            Box::new(Binance::spot(SymbolMap::default())),
            frames("binance-spot.", "\"depthUpdate\""),
        ),
        (
            "binance_usdm_trades",
            Box::new(Binance::usdm(SymbolMap::default())),
            frames("binance-usdm.", "@aggTrade\""),
        ),
        (
            "binance_usdm_depth",
            Box::new(Binance::usdm(SymbolMap::default())),
            frames("binance-usdm.", "\"depthUpdate\""),
        ),
        (
            "okx_books",
            Box::new(Okx::new(MarketType::Spot)),
            frames("okx.", "\"action\""),
        ),
        (
            "okx_trades",
            Box::new(Okx::new(MarketType::Spot)),
            frames("okx.", "\"tradeId\""),
        ),
        (
            "bybit_v5_orderbook",
            Box::new(Bybit::linear(SymbolMap::default())),
            frames("bybit.2026", "\"topic\":\"orderbook."),
        ),
        (
            "deribit_books",
            Box::new(Deribit::new(MarketType::Perpetual)),
            frames("deribit.", "\"channel\":\"book."),
        ),
    ];
    for (name, protocol, frames) in &feeds {
        assert!(!frames.is_empty(), "no {name} frames in the captures");
        write_workload(name, frames);
        let mut group = c.benchmark_group(*name);
        group.throughput(Throughput::Elements(frames.len() as u64));
        group.bench_function("marketprism_parse", |bencher| {
            bencher.iter(|| {
                for frame in frames {
                    black_box(protocol.parse(black_box(frame), 0).is_ok());
                }
            })
        });
        group.bench_function("baseline_serde_json_value", |bencher| {
            bencher.iter(|| {
                for frame in frames {
                    black_box(serde_json::from_str::<serde_json::Value>(black_box(frame)).is_ok());
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
