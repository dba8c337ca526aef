//! The surface against real Deribit chains (`../shared/data`): Deribit's own mark IVs and bid/ask IVs are the
//! independent references; the no-arbitrage conditions are checked again on a grid of their own with
//! derivatives by finite differences. Every test skips with a note when `../shared` is absent.

use rtm2m_market::event::{Event, IndexStatus, IndexUpdate, OptionQuote};
use rtm2m_market::import::{import_file, Format};
use rtm2m_market::Timestamp;
use rtm2m_pricing::inverse::inverse_option;
use rtm2m_pricing::OptionKind;
use rtm2m_surface::forward::{parity_forward, ForwardSource};
use rtm2m_surface::quotes::InstrumentQuote;
use rtm2m_surface::surface::{check_smile, expiry_years};
use rtm2m_surface::{StaleParams, SurfaceConfig, SurfaceEngine, UnderlyingSurface};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: ../shared absent, skipping the real-chain surface tests");
        None
    }
}

fn snapshots(shared: &Path) -> Vec<PathBuf> {
    let dir = shared.join("data/deribit_svcj_snapshots");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the snapshot folder is readable")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("deribit_options_snapshot_202602"))
        })
        .collect();
    files.sort();
    files
}

fn quotes_of(events: &[Event]) -> HashMap<String, OptionQuote> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::OptionQuote(q) => Some((q.instrument.clone(), q.clone())),
            _ => None,
        })
        .collect()
}

fn fitted(events: &[Event], config: SurfaceConfig) -> (SurfaceEngine, Timestamp) {
    let mut engine = SurfaceEngine::new(config).expect("a valid configuration");
    for e in events {
        engine.apply(e).expect("Deribit quotes are usable");
    }
    let now = engine.last_event().expect("the file has events");
    engine.refit(now);
    (engine, now)
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "median of nothing");
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn live(price: Option<f64>, size: Option<f64>) -> Option<f64> {
    price.filter(|p| *p > 0.0 && size != Some(0.0))
}

/// Issue 4, first point: on Deribit's tickers of 2021-02-09 (BTC and ETH), over the instruments with both
/// sides quoted and more than a day to expiry, the fitted IV (the surface's, before any clamp) lies within
/// Deribit's bid and ask IVs, and the mark IV is within half a vol point of Deribit's mark IV (median).
#[test]
fn deribit_2021_tickers_fitted_ivs_sit_in_deribits_bid_ask_ivs_and_marks_match_its_mark_ivs() {
    let Some(shared) = shared() else { return };
    let (mut within_all, mut total_all, mut errors_all) = (0usize, 0usize, Vec::new());
    let mut totals = HashMap::new();
    for (underlying, file) in [
        ("BTC", "btc_option_data_20210209.csv"),
        ("ETH", "eth_option_data_20210209.csv"),
    ] {
        let path = shared.join("data/deribit_ticker_2021-02-09").join(file);
        let events = import_file(Format::DeribitTicker, &path)
            .expect("the ticker file imports")
            .events;
        let venue = quotes_of(&events);
        let (engine, now) = fitted(&events, SurfaceConfig::default());
        let marks = engine
            .marks(underlying, now)
            .map(|(_, marks, _)| marks)
            .unwrap_or_default();
        let (mut within, mut total, mut errors) = (0usize, 0usize, Vec::new());
        for m in &marks {
            let q = &venue[&m.instrument];
            let days = expiry_years(now, q.expiry) * 365.0;
            let two_sided = live(q.bid, q.bid_size).is_some() && live(q.ask, q.ask_size).is_some();
            let (Some(bid_iv), Some(ask_iv), Some(mark_iv)) = (q.bid_iv, q.ask_iv, q.mark_iv)
            else {
                continue;
            };
            if !two_sided || days <= 1.0 {
                continue;
            }
            total += 1;
            within += usize::from(m.model_iv >= bid_iv && m.model_iv <= ask_iv);
            errors.push((m.mark_iv - mark_iv).abs());
        }
        eprintln!(
            "2021-02-09 {underlying}, two-sided, > 1 day: {total} instruments, fitted IV within Deribit's bid/ask IV \
             for {within}; median |mark IV − Deribit mark IV| = {}",
            if errors.is_empty() {
                "n/a".to_owned()
            } else {
                format!("{:.3} vol points", 100.0 * median(errors.clone()))
            }
        );
        totals.insert(underlying, total);
        within_all += within;
        total_all += total;
        errors_all.extend(errors);
    }
    let share = within_all as f64 / total_all as f64;
    let median_error = median(errors_all);
    eprintln!(
        "2021-02-09 BTC and ETH together: {within_all}/{total_all} = {share:.3} within; median |mark IV − Deribit \
         mark IV| = {:.3} vol points",
        100.0 * median_error
    );
    assert!(totals["BTC"] >= 190, "{totals:?}");
    // The ETH file quotes two instruments on both sides, both expiring within the day: the ETH set is
    // empty, and the figures are BTC's.
    assert_eq!(totals["ETH"], 0, "{totals:?}");
    assert!(median_error <= 0.005, "{median_error}");
    // The issue asks for 95% (at most 9 of the 196 outside); measured 188/196 = 0.959 with the local
    // correction and the running maximum in T (189/196 with every calendar conflict refitted; 174/196 with
    // the SVI slices alone). The chain quotes arbitrage that no surface can fit
    // (at least 5 outside: the test below): a call and a put of one strike with disjoint IV bands (26FEB21
    // 42000 and 46000), a butterfly (24SEP21 48000P/64000C/80000C) and calendar arbitrage (the 26FEB21 put
    // ladder above 26MAR21's puts) (docs/surface.md §Measured).
    assert!(share >= 0.95, "{share}");
}

