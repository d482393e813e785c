//! Parser throughput on the real captures, per venue and channel: every frame through the
//! venue's `parse`, against a generic `serde_json::Value` parse of the same frames as the
//! baseline measured in the same run. `cargo xtask bench` turns the timings into frames/s,
//! MB/s and ratios. Venues whose frames carry concatenated symbols (`BTCUSDT`) resolve them
//! as the collector does, with a map of the configured symbols: here, every symbol the
//! captures hold.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use marketprism_capture::{captures, read_capture, RecordKind};
use marketprism_model::{MarketType, Symbol};
use marketprism_venues::binance::{symbol::SymbolMap, Binance};
use marketprism_venues::bybit::Bybit;
use marketprism_venues::deribit::Deribit;
use marketprism_venues::okx::Okx;
use marketprism_venues::{Inbound, VenueProtocol};

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

/// The map a collector configured with every symbol of `frames` would hold: the symbols
/// `protocol` resolves them to without a map.
fn configured_symbols(protocol: &dyn VenueProtocol, frames: &[String]) -> SymbolMap {
    let symbols: Vec<Symbol> = frames
        .iter()
        .filter_map(|frame| match protocol.parse(frame, 0) {
            Ok(Inbound::Events(events)) => events.first().map(|event| event.symbol().clone()),
            Ok(Inbound::Book(message)) => Some(message.symbol),
            _ => None,
        })
        .collect();
    SymbolMap::new(&symbols)
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

/// A feed of a venue whose frames carry concatenated symbols, resolved with the map a
/// collector configured with the feed's symbols would hold.
fn configured<P: VenueProtocol + 'static>(
    name: &'static str,
    protocol: impl Fn(SymbolMap) -> P,
    frames: Vec<String>,
) -> (&'static str, Box<dyn VenueProtocol>, Vec<String>) {
    let symbols = configured_symbols(&protocol(SymbolMap::default()), &frames);
    (name, Box::new(protocol(symbols)), frames)
}

fn parse(c: &mut Criterion) {
    let feeds: Vec<(&str, Box<dyn VenueProtocol>, Vec<String>)> = vec![
        configured(
            "binance_spot_trades",
            Binance::spot,
            frames("binance-spot.", "@aggTrade\""),
        ),
        configured(
            "binance_spot_depth",
            Binance::spot,
            frames("binance-spot.", "\"depthUpdate\""),
        ),
        configured(
            "binance_usdm_trades",
            Binance::usdm,
            frames("binance-usdm.", "@aggTrade\""),
        ),
        configured(
            "binance_usdm_depth",
            Binance::usdm,
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
        configured(
            "bybit_v5_orderbook",
            Bybit::linear,
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
