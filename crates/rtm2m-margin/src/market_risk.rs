//! Per-instrument valuation and risk arrays, computed once per market update: each instrument's one-unit
//! value, Greeks and full-revaluation P&L over every scenario of a [`ScenarioGrid`], all in USD.
//!
//! Values are per unit (one coin of underlying, one option contract on one coin):
//! - USD-settled option: Black-76 on the expiry's forward, discounted at the underlying's rate,
//!   `V = D·B76(F, K, T, σ)` (Black 1976, eq. 7; `rtm2m_pricing::black76_price`).
//! - Coin-settled option: its coin premium `B76(F, K, T, σ)/F` (Deribit, r = 0) converted at the index,
//!   `V = B76(F, K, T, σ)·S/F` USD; in a scenario F and S move together, so S/F is held.
//! - Dated future: `F`; perpetual: its mark (the index when absent); spot: the index `S`.
//!
//! In a scenario with spot move m and vol state v, F → F(1 + m), S → S(1 + m), σ → σ_v(T) and the unit's P&L
//! is `weight·(V' − V)`.

use crate::error::MarginError;
use crate::instrument::{Instrument, InstrumentKind, Settlement, SECONDS_PER_YEAR};
use crate::market::{MarketSnapshot, VolSource};
use crate::scenario::{GridParams, LocalPoints, ScenarioGrid, SkewParams, VolState};
use rtm2m_pricing::batch::normalised_black_batch;
use rtm2m_pricing::inverse::inverse_option;
use rtm2m_pricing::special::ln_ratio;
use rtm2m_pricing::{black76_price, OptionKind};
use serde::Serialize;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

/// Greeks of one unit, with respect to the underlying's index, in USD.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct UnitGreeks {
    /// ∂V/∂S, coins of underlying.
    pub delta_coin: f64,
    /// ∂²V/∂S², coins per USD of index.
    pub gamma_per_usd: f64,
    /// ∂V/∂σ, USD per vol point (0.01 of vol).
    pub vega_usd_per_vol_point: f64,
    /// dV/dt as calendar time passes, USD per day (365-day year).
    pub theta_usd_per_day: f64,
}

/// Option terms and market inputs needed to revalue it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptionTerms {
    /// Call or put.
    pub kind: OptionKind,
    /// Strike, USD.
    pub strike_usd: f64,
    /// Forward of the expiry, USD.
    pub forward_usd: f64,
    /// Years to expiry (ACT/365).
    pub expiry_years: f64,
    /// Mark vol, annualised fraction.
    pub vol: f64,
    /// Discount factor to expiry (1 for coin-settled).
    pub discount: f64,
    /// USD per unit of Black-76 premium: `D`-free multiplier, `S/F` for coin-settled, 1 for USD-settled.
    pub usd_per_premium: f64,
    /// Coin or USD settlement.
    pub settlement: Settlement,
}

impl OptionTerms {
    /// Value in USD of one contract with the forward moved by `spot_move` and the vol replaced by `vol`.
    pub fn value_usd(&self, spot_move: f64, vol: f64) -> Result<f64, rtm2m_pricing::PricingError> {
        let f = self.forward_usd * (1.0 + spot_move);
        Ok(black76_price(
            self.kind,
            f,
            self.strike_usd,
            self.expiry_years,
            vol,
            self.discount,
        )? * self.usd_per_premium)
    }
}

/// An instrument valued on the market.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedInstrument {
    /// The instrument.
    pub instrument: Instrument,
    /// Index of its underlying in the grid's `underlyings`.
    pub underlying_index: usize,
    /// Index price of the underlying, USD.
    pub index_usd: f64,
    /// Value of one unit now, USD (option mark, forward, perp mark, index).
    pub price_usd: f64,
    /// Greeks of one unit.
    pub greeks: UnitGreeks,
    /// Years to expiry (ACT/365) of a live future or option; 0 for spot, perpetuals and settled instruments.
    pub expiry_years: f64,
    /// Option terms, for options.
    pub option: Option<OptionTerms>,
}

