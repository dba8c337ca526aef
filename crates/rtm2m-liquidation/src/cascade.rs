//! Liquidation-cascade simulation: an exogenous price shock, liquidations whose price impact feeds back into the
//! index, and the cost of marking accounts late.
//!
//! **Price path.** The index falls (or rises) by `shock` over the first `crash_s` seconds, log-linearly, plus
//! a seeded Brownian bridge of annual vol `noise_vol` pinned at the start and at `duration_s`, sampled every
//! `step_s` seconds. Both marking modes see the same exogenous path; each mode's index is the exogenous path
//! times the cumulative (permanent) impact of its own liquidations.
//!
//! **Marking.** *Continuous*: accounts are re-margined at every step of the path. *Periodic*: only every
//! `mark_interval_s` seconds (and at the end) while the price keeps moving, so accounts sink further before
//! they are caught. At each mark the cascade runs in rounds: value every instrument at the index (`rtm2m-margin`
//! `MarketRisk`, `rtm2m` model), margin every account, liquidate those with equity < MM (the planner back to
//! their buffer; a close-out when the buffer cannot be reached or the equity is ≤ 0), charge the liquidation
//! fee into the insurance fund, cover bad debt from the fund and socialise the rest over positive cash; then
//! the round's net delta flow moves the index through the impact model, and the next round re-margins at the
//! new index — until a round liquidates no one (at most `max_rounds` rounds per mark).

use crate::error::{invalid, require_in, require_positive, LiquidationError};
use crate::events::LiquidationEvent;
use crate::impact::ImpactModel;
use crate::insurance::InsuranceFund;
use crate::planner::{apply_plan, close_out, plan_liquidation, PlannerParams};
use crate::synthetic::{population, SyntheticMarket};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rtm2m_margin::account::Account;
use rtm2m_margin::engine::{prepare, rtm2m_requirements, Rtm2mParams};
use rtm2m_margin::instrument::SECONDS_PER_YEAR;
use serde::Serialize;

/// Parameters of a cascade simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CascadeParams {
    /// Accounts in the synthetic population.
    pub accounts: usize,
    /// Seed of the population and of the path's noise.
    pub seed: u64,
    /// Simulation start, Unix seconds.
    pub start_unix_s: i64,
    /// Index at the start, USD.
    pub spot0_usd: f64,
    /// Exogenous relative move over the crash, e.g. −0.2.
    pub shock: f64,
    /// Length of the crash, seconds.
    pub crash_s: i64,
    /// Length of the simulation, seconds.
    pub duration_s: i64,
    /// Step of the price path (the continuous marking's interval), seconds.
    pub step_s: i64,
    /// Interval of the periodic marking, seconds.
    pub mark_interval_s: i64,
    /// Annual vol of the path's noise, fraction.
    pub noise_vol: f64,
    /// β of the ATM vol's rise as the index falls.
    pub vol_spot_beta: f64,
    /// Price impact of liquidation flow.
    pub impact: ImpactModel,
    /// Insurance fund at the start, USD.
    pub insurance_fund_usd: f64,
    /// Liquidation fee, fraction of the value traded, paid to the fund (never more than the equity left).
    pub liquidation_fee_rate: f64,
    /// Most rounds per mark.
    pub max_rounds: u32,
    /// The liquidation planner.
    pub planner: PlannerParams,
    /// Keep every liquidation event in the outcome.
    pub keep_events: bool,
}