/// One two-sided quote of the 2021-02-09 acceptance set, as the bounds below see it: its band in normalised
/// call price `c = C/F` at `x = K/F` (a put's band too: at one volatility a call and a put of one strike
/// have one normalised call price, by parity) and in total variance at `k = ln x`.
struct QuotedBand {
    expiry: Timestamp,
    x: f64,
    c: (f64, f64),
    w: (f64, f64),
}

/// Sets of quotes that no surface of a class can put all inside their bands, from pairs and triples.
/// `prices`: any arbitrage-free surface (Carr & Madan 2005, Roper 2010): normalised call prices are
/// non-increasing in `x` with slope ≥ −1, convex in `x`, and non-decreasing in `T` at fixed `x`. Else: any
/// surface whose slices are convex in total variance (raw SVI's are: `w'' = bσ²/r³ ≥ 0`) and non-decreasing
/// in `T` at fixed `k`. A conflict must beat the band edges by `margin` (Deribit's IVs are rounded).
fn conflicts(quotes: &[QuotedBand], prices: bool, margin: f64) -> Vec<Vec<usize>> {
    let at = |q: &QuotedBand| if prices { q.x } else { q.x.ln() };
    let band = |q: &QuotedBand| if prices { q.c } else { q.w };
    let mut expiries: Vec<Timestamp> = quotes.iter().map(|q| q.expiry).collect();
    expiries.sort();
    expiries.dedup();
    let of = |e: Timestamp| -> Vec<usize> {
        let mut v: Vec<usize> = (0..quotes.len())
            .filter(|&i| quotes[i].expiry == e)
            .collect();
        v.sort_by(|&i, &j| at(&quotes[i]).total_cmp(&at(&quotes[j])));
        v
    };
    let chord = |a: &QuotedBand, p: &QuotedBand, r: &QuotedBand| {
        let u = (at(r) - at(a)) / (at(r) - at(p));
        u * band(p).1 + (1.0 - u) * band(r).1
    };
    let mut out = Vec::new();
    for (n, &e) in expiries.iter().enumerate() {
        let idx = of(e);
        for (a, &i) in idx.iter().enumerate() {
            for &j in &idx[a + 1..] {
                let (qi, qj) = (&quotes[i], &quotes[j]);
                let same = (at(qi) - at(qj)).abs() < 1e-12;
                let disjoint = band(qi).0 > band(qj).1 + margin || band(qj).0 > band(qi).1 + margin;
                let sloped = prices
                    && (band(qj).0 > band(qi).1 + margin
                        || band(qi).0 - band(qj).1 > at(qj) - at(qi) + margin);
                if (same && disjoint) || (!same && sloped) {
                    out.push(vec![i, j]);
                }
            }
            for (b, &j) in idx.iter().enumerate().skip(a + 1) {
                for &l in &idx[b + 1..] {
                    let (p, q, r) = (&quotes[i], &quotes[j], &quotes[l]);
                    if at(p) < at(q) && at(q) < at(r) && band(q).0 > chord(q, p, r) + margin {
                        out.push(vec![i, j, l]);
                    }
                }
            }
        }
        // Calendar: the shorter expiry's lower edge against what the longer one can reach at that point.
        for &later in &expiries[n + 1..] {
            let long = of(later);
            for &i in &idx {
                let a = &quotes[i];
                for &j in &long {
                    let b = &quotes[j];
                    let cap = if !prices {
                        ((at(b) - at(a)).abs() < 1e-12).then_some(band(b).1)
                    } else if at(b) <= at(a) {
                        Some(band(b).1)
                    } else {
                        Some(band(b).1 + at(b) - at(a))
                    };
                    if cap.is_some_and(|cap| band(a).0 > cap + margin) {
                        out.push(vec![i, j]);
                    }
                }
                for (u, &j1) in long.iter().enumerate() {
                    for &j2 in &long[u + 1..] {
                        let (p, r) = (&quotes[j1], &quotes[j2]);
                        if at(p) < at(a) && at(a) < at(r) && band(a).0 > chord(a, p, r) + margin {
                            out.push(vec![i, j1, j2]);
                        }
                    }
                }
            }
        }
    }
    out
}

