//! One expiry: its quotes' implied volatilities, their weights, and the SVI fit.
//!
//! The fit is in total variance `w = σ²T`, where raw SVI is linear in three of its parameters (so the inner
//! least squares is exact), with weights chosen so that the residuals are first-order implied-volatility
//! residuals measured in half bid/ask spreads: `Δw ≈ 2σT·Δσ`, so the weight of quote `i` is
//! `ωᵢ = νᵢ/(2σᵢT·hᵢ)²` with `hᵢ` its half spread in implied volatility (floored) and `νᵢ` its vega and size
//! factor. The objective is then `Σ νᵢ(Δσᵢ/hᵢ)²/Σ νᵢ`: a fitted volatility inside the bid/ask costs less than
//! one unit per quote. `docs/surface.md` explains the choice.

use crate::calibrate::{CalendarBounds, FitData, FitOptions, FitResult, OuterBox, SliceFit};
use crate::config::{FitTarget, SurfaceConfig};
use crate::forward::Forward;
use crate::quotes::{quote_ivs, Exclusion, InstrumentQuote, Mid, PriceUnit, QuoteIvs};
use crate::svi::SviRaw;
use rtm2m_pricing::OptionKind;
use serde::Serialize;

/// How a slice's parameters were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SliceKind {
    /// Raw SVI fitted to the expiry's own quotes.
    Svi,
    /// Too few quotes: the nearest fitted neighbour's smile (same implied volatility per `k`), with its level
    /// moved to the expiry's own quotes when it has any.
    FallbackNeighbour,
    /// Too few quotes and no fitted neighbour: flat at the quotes' implied volatility.
    FallbackFlat,
}

/// The quotes a fit uses, struct-of-arrays, with what the diagnostics and confidences need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitPoints {
    /// Index of the quote in the expiry's quote list.
    pub quote: Vec<usize>,
    /// `k = ln(K/F)`.
    pub k: Vec<f64>,
    /// Target total variance: target implied volatility² × T.
    pub w: Vec<f64>,
    /// Least-squares weight of the total-variance residual.
    pub weight: Vec<f64>,
    /// `νᵢ`: vega and size factor (the weight without the spread).
    pub nu: Vec<f64>,
    /// Implied volatility of the bid.
    pub bid_iv: Vec<f64>,
    /// Implied volatility of the ask.
    pub ask_iv: Vec<f64>,
    /// The target implied volatility ([`FitTarget`]): by default the midpoint of `bid_iv` and `ask_iv`.
    pub mid_iv: Vec<f64>,
    /// The bid and ask implied volatilities as the venue reads them (on the forward the quote carries,
    /// when it carries one within [`OWN_FORWARD_MAX`] of the slice's; else `bid_iv`, `ask_iv`): the band
    /// the local correction aims into.
    pub band: Vec<(f64, f64)>,
}

impl FitPoints {
    /// The number of points.
    pub fn len(&self) -> usize {
        self.k.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.k.is_empty()
    }

    fn clear(&mut self) {
        self.quote.clear();
        self.k.clear();
        self.w.clear();
        self.weight.clear();
        self.nu.clear();
        self.bid_iv.clear();
        self.ask_iv.clear();
        self.mid_iv.clear();
        self.band.clear();
    }

    /// The number of distinct strikes (distinct `k`).
    pub fn distinct_strikes(&self) -> usize {
        let mut ks = self.k.clone();
        ks.sort_by(f64::total_cmp);
        ks.dedup();
        ks.len()
    }
}

/// Implied volatilities of every quote of one expiry and the points the fit uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SliceQuotes {
    /// One per quote, in the expiry's quote order.
    pub ivs: Vec<QuoteIvs>,
    /// The quotes with an implied volatility of bid, ask and mid.
    pub points: FitPoints,
    /// Per quote, what its implied volatilities were computed from and the results (`ivs`, and its band on
    /// its own forward): a quote whose inputs are bit for bit the same is not inverted again.
    memo: Vec<(IvInputs, QuoteIvs, OwnBand)>,
}