impl CascadeParams {
    /// Defaults: 10 000 accounts, seed 1, index 100 000 USD on 2026-01-05, shock −20% over 30 minutes within
    /// two hours sampled every minute, hourly periodic marking, noise 50%, spot-vol beta 1, linear impact with
    /// 20 M USD per 1% of depth, fund 1 M USD, fee 0.5%, at most 50 rounds per mark.
    pub fn rtm2m_default() -> CascadeParams {
        CascadeParams {
            accounts: 10_000,
            seed: 1,
            start_unix_s: 1_767_571_200, // 2026-01-05T00:00:00Z
            spot0_usd: 100_000.0,
            shock: -0.2,
            crash_s: 1800,
            duration_s: 7200,
            step_s: 60,
            mark_interval_s: 3600,
            noise_vol: 0.5,
            vol_spot_beta: 1.0,
            impact: ImpactModel::Linear {
                depth_usd_per_pct: 20e6,
            },
            insurance_fund_usd: 1e6,
            liquidation_fee_rate: 0.005,
            max_rounds: 50,
            planner: PlannerParams::rtm2m_default(),
            keep_events: false,
        }
    }

    /// Checks every parameter, naming the first bad one.
    pub fn validate(&self) -> Result<(), LiquidationError> {
        let c = "cascade parameters";
        if self.accounts == 0 || self.accounts > 10_000_000 {
            return Err(invalid(
                c,
                "accounts",
                format!("must be in [1, 10 000 000], got {}", self.accounts),
            ));
        }
        require_positive(c, "spot0_usd", self.spot0_usd)?;
        require_in(c, "shock", self.shock, -0.95, 10.0)?;
        if self.step_s <= 0 {
            return Err(invalid(
                c,
                "step_s",
                format!("must be > 0, got {}", self.step_s),
            ));
        }
        if self.duration_s < self.step_s || self.duration_s / self.step_s > 1_000_000 {
            return Err(invalid(
                c,
                "duration_s",
                format!(
                    "must be ≥ step_s ({}) and at most 10⁶ steps, got {}",
                    self.step_s, self.duration_s
                ),
            ));
        }
        if self.crash_s <= 0 || self.crash_s > self.duration_s {
            return Err(invalid(
                c,
                "crash_s",
                format!("must be in (0, duration_s], got {}", self.crash_s),
            ));
        }
        if self.mark_interval_s < self.step_s || self.mark_interval_s % self.step_s != 0 {
            return Err(invalid(
                c,
                "mark_interval_s",
                format!(
                    "must be a positive multiple of step_s ({}), got {}",
                    self.step_s, self.mark_interval_s
                ),
            ));
        }
        require_in(c, "noise_vol", self.noise_vol, 0.0, 10.0)?;
        require_in(c, "vol_spot_beta", self.vol_spot_beta, 0.0, 20.0)?;
        require_in(c, "insurance_fund_usd", self.insurance_fund_usd, 0.0, 1e15)?;
        require_in(
            c,
            "liquidation_fee_rate",
            self.liquidation_fee_rate,
            0.0,
            0.1,
        )?;
        if self.max_rounds == 0 {
            return Err(invalid(c, "max_rounds", "must be > 0".into()));
        }
        self.impact.validate()?;
        self.planner.validate()
    }
}

/// One point of the price path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PathPoint {
    /// Time, Unix seconds.
    pub time_unix_s: i64,
    /// Exogenous index, USD.
    pub index_usd: f64,
}

/// The exogenous price path of the module documentation.
pub fn price_path(params: &CascadeParams) -> Result<Vec<PathPoint>, LiquidationError> {
    params.validate()?;
    // A stream of its own, so the path does not depend on the population's draws.
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed ^ 0x9e37_79b9_7f4a_7c15);
    let n = (params.duration_s / params.step_s) as usize;
    let dt_years = params.step_s as f64 / SECONDS_PER_YEAR;
    let mut w = vec![0.0; n + 1];
    for k in 1..=n {
        let z: f64 = StandardNormal.sample(&mut rng);
        w[k] = w[k - 1] + params.noise_vol * dt_years.sqrt() * z;
    }
    let total_log = (1.0 + params.shock).ln();
    let horizon = params.duration_s as f64;
    Ok((0..=n)
        .map(|k| {
            let t = k as i64 * params.step_s;
            let crash = total_log * (t as f64 / params.crash_s as f64).min(1.0);
            let bridge = w[k] - (t as f64 / horizon) * w[n];
            PathPoint {
                time_unix_s: params.start_unix_s + t,
                index_usd: params.spot0_usd * (crash + bridge).exp(),
            }
        })
        .collect())
}

