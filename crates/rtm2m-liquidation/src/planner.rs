//! Liquidation planning in the market: which positions of a liquidatable account to close, and how much, to
//! bring it back above its maintenance requirement with a buffer, at the least cost.
//!
//! The account is margined by the real engine (`rtm2m-margin`, `rtm2m` model) on a [`MarketRisk`]. Its
//! **target** is Derive's buffer margin ≥ 0 in rtm2m's convention: with `MM − MtM = −requirement`,
//! `BM = equity − (1 + b)·MM`, so the plan stops once `equity − costs ≥ (1 + b)·MM` (liquidating to MM itself
//! would re-flag the account at the next tick).
//!
//! **Cost** of closing q units of an instrument (one order per instrument and liquidation): its half-spread (a fraction of the notional |q|·mark for
//! futures, perpetuals and spot; of the premium for options) plus the average slippage of the delta the market
//! must absorb, `|q·Δ|·S·slippage(|q·Δ|·S)` under the [`ImpactModel`] (book depth or square-root law).
//!
//! **Greedy choice**: at each step every position is offered a chunk (`chunk_fraction` of its size at the
//! start, or what is left); the chunk with the largest requirement reduction per unit of cost is closed,
//! provided it lowers the requirement and improves the shortfall `(1 + b)·MM − (equity − costs)`. The last
//! chunk is trimmed by bisection to the smallest size that reaches the target. Every accepted step lowers the
//! requirement, so a plan never increases it. Collateral (spot) is not sold by a plan, only by a close-out.

use crate::error::{invalid, require_in, LiquidationError};
use crate::events::LiquidationEvent;
use crate::impact::ImpactModel;
use rtm2m_margin::account::Account;
use rtm2m_margin::engine::{rtm2m_requirements, PreparedAccount, Rtm2mParams};
use rtm2m_margin::instrument::InstrumentKind;
use rtm2m_margin::market_risk::MarketRisk;
use serde::{Deserialize, Serialize};

/// Parameters of the planner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlannerParams {
    /// b: the target is `equity − costs ≥ (1 + b)·MM` (Derive's buffer margin ≥ 0).
    pub buffer_margin_percentage: f64,
    /// Size of a step, fraction of a position's size at the start of the plan.
    pub chunk_fraction: f64,
    /// Half-spread of futures, perpetuals and spot, fraction of the notional.
    pub half_spread_linear: f64,
    /// Half-spread of options, fraction of the premium.
    pub half_spread_option: f64,
    /// Most steps a plan may take.
    pub max_steps: usize,
}

impl PlannerParams {
    /// Defaults: buffer 20% (Derive's), steps of 10%, half-spreads 0.05% (linear) and 2% of premium (options),
    /// at most 1 000 steps.
    pub fn rtm2m_default() -> PlannerParams {
        PlannerParams {
            buffer_margin_percentage: 0.2,
            chunk_fraction: 0.1,
            half_spread_linear: 0.0005,
            half_spread_option: 0.02,
            max_steps: 1000,
        }
    }

    /// Checks every parameter, naming the first bad one.
    pub fn validate(&self) -> Result<(), LiquidationError> {
        let c = "planner parameters";
        require_in(
            c,
            "buffer_margin_percentage",
            self.buffer_margin_percentage,
            0.0,
            4.0,
        )?;
        require_in(c, "chunk_fraction", self.chunk_fraction, 1e-6, 1.0)?;
        require_in(c, "half_spread_linear", self.half_spread_linear, 0.0, 0.5)?;
        require_in(c, "half_spread_option", self.half_spread_option, 0.0, 1.0)?;
        if self.max_steps == 0 {
            return Err(invalid(c, "max_steps", "must be > 0".into()));
        }
        Ok(())
    }
}

