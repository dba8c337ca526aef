//! Marks per instrument: mark implied volatility from the surface, mark price in coin and USD, Greeks in
//! Deribit's units, and a confidence.
//!
//! When the surface is fresh and the instrument has a live two-sided market (not crossed), the mark IV is
//! the model's, clamped into the band `m ± B(h)` around the midpoint `m` of the bid and ask implied
//! volatilities (`h` their half difference): `B(h) = λ·h` for a quote up to `h₀` wide and
//! `B(h) = h − (1 − λ)·h₀` beyond ([`MarkBand`]: `λ` = `SurfaceConfig::mark_band`, `h₀` =
//! `SurfaceConfig::mark_band_wide_from`): a tight market's midpoint is the better witness, inside a wide one
//! the surface is. `B(h) ≤ h`, so the price stays inside the bid/ask. When either side has no implied
//! volatility the price itself is clamped into the bid/ask. With one live side only, the mark is not above
//! the ask (or below the bid).
//! When it is stale the forward is moved with the index since the fit, the volatility is the larger of
//! the sticky-strike and sticky-moneyness values plus the stressed add-on, and the (old) quotes do not
//! clamp it: every option is then marked at least as high as the fresh surface would, so short positions
//! are charged more.

use crate::health::SurfaceHealth;
use crate::quotes::{InstrumentQuote, PriceUnit};
use crate::slice::SliceKind;
use crate::surface::{expiry_years, Slice, UnderlyingSurface};
use rtm2m_market::Timestamp;
use rtm2m_pricing::inverse::inverse_option;
use rtm2m_pricing::{implied_vol_black76, OptionKind};
use serde::Serialize;

/// Which way a mark was moved into its band of the live bid/ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Clamp {
    /// The model was below the band: the mark is its lower edge (toward the bid).
    Bid,
    /// The model was above the band: the mark is its upper edge (toward the ask).
    Ask,
}

/// The mark of one instrument.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    /// The venue's instrument name.
    pub instrument: String,
    /// Expiry instant.
    pub expiry: Timestamp,
    /// Strike, USD.
    pub strike: f64,
    /// `call` or `put`.
    #[serde(rename = "type")]
    pub option_type: &'static str,
    /// The forward used, USD.
    pub forward: f64,
    /// Mark implied volatility, fraction.
    pub mark_iv: f64,
    /// Mark price, coin per option (USD price / forward).
    pub mark_price_coin: f64,
    /// Mark price, USD per option.
    pub mark_price_usd: f64,
    /// Forward delta `θ·Φ(θd₁)` (Deribit's, not premium-adjusted).
    pub delta: f64,
    /// Gamma per USD of forward.
    pub gamma: f64,
    /// Vega, USD per vol point.
    pub vega: f64,
    /// Theta, USD per calendar day.
    pub theta: f64,
    /// Confidence in [0, 1] (`docs/surface.md` §Marks).
    pub confidence: f64,
    /// The surface's volatility before any clamp or stress, fraction.
    pub model_iv: f64,
    /// Set when the model's volatility was moved into the band its quote allows (or the band the quotes of
    /// its strike allow together: a call and a put of one strike are marked at one volatility).
    pub clamped: Option<Clamp>,
    /// Whether the surface was stale (the mark carries `vol_add_on`).
    pub stale: bool,
    /// Stressed-volatility add-on included in `mark_iv`, fraction (0 when fresh).
    pub vol_add_on: f64,
}

/// An instrument that gets no mark, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmarked {
    /// The venue's instrument name.
    pub instrument: String,
    /// `expired`, `no_slice` (no forward or no implied volatility anywhere on its expiry), `pricing`.
    pub reason: &'static str,
}

/// How far from the midpoint of a two-sided quote's bid and ask implied volatilities a fresh mark may lie.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarkBand {
    /// `λ ∈ [0, 1]`: the band's half-width as a share of the quote's half-spread, up to `wide_from`.
    pub share: f64,
    /// `h₀ ≥ 0`, implied volatility (fraction): the half-spread from which the band opens up toward the
    /// whole bid/ask.
    pub wide_from: f64,
}

impl MarkBand {
    /// The band's half-width for a quote whose half-spread in implied volatility is `half_spread`:
    /// `max(λ·h, h − (1 − λ)·h₀)`, between `λ·h` and `h`.
    pub fn half_width(&self, half_spread: f64) -> f64 {
        let h = half_spread.max(0.0);
        (self.share * h).max(h - (1.0 - self.share) * self.wide_from)
    }
}