/// How a run marks accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Marking {
    /// At every step of the path.
    Continuous,
    /// Every `mark_interval_s` seconds and at the end.
    Periodic,
}

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CascadeReport {
    /// Marking mode.
    pub marking: Marking,
    /// Seconds between marks.
    pub mark_interval_s: i64,
    /// Marks.
    pub marks: u32,
    /// Rounds that liquidated at least one account.
    pub rounds: u32,
    /// Most such rounds in one mark.
    pub rounds_max_per_mark: u32,
    /// True when some mark stopped at `max_rounds` with accounts still liquidatable.
    pub round_limit_hit: bool,
    /// Liquidations (an account may be liquidated more than once).
    pub liquidations: u32,
    /// Distinct accounts liquidated.
    pub accounts_liquidated: u32,
    /// Liquidations that closed every position.
    pub close_outs: u32,
    /// Liquidations that left bad debt.
    pub bankruptcies: u32,
    /// Bad debt: Σ −equity of accounts left below zero, USD.
    pub bad_debt_usd: f64,
    /// The insurance fund at the end (fees in, payouts, drawdown).
    pub insurance_fund: InsuranceFund,
    /// Bad debt not covered by the fund, spread over positive cash, USD.
    pub socialised_loss_usd: f64,
    /// Value traded by liquidations (premium for options), USD.
    pub traded_value_usd: f64,
    /// Net delta sold by liquidations (negative: bought), coins.
    pub delta_sold_coin: f64,
    /// Index at the end, USD.
    pub index_final_usd: f64,
    /// Lowest index, USD.
    pub index_min_usd: f64,
    /// Exogenous index at the end, USD.
    pub exogenous_final_usd: f64,
    /// Permanent impact of the liquidations at the end: index / exogenous − 1.
    pub impact_cumulative: f64,
}

/// A run's report and, when asked for, its events.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeOutcome {
    /// The report.
    pub report: CascadeReport,
    /// Every liquidation event in order (empty unless `keep_events`).
    pub events: Vec<LiquidationEvent>,
}

/// Both marking modes on the same population and path.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeComparison {
    /// Parameters.
    pub params: CascadeParams,
    /// Exogenous index at the end, USD.
    pub exogenous_final_usd: f64,
    /// Lowest exogenous index, USD.
    pub exogenous_min_usd: f64,
    /// Total notional of the population's positions and collateral at the start, USD.
    pub population_notional_usd: f64,
    /// Accounts marked at every step.
    pub continuous: CascadeOutcome,
    /// Accounts marked every `mark_interval_s`.
    pub periodic: CascadeOutcome,
}

struct Run<'a> {
    params: &'a CascadeParams,
    market: &'a SyntheticMarket,
    model: &'a Rtm2mParams,
    accounts: Vec<Account>,
    fund: InsuranceFund,
    liquidated: Vec<bool>,
    events: Vec<LiquidationEvent>,
    report: CascadeReport,
    impact_factor: f64,
}

