//! Marks per instrument: mark implied volatility from the surface, mark price in coin and USD, Greeks in
//! Deribit's units, and a confidence.
//!
//! When the surface is fresh and the instrument has a live two-sided market (not crossed), the mark IV is
//! the model's, clamped into the band `m ± λ·h` around the midpoint `m` of the bid and ask implied
//! volatilities (`h` their half difference, `λ` = `SurfaceConfig::mark_band`; `λ = 1` is the plain clamp into
//! the bid/ask): the price stays inside the bid/ask whatever `λ ≤ 1`. When either side has no implied
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
    /// Set when the model price was moved into the bid/ask.
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

/// Marks of every instrument of `surface` at `now` under `health` (from [`crate::health::health`] at the
/// same `now`).
pub fn marks(
    surface: &UnderlyingSurface,
    now: Timestamp,
    health: &SurfaceHealth,
    mark_band: f64,
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
        for (i, q) in book.quotes.iter().enumerate() {
            if t.is_nan() || t <= 0.0 {
                unmarked.push(Unmarked {
                    instrument: q.instrument.clone(),
                    reason: "expired",
                });
                continue;
            }
            match mark_one(q, point_of[i], slice, t, health, move_factor, mark_band) {
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

fn mark_one(
    q: &InstrumentQuote,
    own_point: Option<usize>,
    slice: &Slice,
    t: f64,
    health: &SurfaceHealth,
    move_factor: f64,
    mark_band: f64,
) -> Option<Mark> {
    let fit_forward = slice.forward.price;
    let k_fit = (q.strike / fit_forward).ln();
    let model_iv = slice.params.vol(k_fit, slice.expiry_years);
    let (forward, mut iv) = if health.stale {
        let forward = fit_forward * move_factor;
        let sticky_moneyness = slice
            .params
            .vol((q.strike / forward).ln(), slice.expiry_years);
        (forward, model_iv.max(sticky_moneyness) + health.vol_add_on)
    } else {
        (fit_forward, model_iv)
    };
    let mut g = inverse_option(q.kind, forward, q.strike, t, iv).ok()?;
    let mut clamped = None;
    if !health.stale {
        if let (Some(bid), Some(ask)) = (q.live_bid(), q.live_ask()) {
            if bid <= ask {
                let iv_of = |p: f64| {
                    implied_vol_black76(q.kind, q.to_usd(p, forward), forward, q.strike, t, 1.0)
                        .ok()
                };
                // The band: `mark_band` of the half-spread around the midpoint of the bid and ask implied
                // volatilities; the whole [bid, ask] when either has none.
                let band = match (iv_of(bid), iv_of(ask)) {
                    (Some(b), Some(a)) if a >= b => {
                        let (mid, half) = (0.5 * (a + b), 0.5 * (a - b));
                        Some((mid - mark_band * half, mid + mark_band * half))
                    }
                    _ => None,
                };
                let target = match band {
                    Some((lo, _)) if iv < lo => Some((lo, Clamp::Bid)),
                    Some((_, hi)) if iv > hi => Some((hi, Clamp::Ask)),
                    Some(_) => None,
                    None => {
                        let price = match q.unit {
                            PriceUnit::Coin => g.price_coin,
                            PriceUnit::Usd => g.price_usd,
                        };
                        if price < bid {
                            iv_of(bid).map(|v| (v, Clamp::Bid))
                        } else if price > ask {
                            iv_of(ask).map(|v| (v, Clamp::Ask))
                        } else {
                            None
                        }
                    }
                };
                if let Some((v, side)) = target {
                    if let Ok(clamped_greeks) = inverse_option(q.kind, forward, q.strike, t, v) {
                        iv = v;
                        g = clamped_greeks;
                        clamped = Some(side);
                    }
                }
                // Rounding of the inversions must not leave the price a hair outside the quotes.
                let (lo, hi) = match q.unit {
                    PriceUnit::Coin => (bid, ask),
                    PriceUnit::Usd => (bid / forward, ask / forward),
                };
                g.price_coin = g.price_coin.clamp(lo, hi);
                g.price_usd = g.price_coin * forward;
            }
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
        confidence: confidence(own_point, slice, k_fit, health, clamped.is_some()),
        model_iv,
        clamped,
        stale: health.stale,
        vol_add_on: if health.stale { health.vol_add_on } else { 0.0 },
    })
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
    k: f64,
    health: &SurfaceHealth,
    clamped: bool,
) -> f64 {
    let p = &slice.quotes.points;
    let t = slice.expiry_years;
    let atm_std = slice.params.total_variance(0.0).max(0.0).sqrt();
    let radius = (0.5 * atm_std).max(0.02);
    let (mut n, mut sum_sq) = (0usize, 0.0);
    for i in 0..p.len() {
        if (p.k[i] - k).abs() <= radius {
            n += 1;
            let half = (0.5 * (p.ask_iv[i] - p.bid_iv[i])).max(1e-4);
            let r = (slice.params.vol(p.k[i], t) - p.mid_iv[i]) / half;
            sum_sq += r * r;
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
