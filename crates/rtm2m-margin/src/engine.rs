//! Margining accounts on a valued market: equity, the `rtm2m` portfolio model and Deribit-style standard
//! margin on the same positions, and the per-account [`MarginReport`]. Formulas in `docs/margin.md` §5.

use crate::account::{Account, Portfolio};
use crate::deribit_pm::{DeribitInstrument, DeribitPmParams, DeribitPortfolio, DeribitPosition};
use crate::error::{invalid, require_finite, MarginError};
use crate::haircut::HaircutParams;
use crate::instrument::{InstrumentKind, Settlement, SECONDS_PER_YEAR};
use crate::market::MarketSnapshot;
use crate::market_risk::{MarketRisk, UnitGreeks, UnitTerms, NOT_AN_OPTION};
use crate::pmrm2::{
    ExpiryVols, Pmrm2Account, Pmrm2Collateral, Pmrm2Expiry, Pmrm2Option, Pmrm2Params, Pmrm2Perp,
};
use crate::scenario::GridParams;
use crate::standard::{isolated_margin, StandardOption, StandardParams};
use serde::Serialize;
use std::collections::BTreeMap;

/// Parameters of the `rtm2m` model.
#[derive(Debug, Clone, PartialEq)]
pub struct Rtm2mParams {
    /// The scenario grid.
    pub grid: GridParams,
    /// MM = `mm_factor` × worst scenario loss + …
    pub mm_factor: f64,
    /// IM = `im_factor` × worst scenario loss + …
    pub im_factor: f64,
    /// Naked-short MM charge per naked contract, fraction of the index.
    pub naked_mm: f64,
    /// Naked-short IM charge per naked contract, fraction of the index.
    pub naked_im: f64,
    /// Oracle confidence below which the IM confidence charge applies.
    pub oracle_threshold: f64,
    /// Confidence charge (1 − c)·factor·notional.
    pub oracle_factor: f64,
    /// Stablecoin price (USD) below which the de-peg charge applies.
    pub depeg_threshold: f64,
    /// De-peg charge (threshold − price)·factor·amount.
    pub depeg_factor: f64,
    /// Liquidation shock h, fraction of the index, of the gamma add-on ½·k_γ·|Γ|·(h·S)².
    pub liquidation_shock: f64,
    /// k_γ of the gamma add-on.
    pub gamma_factor: f64,
    /// k_δ of the delta add-on k_δ·|Δ|·S (slippage of unwinding the delta), fraction.
    pub delta_factor: f64,
    /// Basis/roll shock per year to expiry, fraction of a future's or perpetual's notional (Deribit PM
    /// `annualised_move_risk`).
    pub roll_move_per_year: f64,
    /// Floor of the basis/roll shock, fraction of notional (Deribit PM `min_annualised_move`).
    pub roll_move_min: f64,
    /// Collateral haircuts.
    pub haircut: HaircutParams,
}

impl Rtm2mParams {
    /// The `rtm2m` defaults.
    pub fn rtm2m_default() -> Rtm2mParams {
        Rtm2mParams {
            grid: GridParams::rtm2m_default(),
            mm_factor: 1.0,
            im_factor: 1.3,
            naked_mm: 0.005,
            naked_im: 0.01,
            oracle_threshold: 0.95,
            oracle_factor: 0.5,
            depeg_threshold: 0.98,
            depeg_factor: 1.2,
            liquidation_shock: 0.05,
            gamma_factor: 1.0,
            delta_factor: 0.002,
            roll_move_per_year: 0.1,
            roll_move_min: 0.01,
            haircut: HaircutParams::rtm2m_default(),
        }
    }
}

/// Which model margins the account.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// Deribit-style per-position standard margin ([`StandardParams`]), collateral haircuts as in `rtm2m`.
    Standard(StandardParams, HaircutParams),
    /// The `rtm2m` portfolio model.
    Rtm2m(Box<Rtm2mParams>),
    /// Deribit's portfolio margin (risk matrix) per currency on the coin-settled options, futures and
    /// perpetuals, converted to USD at the index; collateral haircuts as in `rtm2m`.
    DeribitPm(DeribitPmParams, HaircutParams),
    /// Derive's PMRM_2 per underlying on the USD-settled options, perpetuals and spot held (vols: the mark IVs
    /// of the options held); collateral haircuts as in `rtm2m`.
    DerivePmrm2(Box<Pmrm2Params>, HaircutParams),
}

impl Model {
    /// The grid the risk arrays are computed on (the standard model reports the `rtm2m` grid's P&L).
    pub fn grid(&self) -> GridParams {
        match self {
            Model::Standard(..) | Model::DeribitPm(..) | Model::DerivePmrm2(..) => {
                GridParams::rtm2m_default()
            }
            Model::Rtm2m(p) => p.grid.clone(),
        }
    }

    /// The preset names, as the CLI and the portfolio file spell them.
    pub const PRESETS: [&'static str; 4] = ["standard", "rtm2m", "deribit-pm", "derive-pmrm2"];

    /// A model by preset name: `standard` (Deribit's standard margin), `rtm2m` (defaults), `deribit-pm`
    /// (Deribit's published BTC parameters), `derive-pmrm2` (Derive's published test parameters); collateral
    /// haircuts are `rtm2m`'s in every case.
    pub fn preset(name: &str) -> Option<Model> {
        let haircut = HaircutParams::rtm2m_default();
        Some(match name {
            "standard" => Model::Standard(StandardParams::deribit(), haircut),
            "rtm2m" => Model::Rtm2m(Box::new(Rtm2mParams::rtm2m_default())),
            "deribit-pm" => Model::DeribitPm(DeribitPmParams::deribit_published_btc(), haircut),
            "derive-pmrm2" => {
                Model::DerivePmrm2(Box::new(Pmrm2Params::derive_published()), haircut)
            }
            _ => return None,
        })
    }

    /// The `rtm2m` parameters used to prepare an account (equity, haircuts, oracle and de-peg terms).
    fn rtm2m_params(&self) -> Rtm2mParams {
        match self {
            Model::Rtm2m(p) => (**p).clone(),
            Model::Standard(_, h) | Model::DeribitPm(_, h) | Model::DerivePmrm2(_, h) => {
                Rtm2mParams {
                    haircut: *h,
                    ..Rtm2mParams::rtm2m_default()
                }
            }
        }
    }

    /// The requirements of a prepared account under this model; `pnl` receives its scenario P&L over the
    /// grid.
    fn requirements(
        &self,
        risk: &MarketRisk,
        market: &MarketSnapshot,
        prepared: &PreparedAccount,
        pnl: &mut Vec<f64>,
    ) -> Result<Requirements, MarginError> {
        Ok(match self {
            Model::Rtm2m(p) => rtm2m_requirements(risk, prepared, p, pnl),
            Model::Standard(p, _) => {
                scenario_pnl(risk, &prepared.held, pnl);
                standard_requirements(risk, prepared, p)
            }
            Model::DeribitPm(p, _) => {
                scenario_pnl(risk, &prepared.held, pnl);
                deribit_pm_requirements(risk, prepared, p)?
            }
            Model::DerivePmrm2(p, _) => {
                scenario_pnl(risk, &prepared.held, pnl);
                derive_pmrm2_requirements(risk, market, prepared, p)?
            }
        })
    }

    /// Model name as the CLI spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Model::Standard(..) => "standard",
            Model::Rtm2m(..) => "rtm2m",
            Model::DeribitPm(..) => "deribit-pm",
            Model::DerivePmrm2(..) => "derive-pmrm2",
        }
    }
}