/// Marks of every instrument of `surface` at `now` under `health` (from [`crate::health::health`] at the
/// same `now`).
pub fn marks(
    surface: &UnderlyingSurface,
    now: Timestamp,
    health: &SurfaceHealth,
    mark_band: MarkBand,
) -> (Vec<Mark>, Vec<Unmarked>) {
    let mut out = Vec::new();
    let mut unmarked: Vec<Unmarked> = surface
        .expired
        .iter()
        .map(|i| Unmarked {
            instrument: i.clone(),
            reason: "expired",
        })
        .collect();
    let move_factor = match (health.stale, health.index_at_fit, health.index_now) {
        (true, Some(a), Some(b)) => b / a,
        _ => 1.0,
    };
    for book in surface.books() {
        let Some(slice) = &book.slice else {
            unmarked.extend(book.quotes.iter().map(|q| Unmarked {
                instrument: q.instrument.clone(),
                reason: "no_slice",
            }));
            continue;
        };
        let t = expiry_years(now, book.expiry);
        // Each quote's fit point, if it has one.
        let mut point_of = vec![None; book.quotes.len()];
        for (j, &i) in slice.quotes.points.quote.iter().enumerate() {
            if let Some(slot) = point_of.get_mut(i) {
                *slot = Some(j);
            }
        }
        // Fresh marks of a call and a put of one strike share one implied volatility where their quotes
        // allow it: the strike's bounds, for each quote whose strike has another quote.
        let mut shared = vec![None; book.quotes.len()];
        if !health.stale && t > 0.0 {
            let mut by_strike: Vec<usize> = (0..book.quotes.len()).collect();
            by_strike.sort_by(|&i, &j| book.quotes[i].strike.total_cmp(&book.quotes[j].strike));
            for group in by_strike.chunk_by(|&i, &j| book.quotes[i].strike == book.quotes[j].strike)
            {
                if group.len() < 2 {
                    continue;
                }
                let quotes: Vec<&InstrumentQuote> =
                    group.iter().map(|&i| &book.quotes[i]).collect();
                let bounds = shared_bounds(&quotes, slice.forward.price, t, mark_band);
                for &i in group {
                    shared[i] = bounds;
                }
            }
        }
        let residuals = FitResiduals::of(slice);
        for (i, q) in book.quotes.iter().enumerate() {
            if t.is_nan() || t <= 0.0 {
                unmarked.push(Unmarked {
                    instrument: q.instrument.clone(),
                    reason: "expired",
                });
                continue;
            }
            let context = MarkContext {
                health,
                move_factor,
                band: mark_band,
                shared: shared[i],
                residuals: &residuals,
            };
            match mark_one(q, point_of[i], slice, t, &context) {
                Some(m) => out.push(m),
                None => unmarked.push(Unmarked {
                    instrument: q.instrument.clone(),
                    reason: "pricing",
                }),
            }
        }
    }
    (out, unmarked)
}

/// What a mark depends on besides its quote and slice.
struct MarkContext<'a> {
    health: &'a SurfaceHealth,
    /// `S_now/S_fit` when stale, else 1.
    move_factor: f64,
    band: MarkBand,
    /// The implied volatilities the quote's strike allows ([`shared_bounds`]), when it has a partner.
    shared: Option<(f64, f64)>,
    /// What the confidences of the slice's marks read of its fit ([`FitResiduals::of`]).
    residuals: &'a FitResiduals,
}

/// What every mark's confidence reads of its slice, computed once per slice: the at-the-money standard
/// deviation and each fit quote's squared residual in half-spreads.
struct FitResiduals {
    atm_std: f64,
    squared: Vec<f64>,
}

impl FitResiduals {
    fn of(slice: &Slice) -> FitResiduals {
        let p = &slice.quotes.points;
        let t = slice.expiry_years;
        let smile = slice.smile();
        let squared = (0..p.len())
            .map(|i| {
                let half = (0.5 * (p.ask_iv[i] - p.bid_iv[i])).max(1e-4);
                let r = (smile.vol(p.k[i], t) - p.mid_iv[i]) / half;
                r * r
            })
            .collect();
        FitResiduals {
            atm_std: smile.total_variance(0.0).max(0.0).sqrt(),
            squared,
        }
    }
}