/// The fewest quotes that meet every set of `edges` (an exact minimum hitting set, by branch and bound; a
/// packing of disjoint sets bounds it from below).
fn min_hitting_set(edges: &[Vec<usize>]) -> usize {
    fn packing(edges: &[&Vec<usize>]) -> usize {
        let mut sorted: Vec<&&Vec<usize>> = edges.iter().collect();
        sorted.sort_by_key(|e| e.len());
        let mut used = std::collections::HashSet::new();
        let mut n = 0;
        for e in sorted {
            if e.iter().all(|v| !used.contains(v)) {
                used.extend(e.iter().copied());
                n += 1;
            }
        }
        n
    }
    fn search(edges: &[&Vec<usize>], chosen: usize, best: &mut usize) {
        if chosen + packing(edges) >= *best {
            return;
        }
        let Some(e) = edges.iter().min_by_key(|e| e.len()) else {
            *best = chosen;
            return;
        };
        for &v in e.iter() {
            let rest: Vec<&Vec<usize>> =
                edges.iter().copied().filter(|f| !f.contains(&v)).collect();
            search(&rest, chosen + 1, best);
        }
    }
    let all: Vec<&Vec<usize>> = edges.iter().collect();
    let mut best = usize::MAX;
    search(&all, 0, &mut best);
    best
}