/// Account health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Equity ≥ IM.
    Healthy,
    /// MM ≤ equity < IM: no risk-adding trades.
    MarginCall,
    /// 0 < equity < MM: liquidation may start.
    Liquidatable,
    /// Equity ≤ 0.
    Bankrupt,
}

/// A collateral holding resolved against the market.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollateralLine {
    /// Asset.
    pub asset: String,
    /// Units.
    pub amount: f64,
    /// Value at the oracle price, USD.
    pub value_usd: f64,
    /// MM haircut, fraction.
    pub haircut_mm: f64,
    /// IM haircut, fraction.
    pub haircut_im: f64,
}

/// An account resolved against a [`MarketRisk`]: sizes netted per instrument, equity terms computed.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedAccount {
    /// Account name.
    pub id: String,
    /// (instrument index, net size) per held instrument, collateral in grid underlyings included as spot.
    pub held: Vec<(usize, f64)>,
    /// Equity, USD.
    pub equity_usd: f64,
    /// Collateral lines.
    pub collateral: Vec<CollateralLine>,
    /// IM contingencies that do not depend on the model's scenarios: oracle confidence and de-peg, USD.
    oracle_im_usd: f64,
    depeg_im_usd: f64,
}

/// Names of every instrument a portfolio needs valued, collateral in the market's underlyings included as
/// spot (`BTC_USDC`).
pub fn instrument_names(portfolio: &Portfolio, market: &MarketSnapshot) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for a in &portfolio.accounts {
        names.extend(a.positions.iter().map(|p| p.instrument.clone()));
        names.extend(
            a.collateral
                .iter()
                .filter(|c| market.underlyings.contains_key(&c.asset))
                .map(|c| format!("{}_USDC", c.asset)),
        );
    }
    names.sort();
    names.dedup();
    names
}

/// Resolves `account` against `risk`, computing its equity
/// (cash + funding + collateral at oracle prices + option marks + futures/perp unrealised P&L + spot).
pub fn prepare(
    account: &Account,
    market: &MarketSnapshot,
    risk: &MarketRisk,
    params: &Rtm2mParams,
) -> Result<PreparedAccount, MarginError> {
    let id = account.id.as_str();
    let mut equity = require_finite(id, "cash", "cash_usd", account.cash_usd)?;
    equity += require_finite(
        id,
        "funding",
        "accrued_funding_usd",
        account.accrued_funding_usd,
    )?;
    let mut net: BTreeMap<usize, f64> = BTreeMap::new();
    let mut oracle_im = 0.0;
    for p in &account.positions {
        let pos = format!("position {}", p.instrument);
        let size = require_finite(id, &pos, "size", p.size)?;
        let i = risk.index_of(id, &p.instrument)?;
        let priced = &risk.instruments[i];
        equity += match priced.instrument.kind {
            InstrumentKind::Future { .. } | InstrumentKind::Perpetual => {
                let entry = p.entry_price_usd.ok_or_else(|| {
                    invalid(
                        id,
                        &pos,
                        "entry_price_usd",
                        "required for futures and perpetuals".into(),
                    )
                })?;
                if !(entry.is_finite() && entry > 0.0) {
                    return Err(invalid(
                        id,
                        &pos,
                        "entry_price_usd",
                        format!("must be finite and positive, got {entry}"),
                    ));
                }
                size * (priced.price_usd - entry)
            }
            _ => size * priced.price_usd,
        };
        *net.entry(i).or_insert(0.0) += size;
        let c = market
            .assets
            .get(&priced.instrument.underlying)
            .map_or(1.0, |a| a.confidence);
        if c < params.oracle_threshold {
            oracle_im += (1.0 - c.max(0.0)) * params.oracle_factor * size.abs() * priced.index_usd;
        }
    }
    let mut values = Vec::new();
    for c in &account.collateral {
        let pos = format!("collateral {}", c.asset);
        let amount = crate::error::require_non_negative(id, &pos, "amount", c.amount)?;
        let quote = market
            .assets
            .get(&c.asset)
            .ok_or_else(|| MarginError::MissingMarketData {
                account: id.into(),
                position: pos.clone(),
                what: format!("oracle price of {}", c.asset),
            })?;
        crate::error::require_positive(id, &pos, "price_usd", quote.price_usd)?;
        values.push((c, quote, amount * quote.price_usd));
    }
    let total: f64 = values.iter().map(|v| v.2).sum();
    let mut collateral = Vec::new();
    let mut depeg_im = 0.0;
    for (c, quote, value) in values {
        let pos = format!("collateral {}", c.asset);
        equity += value;
        let in_grid = market.underlyings.contains_key(&c.asset);
        if in_grid {
            let i = risk.index_of(id, &format!("{}_USDC", c.asset))?;
            *net.entry(i).or_insert(0.0) += c.amount;
        }
        let static_haircut = match quote.static_haircut {
            Some(h) if (0.0..=1.0).contains(&h) => Some(h),
            Some(h) => {
                return Err(invalid(
                    id,
                    &pos,
                    "static_haircut",
                    format!("must be a fraction in [0, 1], got {h}"),
                ))
            }
            None => None,
        };
        let missing = |what: &str| MarginError::MissingMarketData {
            account: id.into(),
            position: pos.clone(),
            what: format!("{what} of {} (needed for its haircut)", c.asset),
        };
        // The vol term is dropped for grid underlyings (their price risk is in the scenarios); stablecoins
        // keep theirs when given.
        let needs_vol = !(in_grid || quote.stablecoin);
        let h = match (quote.ewma_vol, quote.depth_usd, static_haircut) {
            (None, _, Some(h)) if needs_vol => h,
            (_, None, Some(h)) => h,
            (ewma, depth, floor) => {
                let ewma = if needs_vol {
                    Some(ewma.ok_or_else(|| missing("ewma_vol"))?)
                } else {
                    ewma.filter(|_| quote.stablecoin)
                };
                let depth = depth.ok_or_else(|| missing("depth_usd"))?;
                let dynamic =
                    params
                        .haircut
                        .haircut_mm(value, total, ewma, depth, quote.stablecoin);
                dynamic.max(floor.unwrap_or(0.0))
            }
        };
        if quote.confidence < params.oracle_threshold {
            oracle_im += (1.0 - quote.confidence.max(0.0)) * params.oracle_factor * value;
        }
        if quote.stablecoin && quote.price_usd < params.depeg_threshold {
            depeg_im += (params.depeg_threshold - quote.price_usd) * params.depeg_factor * c.amount;
        }
        collateral.push(CollateralLine {
            asset: c.asset.clone(),
            amount: c.amount,
            value_usd: value,
            haircut_mm: h,
            haircut_im: params.haircut.haircut_im(h),
        });
    }
    Ok(PreparedAccount {
        id: account.id.clone(),
        held: net.into_iter().filter(|(_, s)| *s != 0.0).collect(),
        equity_usd: equity,
        collateral,
        oracle_im_usd: oracle_im,
        depeg_im_usd: depeg_im,
    })
}

