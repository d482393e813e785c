//! Parser throughput on the real Binance spot captures: every trade frame through
//! `Binance::parse` (spot), against a generic `serde_json::Value` parse of the same frames as
//! the baseline measured in the same run. `cargo xtask bench` turns the timings into
//! frames/s, MB/s and ratios.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use marketprism_capture::{captures, read_capture, RecordKind};
use marketprism_venues::binance::{symbol::SymbolMap, Binance};
use marketprism_venues::VenueProtocol;

/// The trade frames (combined-stream `aggTrade`) of every Binance spot capture.
fn trade_frames() -> Vec<String> {
    let paths = captures("binance-spot.").expect("captures (set MARKETPRISM_CAPTURES)");
    paths
        .iter()
        .flat_map(|path| read_capture(path).expect("capture reads"))
        .filter(|record| record.kind == RecordKind::Ws && record.payload.contains("@aggTrade\""))
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
    let frames = trade_frames();
    assert!(!frames.is_empty(), "no trade frames in the captures");
    write_workload("binance_spot_trades", &frames);
    let protocol = Binance::spot(SymbolMap::default());
    let mut group = c.benchmark_group("binance_spot_trades");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("marketprism_parse", |bencher| {
        bencher.iter(|| {
            for frame in &frames {
                black_box(protocol.parse(black_box(frame), 0).is_ok());
            }
        })
    });
    group.bench_function("baseline_serde_json_value", |bencher| {
        bencher.iter(|| {
            for frame in &frames {
                black_box(serde_json::from_str::<serde_json::Value>(black_box(frame)).is_ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