/// What the 95% of the first point means on this chain: it allows 9 of the 196 quotes outside. The quotes
/// themselves rule out some for every surface: a call and a put of one strike with disjoint bands, a
/// butterfly, a calendar spread quoted for less than nothing. Measured from Deribit's bid and ask IVs alone.
#[test]
fn the_2021_btc_tickers_leave_at_least_5_quotes_outside_any_arbitrage_free_surface() {
    let Some(shared) = shared() else { return };
    let path = shared.join("data/deribit_ticker_2021-02-09/btc_option_data_20210209.csv");
    let events = import_file(Format::DeribitTicker, &path)
        .expect("the ticker file imports")
        .events;
    let mut quotes = Vec::new();
    for q in quotes_of(&events).values() {
        let two_sided = live(q.bid, q.bid_size).is_some() && live(q.ask, q.ask_size).is_some();
        let (Some(bid_iv), Some(ask_iv), Some(f)) = (q.bid_iv, q.ask_iv, q.underlying_price) else {
            continue;
        };
        let t = expiry_years(q.ts, q.expiry);
        if !two_sided || t * 365.0 <= 1.0 {
            continue;
        }
        let c = |v: f64| {
            inverse_option(OptionKind::Call, f, q.strike, t, v)
                .expect("valid inputs")
                .price_coin
        };
        quotes.push(QuotedBand {
            expiry: q.expiry,
            x: q.strike / f,
            c: (c(bid_iv), c(ask_iv)),
            w: (bid_iv * bid_iv * t, ask_iv * ask_iv * t),
        });
    }
    assert_eq!(quotes.len(), 196);
    // Margins above the rounding of Deribit's IVs to a hundredth of a vol point.
    let any_surface = min_hitting_set(&conflicts(&quotes, true, 1e-5));
    let convex_slices = min_hitting_set(&conflicts(&quotes, false, 1e-5));
    eprintln!(
        "2021-02-09 BTC: outside their bid/ask IVs at least {any_surface} of 196 on any arbitrage-free \
         surface (at most {:.3} inside), at least {convex_slices} with slices convex in total variance (SVI; at \
         most {:.3})",
        (196 - any_surface) as f64 / 196.0,
        (196 - convex_slices) as f64 / 196.0
    );
    assert!(any_surface >= 5, "{any_surface}");
    assert!(convex_slices >= any_surface.max(7), "{convex_slices}");
}

/// `g` from the slice's total variance alone, derivatives by central differences (not the analytic ones).
fn g_by_differences(surface: &UnderlyingSurface, expiry: Timestamp, k: f64) -> f64 {
    let s = surface.slice(expiry).expect("a fitted expiry");
    let h = 1e-4;
    let (wm, w, wp) = (
        s.smile().total_variance(k - h),
        s.smile().total_variance(k),
        s.smile().total_variance(k + h),
    );
    let d1 = (wp - wm) / (2.0 * h);
    let d2 = (wp - 2.0 * w + wm) / (h * h);
    // Gatheral & Jacquier (2014), eq. 2.1.
    (1.0 - k * d1 / (2.0 * w)).powi(2) - d1 * d1 / 4.0 * (1.0 / w + 0.25) + d2 / 2.0
}

/// No butterfly arbitrage (`g` by differences) nor calendar arbitrage (adjacent smiles compared) on a
/// uniform grid of `points` over the underlying's quoted `k`, and none on the surface's own dense grid.
fn assert_free_of_arbitrage(surface: &UnderlyingSurface, points: usize, what: &str) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for book in surface.books() {
        if let Some(s) = &book.slice {
            for q in &book.quotes {
                let k = (q.strike / s.forward.price).ln();
                lo = lo.min(k);
                hi = hi.max(k);
            }
        }
    }
    let grid: Vec<f64> = (0..points)
        .map(|i| lo + (hi - lo) * i as f64 / (points - 1) as f64)
        .collect();
    let slices: Vec<_> = surface.slices().collect();
    for (i, s) in slices.iter().enumerate() {
        // The reported checks are those of the final smile, however the refit reached them.
        let previous = i.checked_sub(1).map(|p| slices[p].smile());
        let fresh = check_smile(s.smile(), previous, surface.dense_grid());
        assert!(
            s.check == fresh,
            "{what}: {} {}: {:?}, the smile's: {fresh:?}",
            surface.underlying,
            s.expiry,
            s.check
        );
        assert!(
            s.check.g_min >= 0.0 && s.check.calendar_violations == 0,
            "{what}: {} {}: {:?}",
            surface.underlying,
            s.expiry,
            s.check
        );
        let g_min = grid
            .iter()
            .map(|&k| g_by_differences(surface, s.expiry, k))
            .fold(f64::INFINITY, f64::min);
        assert!(
            g_min >= -1e-6,
            "{what}: {} {}: g = {g_min}",
            surface.underlying,
            s.expiry
        );
    }
    for pair in slices.windows(2) {
        let worst = grid
            .iter()
            .map(|&k| pair[0].smile().total_variance(k) - pair[1].smile().total_variance(k))
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(
            worst <= 0.0,
            "{what}: {} {} below {} by {worst:e}",
            surface.underlying,
            pair[1].expiry,
            pair[0].expiry
        );
    }
}