/// Writes the account's P&L per scenario (position-weighted sum of the cached risk arrays) into `pnl`, USD.
///
/// Summed the way the arrays are made (docs/margin.md §5): an array's value in scenario s is
/// `w_s·d[point_u(s)]`, d the unit's P&L at the ~85 distinct (move, vol state) points of its underlying u, so
/// per underlying the positions' point P&L `D_u = Σ q·d` is summed first (half the values of the 174-scenario
/// arrays to read and add), then `pnl[s] = w_s·Σ_u D_u[point_u(s)]`. Equal to [`scenario_pnl_reference`] up to
/// rounding (the weight multiplies the sum, not each term). Each point's sum runs over the positions in
/// `held` order from 0 with no fused multiply-add, so the AVX build and the portable one agree to the bit.
/// `pnl` is also the scratch space of the point sums.
pub fn scenario_pnl(risk: &MarketRisk, held: &[(usize, f64)], pnl: &mut Vec<f64>) {
    let n = risk.scenario_count();
    let width = risk.point_width();
    let underlyings = risk.grid.underlyings.len();
    // The point sums live past the n scenarios (overwritten before they are read; only slots the vector
    // did not have yet are zeroed).
    pnl.resize(n + underlyings * width, 0.0);
    let (out, sums) = pnl.split_at_mut(n);
    let units = risk.units();
    // The positions as (offset of the point row, size), grouped by underlying in `held` order (a counting
    // sort: per underlying its count, then where its group starts).
    let mut starts_on_stack = [0_usize; STACK_UNDERLYINGS + 1];
    let mut starts_on_heap = Vec::new();
    let starts: &mut [usize] = if underlyings <= STACK_UNDERLYINGS {
        &mut starts_on_stack[..underlyings + 1]
    } else {
        starts_on_heap.resize(underlyings + 1, 0);
        &mut starts_on_heap
    };
    for &(i, _) in held {
        starts[units[i].underlying as usize + 1] += 1;
    }
    for u in 0..underlyings {
        starts[u + 1] += starts[u];
    }
    let mut rows_on_stack = [(0_usize, 0.0_f64); 64];
    let mut rows_on_heap = Vec::new();
    let rows: &mut [(usize, f64)] = if held.len() <= rows_on_stack.len() {
        &mut rows_on_stack[..held.len()]
    } else {
        rows_on_heap.resize(held.len(), (0, 0.0));
        &mut rows_on_heap
    };
    let mut next_on_stack = [0_usize; STACK_UNDERLYINGS];
    let mut next_on_heap = Vec::new();
    let next: &mut [usize] = if underlyings <= STACK_UNDERLYINGS {
        next_on_stack[..underlyings].copy_from_slice(&starts[..underlyings]);
        &mut next_on_stack[..underlyings]
    } else {
        next_on_heap.extend_from_slice(&starts[..underlyings]);
        &mut next_on_heap
    };
    for &(i, size) in held {
        let u = units[i].underlying as usize;
        rows[next[u]] = (i * width, size);
        next[u] += 1;
    }
    let mut first = true;
    for (u, local) in risk.grid.local.iter().enumerate() {
        let group = &rows[starts[u]..starts[u + 1]];
        if group.is_empty() {
            continue;
        }
        let sums = &mut sums[u * width..(u + 1) * width];
        point_sums(risk.points(), group, sums);
        // Σ_u D_u[point_u(s)] from 0, underlyings in grid order.
        if first {
            for (o, &p) in out.iter_mut().zip(&local.point_of_scenario) {
                *o = 0.0 + sums[p as usize];
            }
            first = false;
        } else {
            for (o, &p) in out.iter_mut().zip(&local.point_of_scenario) {
                *o += sums[p as usize];
            }
        }
    }
    if first {
        out.fill(0.0); // no position
    }
    for (o, &w) in out.iter_mut().zip(risk.weights()) {
        *o *= w;
    }
    pnl.truncate(n);
}

/// The readable form of [`scenario_pnl`] (each position's array, in `held` order), which tests hold it to.
pub fn scenario_pnl_reference(risk: &MarketRisk, held: &[(usize, f64)], pnl: &mut Vec<f64>) {
    pnl.clear();
    pnl.resize(risk.scenario_count(), 0.0);
    for &(i, size) in held {
        for (p, x) in pnl.iter_mut().zip(risk.array(i)) {
            *p += size * x;
        }
    }
}