/// Why an instrument could not be valued (kept per instrument, so one bad quote fails only the accounts that
/// hold it).
#[derive(Debug, Clone, PartialEq)]
enum Failure {
    Unknown(String),
    Expired(String),
    Missing(String),
    Invalid(&'static str, String),
}

/// Instruments valued on one market snapshot, with their risk arrays over one grid.
#[derive(Debug, Clone)]
pub struct MarketRisk {
    /// The scenario grid (shared: [`MarketRisk::build_on`] lets several builds on one market use one grid).
    pub grid: Arc<ScenarioGrid>,
    /// Valued instruments.
    pub instruments: Vec<PricedInstrument>,
    /// Risk arrays, flat: instrument i's one-unit P&L per scenario is
    /// `arrays[i·scenario_count .. (i+1)·scenario_count]`, USD.
    pub arrays: Vec<f64>,
    by_name: HashMap<String, Result<usize, Failure>>,
    /// Per instrument, what margining an account reads besides its array, packed together.
    units: Vec<UnitTerms>,
    /// Per instrument, its P&L at each distinct point of its underlying (undampened: the array's value in
    /// scenario s is `weight[s]·points[point(s)]`), `point_width` values, zeros past the underlying's points.
    points: Vec<f64>,
    /// Values per instrument in `points`: the most points of any underlying, rounded up to a multiple of 4.
    point_width: usize,
    /// Dampening weight of each scenario.
    weights: Vec<f64>,
}

/// What margining an account reads of one instrument besides its risk array (a copy of
/// [`PricedInstrument`] fields, 40 bytes instead of 216, and the strike ring).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct UnitTerms {
    /// ∂²V/∂S², coins per USD of index.
    pub gamma_per_usd: f64,
    /// ∂V/∂S, coins of underlying.
    pub delta_coin: f64,
    /// Index price of the underlying, USD.
    pub index_usd: f64,
    /// Years to expiry of the basis/roll contingency: 0 for a perpetual, T for a live future, NaN for
    /// instruments it does not charge.
    pub roll_years: f64,
    /// Index of the underlying in the grid's.
    pub underlying: u32,
    /// The next option of its (underlying, expiry, strike) in a ring (itself when it is alone;
    /// [`NOT_AN_OPTION`] for other instruments): the naked-short tally nets calls and puts at a strike by
    /// walking it instead of sorting the account's options on every call.
    pub next_at_strike: u32,
}

/// [`UnitTerms::next_at_strike`] of an instrument that is not an option.
pub(crate) const NOT_AN_OPTION: u32 = u32::MAX;

impl UnitTerms {
    fn of(instruments: &[PricedInstrument]) -> Vec<UnitTerms> {
        let ring = strike_ring(instruments);
        instruments
            .iter()
            .zip(ring)
            .map(|(p, next_at_strike)| UnitTerms {
                gamma_per_usd: p.greeks.gamma_per_usd,
                delta_coin: p.greeks.delta_coin,
                index_usd: p.index_usd,
                roll_years: match p.instrument.kind {
                    InstrumentKind::Perpetual => 0.0,
                    InstrumentKind::Future { .. } if p.expiry_years > 0.0 => p.expiry_years,
                    _ => f64::NAN,
                },
                underlying: p.underlying_index as u32,
                next_at_strike,
            })
            .collect()
    }
}

/// Links the options of each (underlying, expiry, strike) into a ring, in instrument order.
fn strike_ring(instruments: &[PricedInstrument]) -> Vec<u32> {
    let mut ring = vec![NOT_AN_OPTION; instruments.len()];
    let mut keyed: Vec<((usize, i64, u64), u32)> = instruments
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p.instrument.kind {
            InstrumentKind::Option {
                expiry_unix_s,
                strike_usd,
                ..
            } => Some((
                (p.underlying_index, expiry_unix_s, strike_usd.to_bits()),
                i as u32,
            )),
            _ => None,
        })
        .collect();
    keyed.sort_unstable();
    for group in keyed.chunk_by(|a, b| a.0 == b.0) {
        for (k, &(_, i)) in group.iter().enumerate() {
            ring[i as usize] = group[(k + 1) % group.len()].1;
        }
    }
    ring
}