/// A quote's bid/ask implied volatilities on its own forward, when they are its band.
type OwnBand = Option<(f64, f64)>;

/// Everything [`quote_ivs`] and the own-forward band read of a quote, its forward, its time and the mid,
/// the numbers as bits.
#[derive(Debug, Clone, Copy, PartialEq)]
struct IvInputs {
    kind: OptionKind,
    unit: PriceUnit,
    mid: Mid,
    /// Strike, bid, ask, bid size, ask size, venue forward, forward, years to expiry.
    numbers: [Option<u64>; 8],
}

impl IvInputs {
    fn of(q: &InstrumentQuote, forward: f64, expiry_years: f64, mid: Mid) -> IvInputs {
        let bits = |v: Option<f64>| v.map(f64::to_bits);
        IvInputs {
            kind: q.kind,
            unit: q.unit,
            mid,
            numbers: [
                bits(Some(q.strike)),
                bits(q.bid),
                bits(q.ask),
                bits(q.bid_size),
                bits(q.ask_size),
                bits(q.venue_forward.as_ref().map(|(f, _)| *f)),
                bits(Some(forward)),
                bits(Some(expiry_years)),
            ],
        }
    }
}

/// The largest relative distance from the slice's forward at which a quote's own venue forward is used for
/// its band as the venue reads it ([`FitPoints::band`]; beyond it, the band on the slice's forward).
pub const OWN_FORWARD_MAX: f64 = 0.005;

/// Computes every quote's implied volatilities and the fit points with their weights.
pub fn prepare_quotes(
    quotes: &[InstrumentQuote],
    forward: &Forward,
    expiry_years: f64,
    config: &SurfaceConfig,
    out: &mut SliceQuotes,
) {
    out.ivs.clear();
    out.points.clear();
    let previous = std::mem::take(&mut out.memo);
    let t = expiry_years;
    for (i, q) in quotes.iter().enumerate() {
        let mid = match config.target {
            FitTarget::IvMidpoint => Mid::IvMidpoint,
            FitTarget::MidPrice => Mid::Price,
            FitTarget::SizeWeightedMid => Mid::SizeWeightedPrice,
        };
        let inputs = IvInputs::of(q, forward.price, t, mid);
        let (ivs, known_own) = match previous.get(i) {
            Some(&(was, ivs, own)) if was == inputs => (ivs, Some(own)),
            _ => (quote_ivs(q, forward.price, t, mid), None),
        };
        out.memo.push((inputs, ivs, None));
        out.ivs.push(ivs);
        if ivs.exclusion.is_some() {
            continue;
        }
        // The target: the mid of `config.target` (the midpoint of the IVs by default).
        let (Some(bid), Some(ask), Some(mid)) = (ivs.bid_iv, ivs.ask_iv, ivs.mid_iv) else {
            continue;
        };
        if mid.is_nan() || mid <= 0.0 {
            continue;
        }
        let half_spread = (0.5 * (ask - bid)).max(config.half_spread_floor);
        let nu = if config.vega_weight_power > 0.0 {
            ivs.vega_rel.max(1e-6).powf(config.vega_weight_power)
        } else {
            1.0
        };
        let scale = 2.0 * mid * t * half_spread;
        let p = &mut out.points;
        p.quote.push(i);
        p.k.push(ivs.k);
        p.w.push(mid * mid * t);
        p.nu.push(nu);
        p.weight.push(1.0 / (scale * scale));
        p.bid_iv.push(bid);
        p.ask_iv.push(ask);
        p.mid_iv.push(mid);
        // The band as the venue reads it: against the forward the quote carries (Deribit's
        // `underlying_price` at the quote's own time, its IVs' reference), a few basis points from the
        // slice's when quotes are posted at different instants.
        let own = known_own.unwrap_or_else(|| {
            q.venue_forward
                .as_ref()
                .map(|(f, _)| *f)
                .filter(|f| {
                    *f != forward.price && (f / forward.price - 1.0).abs() <= OWN_FORWARD_MAX
                })
                .map(|f| quote_ivs(q, f, t, Mid::IvMidpoint))
                .and_then(|o| Some((o.bid_iv?, o.ask_iv?)))
                .filter(|(b, a)| b <= a)
        });
        out.memo[i].2 = own;
        p.band.push(own.unwrap_or((bid, ask)));
    }
    // Size factor: the smaller of the two top-of-book sizes s against the slice's median s̃, as
    // 2s/(s + s̃) ∈ (0, 2) (1 at the median); only when every point has both sizes.
    let p = &mut out.points;
    if config.size_weights {
        let sizes: Option<Vec<f64>> = p
            .quote
            .iter()
            .map(|&i| Some(quotes[i].bid_size?.min(quotes[i].ask_size?)))
            .collect();
        if let Some(sizes) = sizes.filter(|s| !s.is_empty()) {
            let mut sorted = sizes.clone();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            for (nu, s) in p.nu.iter_mut().zip(&sizes) {
                if s + median > 0.0 {
                    *nu *= 2.0 * s / (s + median);
                }
            }
        }
    }
    for (weight, nu) in p.weight.iter_mut().zip(&p.nu) {
        *weight *= nu;
    }
}