/// `out[k] = Σ_(r, q) ∈ rows q·values[r + k]` for every k of `out` (a multiple of 4 long; `rows` empty gives
/// zeros), summed in `rows` order, a register block of points at a time.
fn point_sums(values: &[f64], rows: &[(usize, f64)], out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX (checked just above).
        unsafe { point_sums_avx(values, rows, out) };
        return;
    }
    // 8 SSE2 registers of 2 f64.
    point_sums_blocked::<16>(values, rows, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn point_sums_avx(values: &[f64], rows: &[(usize, f64)], out: &mut [f64]) {
    // 11 accumulators of 4 f64, a broadcast size and a product: 13 of the 16 vector registers; two blocks
    // cover the default grid's 84 to 88 values.
    point_sums_blocked::<44>(values, rows, out);
}

/// [`point_sums`] in blocks of `B` points, the last block ending at the row's end and overlapping the one
/// before it (the points it recomputes get the same bits); rows shorter than a block in blocks of 8 and 4.
#[inline(always)]
fn point_sums_blocked<const B: usize>(values: &[f64], rows: &[(usize, f64)], out: &mut [f64]) {
    let width = out.len();
    debug_assert!(width.is_multiple_of(4));
    let mut start = 0;
    if width >= B {
        while start < width {
            let first = start.min(width - B);
            point_block::<B>(values, rows, first, out);
            start = first + B;
        }
        return;
    }
    while width - start >= 8 {
        point_block::<8>(values, rows, start, out);
        start += 8;
    }
    while width - start >= 4 {
        point_block::<4>(values, rows, start, out);
        start += 4;
    }
}

/// Points `start .. start + W` of [`point_sums`], accumulated in registers.
#[inline(always)]
fn point_block<const W: usize>(
    values: &[f64],
    rows: &[(usize, f64)],
    start: usize,
    out: &mut [f64],
) {
    let mut acc = [0.0_f64; W];
    for &(r, size) in rows {
        let row: &[f64; W] = values[r + start..][..W]
            .try_into()
            .expect("a slice of W values");
        for k in 0..W {
            acc[k] += size * row[k];
        }
    }
    out[start..start + W].copy_from_slice(&acc);
}

/// Requirements of an account, USD, with their parts.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Requirements {
    /// Maintenance margin, USD.
    pub mm_usd: f64,
    /// Initial margin, USD.
    pub im_usd: f64,
    /// Worst scenario loss (≥ 0), USD.
    pub scenario_loss_usd: f64,
    /// Index of the worst scenario (None when no scenario loses).
    pub worst_scenario: Option<usize>,
    /// Naked-short charge (MM, IM), USD.
    pub naked_usd: (f64, f64),
    /// Dynamic liquidation add-on, USD (in both MM and IM).
    pub liquidation_addon_usd: f64,
    /// Basis/roll contingency of futures and perpetuals, USD (in both MM and IM).
    pub basis_usd: f64,
    /// Collateral haircuts (MM, IM), USD.
    pub haircut_usd: (f64, f64),
    /// Oracle confidence and de-peg charges (IM only), USD.
    pub contingency_im_usd: f64,
}

/// Net Greeks per underlying, from the held sizes.
pub fn greeks_by_underlying(risk: &MarketRisk, held: &[(usize, f64)]) -> Vec<UnitGreeks> {
    let mut g = vec![UnitGreeks::default(); risk.grid.underlyings.len()];
    for &(i, size) in held {
        let p = &risk.instruments[i];
        let t = &mut g[p.underlying_index];
        t.delta_coin += size * p.greeks.delta_coin;
        t.gamma_per_usd += size * p.greeks.gamma_per_usd;
        t.vega_usd_per_vol_point += size * p.greeks.vega_usd_per_vol_point;
        t.theta_usd_per_day += size * p.greeks.theta_usd_per_day;
    }
    g
}

fn haircut_usd(prepared: &PreparedAccount) -> (f64, f64) {
    prepared.collateral.iter().fold((0.0, 0.0), |(m, i), c| {
        (
            m + c.haircut_mm * c.value_usd,
            i + c.haircut_im * c.value_usd,
        )
    })
}

/// Naked short contracts per (underlying, expiry): Σ over strikes of max(0, −net size at the strike), calls and
/// puts netted at the same strike (Derive PMRM_2 naked-short matching), times the index.
///
/// With `held` in strictly increasing instrument order (as [`prepare`] builds it), each strike's other options
/// are found by walking the market's strike ring, and a strike is counted at its first held option: no
/// allocation, no sort. Whether an option is held is read from a bit set of the held instruments (on the stack
/// when they span at most [`HELD_BITS`] instruments), and only a held one is searched for its size.
/// Otherwise [`naked_notional_usd_reference`].
fn naked_notional_usd(risk: &MarketRisk, held: &[(usize, f64)]) -> f64 {
    let (Some(&(first, _)), Some(&(last, _))) = (held.first(), held.last()) else {
        return 0.0;
    };
    if !held.windows(2).all(|w| w[0].0 < w[1].0) {
        return naked_notional_usd_reference(risk, held);
    }
    let mut bits = [0_u64; HELD_BITS / 64];
    let in_bits = last - first < HELD_BITS;
    if in_bits {
        for &(i, _) in held {
            bits[(i - first) / 64] |= 1 << ((i - first) % 64);
        }
    }
    let maybe_held = |j: usize| {
        !in_bits
            || (first..=last).contains(&j)
                && bits[(j - first) / 64] & (1 << ((j - first) % 64)) != 0
    };
    let mut naked = 0.0;
    let units = risk.units();
    for (k, &(i, size)) in held.iter().enumerate() {
        let next = units[i].next_at_strike;
        if next == NOT_AN_OPTION {
            continue;
        }
        let next = next as usize;
        // Most held options have no other held option at their strike (alone, or a call-put pair whose
        // other half is not held): no walk.
        let alone = next == i || !maybe_held(next) && units[next].next_at_strike as usize == i;
        let net = if alone {
            Some(size)
        } else {
            net_at_strike(units, held, k, &maybe_held)
        };
        if let Some(net) = net {
            naked += (-net).max(0.0) * units[i].index_usd;
        }
    }
    naked
}

