//! Profiling harness for the one-expiry refit (`perf record`, `valgrind --tool=callgrind`): the bench chain
//! refitted cold, then warm a few times (the state the criterion benchmark leaves), then `N` refits after
//! one quote of the middle expiry moves a tick and back (`N` from the first argument, default 200). Run with
//! `N = 0` as well and subtract to count the one-expiry refits alone. Prints a digest of the final surface
//! (the bits of every slice's parameters) so that two builds can be compared.

use rtm2m_market::event::Event;
use rtm2m_market::import::{import_file, Format};
use rtm2m_surface::quotes::middle_expiry_quote;
use rtm2m_surface::{SurfaceConfig, SurfaceEngine};
use std::hash::{Hash, Hasher};
use std::path::Path;

const CHAIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/deribit_svcj_snapshots/deribit_options_snapshot_20260206T043012Z.csv"
);

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N: a count of refits"))
        .unwrap_or(200);
    let imported =
        import_file(Format::DeribitSnapshot, Path::new(CHAIN)).expect("the snapshot imports");
    let events: Vec<Event> = imported
        .events
        .into_iter()
        .filter(|e| matches!(e, Event::OptionQuote(q) if q.underlying == "BTC"))
        .collect();
    let mut engine = SurfaceEngine::new(SurfaceConfig::default()).expect("default config");
    for e in &events {
        engine.apply(e).expect("real quotes apply");
    }
    let now = engine.last_event().expect("events");
    engine.refit(now);
    engine.invalidate(true);
    engine.refit(now);
    for _ in 0..3 {
        engine.invalidate(false);
        engine.refit(now);
    }
    let target = middle_expiry_quote(&events)
        .expect("a two-sided quote")
        .clone();
    // With a second argument `check`, a hash of every intermediate surface (the slices' fields); off by default so that the profile holds the refits alone.
    let check = std::env::args().nth(2).is_some_and(|a| a == "check");
    let mut digest = std::collections::hash_map::DefaultHasher::new();
    for i in 0..n {
        let mut q = target.clone();
        if i % 2 == 0 {
            q.bid = q.bid.map(|x| x + 0.0005);
        }
        one_refit(&mut engine, &Event::OptionQuote(q), now);
        if check {
            hash_slices(&engine, &mut digest);
        }
    }
    hash_slices(&engine, &mut digest);
    println!("refits {n}; digest {:016x}", digest.finish());
}

/// Hashes what every slice shows of its fit (the `Debug` text of its public fields, each f64 exact).
fn hash_slices(engine: &SurfaceEngine, digest: &mut impl Hasher) {
    for s in engine.surface("BTC").expect("BTC was fitted").slices() {
        let shown = (
            (s.kind, s.free, s.free_objective, s.weight, s.raw, s.params),
            (s.objective, s.evaluations, s.repair, &s.correction, s.check),
            &s.quotes,
        );
        format!("{shown:?}").hash(digest);
    }
}

/// One quote change and the refit after it: a function of its own, for `--toggle-collect=*one_refit*`.
#[inline(never)]
fn one_refit(engine: &mut SurfaceEngine, quote: &Event, now: rtm2m_market::time::Timestamp) {
    engine.apply(quote).expect("a real quote applies");
    engine.refit(now);
}
