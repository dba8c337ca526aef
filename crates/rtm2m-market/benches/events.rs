//! Criterion benchmarks of the event format: reading (parse + validate) and writing JSON Lines, in events/s.
//!
//! Inputs: the golden file's 18 lines (every event type) repeated to 36,000 lines, and when `../shared` is
//! present, the 30,240 bars of one Binance.US file and the 1,040 events of one Deribit ticker file as
//! imported and written as JSON Lines.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rtm2m_market::event::{read_events, write_events, Event};
use rtm2m_market::import::{import_file, Format};
use std::path::Path;

const GOLDEN: &str = include_str!("../tests/golden/events.jsonl");

fn jsonl(events: &[Event]) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_events(&mut bytes, events).expect("valid events");
    bytes
}

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let golden: Vec<u8> = GOLDEN.repeat(2000).into_bytes();
    let mut inputs = vec![("golden_mix", golden)];
    let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"));
    let files = [
        (
            "binanceus_bars",
            "spot_1m_binanceus_kraken_2023-03/binanceus_BTCUSDT_1m_20230301_20230321.csv",
        ),
        (
            "deribit_ticker",
            "deribit_ticker_2021-02-09/btc_option_data_20210209.csv",
        ),
    ];
    for (name, file) in files {
        let path = data.join(file);
        match Format::detect(&path).map(|f| import_file(f, &path)) {
            Some(Ok(imported)) => inputs.push((name, jsonl(&imported.events))),
            _ => eprintln!("note: ../shared absent, skipping the {name} bench"),
        }
    }
    inputs
}

fn events(c: &mut Criterion) {
    for (name, bytes) in inputs() {
        let events: Vec<Event> = read_events(&bytes[..])
            .collect::<Result<_, _>>()
            .expect("valid input");
        let mut group = c.benchmark_group(format!("events_{name}"));
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function("read", |b| {
            b.iter(|| {
                let mut count = 0usize;
                for event in read_events(black_box(&bytes[..])) {
                    black_box(event.expect("valid input"));
                    count += 1;
                }
                count
            })
        });
        group.bench_function("write", |b| {
            let mut out = Vec::with_capacity(bytes.len());
            b.iter(|| {
                out.clear();
                write_events(&mut out, black_box(&events)).expect("valid events")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, events);
criterion_main!(benches);