/// The net size at the strike of `held[k]` (an option), walking its ring; `None` when the strike was counted
/// at an earlier held option.
#[cold]
#[inline(never)]
fn net_at_strike(
    units: &[UnitTerms],
    held: &[(usize, f64)],
    k: usize,
    maybe_held: &impl Fn(usize) -> bool,
) -> Option<f64> {
    let (i, mut net) = held[k];
    let mut j = units[i].next_at_strike as usize;
    // A ring holds at most one option per kind and settlement (names are unique): the walk is bounded.
    while j != i {
        if maybe_held(j) {
            if let Ok(at) = held.binary_search_by_key(&j, |e| e.0) {
                if at < k {
                    return None; // counted at its first held option
                }
                net += held[at].1;
            }
        }
        j = units[j].next_at_strike as usize;
    }
    Some(net)
}

/// Span of instrument indices of the stack bit set of [`naked_notional_usd`].
const HELD_BITS: usize = 4096;

/// The readable form of [`naked_notional_usd`] for any `held`: options sorted by (underlying, expiry, strike)
/// and each run's net size taken.
fn naked_notional_usd_reference(risk: &MarketRisk, held: &[(usize, f64)]) -> f64 {
    let mut by_strike: Vec<((usize, i64, u64), f64, f64)> = held
        .iter()
        .filter_map(|&(i, size)| {
            let p = &risk.instruments[i];
            match p.instrument.kind {
                InstrumentKind::Option {
                    expiry_unix_s,
                    strike_usd,
                    ..
                } => Some((
                    (p.underlying_index, expiry_unix_s, strike_usd.to_bits()),
                    size,
                    p.index_usd,
                )),
                _ => None,
            }
        })
        .collect();
    by_strike.sort_unstable_by_key(|e| e.0);
    let mut naked = 0.0;
    for group in by_strike.chunk_by(|a, b| a.0 == b.0) {
        let net: f64 = group.iter().map(|e| e.1).sum();
        naked += (-net).max(0.0) * group[0].2;
    }
    naked
}

/// Underlyings whose liquidation add-on terms [`rtm2m_requirements`] tallies on the stack.
const STACK_UNDERLYINGS: usize = 8;

/// The `rtm2m` requirements of a prepared account; `pnl` is scratch space (reused; no allocation for a market
/// of up to [`STACK_UNDERLYINGS`] underlyings).
pub fn rtm2m_requirements(
    risk: &MarketRisk,
    prepared: &PreparedAccount,
    params: &Rtm2mParams,
    pnl: &mut Vec<f64>,
) -> Requirements {
    scenario_pnl(risk, &prepared.held, pnl);
    // The worst scenario is the first with the least P&L, when that loses; NaN never wins (`<` is false).
    // Four lanes of minima, so that the pass vectorises.
    let mut lanes = [f64::INFINITY; 4];
    let chunks = pnl.chunks_exact(4);
    for &x in chunks.remainder() {
        lanes[0] = if x < lanes[0] { x } else { lanes[0] };
    }
    for c in chunks {
        for k in 0..4 {
            lanes[k] = if c[k] < lanes[k] { c[k] } else { lanes[k] };
        }
    }
    let least = lanes
        .iter()
        .fold(f64::INFINITY, |m, &x| if x < m { x } else { m });
    let (worst, loss) = if least < 0.0 {
        (pnl.iter().position(|&x| x == least), -least)
    } else {
        (None, 0.0)
    };
    let naked = naked_notional_usd(risk, &prepared.held);
    // Per underlying: net Γ, net Δ, index (the terms of [`greeks_by_underlying`] the add-on needs); and the
    // basis/roll contingency, in the same pass.
    let underlyings = risk.grid.underlyings.len();
    let mut on_stack = [(0.0, 0.0, 0.0); STACK_UNDERLYINGS];
    let mut on_heap = Vec::new();
    let per_underlying: &mut [(f64, f64, f64)] = if underlyings <= STACK_UNDERLYINGS {
        &mut on_stack[..underlyings]
    } else {
        on_heap.resize(underlyings, (0.0, 0.0, 0.0));
        &mut on_heap
    };
    let units = risk.units();
    let mut basis = 0.0;
    for &(i, size) in &prepared.held {
        let unit = &units[i];
        let t = &mut per_underlying[unit.underlying as usize];
        t.0 += size * unit.gamma_per_usd;
        t.1 += size * unit.delta_coin;
        t.2 = unit.index_usd;
        // Basis/roll contingency: the scenarios move every future with the index, so a calendar spread or a
        // cash-and-carry looks riskless; each future or perpetual is charged
        // |q|·S·max(`roll_move_min`, `roll_move_per_year`·T), T in years to expiry (0 for a perpetual), the
        // form of Deribit PM's roll shock (docs/margin.md §3). Settled futures carry no charge.
        if !unit.roll_years.is_nan() {
            basis += size.abs()
                * unit.index_usd
                * params
                    .roll_move_min
                    .max(params.roll_move_per_year * unit.roll_years);
        }
    }
    // Dynamic liquidation threshold: ½·k_γ·|Γ_u|·(h·S_u)² + k_δ·|Δ_u|·S_u per underlying.
    let mut addon = 0.0;
    for &(gamma, delta, s) in per_underlying.iter() {
        let move_usd = params.liquidation_shock * s;
        addon += 0.5 * params.gamma_factor * gamma.abs() * move_usd * move_usd
            + params.delta_factor * delta.abs() * s;
    }
    let haircut = haircut_usd(prepared);
    let contingency_im = prepared.oracle_im_usd + prepared.depeg_im_usd;
    Requirements {
        mm_usd: params.mm_factor * loss + naked * params.naked_mm + addon + basis + haircut.0,
        im_usd: params.im_factor * loss
            + naked * params.naked_im
            + addon
            + basis
            + haircut.1
            + contingency_im,
        basis_usd: basis,
        scenario_loss_usd: loss,
        worst_scenario: worst,
        naked_usd: (naked * params.naked_mm, naked * params.naked_im),
        liquidation_addon_usd: addon,
        haircut_usd: haircut,
        contingency_im_usd: contingency_im,
    }
}