/// Values `instrument` on the market (it moves into the result: no copy of its names).
fn price_instrument(
    instrument: Instrument,
    market: &MarketSnapshot,
    vols: &dyn VolSource,
    grid: &ScenarioGrid,
    as_of_unix_s: i64,
) -> Result<PricedInstrument, Failure> {
    let valued = value_instrument(&instrument, market, vols, grid, as_of_unix_s)?;
    Ok(PricedInstrument {
        instrument,
        underlying_index: valued.underlying_index,
        index_usd: valued.index_usd,
        price_usd: valued.price_usd,
        greeks: valued.greeks,
        expiry_years: valued.expiry_years,
        option: valued.option,
    })
}

/// A [`PricedInstrument`] without its instrument.
struct Valued {
    underlying_index: usize,
    index_usd: f64,
    price_usd: f64,
    greeks: UnitGreeks,
    expiry_years: f64,
    option: Option<OptionTerms>,
}

fn value_instrument(
    instrument: &Instrument,
    market: &MarketSnapshot,
    vols: &dyn VolSource,
    grid: &ScenarioGrid,
    as_of_unix_s: i64,
) -> Result<Valued, Failure> {
    let u = &instrument.underlying;
    let underlying_index = grid
        .underlyings
        .iter()
        .position(|x| x == u)
        .ok_or_else(|| {
            Failure::Missing(format!("underlying {u} is not in the market's underlyings"))
        })?;
    let quote = &market.underlyings[u];
    let index_usd = market
        .assets
        .get(u)
        .ok_or_else(|| Failure::Missing(format!("index price of {u}")))?
        .price_usd;
    if !(index_usd.is_finite() && index_usd > 0.0) {
        return Err(Failure::Invalid(
            "price_usd",
            format!("index of {u} must be finite and positive, got {index_usd}"),
        ));
    }
    let years_to = |expiry: i64| {
        let years = (expiry - as_of_unix_s) as f64 / SECONDS_PER_YEAR;
        if years > 0.0 {
            Ok(years)
        } else {
            Err(Failure::Expired(format!(
                "expiry {expiry} s is not after the snapshot's {as_of_unix_s} s"
            )))
        }
    };
    let forward_of = |code: &str| {
        let f = *quote
            .forwards
            .get(code)
            .ok_or_else(|| Failure::Missing(format!("forward of {u} {code}")))?;
        if f.is_finite() && f > 0.0 {
            Ok(f)
        } else {
            Err(Failure::Invalid(
                "forward",
                format!("forward of {u} {code} must be finite and positive, got {f}"),
            ))
        }
    };
    let plain = |price_usd: f64, delta_coin: f64, expiry_years: f64| Valued {
        underlying_index,
        index_usd,
        price_usd,
        greeks: UnitGreeks {
            delta_coin,
            ..UnitGreeks::default()
        },
        expiry_years,
        option: None,
    };
    // An expired instrument is worth its settlement: a fixed USD amount (future, USD-settled option), or a
    // fixed number of coins (coin-settled option: payoff / settlement price), which moves with the index.
    let settled = |code: &str, expiry_unix_s: i64| -> Result<Option<f64>, Failure> {
        if expiry_unix_s > as_of_unix_s {
            return Ok(None);
        }
        let price = *quote.settlements.get(code).ok_or_else(|| {
            Failure::Expired(format!(
                "expired at {expiry_unix_s} s (snapshot {as_of_unix_s} s) and the market has no settlement \
                 price for {u} {code}"
            ))
        })?;
        if price.is_finite() && price > 0.0 {
            Ok(Some(price))
        } else {
            Err(Failure::Invalid(
                "settlements",
                format!("settlement of {u} {code} must be finite and positive, got {price}"),
            ))
        }
    };
    match &instrument.kind {
        InstrumentKind::Spot => Ok(plain(index_usd, 1.0, 0.0)),
        InstrumentKind::Perpetual => {
            let p = quote.perp_usd.unwrap_or(index_usd);
            if !(p.is_finite() && p > 0.0) {
                return Err(Failure::Invalid(
                    "perp_usd",
                    format!("must be finite and positive, got {p}"),
                ));
            }
            Ok(plain(p, p / index_usd, 0.0))
        }
        InstrumentKind::Future {
            expiry_code,
            expiry_unix_s,
        } => {
            if let Some(settlement_usd) = settled(expiry_code, *expiry_unix_s)? {
                return Ok(plain(settlement_usd, 0.0, 0.0));
            }
            let years = years_to(*expiry_unix_s)?;
            let f = forward_of(expiry_code)?;
            Ok(plain(f, f / index_usd, years))
        }
        InstrumentKind::Option {
            expiry_code,
            expiry_unix_s,
            strike_usd,
            kind,
            settlement,
        } => {
            if let Some(settlement_usd) = settled(expiry_code, *expiry_unix_s)? {
                let payoff_usd = (kind.sign() * (settlement_usd - strike_usd)).max(0.0);
                return Ok(match settlement {
                    Settlement::Usd => plain(payoff_usd, 0.0, 0.0),
                    Settlement::Coin => {
                        let coins = payoff_usd / settlement_usd;
                        plain(coins * index_usd, coins, 0.0)
                    }
                });
            }
            let t = years_to(*expiry_unix_s)?;
            let f = forward_of(expiry_code)?;
            let vol = vols
                .vol(&instrument.name, u, *strike_usd, f, t)
                .ok_or_else(|| Failure::Missing(format!("mark IV of {}", instrument.name)))?;
            if !(vol.is_finite() && vol >= 0.0) {
                return Err(Failure::Invalid(
                    "mark_iv",
                    format!("must be finite and non-negative, got {vol}"),
                ));
            }
            let (discount, usd_per_premium) = match settlement {
                Settlement::Coin => (1.0, index_usd / f),
                Settlement::Usd => {
                    if !quote.rate.is_finite() {
                        return Err(Failure::Invalid(
                            "rate",
                            format!("must be finite, got {}", quote.rate),
                        ));
                    }
                    ((-quote.rate * t).exp(), 1.0)
                }
            };
            let terms = OptionTerms {
                kind: *kind,
                strike_usd: *strike_usd,
                forward_usd: f,
                expiry_years: t,
                vol,
                discount,
                usd_per_premium,
                settlement: *settlement,
            };
            let price_usd = terms
                .value_usd(0.0, vol)
                .map_err(|e| Failure::Invalid("option", e.to_string()))?;
            // Greeks on the forward with r = 0 (docs/conventions.md), mapped to the index: F = c·S, and
            // V = m·D·B(F) with m = usd_per_premium, so ∂V/∂S = m·D·B'(F)·c and ∂²V/∂S² = m·D·B''(F)·c².
            let g = inverse_option(*kind, f, *strike_usd, t, vol)
                .map_err(|e| Failure::Invalid("option", e.to_string()))?;
            let c = f / index_usd;
            let scale = usd_per_premium * discount;
            let gamma = if g.gamma.is_finite() { g.gamma } else { 0.0 };
            let theta = if g.theta_usd_per_day.is_finite() {
                g.theta_usd_per_day
            } else {
                0.0
            };
            Ok(Valued {
                underlying_index,
                index_usd,
                price_usd,
                greeks: UnitGreeks {
                    delta_coin: scale * g.delta * c,
                    gamma_per_usd: scale * gamma * c * c,
                    vega_usd_per_vol_point: scale * g.vega_usd_per_vol_point,
                    theta_usd_per_day: scale * theta,
                },
                expiry_years: t,
                option: Some(terms),
            })
        }
    }
}

