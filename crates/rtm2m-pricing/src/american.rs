//! American options (draft).

use crate::black::BsInputs;
use crate::OptionKind;

#[derive(Debug, Clone, Copy)]
struct Lattice {
    steps: usize,
    dt_years: f64,
    ln_up: f64,
    ln_down: f64,
    weight_up: f64,
    weight_down: f64,
}

fn peizer_pratt(z: f64, steps: usize) -> (f64, f64) {
    let n = steps as f64;
    let a = z / (n + 1.0 / 3.0 + 0.1 / (n + 1.0));
    let x = a * a * (n + 1.0 / 6.0);
    let root = (-(-x).exp_m1()).sqrt();
    let small = 0.5 * (-x).exp() / (1.0 + root);
    let large = 0.5 + 0.5 * root;
    if z >= 0.0 {
        (large, small)
    } else {
        (small, large)
    }
}

impl Lattice {
    fn new(i: &BsInputs, steps: usize) -> Option<Lattice> {
        let stddev = i.vol * i.expiry_years.sqrt();
        let carry = i.rate - i.dividend;
        let d1 = ((i.spot / i.strike).ln() + carry * i.expiry_years) / stddev + 0.5 * stddev;
        let d2 = d1 - stddev;
        let (p, p_c) = peizer_pratt(d2, steps);
        let (p1, p1_c) = peizer_pratt(d1, steps);
        let dt_years = i.expiry_years / steps as f64;
        let ln_growth = carry * dt_years;
        let ln_up = ln_growth + (p1 / p).ln();
        let ln_down = ln_growth + (p1_c / p_c).ln();
        let disc = (-i.rate * dt_years).exp();
        Some(Lattice {
            steps,
            dt_years,
            ln_up,
            ln_down,
            weight_up: disc * p,
            weight_down: disc * p_c,
        })
    }
}

/// experimental
#[doc(hidden)]
pub fn lr_raw(kind: OptionKind, i: &BsInputs, steps: usize, buffer: &mut Vec<f64>) -> (f64, f64) {
    let l = Lattice::new(i, steps).expect("lattice");
    let n = l.steps;
    buffer.clear();
    buffer.resize(3 * (n + 1), 0.0);
    let (spots, rest) = buffer.split_at_mut(n + 1);
    let (am, eu) = rest.split_at_mut(n + 1);
    let theta = kind.sign();
    let strike_signed = theta * i.strike;
    let ln_spot = i.spot.ln();
    let ln_ratio = l.ln_up - l.ln_down;
    for j in 0..=n {
        let s = theta * (ln_spot + n as f64 * l.ln_down + j as f64 * ln_ratio).exp();
        spots[j] = s;
        let payoff = (s - strike_signed).max(0.0);
        am[j] = payoff;
        eu[j] = payoff;
    }
    let (wu, wd) = (l.weight_up, l.weight_down);
    let mut src: &mut [f64] = am;
    let mut dst: &mut [f64] = eu;
    for level in (0..n).rev() {
        let factor = (-((n - level) as f64) * l.ln_down).exp();
        let m = level + 1;
        let up = &src[1..=m];
        let down = &src[..m];
        let sp = &spots[..m];
        for (((d, &u), &w), &s) in dst[..m].iter_mut().zip(up).zip(down).zip(sp) {
            let cont = wu * u + wd * w;
            let ex = s * factor - strike_signed;
            *d = if cont > ex { cont } else { ex };
        }
        std::mem::swap(&mut src, &mut dst);
    }
    let am0 = src[0];
    let _ = l.dt_years;
    (am0, 0.0)
}