/// Deribit-style standard requirements: per short option the isolated margin of
/// [`crate::standard::isolated_margin`] (short call IM max(0.15 − OTM, 0.10)·S + mark, MM 0.075·S + mark),
/// futures and perpetuals |q|·price·(IM or MM rate), plus collateral haircuts.
pub fn standard_requirements(
    risk: &MarketRisk,
    prepared: &PreparedAccount,
    params: &StandardParams,
) -> Requirements {
    let (mut mm, mut im) = (0.0, 0.0);
    for &(i, size) in &prepared.held {
        let p = &risk.instruments[i];
        match (&p.instrument.kind, &p.option) {
            (
                InstrumentKind::Option {
                    strike_usd, kind, ..
                },
                Some(terms),
            ) => {
                let o = StandardOption {
                    strike_usd: *strike_usd,
                    kind: *kind,
                    amount: size,
                    vol: terms.vol,
                };
                let value = size * p.price_usd;
                mm -= isolated_margin(&o, value, p.index_usd, params, false);
                im -= isolated_margin(&o, value, p.index_usd, params, true);
            }
            (InstrumentKind::Future { .. }, _) if p.expiry_years == 0.0 => {} // settled
            (InstrumentKind::Future { .. } | InstrumentKind::Perpetual, _) => {
                mm += size.abs() * p.price_usd * params.perp_mm_req;
                im += size.abs() * p.price_usd * params.perp_im_req;
            }
            _ => {}
        }
    }
    let haircut = haircut_usd(prepared);
    Requirements {
        mm_usd: mm + haircut.0,
        im_usd: im + haircut.1,
        haircut_usd: haircut,
        ..Requirements::default()
    }
}

/// Deribit portfolio-margin requirements: per underlying, the risk matrix of [`crate::deribit_pm::margin`]
/// over its coin-settled options, futures and perpetuals (sizes in coin), in coin as Deribit computes it and
/// converted to USD at the index; spot holdings are margin-currency collateral, not positions; settled
/// instruments carry no risk. USD-settled (linear) options are outside Deribit's coin-margined matrix: an error.
/// Open-orders, MMP, delta-shock and correlation terms are 0 (no order book here). Plus collateral haircuts.
pub fn deribit_pm_requirements(
    risk: &MarketRisk,
    prepared: &PreparedAccount,
    params: &DeribitPmParams,
) -> Result<Requirements, MarginError> {
    let mut by_underlying: BTreeMap<usize, (f64, Vec<DeribitPosition>)> = BTreeMap::new();
    for &(i, size) in &prepared.held {
        let p = &risk.instruments[i];
        let instrument = match (&p.instrument.kind, &p.option) {
            (InstrumentKind::Perpetual, _) => DeribitInstrument::Perpetual,
            (InstrumentKind::Future { .. }, _) if p.expiry_years > 0.0 => DeribitInstrument::Future {
                expiry_years: p.expiry_years,
            },
            (
                InstrumentKind::Option {
                    settlement: Settlement::Usd,
                    ..
                },
                Some(_),
            ) => {
                return Err(invalid(
                    &prepared.id,
                    &format!("position {}", p.instrument.name),
                    "instrument",
                    "deribit-pm margins coin-settled instruments; USD-settled options are not in its risk \
                     matrix (use --model rtm2m or standard)"
                        .into(),
                ))
            }
            (InstrumentKind::Option { kind, strike_usd, .. }, Some(terms)) => DeribitInstrument::Option {
                kind: *kind,
                strike_usd: *strike_usd,
                expiry_years: terms.expiry_years,
                vol: terms.vol,
            },
            _ => continue, // spot collateral, settled futures and options
        };
        let entry = by_underlying
            .entry(p.underlying_index)
            .or_insert_with(|| (p.index_usd, Vec::new()));
        entry.1.push(DeribitPosition {
            name: p.instrument.name.clone(),
            instrument,
            size_coin: size,
        });
    }
    let mut req = Requirements::default();
    for (_, (index_usd, positions)) in by_underlying {
        let portfolio = DeribitPortfolio {
            id: prepared.id.clone(),
            index_usd,
            positions,
            open_orders_margin_coin: 0.0,
            mmp_margin_coin: 0.0,
            delta_shock_coin: 0.0,
            correlation_contingency_coin: 0.0,
        };
        let r = crate::deribit_pm::margin(&portfolio, params)?;
        req.mm_usd += r.mm_coin * index_usd;
        req.im_usd += r.im_coin * index_usd;
        req.scenario_loss_usd += r.worst_case_coin * index_usd;
        req.basis_usd += r.roll_shock_coin * index_usd;
    }
    let haircut = haircut_usd(prepared);
    req.mm_usd += haircut.0;
    req.im_usd += haircut.1;
    req.haircut_usd = haircut;
    Ok(req)
}

