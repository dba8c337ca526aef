//! What a surface says about each expiry, in the form the CLI writes (`docs/surface.md` §Output).

use crate::forward::ForwardSource;
use crate::slice::{exclusion_counts, fit_quality_of, SliceKind};
use crate::surface::{Repair, Slice, UnderlyingSurface};
use crate::svi::SviRaw;
use rtm2m_market::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// One expiry of one underlying: forward, SVI parameters, at-the-money figures, fit quality and the
/// no-arbitrage checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SliceReport {
    /// The underlying asset.
    pub underlying: String,
    /// Expiry instant.
    pub expiry: Timestamp,
    /// Years to expiry at the fit (ACT/365).
    pub expiry_years: f64,
    /// The forward, USD.
    pub forward: f64,
    /// Where the forward comes from.
    pub forward_source: ForwardSource,
    /// How the slice was obtained (`svi`, `fallback_neighbour`, `fallback_flat`).
    pub kind: SliceKind,
    /// Final raw SVI parameters (after repairs).
    pub svi: SviRaw,
    /// At-the-money (k = 0) implied volatility, fraction.
    pub atm_vol: f64,
    /// At-the-money skew dσ/dk, vol (fraction) per unit of log-moneyness.
    pub atm_skew: f64,
    /// Root mean square of fitted − target implied volatility over the fit quotes, vol points; `None`
    /// without.
    pub rmse_vol_points: Option<f64>,
    /// The same weighted by the fit's weights (vega, size, 1/half-spread²), vol points.
    pub rmse_vol_points_weighted: Option<f64>,
    /// Share of fit quotes whose fitted IV lies within their [bid IV, ask IV]; `None` without.
    pub within_bid_ask_share: Option<f64>,
    /// Quotes of the expiry.
    pub quotes: usize,
    /// Quotes in the fit (two-sided, with bid, ask and mid implied volatilities).
    pub fit_quotes: usize,
    /// Quotes left out of the fit, by reason.
    pub excluded: BTreeMap<&'static str, usize>,
    /// The largest move of the local correction (`docs/surface.md` §Correction), vol points: `|σ − σ_SVI|`
    /// at the knots and midway between them (0: none).
    pub correction_max_vol_points: f64,
    /// Minimum of Durrleman's g on the dense grid.
    pub g_min: f64,
    /// Dense-grid points below the previous expiry's total variance.
    pub calendar_violations: usize,
    /// Fit quotes where a shorter expiry's smile sets this expiry's on the surface (the running maximum
    /// in T, `docs/surface.md` §Calendar): there the surface is not the expiry's own fit.
    pub inherited_quotes: usize,
    /// Share of the dense grid's points where a shorter expiry's smile sets this expiry's.
    pub inherited_grid_share: f64,
    /// What the repairs did.
    pub repair: Repair,
    /// Objective evaluations of the last fit.
    pub evaluations: usize,
}

impl SliceReport {
    /// The report of `slice`, one of `surface`'s, with `quotes` quotes on its expiry.
    pub fn new(surface: &UnderlyingSurface, slice: &Slice, quotes: usize) -> SliceReport {
        let t = slice.expiry_years;
        let smile = slice.smile();
        let quality = fit_quality_of(&slice.quotes.points, |k| smile.vol(k, t));
        let correction_max_vol_points = slice
            .correction
            .knots
            .windows(2)
            .flat_map(|w| [w[0], 0.5 * (w[0] + w[1])])
            .map(|k| 100.0 * (slice.own_smile().vol(k, t) - slice.params.vol(k, t)).abs())
            .fold(0.0, f64::max);
        SliceReport {
            underlying: surface.underlying.clone(),
            expiry: slice.expiry,
            expiry_years: t,
            forward: slice.forward.price,
            forward_source: slice.forward.source,
            kind: slice.kind,
            svi: slice.params,
            correction_max_vol_points,
            atm_vol: smile.vol(0.0, t),
            atm_skew: smile.atm_skew(t),
            rmse_vol_points: quality.map(|q| q.rmse_vol_points),
            rmse_vol_points_weighted: quality.map(|q| q.rmse_vol_points_weighted),
            within_bid_ask_share: quality.map(|q| q.within_bid_ask_share),
            quotes,
            fit_quotes: slice.quotes.points.len(),
            excluded: exclusion_counts(&slice.quotes.ivs)
                .into_iter()
                .map(|(e, n)| (e.code(), n))
                .collect(),
            g_min: slice.check.g_min,
            calendar_violations: slice.check.calendar_violations,
            inherited_quotes: slice
                .quotes
                .points
                .k
                .iter()
                .filter(|&&k| smile.inherited(k))
                .count(),
            inherited_grid_share: {
                let grid = surface.dense_grid();
                let inherited = grid.iter().filter(|&&k| smile.inherited(k)).count();
                inherited as f64 / grid.len().max(1) as f64
            },
            repair: slice.repair,
            evaluations: slice.evaluations,
        }
    }

    /// Reports of every slice of `surface`, in expiry order.
    pub fn all(surface: &UnderlyingSurface) -> Vec<SliceReport> {
        surface
            .books()
            .filter_map(|b| {
                b.slice
                    .as_ref()
                    .map(|s| SliceReport::new(surface, s, b.quotes.len()))
            })
            .collect()
    }
}