/// The grids of one fit: where the butterfly and calendar penalties are evaluated.
#[derive(Debug, Clone, Copy)]
pub struct FitGrids<'a> {
    /// Butterfly penalty points (around the slice's quotes and into the wings).
    pub butterfly: &'a [f64],
    /// Points where the slice must stay between its calendar floor and ceiling.
    pub calendar: &'a [f64],
}

/// The outcome of fitting one slice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SviFit {
    /// The fitted parameters (before any repair).
    pub params: SviRaw,
    /// Outer objective: mean squared residual in half-spreads plus penalties.
    pub objective: f64,
    /// `Σ νᵢ`: the objective times this is the total cost, comparable between slices.
    pub weight: f64,
    /// Objective evaluations.
    pub evaluations: usize,
}

/// Fits raw SVI to the points by quasi-explicit calibration: two Nelder–Mead starts when cold (the vertex at
/// the money with half the at-the-money standard deviation as `σ`, and at the lowest quote with twice it)
/// and a polish of the better one, one start from `warm` when given; with a `floor` (total variance at each point of `grids.calendar`, `−∞` for none) the
/// fit stays above it, with a `ceiling` (`+∞` for none) below it.
/// `None` when the points are too few for SVI (the caller falls back).
pub fn fit_svi(
    points: &FitPoints,
    config: &SurfaceConfig,
    grids: FitGrids<'_>,
    floor: Option<&[f64]>,
    ceiling: Option<&[f64]>,
    warm: Option<&SviRaw>,
) -> Option<SviFit> {
    if points.len() < config.min_quotes_for_svi
        || points.distinct_strikes() < config.min_strikes_for_svi
    {
        return None;
    }
    let (k_min, k_max) = points
        .k
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &k| {
            (lo.min(k), hi.max(k))
        });
    let range = (k_max - k_min).max(1e-4);
    // At-the-money total variance: the point nearest k = 0.
    let atm = points
        .k
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map(|(i, _)| points.w[i])
        .expect("at least five points");
    let atm_std = atm.max(1e-8).sqrt();
    let k_at_min_w = points
        .w
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| points.k[i])
        .expect("at least five points");
    let bounds = OuterBox {
        m: (k_min - 0.5 * range, k_max + 0.5 * range),
        ln_sigma: (
            (0.01 * atm_std).max(1e-5).ln(),
            (5.0 * atm_std).max(2.0 * range).ln(),
        ),
    };
    let normaliser: f64 = points.nu.iter().sum();
    let options = FitOptions {
        butterfly_grid: grids.butterfly,
        butterfly_penalty: config.butterfly_penalty,
        calendar: (floor.is_some() || ceiling.is_some()).then_some(CalendarBounds {
            k: grids.calendar,
            floor,
            ceiling,
        }),
        evaluations_per_start: if warm.is_some() {
            config.evaluations_warm
        } else {
            config.evaluations_cold
        },
    };
    let data = FitData {
        k: &points.k,
        w: &points.w,
        weight: &points.weight,
        normaliser,
    };
    let mut fit = SliceFit::new(data, options);
    let m_step = (0.5 * atm_std).max(0.01);
    let result = match warm {
        Some(p) if p.sigma > 0.0 && p.m.is_finite() => {
            fit.fit(&[([p.m, p.sigma.ln()], [0.1 * m_step, 0.15])], bounds)
        }
        _ => {
            let first = fit.fit(
                &[
                    ([0.0, (0.5 * atm_std).ln()], [m_step, 0.7]),
                    ([k_at_min_w, (2.0 * atm_std).ln()], [m_step, 0.7]),
                ],
                bounds,
            );
            // Polish the better start from a fresh small simplex (a collapsed simplex stalls Nelder–Mead),
            // on three fifths of a warm refit's budget.
            let p = first.params;
            fit.set_evaluations_per_start((config.evaluations_warm * 3 / 5).max(10));
            let polished = fit.fit(&[([p.m, p.sigma.ln()], [0.1 * m_step, 0.15])], bounds);
            if polished.objective <= first.objective {
                polished
            } else {
                FitResult {
                    evaluations: polished.evaluations,
                    ..first
                }
            }
        }
    };
    Some(SviFit {
        params: result.params,
        objective: result.objective,
        weight: normaliser,
        evaluations: result.evaluations,
    })
}