/// One closure of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanStep {
    /// Index of the instrument in the [`MarketRisk`].
    pub instrument_index: usize,
    /// Instrument name.
    pub instrument: String,
    /// Signed size closed (the held size changes by its opposite), coins.
    pub size_closed: f64,
    /// Mark of one unit, USD.
    pub mark_usd: f64,
    /// Delta handed to the market (`size_closed·Δ`), coins: > 0 is selling flow.
    pub delta_closed_coin: f64,
    /// Spread and slippage of the closure, USD.
    pub cost_usd: f64,
    /// Maintenance requirement after the step, USD.
    pub mm_after_usd: f64,
}

/// A liquidation plan for one account.
#[derive(Debug, Clone, PartialEq)]
pub struct LiquidationPlan {
    /// Account.
    pub account: String,
    /// Closures in order.
    pub steps: Vec<PlanStep>,
    /// Equity before, USD.
    pub equity_before_usd: f64,
    /// Equity after the closing costs, USD.
    pub equity_after_usd: f64,
    /// Maintenance requirement before, USD.
    pub mm_before_usd: f64,
    /// Maintenance requirement after, USD.
    pub mm_after_usd: f64,
    /// True when `equity after ≥ (1 + b)·MM after`.
    pub target_reached: bool,
    /// True for a close-out (every position and grid collateral closed).
    pub closed_out: bool,
}

impl LiquidationPlan {
    /// Total closing cost, USD.
    pub fn cost_usd(&self) -> f64 {
        self.steps.iter().map(|s| s.cost_usd).sum()
    }

    /// Net delta handed to the market, coins (> 0: selling).
    pub fn delta_closed_coin(&self) -> f64 {
        self.steps.iter().map(|s| s.delta_closed_coin).sum()
    }

    /// Traded value `Σ |size|·mark`, USD (premium for options).
    pub fn traded_value_usd(&self) -> f64 {
        self.steps
            .iter()
            .map(|s| (s.size_closed * s.mark_usd).abs())
            .sum()
    }

    /// The plan's events: one per closure.
    pub fn events(&self, time_unix_s: i64) -> Vec<LiquidationEvent> {
        self.steps
            .iter()
            .map(|s| LiquidationEvent::PositionClosed {
                account: self.account.clone(),
                time_unix_s,
                instrument: s.instrument.clone(),
                size_closed: s.size_closed,
                mark_usd: s.mark_usd,
                cost_usd: s.cost_usd,
            })
            .collect()
    }
}

/// Spread and slippage of closing `size` units of instrument `index`, USD (≥ 0).
pub fn closing_cost_usd(
    risk: &MarketRisk,
    index: usize,
    size: f64,
    planner: &PlannerParams,
    impact: &ImpactModel,
) -> f64 {
    let p = &risk.instruments[index];
    let q = size.abs();
    let spread = match p.instrument.kind {
        InstrumentKind::Option { .. } => planner.half_spread_option * q * p.price_usd.abs(),
        _ => planner.half_spread_linear * q * p.price_usd.abs(),
    };
    let flow_usd = (q * p.greeks.delta_coin).abs() * p.index_usd;
    spread + flow_usd * impact.average_slippage(flow_usd)
}

struct Evaluator<'a> {
    risk: &'a MarketRisk,
    prepared: PreparedAccount,
    params: &'a Rtm2mParams,
    pnl: Vec<f64>,
}

impl Evaluator<'_> {
    fn mm(&mut self, held: &[(usize, f64)]) -> f64 {
        self.prepared.held.clear();
        self.prepared
            .held
            .extend(held.iter().copied().filter(|(_, s)| *s != 0.0));
        rtm2m_requirements(self.risk, &self.prepared, self.params, &mut self.pnl).mm_usd
    }
}

fn is_spot(risk: &MarketRisk, index: usize) -> bool {
    matches!(
        risk.instruments[index].instrument.kind,
        InstrumentKind::Spot
    )
}

fn step_of(
    risk: &MarketRisk,
    index: usize,
    size: f64,
    cost_usd: f64,
    mm_after_usd: f64,
) -> PlanStep {
    let p = &risk.instruments[index];
    PlanStep {
        instrument_index: index,
        instrument: p.instrument.name.clone(),
        size_closed: size,
        mark_usd: p.price_usd,
        delta_closed_coin: size * p.greeks.delta_coin,
        cost_usd,
        mm_after_usd,
    }
}

