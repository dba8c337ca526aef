//! Risk arrays: the properties the engine relies on, on fully revalued options and futures.

use proptest::prelude::*;
use rtm2m_margin::risk_array::{account_pnl, requirement, RiskArray};
use rtm2m_pricing::{black76_price, OptionKind};

#[derive(Debug, Clone, Copy)]
struct Shock {
    spot_mult: f64,
    vol_mult: f64,
}

#[derive(Debug, Clone, Copy)]
enum Instrument {
    Future,
    Option { kind: OptionKind, strike: f64 },
}

const SPOT: f64 = 100.0;
const VOL: f64 = 0.6;
const T: f64 = 0.25;

fn value(i: Instrument, s: Shock) -> f64 {
    let f = SPOT * s.spot_mult;
    match i {
        Instrument::Future => f,
        Instrument::Option { kind, strike } => {
            black76_price(kind, f, strike, T, VOL * s.vol_mult, 1.0).expect("valid inputs")
        }
    }
}

/// Spot moves ±range in `steps` steps each side, × vol down/none/up.
fn grid(range: f64, steps: usize) -> Vec<Shock> {
    let mut g = Vec::new();
    for i in 0..=2 * steps {
        let m = 1.0 + range * (i as f64 - steps as f64) / steps as f64;
        for v in [0.75, 1.0, 1.5] {
            g.push(Shock {
                spot_mult: m,
                vol_mult: v,
            });
        }
    }
    g
}

fn arrays(instruments: &[Instrument], g: &[Shock]) -> Vec<RiskArray> {
    instruments
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            RiskArray::from_revaluation(
                &format!("i{n}"),
                g,
                value(
                    i,
                    Shock {
                        spot_mult: 1.0,
                        vol_mult: 1.0,
                    },
                ),
                |s| value(i, *s),
            )
            .expect("finite")
        })
        .collect()
}

fn instrument() -> impl Strategy<Value = Instrument> {
    prop_oneof![
        Just(Instrument::Future),
        (any::<bool>(), 50.0..150.0_f64).prop_map(|(call, strike)| Instrument::Option {
            kind: if call {
                OptionKind::Call
            } else {
                OptionKind::Put
            },
            strike,
        }),
    ]
}

proptest! {
    #[test]
    fn scenario_pnl_scales_linearly_with_position_size(
        book in prop::collection::vec((instrument(), -50.0..50.0_f64), 1..8),
        scale in -20.0..20.0_f64,
    ) {
        let g = grid(0.18, 4);
        let instruments: Vec<Instrument> = book.iter().map(|b| b.0).collect();
        let a = arrays(&instruments, &g);
        let positions: Vec<(usize, f64)> = book.iter().enumerate().map(|(n, b)| (n, b.1)).collect();
        let scaled: Vec<(usize, f64)> = positions.iter().map(|&(n, q)| (n, q * scale)).collect();
        let base = account_pnl("acct", &a, &positions, g.len()).expect("sums");
        let big = account_pnl("acct", &a, &scaled, g.len()).expect("sums");
        for (x, y) in base.iter().zip(&big) {
            prop_assert!((y - scale * x).abs() <= 1e-9 * (1.0 + (scale * x).abs()));
        }
    }

    #[test]
    fn an_exact_offsetting_position_zeroes_the_risk_array(
        book in prop::collection::vec((instrument(), -50.0..50.0_f64), 1..8),
    ) {
        let g = grid(0.18, 4);
        let instruments: Vec<Instrument> = book.iter().map(|b| b.0).collect();
        let a = arrays(&instruments, &g);
        let mut positions: Vec<(usize, f64)> = book.iter().enumerate().map(|(n, b)| (n, b.1)).collect();
        positions.extend(book.iter().enumerate().map(|(n, b)| (n, -b.1)));
        let pnl = account_pnl("acct", &a, &positions, g.len()).expect("sums");
        for x in pnl {
            prop_assert_eq!(x, 0.0);
        }
        prop_assert_eq!(requirement(&account_pnl("acct", &a, &positions, g.len()).expect("sums")), 0.0);
    }

    #[test]
    fn widening_the_shocks_never_lowers_the_requirement(
        book in prop::collection::vec((instrument(), -50.0..50.0_f64), 1..8),
        range in 0.02..0.3_f64,
        extra in 0.0..0.5_f64,
    ) {
        // The widened grid keeps every point of the narrow one (steps double when the range doubles) and adds
        // wider moves beyond it.
        let narrow = grid(range, 4);
        let mut wide = narrow.clone();
        wide.extend(grid(range + extra, 6));
        let instruments: Vec<Instrument> = book.iter().map(|b| b.0).collect();
        let positions: Vec<(usize, f64)> = book.iter().enumerate().map(|(n, b)| (n, b.1)).collect();
        let r_narrow = requirement(&account_pnl("acct", &arrays(&instruments, &narrow), &positions, narrow.len()).expect("sums"));
        let r_wide = requirement(&account_pnl("acct", &arrays(&instruments, &wide), &positions, wide.len()).expect("sums"));
        prop_assert!(r_wide >= r_narrow, "{r_wide} < {r_narrow}");
    }
}

#[test]
fn a_risk_array_of_the_wrong_length_is_rejected_naming_the_instrument() {
    let a = vec![RiskArray {
        instrument: "BTC-28JUN24".into(),
        pnl_per_unit: vec![1.0, 2.0],
    }];
    let e = account_pnl("acct-1", &a, &[(0, 1.0)], 3).expect_err("length mismatch");
    assert!(
        e.to_string().contains("acct-1") && e.to_string().contains("BTC-28JUN24"),
        "{e}"
    );
}