/// The incremental refit after one quote change (which refits that expiry, re-corrects what its change
/// reaches and keeps the other corrections where they still clear their neighbours) leaves the surface
/// free of arbitrage, for a quote of every expiry in turn, moved and moved back.
#[test]
fn one_quote_refits_keep_the_surface_free_of_arbitrage() {
    let Some(shared) = shared() else { return };
    // Also without the correction: then no correction check reads a changed slice's own smile, and the
    // running maximum must read it again itself.
    let configs = [
        SurfaceConfig::default(),
        SurfaceConfig {
            smile_correction: false,
            ..SurfaceConfig::default()
        },
    ];
    for (name, config) in [
        "deribit_options_snapshot_20260206T043012Z.csv",
        "deribit_options_snapshot_20260205T212937Z.csv",
    ]
    .into_iter()
    .flat_map(|n| configs.iter().map(move |c| (n, *c)))
    {
        let path = shared.join("data/deribit_svcj_snapshots").join(name);
        let events = import_file(Format::DeribitSnapshot, &path)
            .expect("the snapshot imports")
            .events;
        let (mut engine, now) = fitted(&events, config);
        // The first two-sided quote of each expiry of each underlying.
        let mut chosen: Vec<OptionQuote> = Vec::new();
        for e in &events {
            if let Event::OptionQuote(q) = e {
                let two_sided =
                    matches!((q.bid, q.ask), (Some(b), Some(a)) if b > 0.0 && a > b + 0.001);
                if two_sided
                    && !chosen
                        .iter()
                        .any(|c| c.underlying == q.underlying && c.expiry == q.expiry)
                {
                    chosen.push(q.clone());
                }
            }
        }
        for q in &chosen {
            // A tick up, a quote far below (which pulls its slice down under the shorter expiry's
            // correction), and back.
            for step in 0..3 {
                let mut changed = q.clone();
                match step {
                    0 => changed.bid = changed.bid.map(|b| b + 0.0005),
                    1 => {
                        changed.bid = changed.bid.map(|b| 0.3 * b);
                        changed.ask = changed.bid.map(|b| b + 0.0005);
                    }
                    _ => {}
                }
                engine
                    .apply(&Event::OptionQuote(changed))
                    .expect("a real quote applies");
                engine.refit(now);
                let surface = engine.surface(&q.underlying).expect("a fitted underlying");
                let what = format!("{name} after {} (change {step})", q.instrument);
                assert_free_of_arbitrage(surface, 1001, &what);
            }
        }
    }
}