fn mark_one(
    q: &InstrumentQuote,
    own_point: Option<usize>,
    slice: &Slice,
    t: f64,
    context: &MarkContext<'_>,
) -> Option<Mark> {
    let MarkContext {
        health,
        move_factor,
        band: mark_band,
        shared,
        residuals,
    } = *context;
    let fit_forward = slice.forward.price;
    let k_fit = (q.strike / fit_forward).ln();
    let model_iv = slice.smile().vol(k_fit, slice.expiry_years);
    let (forward, mut iv) = if health.stale {
        let forward = fit_forward * move_factor;
        let sticky_moneyness = slice
            .smile()
            .vol((q.strike / forward).ln(), slice.expiry_years);
        (forward, model_iv.max(sticky_moneyness) + health.vol_add_on)
    } else {
        (fit_forward, model_iv)
    };
    let mut g = inverse_option(q.kind, forward, q.strike, t, iv).ok()?;
    let mut clamped = None;
    if !health.stale {
        let two_sided = match (q.live_bid(), q.live_ask()) {
            (Some(bid), Some(ask)) if bid <= ask => Some((bid, ask)),
            _ => None,
        };
        let target = match shared.or_else(|| iv_bounds(q, forward, t, mark_band)) {
            Some((lo, _)) if iv < lo => Some((lo, Clamp::Bid)),
            Some((_, hi)) if iv > hi => Some((hi, Clamp::Ask)),
            Some(_) => None,
            // A two-sided quote whose bid or ask has no implied volatility: the price itself is clamped.
            None => two_sided.and_then(|(bid, ask)| {
                let price = match q.unit {
                    PriceUnit::Coin => g.price_coin,
                    PriceUnit::Usd => g.price_usd,
                };
                let iv_of = |p: f64| {
                    implied_vol_black76(q.kind, q.to_usd(p, forward), forward, q.strike, t, 1.0)
                        .ok()
                };
                if price < bid {
                    iv_of(bid).map(|v| (v, Clamp::Bid))
                } else if price > ask {
                    iv_of(ask).map(|v| (v, Clamp::Ask))
                } else {
                    None
                }
            }),
        };
        if let Some((v, side)) = target {
            if let Ok(clamped_greeks) = inverse_option(q.kind, forward, q.strike, t, v) {
                iv = v;
                g = clamped_greeks;
                clamped = Some(side);
            }
        }
        if let Some((bid, ask)) = two_sided {
            // Rounding of the inversions must not leave the price a hair outside the quotes.
            let (lo, hi) = match q.unit {
                PriceUnit::Coin => (bid, ask),
                PriceUnit::Usd => (bid / forward, ask / forward),
            };
            g.price_coin = g.price_coin.clamp(lo, hi);
            g.price_usd = g.price_coin * forward;
        } else if let Some((price, side)) = one_sided(q) {
            // One live side only: the mark is not above a live ask, nor below a live bid.
            let model = match q.unit {
                PriceUnit::Coin => g.price_coin,
                PriceUnit::Usd => g.price_usd,
            };
            let beyond = match side {
                Clamp::Ask => model > price,
                Clamp::Bid => model < price,
            };
            if beyond {
                let usd = q.to_usd(price, forward);
                if let Ok(v) = implied_vol_black76(q.kind, usd, forward, q.strike, t, 1.0) {
                    if let Ok(clamped_greeks) = inverse_option(q.kind, forward, q.strike, t, v) {
                        iv = v;
                        g = clamped_greeks;
                        clamped = Some(side);
                    }
                }
            }
        }
    }
    let values = [
        iv,
        g.price_coin,
        g.price_usd,
        g.delta,
        g.gamma,
        g.vega_usd_per_vol_point,
        g.theta_usd_per_day,
    ];
    if !values.iter().all(|x| x.is_finite()) {
        return None;
    }
    Some(Mark {
        instrument: q.instrument.clone(),
        expiry: q.expiry,
        strike: q.strike,
        option_type: match q.kind {
            OptionKind::Call => "call",
            OptionKind::Put => "put",
        },
        forward,
        mark_iv: iv,
        mark_price_coin: g.price_coin,
        mark_price_usd: g.price_usd,
        delta: g.delta,
        gamma: g.gamma,
        vega: g.vega_usd_per_vol_point,
        theta: g.theta_usd_per_day,
        confidence: confidence(
            own_point,
            slice,
            residuals,
            k_fit,
            health,
            clamped.is_some(),
        ),
        model_iv,
        clamped,
        stale: health.stale,
        vol_add_on: if health.stale { health.vol_add_on } else { 0.0 },
    })
}