impl Run<'_> {
    fn emit(&mut self, e: LiquidationEvent) {
        if self.params.keep_events {
            self.events.push(e);
        }
    }

    /// One mark at `time` with exogenous index `exo`: rounds until no one is liquidatable.
    fn mark(&mut self, time: i64, exo: f64) -> Result<(), LiquidationError> {
        self.report.marks += 1;
        let mut rounds_here = 0u32;
        let mut pnl = Vec::new();
        for round in 0..=self.params.max_rounds {
            let index = exo * self.impact_factor;
            let snapshot = self.market.snapshot(time, index);
            let risk = self.market.risk(&snapshot, self.model)?;
            let mut flow_coin = 0.0;
            let mut liquidated_here = 0u32;
            for a in 0..self.accounts.len() {
                let account = &self.accounts[a];
                if account.positions.is_empty() && account.collateral.is_empty() {
                    continue;
                }
                let prepared = prepare(account, &snapshot, &risk, self.model)?;
                let mm = rtm2m_requirements(&risk, &prepared, self.model, &mut pnl).mm_usd;
                if prepared.equity_usd >= mm {
                    continue;
                }
                if round == self.params.max_rounds {
                    self.report.round_limit_hit = true;
                    break;
                }
                let (p, imp) = (&self.params.planner, &self.params.impact);
                let mut plan = if prepared.equity_usd > 0.0 {
                    plan_liquidation(&risk, &prepared, self.model, p, imp)?
                } else {
                    close_out(&risk, &prepared, self.model, p, imp)?
                };
                if !plan.target_reached && !plan.closed_out {
                    plan = close_out(&risk, &prepared, self.model, p, imp)?;
                }
                let id = self.accounts[a].id.clone();
                apply_plan(&mut self.accounts[a], &plan, &risk)?;
                for e in plan.events(time) {
                    self.emit(e);
                }
                let traded = plan.traded_value_usd();
                let fee =
                    (self.params.liquidation_fee_rate * traded).min(plan.equity_after_usd.max(0.0));
                let mut equity = plan.equity_after_usd;
                if fee > 0.0 {
                    self.accounts[a].cash_usd -= fee;
                    equity -= fee;
                    let e = self.fund.collect_fee(&id, time, fee)?;
                    self.emit(e);
                }
                self.emit(LiquidationEvent::AccountLiquidated {
                    account: id.clone(),
                    time_unix_s: time,
                    equity_before_usd: plan.equity_before_usd,
                    equity_after_usd: equity,
                    mm_before_usd: plan.mm_before_usd,
                    mm_after_usd: plan.mm_after_usd,
                    closed_out: plan.closed_out,
                });
                self.report.liquidations += 1;
                self.report.close_outs += u32::from(plan.closed_out);
                self.report.traded_value_usd += traded;
                if !self.liquidated[a] {
                    self.liquidated[a] = true;
                    self.report.accounts_liquidated += 1;
                }
                liquidated_here += 1;
                flow_coin += plan.delta_closed_coin();
                if equity < 0.0 {
                    self.bankrupt(a, &id, time, -equity)?;
                }
            }
            if liquidated_here == 0 {
                break;
            }
            rounds_here += 1;
            self.report.rounds += 1;
            self.report.delta_sold_coin += flow_coin;
            let impact = self.params.impact.relative_impact(flow_coin.abs() * index);
            // Selling flow (positive delta handed to the market) pushes the index down.
            self.impact_factor *= 1.0 - flow_coin.signum() * impact;
            let after = exo * self.impact_factor;
            self.report.index_min_usd = self.report.index_min_usd.min(after);
            self.emit(LiquidationEvent::CascadeRound {
                time_unix_s: time,
                round,
                accounts_liquidated: liquidated_here,
                delta_sold_coin: flow_coin,
                index_before_usd: index,
                index_after_usd: after,
            });
        }
        self.report.rounds_max_per_mark = self.report.rounds_max_per_mark.max(rounds_here);
        Ok(())
    }

    /// Account `a` ended at equity −`debt` after its close-out: the fund covers what it can, the rest is
    /// socialised over every other account's positive cash; the account is left at zero.
    fn bankrupt(
        &mut self,
        a: usize,
        id: &str,
        time: i64,
        debt: f64,
    ) -> Result<(), LiquidationError> {
        self.report.bankruptcies += 1;
        self.report.bad_debt_usd += debt;
        let holders: Vec<f64> = self
            .accounts
            .iter()
            .enumerate()
            .map(|(j, x)| if j == a { 0.0 } else { x.cash_usd })
            .collect();
        let cover = self.fund.cover(id, time, debt, &holders)?;
        for (x, h) in self.accounts.iter_mut().zip(&cover.haircuts_usd) {
            x.cash_usd -= h;
        }
        self.accounts[a].cash_usd += debt;
        self.report.socialised_loss_usd += cover.socialised_usd;
        for e in cover.events {
            self.emit(e);
        }
        Ok(())
    }
}

