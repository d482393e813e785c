//! Spool write rate: messages of 16 trades appended to the on-disk spool and synced, against
//! the same frames written with one `write` each to a plain file and synced, as the baseline
//! measured in the same run. Throughput counts events; the workload file gives the bytes for
//! MB/s to disk.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write;

use async_nats::HeaderMap;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use marketprism_collector::spool::{Appended, Record, Spool};

const MESSAGES: usize = 1000;
const EVENTS_PER_MESSAGE: usize = 16;

/// Messages the size the collector makes at 100,000 events/s: 16 trades of ~246 bytes.
fn records() -> Vec<Record> {
    (0..MESSAGES)
        .map(|index| {
            let mut headers = HeaderMap::new();
            let msg_id = format!("trade.binance.spot.BTC-USDT:t:{index}..t:{}/16", index + 15);
            headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id.as_str());
            let trade = format!(
                "{{\"exchange\":\"binance\",\"market_type\":\"spot\",\"symbol\":\"BTC-USDT\",\
                 \"trade_id\":\"{index}\",\"price\":\"58001.03000000\",\"quantity\":\"0.08620500\",\
                 \"side\":\"buy\",\"exchange_time_ms\":1617566591314,\"received_time_ms\":1617566592629,\
                 \"aggregated\":false,\"pad\":\"{}\"}}",
                "x".repeat(40)
            );
            let payload = format!("[{}]", vec![trade; EVENTS_PER_MESSAGE].join(","));
            Record {
                subject: "trade.binance.spot.BTC-USDT".into(),
                headers,
                payload: Bytes::from(payload),
                events: EVENTS_PER_MESSAGE,
            }
        })
        .collect()
}

fn write_workload(name: &str, events: usize, bytes: usize) {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        Into::into,
    );
    let dir = target.join("bench/workloads");
    let body = format!("{{\"frames\":{events},\"bytes\":{bytes}}}");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(format!("{name}.json")), body);
    }
}

fn spool_benches(c: &mut Criterion) {
    let records = records();
    // Frames of the size each message takes in the spool: length, checksum, event count,
    // subject, the `Nats-Msg-Id` header and the payload.
    let frames: Vec<Vec<u8>> = records
        .iter()
        .map(|record| {
            let headers: usize = record
                .headers
                .iter()
                .flat_map(|(name, values)| {
                    let name: &str = name.as_ref();
                    values
                        .iter()
                        .map(move |value| 4 + name.len() + value.as_str().len())
                })
                .sum();
            let len = 8 + 4 + 2 + record.subject.len() + 2 + headers + record.payload.len();
            vec![b'x'; len]
        })
        .collect();
    let bytes: usize = frames.iter().map(Vec::len).sum();
    write_workload("spool_write", MESSAGES * EVENTS_PER_MESSAGE, bytes);
    let dir = tempfile::tempdir().expect("tempdir");

    let mut group = c.benchmark_group("spool_write");
    group.throughput(Throughput::Elements((MESSAGES * EVENTS_PER_MESSAGE) as u64));
    let mut spool = Spool::open(&dir.path().join("spool"), 1 << 30).expect("spool");
    group.bench_function("marketprism_append_sync", |bencher| {
        bencher.iter(|| {
            for record in &records {
                assert_eq!(
                    spool.append(black_box(record)).expect("append"),
                    Appended::Stored
                );
            }
            spool.sync().expect("sync");
            // Consumed at once, so the next round starts from an empty spool.
            if let Some(end) = spool.skip_to_end() {
                spool.consume(end).expect("consume");
            }
        })
    });
    let path = dir.path().join("baseline");
    let mut file: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("file");
    group.bench_function("baseline_write_sync", |bencher| {
        bencher.iter(|| {
            for frame in &frames {
                file.write_all(black_box(frame)).expect("write");
            }
            file.sync_data().expect("sync");
            file.set_len(0).expect("truncate");
        })
    });
    group.finish();
}

criterion_group!(benches, spool_benches);
criterion_main!(benches);