/// Plans the liquidation of `prepared` (margined on `risk` with the `rtm2m` model `params`) back to its buffer,
/// as the module documentation describes. When the target cannot be reached the plan holds every improving
/// step found and `target_reached` is false (the caller then closes the account out).
pub fn plan_liquidation(
    risk: &MarketRisk,
    prepared: &PreparedAccount,
    params: &Rtm2mParams,
    planner: &PlannerParams,
    impact: &ImpactModel,
) -> Result<LiquidationPlan, LiquidationError> {
    planner.validate()?;
    impact.validate()?;
    let mut eval = Evaluator {
        risk,
        prepared: prepared.clone(),
        params,
        pnl: Vec::new(),
    };
    let k = 1.0 + planner.buffer_margin_percentage;
    let equity0 = prepared.equity_usd;
    let mut held: Vec<(usize, f64)> = prepared.held.clone();
    let original: Vec<f64> = held.iter().map(|h| h.1).collect();
    // Size closed so far per position: one liquidation is one order per instrument, so a chunk costs the
    // marginal cost of extending that order, C(closed + q) − C(closed).
    let mut closed: Vec<f64> = vec![0.0; held.len()];
    let marginal = |i: usize, closed: f64, q: f64| {
        closing_cost_usd(risk, i, closed + q, planner, impact)
            - closing_cost_usd(risk, i, closed, planner, impact)
    };
    let mm0 = eval.mm(&held);
    let mut mm = mm0;
    let mut cost = 0.0;
    let mut steps = Vec::new();
    let reached = |cost: f64, mm: f64| equity0 - cost >= k * mm;
    while !reached(cost, mm) && steps.len() < planner.max_steps {
        // (candidate, size, new mm, cost, score)
        let mut best: Option<(usize, f64, f64, f64, f64)> = None;
        for j in 0..held.len() {
            let (i, left) = held[j];
            if left == 0.0 || is_spot(risk, i) {
                continue;
            }
            let chunk = (planner.chunk_fraction * original[j].abs()).min(left.abs());
            let q = chunk.copysign(left);
            held[j].1 = left - q;
            let mm_new = eval.mm(&held);
            held[j].1 = left;
            let c = marginal(i, closed[j], q);
            let gain = mm - mm_new;
            // Must lower the requirement and the shortfall (1 + b)·MM − (equity − costs).
            if !(gain > 0.0 && k * gain > c) {
                continue;
            }
            let score = gain / c.max(1e-12);
            if best.is_none_or(|b| score > b.4) {
                best = Some((j, q, mm_new, c, score));
            }
        }
        let Some((j, mut q, mut mm_new, mut c, _)) = best else {
            break;
        };
        let (i, left) = held[j];
        if reached(cost + c, mm_new) {
            // Trim the last chunk to the smallest size that reaches the target.
            let (mut lo, mut hi) = (0.0, 1.0);
            for _ in 0..40 {
                let mid = 0.5 * (lo + hi);
                held[j].1 = left - q * mid;
                let m = eval.mm(&held);
                let cm = marginal(i, closed[j], q * mid);
                if m < mm && reached(cost + cm, m) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            if hi < 1.0 {
                q *= hi;
                held[j].1 = left - q;
                mm_new = eval.mm(&held);
                c = marginal(i, closed[j], q);
            }
        }
        closed[j] += q;
        held[j].1 = left - q;
        if held[j].1.abs() <= 1e-12 * original[j].abs() {
            held[j].1 = 0.0;
        }
        debug_assert!(mm_new < mm);
        cost += c;
        mm = mm_new;
        steps.push(step_of(risk, i, q, c, mm));
    }
    Ok(LiquidationPlan {
        account: prepared.id.clone(),
        steps,
        equity_before_usd: equity0,
        equity_after_usd: equity0 - cost,
        mm_before_usd: mm0,
        mm_after_usd: mm,
        target_reached: reached(cost, mm),
        closed_out: false,
    })
}

/// Closes every position of `prepared`, and its collateral in the grid's underlyings, in the market.
pub fn close_out(
    risk: &MarketRisk,
    prepared: &PreparedAccount,
    params: &Rtm2mParams,
    planner: &PlannerParams,
    impact: &ImpactModel,
) -> Result<LiquidationPlan, LiquidationError> {
    planner.validate()?;
    impact.validate()?;
    let mut eval = Evaluator {
        risk,
        prepared: prepared.clone(),
        params,
        pnl: Vec::new(),
    };
    let mm0 = eval.mm(&prepared.held);
    // Grid collateral is sold with the positions: its haircut goes with it.
    eval.prepared.collateral.retain(|c| {
        !prepared
            .held
            .iter()
            .any(|&(i, _)| is_spot(risk, i) && risk.instruments[i].instrument.underlying == c.asset)
    });
    let mm1 = eval.mm(&[]);
    let steps: Vec<PlanStep> = prepared
        .held
        .iter()
        .filter(|(_, s)| *s != 0.0)
        .map(|&(i, s)| {
            step_of(
                risk,
                i,
                s,
                closing_cost_usd(risk, i, s, planner, impact),
                mm1,
            )
        })
        .collect();
    let cost: f64 = steps.iter().map(|s| s.cost_usd).sum();
    let equity = prepared.equity_usd - cost;
    Ok(LiquidationPlan {
        account: prepared.id.clone(),
        steps,
        equity_before_usd: prepared.equity_usd,
        equity_after_usd: equity,
        mm_before_usd: mm0,
        mm_after_usd: mm1,
        target_reached: equity >= (1.0 + planner.buffer_margin_percentage) * mm1,
        closed_out: true,
    })
}

/// Applies a plan's closures to `account`: each closure trades at its mark (options and spot: cash ±
/// size·mark; futures and perpetuals: their P&L against entry realised into cash) and pays its cost from cash.
/// Several positions in one instrument are reduced in proportion to their sizes.
pub fn apply_plan(
    account: &mut Account,
    plan: &LiquidationPlan,
    risk: &MarketRisk,
) -> Result<(), LiquidationError> {
    for s in &plan.steps {
        let p = &risk.instruments[s.instrument_index];
        let q = s.size_closed;
        if matches!(p.instrument.kind, InstrumentKind::Spot) {
            let c = account
                .collateral
                .iter_mut()
                .find(|c| c.asset == p.instrument.underlying)
                .ok_or_else(|| {
                    invalid(
                        &account.id,
                        "collateral",
                        format!("no {} collateral to sell", p.instrument.underlying),
                    )
                })?;
            c.amount = (c.amount - q).max(0.0);
            account.cash_usd += q * s.mark_usd - s.cost_usd;
            continue;
        }
        let total: f64 = account
            .positions
            .iter()
            .filter(|x| x.instrument == s.instrument)
            .map(|x| x.size)
            .sum();
        if total == 0.0 || total.signum() != q.signum() || q.abs() > total.abs() * (1.0 + 1e-9) {
            return Err(invalid(
                &account.id,
                "positions",
                format!("cannot close {q} of {} when {total} is held", s.instrument),
            ));
        }
        let linear = matches!(
            p.instrument.kind,
            InstrumentKind::Future { .. } | InstrumentKind::Perpetual
        );
        for x in account
            .positions
            .iter_mut()
            .filter(|x| x.instrument == s.instrument)
        {
            let part = q * x.size / total;
            account.cash_usd += if linear {
                part * (s.mark_usd - x.entry_price_usd.unwrap_or(s.mark_usd))
            } else {
                part * s.mark_usd
            };
            x.size -= part;
        }
        account.cash_usd -= s.cost_usd;
    }
    account.positions.retain(|x| x.size.abs() > 1e-12);
    account.collateral.retain(|c| c.amount > 0.0);
    Ok(())
}