/// Derive PMRM_2 requirements: per underlying, one PMRM_2 portfolio of the USD-settled options (grouped by
/// expiry, vols = their mark IVs, forward and rate from the market), the perpetuals (netted) and the spot held
/// (risk-cancelling collateral, no PMRM_2 haircut: the account's haircuts are added once, below), with cash 0.
/// PMRM_2's signed margin is `worst·factor − contingencies + MtM`, so each portfolio's requirement is
/// `MtM − margin`, in USD. Coin-settled options and dated futures are not PMRM_2 instruments: errors.
pub fn derive_pmrm2_requirements(
    risk: &MarketRisk,
    market: &MarketSnapshot,
    prepared: &PreparedAccount,
    params: &Pmrm2Params,
) -> Result<Requirements, MarginError> {
    let stable_price_usd = market.assets.get("USDC").map_or(1.0, |a| a.price_usd);
    let mut by_underlying: BTreeMap<usize, Pmrm2Account> = BTreeMap::new();
    let mut expiry_keys: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
    for &(i, size) in &prepared.held {
        let p = &risk.instruments[i];
        let u = &p.instrument.underlying;
        let confidence = market.assets.get(u).map_or(1.0, |a| a.confidence);
        let position = format!("position {}", p.instrument.name);
        let account = by_underlying
            .entry(p.underlying_index)
            .or_insert_with(|| Pmrm2Account {
                id: prepared.id.clone(),
                cash_usd: 0.0,
                spot_usd: p.index_usd,
                spot_confidence: confidence,
                stable_price_usd,
                perp: None,
                collaterals: Vec::new(),
                expiries: Vec::new(),
            });
        match (&p.instrument.kind, &p.option) {
            (InstrumentKind::Spot, _) => account.collaterals.push(Pmrm2Collateral {
                name: u.clone(),
                amount: size,
                price_usd: p.index_usd,
                confidence,
                mm_haircut: 0.0,
                im_haircut: 0.0,
                risk_cancelling: true,
            }),
            (InstrumentKind::Perpetual, _) => {
                let perp = account.perp.get_or_insert(Pmrm2Perp {
                    position: 0.0,
                    price_usd: p.price_usd,
                    confidence,
                    unrealised_pnl_usd: 0.0,
                    unrealised_funding_usd: 0.0,
                });
                perp.position += size;
            }
            (
                InstrumentKind::Option {
                    expiry_unix_s,
                    strike_usd,
                    kind,
                    settlement: Settlement::Usd,
                    ..
                },
                Some(terms),
            ) => {
                let keys = expiry_keys.entry(p.underlying_index).or_default();
                let e = match keys.iter().position(|k| k == expiry_unix_s) {
                    Some(e) => e,
                    None => {
                        keys.push(*expiry_unix_s);
                        account.expiries.push(Pmrm2Expiry {
                            seconds_to_expiry: terms.expiry_years * SECONDS_PER_YEAR,
                            forward_usd: terms.forward_usd,
                            forward_confidence: confidence,
                            rate: -terms.discount.ln() / terms.expiry_years,
                            rate_confidence: 1.0,
                            vols: ExpiryVols::PerStrike(Vec::new()),
                            vol_confidence: 1.0,
                            options: Vec::new(),
                        });
                        keys.len() - 1
                    }
                };
                let expiry = &mut account.expiries[e];
                if let ExpiryVols::PerStrike(table) = &mut expiry.vols {
                    if !table.iter().any(|(k, _)| k == strike_usd) {
                        table.push((*strike_usd, terms.vol));
                    }
                }
                expiry.options.push(Pmrm2Option {
                    strike_usd: *strike_usd,
                    kind: *kind,
                    amount: size,
                });
            }
            (InstrumentKind::Option { .. }, Some(_)) => return Err(invalid(
                &prepared.id,
                &position,
                "instrument",
                "derive-pmrm2 margins USD-settled options; coin-settled options are not PMRM_2 \
                     instruments (use --model rtm2m or deribit-pm)"
                    .into(),
            )),
            (InstrumentKind::Future { .. }, _) if p.expiry_years > 0.0 => {
                return Err(invalid(
                    &prepared.id,
                    &position,
                    "instrument",
                    "derive-pmrm2 has no dated futures (use --model rtm2m or deribit-pm)".into(),
                ))
            }
            _ => {} // settled futures and options: fixed value, no risk
        }
    }
    let mut req = Requirements::default();
    for account in by_underlying.into_values() {
        let r = crate::pmrm2::margin(&account, params)?;
        // A portfolio gaining in every scenario would give a negative requirement: no credit is given.
        req.mm_usd += (r.mtm_usd - r.mm_usd).max(0.0);
        req.im_usd += (r.mtm_usd - r.im_usd).max(0.0);
        req.scenario_loss_usd += (-r.worst_pnl_usd).max(0.0);
    }
    let haircut = haircut_usd(prepared);
    req.mm_usd += haircut.0;
    req.im_usd += haircut.1;
    req.haircut_usd = haircut;
    Ok(req)
}

/// One scenario's P&L.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioPnl {
    /// Scenario label.
    pub scenario: String,
    /// Account P&L, USD.
    pub pnl_usd: f64,
}

/// One position in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PositionLine {
    /// Instrument name.
    pub instrument: String,
    /// Net size.
    pub size: f64,
    /// Mark value of the position, USD (size × unit value; futures and perps: size × price).
    pub value_usd: f64,
    /// Its P&L in the account's worst scenario, USD (the contributions sum to the worst P&L).
    pub pnl_worst_usd: f64,
    /// Position Greeks.
    pub greeks: UnitGreeks,
}

/// Greeks of one underlying.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GreeksLine {
    /// Underlying.
    pub underlying: String,
    /// Greeks totals.
    #[serde(flatten)]
    pub greeks: UnitGreeks,
}

/// Margin report of one account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarginReport {
    /// Account.
    pub account: String,
    /// Model name.
    pub model: String,
    /// Equity, USD.
    pub equity_usd: f64,
    /// Initial margin, USD.
    pub im_usd: f64,
    /// Maintenance margin, USD.
    pub mm_usd: f64,
    /// MM / equity (liquidatable at ≥ 1); `None` when equity ≤ 0.
    pub margin_ratio: Option<f64>,
    /// Health.
    pub status: Status,
    /// Requirement parts.
    pub requirements: Requirements,
    /// Worst scenario of the grid.
    pub worst_scenario: Option<ScenarioPnl>,
    /// P&L per scenario, grid order.
    pub scenario_pnl: Vec<ScenarioPnl>,
    /// Contributions by position.
    pub positions: Vec<PositionLine>,
    /// Greeks totals per underlying held.
    pub greeks: Vec<GreeksLine>,
    /// Collateral and haircuts.
    pub collateral: Vec<CollateralLine>,
}

/// Status from equity and requirements.
pub fn status(equity_usd: f64, mm_usd: f64, im_usd: f64) -> Status {
    if equity_usd <= 0.0 {
        Status::Bankrupt
    } else if equity_usd < mm_usd {
        Status::Liquidatable
    } else if equity_usd < im_usd {
        Status::MarginCall
    } else {
        Status::Healthy
    }
}

