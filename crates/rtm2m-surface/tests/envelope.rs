//! The surface across expiries as the running maximum of the own smiles (`rtm2m_surface::envelope`), by
//! property tests: no calendar arbitrage by construction, no butterfly arbitrage (call prices convex and
//! decreasing in strike, computed from the total variance with the pricing crate's normalised Black), and
//! checks kept incrementally equal to the checks of the smile read point by point.

use proptest::prelude::*;
use rtm2m_pricing::black::normalised_black;
use rtm2m_pricing::OptionKind;
use rtm2m_surface::correction::{fit_correction, Correction, CorrectionInput, Target};
use rtm2m_surface::envelope::{
    check_own, check_smile, Envelope, GridValues, SmilePiece, SurfaceSmile,
};
use rtm2m_surface::surface::{repair_slice, sinh_grid};
use rtm2m_surface::svi::SviRaw;
use std::sync::Arc;

mod common;
use common::svi_strategy;

/// Arbitrage-free own smiles: each SVI repaired on its own, and every other one given a correction toward
/// targets moved by up to ±15% (the correction keeps `g ≥ 0` on its check points).
fn pieces(svis: &[(SviRaw, bool, f64)], grid: &[f64]) -> Option<Vec<Arc<SmilePiece>>> {
    let mut out = Vec::new();
    for &(svi, corrected, shift) in svis {
        let (svi, _, check) = repair_slice(&svi, None, grid);
        if check.g_min < 0.0 {
            return None;
        }
        let correction = if corrected {
            let own: Vec<Target> = (0..9)
                .map(|i| {
                    let k = -0.6 + 0.15 * f64::from(i);
                    let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                    let w = svi.total_variance(k) * (1.0 + sign * shift);
                    Target {
                        k,
                        lo: 0.98 * w,
                        hi: 1.02 * w,
                        weight: 1.0,
                        band: (0.98 * w, 1.02 * w),
                    }
                })
                .collect();
            fit_correction(&CorrectionInput {
                svi: &svi,
                own: &own,
                extra: &[],
                grid,
                floor: None,
                ceiling: None,
            })
        } else {
            Correction::none()
        };
        out.push(Arc::new(SmilePiece { svi, correction }));
    }
    Some(out)
}