/// Runs one marking mode over `path` on a copy of `accounts`.
pub fn simulate(
    params: &CascadeParams,
    market: &SyntheticMarket,
    model: &Rtm2mParams,
    accounts: &[Account],
    path: &[PathPoint],
    marking: Marking,
) -> Result<CascadeOutcome, LiquidationError> {
    params.validate()?;
    let first = path
        .first()
        .ok_or_else(|| invalid("cascade", "path", "is empty".into()))?;
    let interval = match marking {
        Marking::Continuous => params.step_s,
        Marking::Periodic => params.mark_interval_s,
    };
    let mut run = Run {
        params,
        market,
        model,
        accounts: accounts.to_vec(),
        fund: InsuranceFund::new(params.insurance_fund_usd)?,
        liquidated: vec![false; accounts.len()],
        events: Vec::new(),
        report: CascadeReport {
            marking,
            mark_interval_s: interval,
            marks: 0,
            rounds: 0,
            rounds_max_per_mark: 0,
            round_limit_hit: false,
            liquidations: 0,
            accounts_liquidated: 0,
            close_outs: 0,
            bankruptcies: 0,
            bad_debt_usd: 0.0,
            insurance_fund: InsuranceFund::new(params.insurance_fund_usd)?,
            socialised_loss_usd: 0.0,
            traded_value_usd: 0.0,
            delta_sold_coin: 0.0,
            index_final_usd: first.index_usd,
            index_min_usd: first.index_usd,
            exogenous_final_usd: first.index_usd,
            impact_cumulative: 0.0,
        },
        impact_factor: 1.0,
    };
    for (k, p) in path.iter().enumerate() {
        let elapsed = p.time_unix_s - first.time_unix_s;
        let index = p.index_usd * run.impact_factor;
        run.report.index_min_usd = run.report.index_min_usd.min(index);
        if elapsed % interval == 0 || k + 1 == path.len() {
            run.mark(p.time_unix_s, p.index_usd)?;
        }
    }
    let last = path[path.len() - 1];
    let mut report = run.report;
    report.exogenous_final_usd = last.index_usd;
    report.index_final_usd = last.index_usd * run.impact_factor;
    report.impact_cumulative = run.impact_factor - 1.0;
    report.insurance_fund = run.fund;
    Ok(CascadeOutcome {
        report,
        events: run.events,
    })
}

/// Generates the population and the path of `params` and runs both marking modes on them.
pub fn compare_marking(params: &CascadeParams) -> Result<CascadeComparison, LiquidationError> {
    params.validate()?;
    let market = SyntheticMarket::btc(params.start_unix_s, params.spot0_usd, params.vol_spot_beta)?;
    let model = Rtm2mParams::rtm2m_default();
    let accounts = population(&market, &model, params.accounts, params.seed)?;
    let path = price_path(params)?;
    let snapshot = market.snapshot(params.start_unix_s, params.spot0_usd);
    let risk = market.risk(&snapshot, &model)?;
    let mut notional = 0.0;
    for a in &accounts {
        let p = prepare(a, &snapshot, &risk, &model)?;
        notional += p
            .held
            .iter()
            .map(|&(i, s)| (s * risk.instruments[i].index_usd).abs())
            .sum::<f64>();
    }
    let continuous = simulate(
        params,
        &market,
        &model,
        &accounts,
        &path,
        Marking::Continuous,
    )?;
    let periodic = simulate(params, &market, &model, &accounts, &path, Marking::Periodic)?;
    Ok(CascadeComparison {
        params: params.clone(),
        exogenous_final_usd: path[path.len() - 1].index_usd,
        exogenous_min_usd: path
            .iter()
            .map(|p| p.index_usd)
            .fold(f64::INFINITY, f64::min),
        population_notional_usd: notional,
        continuous,
        periodic,
    })
}