/// Margins one account and builds its report.
pub fn margin_account(
    account: &Account,
    market: &MarketSnapshot,
    risk: &MarketRisk,
    model: &Model,
) -> Result<MarginReport, MarginError> {
    let id = account.id.as_str();
    let preset = |name: &str, field: &'static str| {
        Model::preset(name).ok_or_else(|| {
            invalid(
                id,
                "account",
                field,
                format!(
                    "unknown model {name:?}; one of {}",
                    Model::PRESETS.join(", ")
                ),
            )
        })
    };
    let own;
    let model = match &account.model {
        Some(name) => {
            own = preset(name, "model")?;
            &own
        }
        None => model,
    };
    let prepared = prepare(account, market, risk, &model.rtm2m_params())?;
    let mut pnl = Vec::new();
    let (req, model_name) = if account.model_by_underlying.is_empty() {
        (
            model.requirements(risk, market, &prepared, &mut pnl)?,
            model.name().to_owned(),
        )
    } else {
        // Each underlying's positions under its own model; collateral haircuts once, under the account's.
        let mut groups: BTreeMap<String, (Model, Vec<(usize, f64)>)> = BTreeMap::new();
        for &(i, size) in &prepared.held {
            let u = &risk.instruments[i].instrument.underlying;
            let name = account
                .model_by_underlying
                .get(u)
                .map_or(model.name(), String::as_str);
            if !groups.contains_key(name) {
                groups.insert(
                    name.to_owned(),
                    (preset(name, "model_by_underlying")?, Vec::new()),
                );
            }
            groups
                .get_mut(name)
                .expect("inserted above")
                .1
                .push((i, size));
        }
        for name in account.model_by_underlying.values() {
            preset(name, "model_by_underlying")?;
        }
        let mut total = Requirements::default();
        let mut scratch = Vec::new();
        for (m, held) in groups.values() {
            let part = PreparedAccount {
                held: held.clone(),
                collateral: Vec::new(),
                ..prepared.clone()
            };
            let r = m.requirements(risk, market, &part, &mut scratch)?;
            total.mm_usd += r.mm_usd;
            total.im_usd += r.im_usd;
            total.scenario_loss_usd += r.scenario_loss_usd;
            total.naked_usd.0 += r.naked_usd.0;
            total.naked_usd.1 += r.naked_usd.1;
            total.liquidation_addon_usd += r.liquidation_addon_usd;
            total.basis_usd += r.basis_usd;
            total.contingency_im_usd += r.contingency_im_usd;
        }
        let haircut = haircut_usd(&prepared);
        total.mm_usd += haircut.0;
        total.im_usd += haircut.1;
        total.haircut_usd = haircut;
        scenario_pnl(risk, &prepared.held, &mut pnl);
        let overrides: Vec<String> = account
            .model_by_underlying
            .iter()
            .map(|(u, m)| format!("{u}:{m}"))
            .collect();
        (total, format!("{}+{}", model.name(), overrides.join("+")))
    };
    let worst = pnl
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .filter(|(_, x)| **x < 0.0)
        .map(|(s, _)| s);
    let label = |s: usize| risk.grid.scenarios[s].label.clone();
    let positions = prepared
        .held
        .iter()
        .map(|&(i, size)| {
            let p = &risk.instruments[i];
            PositionLine {
                instrument: p.instrument.name.clone(),
                size,
                value_usd: size * p.price_usd,
                pnl_worst_usd: worst.map_or(0.0, |s| size * risk.array(i)[s]),
                greeks: UnitGreeks {
                    delta_coin: size * p.greeks.delta_coin,
                    gamma_per_usd: size * p.greeks.gamma_per_usd,
                    vega_usd_per_vol_point: size * p.greeks.vega_usd_per_vol_point,
                    theta_usd_per_day: size * p.greeks.theta_usd_per_day,
                },
            }
        })
        .collect();
    let held_underlyings: Vec<usize> = {
        let mut u: Vec<usize> = prepared
            .held
            .iter()
            .map(|&(i, _)| risk.instruments[i].underlying_index)
            .collect();
        u.sort_unstable();
        u.dedup();
        u
    };
    let totals = greeks_by_underlying(risk, &prepared.held);
    let eq = prepared.equity_usd;
    debug_assert!(req.mm_usd >= 0.0 && req.im_usd >= 0.0);
    Ok(MarginReport {
        account: account.id.clone(),
        model: model_name,
        equity_usd: eq,
        im_usd: req.im_usd,
        mm_usd: req.mm_usd,
        margin_ratio: (eq > 0.0).then_some(req.mm_usd / eq),
        status: status(eq, req.mm_usd, req.im_usd),
        requirements: req,
        worst_scenario: worst.map(|s| ScenarioPnl {
            scenario: label(s),
            pnl_usd: pnl[s],
        }),
        scenario_pnl: pnl
            .iter()
            .enumerate()
            .map(|(s, &x)| ScenarioPnl {
                scenario: label(s),
                pnl_usd: x,
            })
            .collect(),
        positions,
        greeks: held_underlyings
            .into_iter()
            .map(|u| GreeksLine {
                underlying: risk.grid.underlyings[u].clone(),
                greeks: totals[u],
            })
            .collect(),
        collateral: prepared.collateral,
    })
}

/// Margins every account of a portfolio: values the instruments once (vols from the snapshot's mark IVs),
/// then each account; one account's error does not stop the others.
pub fn margin_portfolio(
    portfolio: &Portfolio,
    market: &MarketSnapshot,
    model: &Model,
) -> Result<Vec<Result<MarginReport, MarginError>>, MarginError> {
    let names = instrument_names(portfolio, market);
    let vols = crate::market::MarkIvs(&market.mark_ivs);
    let risk = MarketRisk::build(
        market,
        &vols,
        &model.grid(),
        names.iter().map(String::as_str),
    )?;
    Ok(portfolio
        .accounts
        .iter()
        .map(|a| margin_account(a, market, &risk, model))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn point_sums_of_the_avx_and_portable_builds_agree_to_the_bit() {
        if !std::arch::is_x86_feature_detected!("avx") {
            return;
        }
        let width = 92; // AVX blocks of 44 at 0, 44 and 48; portable blocks of 16, the last at 76
        let values: Vec<f64> = (0..40 * width)
            .map(|k| ((k * 7919) % 1009) as f64 / 7.0 - 70.0)
            .collect();
        for count in [0, 1, 3, 17, 40] {
            let rows: Vec<(usize, f64)> = (0..count)
                .map(|k| (((k * 13) % 40) * width, 1.0 / (k as f64 + 0.3) - 0.9))
                .collect();
            let (mut portable, mut wide) = (vec![f64::NAN; width], vec![f64::NAN; width]);
            point_sums_blocked::<16>(&values, &rows, &mut portable);
            // SAFETY: the CPU has AVX (checked above).
            unsafe { point_sums_avx(&values, &rows, &mut wide) };
            let mut short = vec![f64::NAN; 12]; // narrower than a block: blocks of 8 and 4
            point_sums_blocked::<16>(&values, &rows, &mut short);
            for (k, x) in short.iter().enumerate() {
                assert_eq!(
                    x.to_bits(),
                    portable[k].to_bits(),
                    "{count} rows, point {k}"
                );
            }
            for k in 0..width {
                let plain: f64 = rows
                    .iter()
                    .fold(0.0, |acc, &(r, q)| acc + q * values[r + k]);
                assert_eq!(
                    portable[k].to_bits(),
                    plain.to_bits(),
                    "{count} rows, point {k}"
                );
                assert_eq!(
                    wide[k].to_bits(),
                    plain.to_bits(),
                    "{count} rows, point {k}"
                );
            }
        }
    }
}