/// Per underlying, what its grid points share across all its instruments: `ln(1 + m)`, `√(1 + m)`, the slot
/// of the point's vol state in [`VolTable`], the points without a spot move; and the point of each scenario
/// as a byte when the underlying has at most 256 points.
struct PointTerms {
    spot_still: Vec<usize>,
    ln_growth: Vec<f64>,
    sqrt_growth: Vec<f64>,
    vol_slot: Vec<u8>,
    point8: Option<Vec<u8>>,
}

impl PointTerms {
    fn of(local: &LocalPoints) -> PointTerms {
        PointTerms {
            ln_growth: local.points.iter().map(|(m, _)| m.ln_1p()).collect(),
            sqrt_growth: local.points.iter().map(|(m, _)| (1.0 + m).sqrt()).collect(),
            spot_still: (0..local.points.len())
                .filter(|&p| local.points[p].0 == 0.0)
                .collect(),
            vol_slot: local
                .points
                .iter()
                .map(|(_, v)| VolTable::slot(*v))
                .collect(),
            point8: (local.points.len() <= 256)
                .then(|| local.point_of_scenario.iter().map(|&p| p as u8).collect()),
        }
    }
}

/// One option's vol in each [`VolState`], indexed by [`VolTable::slot`] (8 slots, so that a slot masked with
/// 7 needs no bounds check).
struct VolTable([f64; 8]);