/// Fit quality of a slice against its points (fitted volatility `√(w(k)/T)` against bid, ask and target).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FitQuality {
    /// Points (quotes with bid, ask and target implied volatilities).
    pub points: usize,
    /// Root mean square of fitted − target implied volatility, vol points (1 = 1%), every point alike.
    pub rmse_vol_points: f64,
    /// The same with the fit's weights `νᵢ/hᵢ²` (vega, size, spread): wide quotes count little.
    pub rmse_vol_points_weighted: f64,
    /// Share of points whose fitted volatility lies within [bid IV, ask IV].
    pub within_bid_ask_share: f64,
}

/// The fit quality of `params` on `points` at `expiry_years` (`None` without points).
pub fn fit_quality(points: &FitPoints, params: &SviRaw, expiry_years: f64) -> Option<FitQuality> {
    fit_quality_of(points, |k| params.vol(k, expiry_years))
}

/// The fit quality of the implied volatility `vol(k)` on `points` (`None` without points).
pub fn fit_quality_of(points: &FitPoints, vol: impl Fn(f64) -> f64) -> Option<FitQuality> {
    if points.is_empty() {
        return None;
    }
    let (mut sse, mut weighted, mut weights, mut within) = (0.0, 0.0, 0.0, 0usize);
    for i in 0..points.len() {
        let vol = vol(points.k[i]);
        let r = vol - points.mid_iv[i];
        sse += r * r;
        let half = (0.5 * (points.ask_iv[i] - points.bid_iv[i])).max(1e-4);
        let weight = points.nu[i] / (half * half);
        weighted += weight * r * r;
        weights += weight;
        if vol >= points.bid_iv[i] && vol <= points.ask_iv[i] {
            within += 1;
        }
    }
    let n = points.len() as f64;
    Some(FitQuality {
        points: points.len(),
        rmse_vol_points: 100.0 * (sse / n).sqrt(),
        rmse_vol_points_weighted: 100.0 * (weighted / weights.max(f64::MIN_POSITIVE)).sqrt(),
        within_bid_ask_share: within as f64 / n,
    })
}

/// Counts of excluded quotes by reason, sorted by reason.
pub fn exclusion_counts(ivs: &[QuoteIvs]) -> Vec<(Exclusion, usize)> {
    let mut counts: Vec<(Exclusion, usize)> = Vec::new();
    for e in ivs.iter().filter_map(|q| q.exclusion) {
        match counts.iter_mut().find(|(x, _)| *x == e) {
            Some((_, n)) => *n += 1,
            None => counts.push((e, 1)),
        }
    }
    counts.sort();
    counts
}