#[test]
fn feb_2026_chains_have_no_arbitrage_on_an_independent_grid_and_marks_stay_inside_the_quotes() {
    let Some(shared) = shared() else { return };
    let files = snapshots(&shared);
    // The README speaks of 11 crash snapshots; the folder holds 10 (2026-02-04 21:33 to 02-07 04:23).
    assert_eq!(files.len(), 10, "the Feb-2026 crash snapshots");
    let files: Vec<PathBuf> = std::iter::once(
        shared.join("data/deribit_svcj_snapshots/deribit_options_snapshot_20260105T153329Z.csv"),
    )
    .chain(files)
    .collect();
    let mut medians = Vec::new();
    for path in &files {
        let events = import_file(Format::DeribitSnapshot, path)
            .expect("the snapshot imports")
            .events;
        let venue = quotes_of(&events);
        let (engine, now) = fitted(&events, SurfaceConfig::default());
        for surface in engine.surfaces() {
            // On 4,001 points spanning every quoted log-moneyness: g by differences, calendar strict, and
            // the reported checks those of the final smiles.
            assert_free_of_arbitrage(surface, 4001, &path.display().to_string());
            let (_, marks, _) = engine
                .marks(&surface.underlying, now)
                .expect("a fitted underlying");
            let mut errors = Vec::new();
            for m in &marks {
                let q = &venue[&m.instrument];
                assert!(
                    m.mark_iv.is_finite()
                        && m.mark_price_coin.is_finite()
                        && m.confidence.is_finite()
                );
                if let (Some(b), Some(a)) = (live(q.bid, q.bid_size), live(q.ask, q.ask_size)) {
                    if b <= a {
                        assert!(
                            m.mark_price_coin >= b && m.mark_price_coin <= a,
                            "{}: {} marked {} outside [{b}, {a}]",
                            path.display(),
                            m.instrument,
                            m.mark_price_coin
                        );
                    }
                }
                if expiry_years(now, q.expiry) * 365.0 > 2.0 {
                    if let Some(v) = q.mark_iv {
                        errors.push((m.mark_iv - v).abs());
                    }
                }
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("?")
                .to_owned();
            medians.push((name, surface.underlying.clone(), median(errors)));
        }
    }
    for (name, underlying, m) in &medians {
        eprintln!("{name} {underlying}: median |mark IV − Deribit mark IV| over > 2 days = {:.3} vol points", 100.0 * m);
    }
    // The target: 1 vol point on every chain. The worst is ETH at the crash's low (2026-02-05
    // 21:29): 0.896 with the surface as the running maximum of the slices in T; 1.04 when every calendar
    // conflict was resolved by refits, which carried a short expiry's extrapolated wing into the longer
    // expiries' quoted strikes (docs/surface.md §Calendar, §Measured).
    for (name, underlying, m) in &medians {
        assert!(*m <= 0.01, "{name} {underlying} {m}");
    }
}

#[test]
fn our_parity_forwards_agree_with_deribits_synthetic_forwards() {
    let Some(shared) = shared() else { return };
    let mut gaps = Vec::new();
    for path in snapshots(&shared) {
        let events = import_file(Format::DeribitSnapshot, &path)
            .expect("the snapshot imports")
            .events;
        let mut by_expiry: HashMap<(String, Timestamp), Vec<InstrumentQuote>> = HashMap::new();
        for e in &events {
            if let Event::OptionQuote(q) = e {
                let quote = InstrumentQuote::from_event(q).expect("a usable quote");
                by_expiry
                    .entry((q.underlying.clone(), q.expiry))
                    .or_default()
                    .push(quote);
            }
        }
        for quotes in by_expiry.values() {
            let synthetic: Vec<f64> = quotes
                .iter()
                .filter_map(|q| match &q.venue_forward {
                    Some((f, Some(name))) if name.starts_with("SYN.") => Some(*f),
                    _ => None,
                })
                .collect();
            if synthetic.len() < quotes.len() {
                continue;
            }
            let refs: Vec<&InstrumentQuote> = quotes.iter().collect();
            if let Some(f) = parity_forward(&refs) {
                assert_eq!(f.source, ForwardSource::PutCallParity);
                gaps.push((f.price / median(synthetic) - 1.0).abs());
            }
        }
    }
    let n = gaps.len();
    let median_gap = median(gaps.clone());
    let worst = gaps.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "parity vs Deribit SYN forwards: {n} expiries, median gap {:.2} bp, worst {:.1} bp",
        median_gap * 1e4,
        worst * 1e4
    );
    assert!(n >= 50, "{n}");
    assert!(median_gap <= 5e-4, "{median_gap}");
}

