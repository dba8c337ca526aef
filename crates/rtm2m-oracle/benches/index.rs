//! Index engine throughput: source quotes per second on one core, cycles included. Run with
//! `cargo bench -p rtm2m-oracle --bench index`; figures in `docs/index.md`.
//!
//! 16 sources (8 venues × BTC/USD and BTC/USDT) quote a random walk, 1,000 quotes per second of event
//! time in total, and the engine publishes a cycle every second (so one cycle per 1,000 quotes, each
//! computing the capped median, the USDT rate and the confidence over 16 sources). The quotes are built
//! beforehand: parsing JSON is not part of the index's cost.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rtm2m_market::event::Quote;
use rtm2m_market::{Pair, Timestamp};
use rtm2m_oracle::index::{IndexConfig, IndexEngine, Method, Observation};

const QUOTES: usize = 200_000;
const T0_NS: i64 = 1_700_000_040_000_000_000;

fn quotes() -> Vec<Quote> {
    let venues = ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"];
    let pairs: [Pair; 2] = [
        "BTC/USD".parse().expect("pair"),
        "BTC/USDT".parse().expect("pair"),
    ];
    // xorshift64*: a fixed seed, so every run times the same stream.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut mid = 20_000.0;
    (0..QUOTES)
        .map(|i| {
            mid *= 1.0 + (next() - 0.5) * 2e-4;
            let venue = venues[i % venues.len()];
            let symbol = pairs[(i / venues.len()) % 2].clone();
            let own = mid * (1.0 + (next() - 0.5) * 1e-3);
            Quote {
                ts: Timestamp::from_unix_nanos(T0_NS + i as i64 * 1_000_000),
                venue: venue.into(),
                symbol,
                bid: Some(own - 0.5),
                ask: Some(own + 0.5),
                bid_size: Some(1.0),
                ask_size: Some(1.0),
            }
        })
        .collect()
}

fn config(method: Method) -> IndexConfig {
    IndexConfig {
        method,
        cycle_ns: 1_000_000_000,
        ..IndexConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let quotes = quotes();
    let mut group = c.benchmark_group("index");
    group.throughput(Throughput::Elements(QUOTES as u64));
    group.sample_size(20);
    for method in [Method::CappedMedian, Method::Median] {
        group.bench_function(format!("on_quote/{method}"), |b| {
            b.iter(|| {
                let mut engine = IndexEngine::new(config(method)).expect("config");
                let mut out = Vec::with_capacity(QUOTES / 500);
                for q in &quotes {
                    engine.on_quote(q, &mut out).expect("in order");
                }
                engine.finish(&mut out);
                black_box(out.len())
            })
        });
    }
    // A cycle every 16 ms: one per 16 quotes, one per quote of each source. The cost of publishing.
    group.bench_function("on_quote/capped-median/cycle-per-16-quotes", |b| {
        b.iter(|| {
            let config = IndexConfig {
                cycle_ns: 16_000_000,
                ..config(Method::CappedMedian)
            };
            let mut engine = IndexEngine::new(config).expect("config");
            let mut out = Vec::with_capacity(QUOTES / 16 + 2);
            for q in &quotes {
                engine.on_quote(q, &mut out).expect("in order");
            }
            engine.finish(&mut out);
            black_box(out.len())
        })
    });
    // The same stream through the low-level path, sources resolved once: the cost of the engine itself.
    group.bench_function("observe/capped-median", |b| {
        let mut resolver = IndexEngine::new(config(Method::CappedMedian)).expect("config");
        let ids: Vec<_> = quotes
            .iter()
            .map(|q| resolver.source_id(&q.venue, &q.symbol).expect("16 sources"))
            .collect();
        b.iter(|| {
            let mut engine = resolver.clone();
            let mut out = Vec::with_capacity(QUOTES / 500);
            for (q, id) in quotes.iter().zip(&ids) {
                let (bid, ask) = (q.bid.unwrap_or(0.0), q.ask.unwrap_or(0.0));
                engine.advance(q.ts, &mut out).expect("in order");
                engine.observe(
                    *id,
                    Observation {
                        ts: q.ts,
                        price: (bid + ask) / 2.0,
                        confidence: (ask - bid) / 2.0,
                        volume: 0.0,
                        vwap_price: (bid + ask) / 2.0,
                        live: true,
                    },
                );
            }
            engine.finish(&mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