/// The implied volatilities a fresh mark of `q` may take on `forward` at `t`: the band around the midpoint of
/// a live two-sided quote ([`MarkBand`]), at most the ask's or at least the bid's implied volatility with one
/// live side, anything without one (or crossed). `None` when a two-sided quote's bid or ask has no implied
/// volatility (the price is clamped then).
fn iv_bounds(q: &InstrumentQuote, forward: f64, t: f64, band: MarkBand) -> Option<(f64, f64)> {
    let iv_of =
        |p: f64| implied_vol_black76(q.kind, q.to_usd(p, forward), forward, q.strike, t, 1.0).ok();
    let (lo, hi) = (f64::NEG_INFINITY, f64::INFINITY);
    match (q.live_bid(), q.live_ask()) {
        (Some(bid), Some(ask)) if bid <= ask => match (iv_of(bid), iv_of(ask)) {
            (Some(b), Some(a)) if a >= b => {
                let mid = 0.5 * (a + b);
                let width = band.half_width(0.5 * (a - b));
                Some((mid - width, mid + width))
            }
            _ => None,
        },
        (Some(_), Some(_)) => Some((lo, hi)),
        (Some(bid), None) => Some((iv_of(bid).unwrap_or(lo), hi)),
        (None, Some(ask)) => Some((lo, iv_of(ask).unwrap_or(hi))),
        (None, None) => Some((lo, hi)),
    }
}

/// The implied volatilities the marks of the call and the put of one strike may share (a call and a put of
/// one strike and expiry have one implied volatility: put–call parity on the forward): the intersection of
/// their [`iv_bounds`], when both have bounds and they meet.
fn shared_bounds(
    quotes: &[&InstrumentQuote],
    forward: f64,
    t: f64,
    band: MarkBand,
) -> Option<(f64, f64)> {
    let mut shared = (f64::NEG_INFINITY, f64::INFINITY);
    for q in quotes {
        let (lo, hi) = iv_bounds(q, forward, t, band)?;
        shared = (shared.0.max(lo), shared.1.min(hi));
    }
    (shared.0 <= shared.1).then_some(shared)
}

/// The one live side of a one-sided market, as the clamp it implies.
fn one_sided(q: &InstrumentQuote) -> Option<(f64, Clamp)> {
    match (q.live_bid(), q.live_ask()) {
        (Some(b), None) => Some((b, Clamp::Bid)),
        (None, Some(a)) => Some((a, Clamp::Ask)),
        _ => None,
    }
}

/// Confidence in [0, 1]: the product of
/// - coverage `0.1 + 0.9·(1 − e^{−n/2})`, `n` the fit quotes within half an at-the-money standard deviation
///   of the strike (at least 0.02 in `k`);
/// - fit `1/(1 + r²/4)`, `r` the root mean square of those quotes' residuals in half-spreads (0.5 without);
/// - spread `1/(1 + h/0.05)`, `h` the instrument's own half spread in implied volatility (0.5 without);
/// - kind 1 for SVI, 0.6 for a neighbour fallback, 0.4 for a flat fallback;
/// - staleness `1/(1 + add_on/0.05)`; a clamp to the bid/ask multiplies by 0.9.
fn confidence(
    own_point: Option<usize>,
    slice: &Slice,
    residuals: &FitResiduals,
    k: f64,
    health: &SurfaceHealth,
    clamped: bool,
) -> f64 {
    let p = &slice.quotes.points;
    let radius = (0.5 * residuals.atm_std).max(0.02);
    let (mut n, mut sum_sq) = (0usize, 0.0);
    for (i, &r2) in residuals.squared.iter().enumerate() {
        if (p.k[i] - k).abs() <= radius {
            n += 1;
            sum_sq += r2;
        }
    }
    let coverage = 0.1 + 0.9 * (1.0 - (-(n as f64) / 2.0).exp());
    let fit = if n > 0 {
        1.0 / (1.0 + sum_sq / n as f64 / 4.0)
    } else {
        0.5
    };
    let spread = match own_point {
        Some(j) => 1.0 / (1.0 + 0.5 * (p.ask_iv[j] - p.bid_iv[j]) / 0.05),
        None => 0.5,
    };
    let kind = match slice.kind {
        SliceKind::Svi => 1.0,
        SliceKind::FallbackNeighbour => 0.6,
        SliceKind::FallbackFlat => 0.4,
    };
    let stale = 1.0 / (1.0 + health.vol_add_on / 0.05);
    let clamp = if clamped { 0.9 } else { 1.0 };
    (coverage * fit * spread * kind * stale * clamp).clamp(0.0, 1.0)
}