impl VolTable {
    fn slot(state: VolState) -> u8 {
        match state {
            VolState::Down => 0,
            VolState::Unchanged => 1,
            VolState::Up => 2,
            VolState::SkewCallsUp => 3,
            VolState::SkewPutsUp => 4,
            VolState::WingsUp => 5,
            VolState::WingsDown => 6,
        }
    }

    /// The shocked vols of `terms` (docs/margin.md §5): down and up scaled by w(T), the rotations by the skew
    /// multiplier at k = ln(K/F).
    fn of(terms: &OptionTerms, params: &GridParams, k: f64) -> VolTable {
        let (down, up) = params.shocked_vols(terms.vol, terms.expiry_years);
        let skew = params.skew.unwrap_or_else(SkewParams::derive_default);
        let rotated = |state| terms.vol * skew.multiplier(state, k, terms.expiry_years);
        VolTable([
            down,
            terms.vol,
            up,
            rotated(VolState::SkewCallsUp),
            rotated(VolState::SkewPutsUp),
            rotated(VolState::WingsUp),
            rotated(VolState::WingsDown),
            f64::NAN,
        ])
    }
}

/// Per-point working space of [`fill_array`], reused from one instrument to the next: the normalised Black
/// inputs `x`, `s`, `e^{x/2}` and price of each point, its vol, and the unit's P&L at the point.
#[derive(Default)]
struct PointScratch {
    x: Vec<f64>,
    s: Vec<f64>,
    root_ratio: Vec<f64>,
    normalised: Vec<f64>,
    vol: Vec<f64>,
    pnl: Vec<f64>,
}

/// What [`fill_array`] appends to, per valued instrument.
struct ArraysOut {
    /// P&L per scenario, dampened ([`MarketRisk::arrays`]).
    scenarios: Vec<f64>,
    /// P&L per point, `point_width` values ([`MarketRisk::points`]).
    points: Vec<f64>,
    point_width: usize,
}

