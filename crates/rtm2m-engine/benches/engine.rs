//! Criterion benches of the engine on a seeded synthetic population (10,000 accounts, 100,000 positions on a
//! 1,760-option chain): one index tick re-marking an underlying and re-margining its accounts, one fill
//! re-margining its account, and a snapshot. The 100,000-account figures come from `rtm2m bench engine`.

use criterion::{criterion_group, criterion_main, Criterion};
use rtm2m_engine::event::{Input, InputKind};
use rtm2m_engine::synthetic::{account_events, index_event, population, ChainSpec, Universe};
use rtm2m_engine::{Engine, Genesis};
use rtm2m_market::Timestamp;

fn setup() -> (Engine, Genesis, Universe, Timestamp) {
    let start = Timestamp::parse_rfc3339("2026-01-05T15:00:00Z").expect("time");
    let chain = ChainSpec::default_at(start).initial_events();
    let mut universe = Universe::from_events(&chain);
    let empty = Genesis::from_json(r#"{"accounts": []}"#).expect("empty");
    let (mut pricer, _) = Engine::new(&empty, 1).expect("engine");
    let mut out = Vec::new();
    for e in &chain {
        pricer.apply(e, None, &mut out);
    }
    universe.value_with(&pricer);
    let g = population(10_000, 100_000, &universe, 7);
    let (mut engine, _) = Engine::new(&g, 0).expect("engine");
    for e in &chain {
        engine.apply(e, None, &mut out);
    }
    (engine, g, universe, start)
}

fn bench(c: &mut Criterion) {
    let (mut engine, g, universe, start) = setup();
    let mut out = Vec::new();
    let mut seq = engine.last_seq();
    let mut k = 0u64;
    c.bench_function("index tick (BTC), 10k accounts", |b| {
        b.iter(|| {
            seq += 1;
            k += 1;
            let ts = Timestamp::from_unix_nanos(start.unix_nanos() + k as i64 * 1_000_000);
            let price = 90_000.0 * (1.0 + 0.0005 * ((k % 7) as f64 - 3.0));
            out.clear();
            let e = Input {
                seq,
                ts,
                kind: InputKind::Market(index_event(ts, "BTC", price)),
            };
            engine.apply(&e, None, &mut out);
        })
    });
    let ts = Timestamp::from_unix_nanos(start.unix_nanos() + (k as i64 + 1) * 1_000_000);
    let fills: Vec<Input> = account_events(&g, &universe, 20_000, ts, 0, 3)
        .into_iter()
        .filter(|e| matches!(e.kind, InputKind::Fill(_)))
        .collect();
    let mut next = 0;
    c.bench_function("single fill, 10k accounts", |b| {
        b.iter(|| {
            let mut e = fills[next % fills.len()].clone();
            next += 1;
            seq += 1;
            e.seq = seq;
            out.clear();
            engine.apply(&e, None, &mut out);
        })
    });
    c.bench_function("snapshot + state hash, 10k accounts", |b| {
        b.iter(|| engine.state_hash())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
