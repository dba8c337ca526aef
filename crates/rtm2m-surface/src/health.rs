//! Surface health: how old the fit is, how much of the chain it covers, and how far the index has moved
//! since. A surface whose index has moved beyond the threshold, or whose fit is older than the limit, is
//! `stale`: its marks carry a stressed-volatility add-on and say so, instead of passing last-known-good
//! volatilities off as live.

use crate::config::StaleParams;
use crate::slice::SliceKind;
use crate::surface::UnderlyingSurface;
use rtm2m_market::Timestamp;
use serde::Serialize;

/// Why a surface is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleReason {
    /// `|ln(S_now/S_fit)|` is above `index_move_max`.
    IndexMoved,
    /// The fit is older than `age_max_s`.
    TooOld,
    /// The surface has never been fitted.
    NeverFitted,
}

/// The health of one underlying's surface at a valuation time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurfaceHealth {
    /// The underlying asset.
    pub underlying: String,
    /// Seconds from the fit to the valuation time.
    pub age_s: f64,
    /// Share of the surface's instruments whose quote is in a fit (two-sided, with implied volatilities).
    pub coverage: f64,
    /// Expiries with a slice.
    pub expiries: usize,
    /// Of which fitted with SVI (the others are fallbacks).
    pub expiries_svi: usize,
    /// `ln(S_now/S_fit)` of the index since the fit; `None` when either index is unknown.
    pub index_move_since_fit: Option<f64>,
    /// The index at the fit and now, USD.
    pub index_at_fit: Option<f64>,
    /// See `index_at_fit`.
    pub index_now: Option<f64>,
    /// Whether marks are stressed.
    pub stale: bool,
    /// Why, when stale.
    pub stale_reasons: Vec<StaleReason>,
    /// The stressed-volatility add-on the marks carry (vol as a fraction; 0 when fresh).
    pub vol_add_on: f64,
}

/// The stressed-volatility add-on of a stale surface: `min(base + per_move·|ln(S_now/S_fit)| +
/// per_hour·max(age − age_max, 0)/3600, max)`. Documented in `docs/surface.md` §Stale.
pub fn vol_add_on(params: &StaleParams, index_move: Option<f64>, age_s: f64) -> f64 {
    let move_part = params.add_on_per_move * index_move.map_or(0.0, f64::abs);
    let age_part = params.add_on_per_hour * (age_s - params.age_max_s).max(0.0) / 3600.0;
    (params.add_on_base + move_part + age_part).min(params.add_on_max)
}

/// The health of `surface` at `now`, with the index `index_now` (the surface's latest index when `None`).
pub fn health(
    surface: &UnderlyingSurface,
    now: Timestamp,
    index_now: Option<f64>,
    params: &StaleParams,
) -> SurfaceHealth {
    let index_now = index_now.or(surface.index.map(|(_, s)| s));
    let (mut instruments, mut fitted, mut expiries, mut expiries_svi) = (0usize, 0usize, 0, 0);
    for book in surface.books() {
        instruments += book.quotes.len();
        if let Some(s) = &book.slice {
            fitted += s.quotes.points.len();
            expiries += 1;
            expiries_svi += usize::from(s.kind == SliceKind::Svi);
        }
    }
    let mut reasons = Vec::new();
    let (age_s, index_at_fit) = match surface.fit {
        Some(fit) => (
            (now.unix_nanos() as f64 - fit.ts.unix_nanos() as f64) * 1e-9,
            fit.index,
        ),
        None => {
            reasons.push(StaleReason::NeverFitted);
            (f64::INFINITY, None)
        }
    };
    let index_move = match (index_at_fit, index_now) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => Some((b / a).ln()),
        _ => None,
    };
    if index_move.is_some_and(|m| m.abs() > params.index_move_max) {
        reasons.push(StaleReason::IndexMoved);
    }
    if surface.fit.is_some() && age_s > params.age_max_s {
        reasons.push(StaleReason::TooOld);
    }
    let stale = !reasons.is_empty();
    SurfaceHealth {
        underlying: surface.underlying.clone(),
        age_s: if age_s.is_finite() { age_s } else { f64::MAX },
        coverage: if instruments > 0 {
            fitted as f64 / instruments as f64
        } else {
            0.0
        },
        expiries,
        expiries_svi,
        index_move_since_fit: index_move,
        index_at_fit,
        index_now,
        stale,
        stale_reasons: reasons,
        vol_add_on: if stale {
            vol_add_on(params, index_move, age_s.min(1e12))
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_on_grows_with_the_move_and_the_age_and_is_capped() {
        let p = StaleParams::default();
        // 2 points + 1.5 × 6% = 11 vol points.
        assert!((vol_add_on(&p, Some(-0.06), 0.0) - 0.11).abs() < 1e-12);
        // Two hours past the 5-minute limit: 2 + 1 × (7200 − 300)/3600 points.
        let aged = vol_add_on(&p, None, 7200.0);
        assert!((aged - (0.02 + 0.01 * 6900.0 / 3600.0)).abs() < 1e-12);
        assert_eq!(vol_add_on(&p, Some(1.0), 1e9), p.add_on_max);
    }
}