#[test]
fn the_surface_goes_stale_when_the_index_moves_and_its_stressed_marks_charge_short_options_more() {
    let Some(shared) = shared() else { return };
    let files = snapshots(&shared);
    // The age limit is set aside: the snapshots are hours apart, and this test is about the index.
    let config = SurfaceConfig {
        stale: StaleParams {
            age_max_s: 1e9,
            ..StaleParams::default()
        },
        ..SurfaceConfig::default()
    };
    let (mut stale_pairs, mut fresh_pairs) = (0, 0);
    for pair in files.windows(2) {
        let before = import_file(Format::DeribitSnapshot, &pair[0])
            .expect("imports")
            .events;
        let after = import_file(Format::DeribitSnapshot, &pair[1])
            .expect("imports")
            .events;
        let next = quotes_of(&after);
        for underlying in ["BTC", "ETH"] {
            let mine: Vec<Event> = before
                .iter()
                .filter(|e| matches!(e, Event::OptionQuote(q) if q.underlying == underlying))
                .cloned()
                .collect();
            let (mut engine, _) = fitted(&mine, config);
            let later: Vec<&OptionQuote> = next
                .values()
                .filter(|q| q.underlying == underlying)
                .collect();
            let now = later.iter().map(|q| q.ts).max().expect("quotes");
            let index_now = median(later.iter().filter_map(|q| q.index_price).collect());
            let index_before = median(
                mine.iter()
                    .filter_map(|e| match e {
                        Event::OptionQuote(q) => q.index_price,
                        _ => None,
                    })
                    .collect(),
            );
            engine
                .apply(&Event::Index(IndexUpdate {
                    ts: now,
                    underlying: underlying.into(),
                    price: index_now,
                    confidence: 0.0,
                    status: IndexStatus::Ok,
                }))
                .expect("an index applies");
            let (health, stressed, _) = engine.marks(underlying, now).expect("fitted");
            let moved = (index_now / index_before).ln();
            let index_fit = health.index_at_fit.expect("the quotes carry the index");
            // The fit's index is one of the snapshot's (they drift by a few basis points within it).
            assert!((index_fit / index_before - 1.0).abs() < 0.005);
            let expected = (index_now / index_fit).ln().abs() > 0.02;
            assert_eq!(
                health.stale,
                expected,
                "{} {underlying}: move {moved:+.4}",
                pair[1].display()
            );
            if !health.stale {
                fresh_pairs += 1;
                continue;
            }
            stale_pairs += 1;
            assert!(health.vol_add_on >= 0.02 + 1.5 * 0.02);
            // Last-known-good volatilities used as if live: the fitted vol at the moved forward's moneyness.
            let surface = engine.surface(underlying).expect("fitted");
            let factor = index_now / index_fit;
            let (mut naive_covers, mut stressed_covers, mut compared) = (0, 0, 0);
            for m in &stressed {
                let Some(slice) = surface.slice(m.expiry) else {
                    continue;
                };
                let t = expiry_years(now, m.expiry);
                let forward = slice.forward.price * factor;
                let vol = slice
                    .smile()
                    .vol((m.strike / forward).ln(), slice.expiry_years);
                let kind = if m.option_type == "call" {
                    OptionKind::Call
                } else {
                    OptionKind::Put
                };
                let naive = inverse_option(kind, forward, m.strike, t, vol).expect("valid inputs");
                // A short option's liability is its mark: the stressed one is never the lower.
                assert!(
                    m.mark_price_usd >= naive.price_usd * (1.0 - 1e-12),
                    "{}",
                    m.instrument
                );
                // Against what Deribit marked the option at the next snapshot.
                if let Some(q) = next.get(&m.instrument) {
                    if let (Some(mark), Some(f)) = (q.mark_price, q.underlying_price) {
                        compared += 1;
                        let realised = mark * f;
                        naive_covers += usize::from(naive.price_usd >= realised);
                        stressed_covers += usize::from(m.mark_price_usd >= realised);
                    }
                }
            }
            eprintln!(
                "{} {underlying}: index {moved:+.4}, stale, add-on {:.3}: marks at or above Deribit's next mark: stressed {stressed_covers}/{compared}, last-known-good {naive_covers}/{compared}",
                pair[1].file_name().and_then(|n| n.to_str()).unwrap_or("?"),
                health.vol_add_on
            );
            assert!(stressed_covers > naive_covers);
        }
    }
    assert!(
        stale_pairs >= 3 && fresh_pairs >= 3,
        "stale {stale_pairs}, fresh {fresh_pairs}"
    );
}
