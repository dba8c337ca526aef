//! Every tunable of the surface in one place, with its unit and default. `docs/surface.md` explains each.

use crate::SurfaceError;

/// What a quote's fit point aims at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitTarget {
    /// The midpoint of the bid and ask implied volatilities: the centre of the band `[bid IV, ask IV]`
    /// (where Deribit's own mark IVs sit: `docs/surface.md` §Target).
    IvMidpoint,
    /// The implied volatility of the mid price `(bid + ask)/2`.
    MidPrice,
    /// The implied volatility of the size-weighted mid `(bid·ask_size + ask·bid_size)/(bid_size + ask_size)`
    /// (the mid price when sizes are missing).
    SizeWeightedMid,
}

/// When a surface is stale and how its marks are stressed then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaleParams {
    /// Largest `|ln(S_now/S_fit)|` of the index since the fit before the surface is stale (0.02 = 2%).
    pub index_move_max: f64,
    /// Largest age of the fit, seconds, before the surface is stale.
    pub age_max_s: f64,
    /// Stressed-vol add-on when stale: a floor, vol as a fraction (0.02 = 2 vol points).
    pub add_on_base: f64,
    /// Add-on per unit of `|ln(S_now/S_fit)|` (1.5: a 10% move adds 15 vol points).
    pub add_on_per_move: f64,
    /// Add-on per hour of age beyond `age_max_s`, vol per hour.
    pub add_on_per_hour: f64,
    /// Cap of the add-on, vol.
    pub add_on_max: f64,
}

impl Default for StaleParams {
    fn default() -> Self {
        StaleParams {
            index_move_max: 0.02,
            age_max_s: 300.0,
            add_on_base: 0.02,
            add_on_per_move: 1.5,
            add_on_per_hour: 0.01,
            add_on_max: 0.50,
        }
    }
}

/// The parameters of quote weighting, calibration, repair and staleness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurfaceConfig {
    /// Fewest quotes with an implied volatility (and distinct strikes) for an SVI fit; below it the slice
    /// falls back to its neighbours' shape.
    pub min_quotes_for_svi: usize,
    /// Fewest distinct strikes for an SVI fit.
    pub min_strikes_for_svi: usize,
    /// Floor of a quote's half bid/ask spread in implied volatility, vol (fraction), in its weight.
    pub half_spread_floor: f64,
    /// Exponent of the normalised vega `φ(d₁)/φ(0)` in a quote's weight (0 turns it off).
    pub vega_weight_power: f64,
    /// Whether top-of-book sizes weight quotes (when the source gives them).
    pub size_weights: bool,
    /// The implied volatility each quote's fit point aims at.
    pub target: FitTarget,
    /// Prefer the venue's own forward of an expiry without a future (Deribit's `SYN.*` or its index, as the
    /// quotes' `underlying_price` carries it) to our own put–call parity forward.
    pub prefer_venue_forward: bool,
    /// Whether each slice is fitted above the previous one (calendar floors in the inner least squares) and
    /// repaired against it. Turning it off leaves calendar arbitrage in place: for diagnostics only.
    pub calendar_constraints: bool,
    /// Whether each slice gets its local correction toward the quotes its SVI leaves outside their bid/ask
    /// (`docs/surface.md` §Correction). Off: the surface is the SVI slices alone.
    pub smile_correction: bool,
    /// Penalty weight of butterfly violations (`Σ min(g, 0)²` on the fit grid) in the fit objective.
    pub butterfly_penalty: f64,
    /// Nelder–Mead evaluations per start in a cold fit (two starts).
    pub evaluations_cold: usize,
    /// Nelder–Mead evaluations of a warm refit (one start from the previous parameters).
    pub evaluations_warm: usize,
    /// Points of the dense grid on which butterfly and calendar conditions are checked and reported.
    pub dense_grid_points: usize,
    /// Half-width of the band around the midpoint of a live two-sided market's bid and ask implied
    /// volatilities that a fresh mark is clamped into, as a share of their half difference (1: the whole
    /// bid/ask; 0: the midpoint itself), for quotes up to `mark_band_wide_from` wide.
    pub mark_band: f64,
    /// Half-spread in implied volatility (fraction: 0.04 = 4 vol points) beyond which the band opens up: a
    /// quote with half-spread `h` clamps the mark into `midpoint ± max(mark_band·h, h − (1 − mark_band)·
    /// mark_band_wide_from)`, so that within a wide quote the surface decides and only the outer
    /// `(1 − mark_band)·mark_band_wide_from` next to the bid and the ask is kept out (`+∞`: the band is
    /// `mark_band·h` at every width). `docs/surface.md` §Marks gives the measurements behind it.
    pub mark_band_wide_from: f64,
    /// Staleness and stress.
    pub stale: StaleParams,
}

impl Default for SurfaceConfig {
    fn default() -> Self {
        SurfaceConfig {
            min_quotes_for_svi: 5,
            min_strikes_for_svi: 4,
            half_spread_floor: 0.0025,
            vega_weight_power: 0.5,
            size_weights: true,
            target: FitTarget::IvMidpoint,
            prefer_venue_forward: true,
            calendar_constraints: true,
            smile_correction: true,
            butterfly_penalty: 1e4,
            evaluations_cold: 40,
            evaluations_warm: 25,
            dense_grid_points: 1001,
            mark_band: 0.1,
            mark_band_wide_from: 0.04,
            stale: StaleParams::default(),
        }
    }
}

impl SurfaceConfig {
    /// Checks every parameter, naming the first out of its domain.
    pub fn validate(&self) -> Result<(), SurfaceError> {
        let bad = |field, reason| Err(SurfaceError::Config { field, reason });
        if self.min_quotes_for_svi < 5 {
            return bad(
                "min_quotes_for_svi",
                "must be at least 5 (SVI has five parameters)",
            );
        }
        if self.min_strikes_for_svi < 3 {
            return bad("min_strikes_for_svi", "must be at least 3");
        }
        let non_negative = [
            ("half_spread_floor", self.half_spread_floor),
            ("vega_weight_power", self.vega_weight_power),
            ("butterfly_penalty", self.butterfly_penalty),
            ("stale.index_move_max", self.stale.index_move_max),
            ("stale.age_max_s", self.stale.age_max_s),
            ("stale.add_on_base", self.stale.add_on_base),
            ("stale.add_on_per_move", self.stale.add_on_per_move),
            ("stale.add_on_per_hour", self.stale.add_on_per_hour),
            ("stale.add_on_max", self.stale.add_on_max),
        ];
        for (field, value) in non_negative {
            if !(value.is_finite() && value >= 0.0) {
                return bad(field, "must be a finite number ≥ 0");
            }
        }
        if !(0.0..=1.0).contains(&self.mark_band) {
            return bad("mark_band", "must be between 0 and 1");
        }
        if self.mark_band_wide_from.is_nan() || self.mark_band_wide_from < 0.0 {
            return bad(
                "mark_band_wide_from",
                "must be ≥ 0 (+∞ turns the widening off)",
            );
        }
        if self.half_spread_floor == 0.0 {
            return bad(
                "half_spread_floor",
                "must be positive (it bounds the weights)",
            );
        }
        if self.evaluations_cold < 10 || self.evaluations_warm < 10 {
            return bad(
                "evaluations_cold",
                "Nelder–Mead needs at least 10 evaluations per start",
            );
        }
        if !(3..=1_000_000).contains(&self.dense_grid_points) {
            return bad("dense_grid_points", "must be between 3 and 1,000,000");
        }
        Ok(())
    }
}
