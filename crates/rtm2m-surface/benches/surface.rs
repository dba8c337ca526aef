//! Surface refits of a real Deribit BTC chain (`../shared`: the 2026-02-06 04:30 snapshot, 930 instruments,
//! 12 expiries): the whole chain cold (from quotes, no previous fit) and warm (every expiry refitted from its
//! previous parameters), one expiry after one of its quotes changes, the marks of every instrument, and one
//! expiry's SVI fit alone; each in wall time and in the benchmark thread's CPU time.
//! Skipped with a note when `../shared` is absent.

mod cpu_time;

use cpu_time::ThreadCpuTime;
use criterion::measurement::Measurement;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rtm2m_market::event::Event;
use rtm2m_market::import::{import_file, Format};
use rtm2m_surface::quotes::middle_expiry_quote;
use rtm2m_surface::slice::{fit_svi, FitGrids};
use rtm2m_surface::surface::sinh_grid;
use rtm2m_surface::{SurfaceConfig, SurfaceEngine};
use std::path::Path;

const CHAIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/deribit_svcj_snapshots/deribit_options_snapshot_20260206T043012Z.csv"
);

fn btc_quotes() -> Option<Vec<Event>> {
    if !Path::new(CHAIN).exists() {
        eprintln!("note: ../shared absent, skipping the surface benchmarks");
        return None;
    }
    let imported =
        import_file(Format::DeribitSnapshot, Path::new(CHAIN)).expect("the snapshot imports");
    Some(
        imported
            .events
            .into_iter()
            .filter(|e| matches!(e, Event::OptionQuote(q) if q.underlying == "BTC"))
            .collect(),
    )
}

/// The benchmarks, in wall time and in the thread's CPU time (the machine is shared: report both).
fn surface<M: Measurement>(c: &mut Criterion<M>) {
    let Some(events) = btc_quotes() else {
        return;
    };
    let mut engine = SurfaceEngine::new(SurfaceConfig::default()).expect("default config");
    for e in &events {
        engine.apply(e).expect("real quotes apply");
    }
    let now = engine.last_event().expect("events");
    engine.refit(now);

    let mut group = c.benchmark_group("btc_chain_930_instruments");
    group.bench_function("cold_refit", |b| {
        b.iter(|| {
            engine.invalidate(true);
            black_box(engine.refit(now))
        })
    });
    group.bench_function("warm_refit", |b| {
        b.iter(|| {
            engine.invalidate(false);
            black_box(engine.refit(now))
        })
    });
    // One quote of the middle expiry moves by a tick and back: only that expiry is refitted.
    let target = middle_expiry_quote(&events)
        .expect("a two-sided quote")
        .clone();
    let mut flip = false;
    group.bench_function("one_expiry_after_a_quote_change", |b| {
        b.iter(|| {
            flip = !flip;
            let mut q = target.clone();
            if flip {
                q.bid = q.bid.map(|x| x + 0.0005);
            }
            engine
                .apply(&Event::OptionQuote(q))
                .expect("a real quote applies");
            black_box(engine.refit(now))
        })
    });
    // Marks of every instrument of the fitted chain (each reads its expiry's smile on the surface: its own
    // and every shorter expiry's).
    engine.refit(now);
    group.bench_function("marks_of_the_chain", |b| {
        b.iter(|| black_box(engine.marks("BTC", now).expect("BTC is fitted")))
    });
    group.finish();

    // The SVI fit of the middle expiry alone, cold (two starts) and warm (one).
    let config = SurfaceConfig::default();
    let surface = engine.surface("BTC").expect("BTC was fitted");
    let slice = surface
        .slice(target.expiry)
        .expect("the middle expiry is fitted");
    let points = slice.quotes.points.clone();
    let coarse = sinh_grid(-1.5, 2.0, 41);
    let grids = FitGrids {
        butterfly: &coarse,
        calendar: &coarse,
    };
    let warm = slice.free;
    let mut group = c.benchmark_group(format!("one_expiry_{}_quotes", points.len()));
    group.bench_function("svi_fit_cold", |b| {
        b.iter(|| black_box(fit_svi(&points, &config, grids, None, None, None)))
    });
    group.bench_function("svi_fit_warm", |b| {
        b.iter(|| black_box(fit_svi(&points, &config, grids, None, None, Some(&warm))))
    });
    group.finish();
}

criterion_group!(wall_time, surface);
criterion_group! {
    name = thread_cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = surface
}
criterion_main!(wall_time, thread_cpu_time);