fn surface_smile(pieces: &[Arc<SmilePiece>], i: usize) -> SurfaceSmile<'_> {
    SurfaceSmile {
        own: pieces[i].smile(),
        floor: &pieces[..i],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// On an independent uniform grid of 4,001 points (not the dense grid the checks use): each expiry's
    /// total variance is at least the previous expiry's (no calendar arbitrage) and is one of the pieces'
    /// values, and the undiscounted call prices `C(K) = √(F·K)·b(ln(F/K), √w)` (F = 1) of each expiry fall
    /// with the strike, by less than 1 per unit of strike, and are convex (no butterfly arbitrage).
    #[test]
    fn the_running_maximum_is_free_of_calendar_and_butterfly_arbitrage(
        svis in prop::collection::vec((svi_strategy(), any::<bool>(), 0.0..0.15_f64), 2..5),
    ) {
        let dense = sinh_grid(-2.0, 2.0, 1001);
        let pieces = pieces(&svis, &dense);
        prop_assume!(pieces.is_some());
        let pieces = pieces.expect("assumed");
        let grid: Vec<f64> = (0..4001).map(|i| -1.8 + 3.6 * f64::from(i) / 4000.0).collect();
        for i in 0..pieces.len() {
            let smile = surface_smile(&pieces, i);
            let mut calls = Vec::with_capacity(grid.len());
            for &k in &grid {
                let w = smile.total_variance(k);
                let own: Vec<f64> = pieces[..=i].iter().map(|p| p.smile().total_variance(k)).collect();
                prop_assert!(own.iter().all(|&v| w >= v) && own.contains(&w), "k {k}: {w} of {own:?}");
                if i > 0 {
                    let previous = surface_smile(&pieces, i - 1).total_variance(k);
                    prop_assert!(w >= previous, "k {k}: {w} below {previous}");
                }
                let strike = k.exp();
                calls.push((strike, strike.sqrt() * normalised_black(-k, w.max(0.0).sqrt(), OptionKind::Call)));
            }
            let slopes: Vec<f64> = calls.windows(2).map(|p| (p[1].1 - p[0].1) / (p[1].0 - p[0].0)).collect();
            for (j, pair) in slopes.windows(2).enumerate() {
                prop_assert!(pair[0] >= -1.0 - 1e-9 && pair[0] <= 1e-12, "slope {} at k {}", pair[0], grid[j]);
                // Rounding of prices near 1e-16 relative, divided by strike steps near 1e-3.
                prop_assert!(pair[1] >= pair[0] - 1e-10, "concave at k {}: {} then {}", grid[j + 1], pair[0], pair[1]);
            }
        }
    }

    /// The checks the refit keeps incrementally (each own smile read once on the dense grid, then folded
    /// into the envelope) equal, bit for bit, the checks of each expiry's surface smile read point by point
    /// against the previous expiry's; and they report no calendar violation.
    #[test]
    fn the_envelope_checks_equal_the_checks_of_the_smiles(
        svis in prop::collection::vec((svi_strategy(), any::<bool>(), 0.0..0.15_f64), 1..6),
    ) {
        let dense = sinh_grid(-2.0, 2.0, 1001);
        let pieces = pieces(&svis, &dense);
        prop_assume!(pieces.is_some());
        let pieces = pieces.expect("assumed");
        let mut envelope = Envelope::default();
        for i in 0..pieces.len() {
            let values = GridValues::of(pieces[i].smile(), &dense);
            // The own check reads the same values on the way, and gives what `check_smile` gives.
            let previous_own = i.checked_sub(1).map(|p| pieces[p].smile());
            let (own_check, own_values) = check_own(pieces[i].smile(), previous_own, &dense);
            prop_assert_eq!(&own_values, &values);
            prop_assert!(own_values.are_of(pieces[i].smile(), &dense));
            prop_assert_eq!(own_check, check_smile(pieces[i].smile().into(), previous_own.map(Into::into), &dense));
            let kept = envelope.check_and_take(&values, &dense);
            let previous = i.checked_sub(1).map(|p| surface_smile(&pieces, p));
            let fresh = check_smile(surface_smile(&pieces, i), previous, &dense);
            prop_assert_eq!(kept, fresh);
            prop_assert_eq!(kept.calendar_violations, 0);
            prop_assert!(kept.g_min >= 0.0, "{kept:?}");
        }
    }
}

/// Two smiles that cross: the later expiry's surface smile follows the earlier one's wing where it is
/// higher and its own elsewhere, and its `g` there is the piece's own.
#[test]
fn a_wing_of_a_shorter_expiry_sets_the_longer_one_where_it_is_higher() {
    let short = SviRaw {
        a: 0.01,
        b: 0.3,
        rho: -0.7,
        m: 0.0,
        sigma: 0.1,
    };
    let long = SviRaw {
        a: 0.04,
        b: 0.1,
        rho: 0.0,
        m: 0.0,
        sigma: 0.2,
    };
    let pieces = vec![
        Arc::new(SmilePiece {
            svi: short,
            correction: Correction::none(),
        }),
        Arc::new(SmilePiece {
            svi: long,
            correction: Correction::none(),
        }),
    ];
    let smile = surface_smile(&pieces, 1);
    // At k = -1 the short expiry's left wing: 0.01 + 0.3·(0.7 + √1.01) ≈ 0.5115 against 0.04 + 0.1·√1.04.
    let k = -1.0;
    let short_w = 0.01 + 0.3 * (0.7 + (1.0_f64 + 0.01).sqrt());
    let long_w = 0.04 + 0.1 * (1.0_f64 + 0.04).sqrt();
    assert!(short_w > long_w);
    assert!((smile.total_variance(k) - short_w).abs() < 1e-15);
    assert!(smile.inherited(k) && !smile.inherited(0.0));
    assert!((smile.durrleman_g(k) - pieces[0].smile().durrleman_g(k)).abs() < 1e-15);
    // At the money the long expiry's own: 0.04 + 0.1·0.2 = 0.06 against 0.01 + 0.3·0.1 = 0.04.
    assert!((smile.total_variance(0.0) - 0.06).abs() < 1e-15);
    assert!((smile.atm_skew(1.0) - pieces[1].smile().atm_skew(1.0)).abs() < 1e-15);
}