/// Appends to `out` the unit's P&L in each scenario, dampened by `weights`, and its P&L at each point, padded
/// with zeros to `point_width` (nothing when it fails), pricing each distinct point of its underlying once.
///
/// An option is revalued in normalised form (Jäckel 2015, eq. 2.3): with `x₀ = ln(F/K)` computed once, the
/// moved forward F(1 + m) has `x = x₀ + ln(1 + m)`, `e^{x/2} = e^{x₀/2}·√(1 + m)` and
/// `√(F(1 + m)·K) = √(FK)·√(1 + m)`, so a point costs one normalised Black evaluation, no logarithm and no
/// exponential; the points of one option are evaluated together by the SIMD kernel
/// [`normalised_black_batch`]. A point where nothing moves (no spot move, the mark vol) has no P&L.
///
/// Compiled for AVX2 when the CPU has it: the same operations, never fused, so the same bits.
fn fill_array(
    priced: &PricedInstrument,
    grid: &ScenarioGrid,
    params: &GridParams,
    terms_of_points: &PointTerms,
    weights: &[f64],
    scratch: &mut PointScratch,
    out: &mut ArraysOut,
) -> Result<(), Failure> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe {
            fill_array_avx2(priced, grid, params, terms_of_points, weights, scratch, out)
        };
    }
    fill_array_body(priced, grid, params, terms_of_points, weights, scratch, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fill_array_avx2(
    priced: &PricedInstrument,
    grid: &ScenarioGrid,
    params: &GridParams,
    terms_of_points: &PointTerms,
    weights: &[f64],
    scratch: &mut PointScratch,
    out: &mut ArraysOut,
) -> Result<(), Failure> {
    fill_array_body(priced, grid, params, terms_of_points, weights, scratch, out)
}

#[inline(always)]
fn fill_array_body(
    priced: &PricedInstrument,
    grid: &ScenarioGrid,
    params: &GridParams,
    terms_of_points: &PointTerms,
    weights: &[f64],
    scratch: &mut PointScratch,
    out: &mut ArraysOut,
) -> Result<(), Failure> {
    let local = &grid.local[priced.underlying_index];
    let n = local.points.len();
    let PointScratch {
        x,
        s,
        root_ratio,
        normalised,
        vol,
        pnl,
    } = scratch;
    pnl.resize(n.max(256), 0.0);
    match &priced.option {
        None => {
            // Delta-one (and settled) units move with the index: P&L = Δ·S·m.
            let exposure_usd = priced.greeks.delta_coin * priced.index_usd;
            for (slot, (m, _)) in pnl.iter_mut().zip(&local.points) {
                *slot = exposure_usd * m;
            }
        }
        Some(terms) => {
            let x0 = ln_ratio(terms.forward_usd, terms.strike_usd);
            let vols = VolTable::of(terms, params, -x0);
            let root_t = terms.expiry_years.sqrt();
            let root_ratio0 = (0.5 * x0).exp();
            let scale = terms.discount
                * terms.usd_per_premium
                * terms.forward_usd.sqrt()
                * terms.strike_usd.sqrt();
            let t = terms_of_points;
            for column in [
                &mut *x,
                &mut *s,
                &mut *root_ratio,
                &mut *normalised,
                &mut *vol,
            ] {
                column.resize(n, 0.0);
            }
            // Every slice cut to n, so that the loops below carry no bounds checks and vectorise.
            let (ln_growth, sqrt_growth) = (&t.ln_growth[..n], &t.sqrt_growth[..n]);
            for (v, &slot) in vol.iter_mut().zip(&t.vol_slot[..n]) {
                *v = vols.0[usize::from(slot & 7)];
            }
            let vol = &vol[..n];
            for p in 0..n {
                s[p] = vol[p] * root_t;
                x[p] = x0 + ln_growth[p];
                root_ratio[p] = root_ratio0 * sqrt_growth[p];
            }
            normalised_black_batch(terms.kind, x, s, root_ratio, normalised)
                .expect("one input of each kind per point");
            let (x, normalised, pnl) = (&x[..n], &normalised[..n], &mut pnl[..n]);
            // A non-finite x, vol or value makes `(x + vol + value)·0` NaN: one test for all of them.
            let mut invalid = false;
            for p in 0..n {
                let value = scale * sqrt_growth[p] * normalised[p];
                pnl[p] = value - priced.price_usd;
                invalid |= (x[p] + vol[p] + value) * 0.0 != 0.0;
            }
            for &p in &t.spot_still {
                if vol[p] == terms.vol {
                    pnl[p] = 0.0;
                }
            }
            if invalid {
                if let Some(failure) =
                    first_invalid_point(local, t, x, vol, normalised, scale, terms.vol)
                {
                    return Err(failure);
                }
            }
        }
    }
    let arrays = &mut out.scenarios;
    let start = arrays.len();
    match &terms_of_points.point8 {
        // Byte point numbers into 256 slots: the gather needs no bounds check.
        Some(point8) => {
            let table: &[f64; 256] = pnl[..256].try_into().expect("256 slots");
            arrays.extend(
                point8
                    .iter()
                    .zip(weights)
                    .map(|(&p, &w)| w * table[usize::from(p)]),
            );
        }
        None => arrays.extend(
            local
                .point_of_scenario
                .iter()
                .zip(weights)
                .map(|(&p, &w)| w * pnl[p as usize]),
        ),
    }
    debug_assert!(arrays[start..].iter().all(|x| x.is_finite()));
    out.points.extend_from_slice(&pnl[..n]);
    out.points
        .resize(out.points.len() + out.point_width - n, 0.0);
    Ok(())
}

/// Why the first point of [`fill_array`] that has no finite value has none (points where nothing moves have
/// no P&L and cannot fail).
fn first_invalid_point(
    local: &LocalPoints,
    t: &PointTerms,
    x: &[f64],
    vol: &[f64],
    normalised: &[f64],
    scale: f64,
    mark_vol: f64,
) -> Option<Failure> {
    for (p, &(m, _)) in local.points.iter().enumerate() {
        let v = vol[p];
        if m == 0.0 && v == mark_vol {
            continue;
        }
        if !(x[p].is_finite() && v.is_finite()) {
            return Some(Failure::Invalid(
                "scenario",
                format!("spot move {m} or shocked vol {v} leaves no valid forward or vol"),
            ));
        }
        if !(scale * t.sqrt_growth[p] * normalised[p]).is_finite() {
            return Some(Failure::Invalid(
                "scenario",
                format!("value at move {m} and vol {v} is not finite"),
            ));
        }
    }
    None
}

impl MarketRisk {
    /// Values `names` on `market` (vols from `vols`) and computes their risk arrays over the grid of `params`.
    /// An instrument that cannot be valued is remembered with its reason and reported, naming the account and
    /// the position, by [`MarketRisk::index_of`]; only a malformed snapshot time fails the whole build.
    pub fn build<'a>(
        market: &MarketSnapshot,
        vols: &dyn VolSource,
        params: &GridParams,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<MarketRisk, MarginError> {
        let grid = Arc::new(ScenarioGrid::build(params, market));
        MarketRisk::build_on(market, vols, params, grid, names)
    }

    /// [`MarketRisk::build`] on `grid`, which must be `ScenarioGrid::build(params, market)`: callers that
    /// value the instruments of one market in several parts (in parallel) build the grid once.
    pub fn build_on<'a>(
        market: &MarketSnapshot,
        vols: &dyn VolSource,
        params: &GridParams,
        grid: Arc<ScenarioGrid>,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<MarketRisk, MarginError> {
        let as_of = market
            .as_of_unix_s()
            .map_err(|reason| MarginError::InvalidInput {
                account: "market".into(),
                position: "snapshot".into(),
                field: "as_of",
                reason,
            })?;
        let n = grid.len();
        let names = names.into_iter();
        let expected = names.size_hint().0;
        let mut instruments = Vec::with_capacity(expected);

        let mut by_name = HashMap::with_capacity(expected);
        let mut scratch = PointScratch::default();
        let point_terms: Vec<PointTerms> = grid.local.iter().map(PointTerms::of).collect();
        let weights: Vec<f64> = grid.scenarios.iter().map(|s| s.weight).collect();
        let point_width = grid
            .local
            .iter()
            .map(|l| l.points.len())
            .max()
            .unwrap_or(0)
            .next_multiple_of(4);
        let mut out = ArraysOut {
            scenarios: Vec::with_capacity(expected * n),
            points: Vec::with_capacity(expected * point_width),
            point_width,
        };
        for name in names {
            let Entry::Vacant(slot) = by_name.entry(name.to_owned()) else {
                continue;
            };
            let outcome = Instrument::parse(name)
                .map_err(Failure::Unknown)
                .and_then(|i| price_instrument(i, market, vols, &grid, as_of))
                .and_then(|p| {
                    fill_array(
                        &p,
                        &grid,
                        params,
                        &point_terms[p.underlying_index],
                        &weights,
                        &mut scratch,
                        &mut out,
                    )?;
                    instruments.push(p);
                    Ok(instruments.len() - 1)
                });
            slot.insert(outcome);
        }
        debug_assert!(u32::try_from(instruments.len()).is_ok());
        Ok(MarketRisk {
            grid,
            units: UnitTerms::of(&instruments),
            instruments,
            arrays: out.scenarios,
            by_name,
            points: out.points,
            point_width,
            weights,
        })
    }

    /// Number of scenarios of each array.
    pub fn scenario_count(&self) -> usize {
        self.grid.len()
    }

    /// The risk array of instrument `index`: one unit's P&L per scenario, USD.
    pub fn array(&self, index: usize) -> &[f64] {
        let n = self.scenario_count();
        &self.arrays[index * n..(index + 1) * n]
    }

    /// What margining reads of each instrument besides its array, in [`MarketRisk::instruments`] order.
    pub(crate) fn units(&self) -> &[UnitTerms] {
        &self.units
    }

    /// Instrument `index`'s P&L at each point of its underlying ([`MarketRisk::point_width`] values, zeros
    /// past the underlying's points), undampened.
    pub(crate) fn points(&self) -> &[f64] {
        &self.points
    }

    /// Values per instrument in [`MarketRisk::points`].
    pub(crate) fn point_width(&self) -> usize {
        self.point_width
    }

    /// Dampening weight of each scenario.
    pub(crate) fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Index of instrument `name` in [`MarketRisk::instruments`], or why it has none, naming `account` and the
    /// position.
    pub fn index_of(&self, account: &str, name: &str) -> Result<usize, MarginError> {
        let position = || format!("position {name}");
        match self.by_name.get(name) {
            Some(Ok(i)) => Ok(*i),
            None => Err(MarginError::MissingMarketData {
                account: account.into(),
                position: position(),
                what: "instrument was not valued on this market (not among the names given)".into(),
            }),
            Some(Err(f)) => Err(match f.clone() {
                Failure::Unknown(reason) => MarginError::UnknownInstrument {
                    account: account.into(),
                    position: position(),
                    reason,
                },
                Failure::Expired(reason) => MarginError::Expired {
                    account: account.into(),
                    position: position(),
                    reason,
                },
                Failure::Missing(what) => MarginError::MissingMarketData {
                    account: account.into(),
                    position: position(),
                    what,
                },
                Failure::Invalid(field, reason) => MarginError::InvalidInput {
                    account: account.into(),
                    position: position(),
                    field,
                    reason,
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::MarkIvs;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn fill_array_of_the_avx2_and_portable_builds_agree_to_the_bit() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let market = MarketSnapshot::from_json(
            r#"{
            "as_of": "2026-01-01T08:00:00Z",
            "assets": {"BTC": {"price_usd": 100000, "ewma_vol": 0.5}, "ETH": {"price_usd": 3000, "ewma_vol": 0.7}},
            "underlyings": {
                "BTC": {"rate": 0.05, "forwards": {"1JAN27": 104000, "8JAN26": 100150}},
                "ETH": {"forwards": {"1JAN27": 3090}}
            },
            "mark_ivs": {"BTC-1JAN27-100000-C": 0.55, "BTC-8JAN26-130000-C": 1.1, "BTC_USDC-8JAN26-99000-P": 0.4,
                         "ETH-1JAN27-3000-P": 0.7, "ETH-1JAN27-1000-P": 0.0}
        }"#,
        )
        .expect("valid market");
        let mut names: Vec<&str> = market.mark_ivs.keys().map(String::as_str).collect();
        names.extend(["BTC-1JAN27", "ETH-PERPETUAL"]);
        let params = GridParams::rtm2m_default();
        let risk = MarketRisk::build(&market, &MarkIvs(&market.mark_ivs), &params, names)
            .expect("valid market");
        let point_terms: Vec<PointTerms> = risk.grid.local.iter().map(PointTerms::of).collect();
        let mut outputs = Vec::new();
        for wide in [false, true] {
            let mut scratch = PointScratch::default();
            let mut out = ArraysOut {
                scenarios: Vec::new(),
                points: Vec::new(),
                point_width: risk.point_width,
            };
            for p in &risk.instruments {
                let args = (&risk.grid, &params, &point_terms[p.underlying_index]);
                let result = if wide {
                    // SAFETY: the CPU has AVX2 (checked above).
                    unsafe {
                        fill_array_avx2(
                            p,
                            args.0,
                            args.1,
                            args.2,
                            &risk.weights,
                            &mut scratch,
                            &mut out,
                        )
                    }
                } else {
                    fill_array_body(
                        p,
                        args.0,
                        args.1,
                        args.2,
                        &risk.weights,
                        &mut scratch,
                        &mut out,
                    )
                };
                result.expect("valued");
            }
            outputs.push(out);
        }
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&outputs[0].scenarios), bits(&outputs[1].scenarios));
        assert_eq!(bits(&outputs[0].points), bits(&outputs[1].points));
        assert_eq!(bits(&outputs[1].scenarios), bits(&risk.arrays));
    }
}
