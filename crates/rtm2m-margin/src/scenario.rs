//! The scenario grid of the `rtm2m` model: spot moves × vol states per underlying, dampened tails, and
//! cross-asset scenarios in which a driver's move carries the correlated underlyings along. Formulas in
//! `docs/margin.md` §5.

use crate::market::MarketSnapshot;
use serde::Serialize;

/// How the vol of an option is shocked in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VolState {
    /// σ·max(0, 1 − `vol_range_down`·w(T)).
    Down,
    /// σ unchanged.
    Unchanged,
    /// max(σ·(1 + `vol_range_up`·w(T)), `vol_up_floor`).
    Up,
}

/// A correlation between two underlyings, used for joint scenarios.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    /// First underlying.
    pub a: String,
    /// Second underlying.
    pub b: String,
    /// Correlation of daily log returns, in [−1, 1].
    pub rho: f64,
}

/// Parameters of the scenario grid.
#[derive(Debug, Clone, PartialEq)]
pub struct GridParams {
    /// Largest core spot move, fraction (0.18 = ±18%).
    pub spot_range: f64,
    /// Core steps on each side of 0 (6 gives moves of 3%).
    pub spot_steps: usize,
    /// `volRangeUp`: up-shock size at 30 days, fraction of σ.
    pub vol_range_up: f64,
    /// `volRangeDown`: down-shock size at 30 days, fraction of σ.
    pub vol_range_down: f64,
    /// Power p of w(T) = (30/days)^p for expiries up to 30 days.
    pub short_term_power: f64,
    /// Power p of w(T) for expiries beyond 30 days.
    pub long_term_power: f64,
    /// Floor of `days` in w(T), days.
    pub dte_floor_days: f64,
    /// Floor of an up-shocked vol, annualised fraction (0 disables).
    pub vol_up_floor: f64,
    /// Tail spot moves, fractions (−0.66 … +5.0), each with vol up.
    pub tail_moves: Vec<f64>,
    /// Tail dampening d(m) = min(1, `tail_factor`·`spot_range`/|m|): a linear book loses in a tail what it loses
    /// at the core's edge; convex books lose more.
    pub tail_factor: f64,
    /// Correlations for joint scenarios (pairs without an entry move independently).
    pub correlations: Vec<Correlation>,
}

impl GridParams {
    /// The default grid of the `rtm2m` model.
    pub fn rtm2m_default() -> GridParams {
        GridParams {
            spot_range: 0.18,
            spot_steps: 6,
            vol_range_up: 0.45,
            vol_range_down: 0.30,
            short_term_power: 0.3,
            long_term_power: 0.13,
            dte_floor_days: 1.0,
            vol_up_floor: 0.0,
            tail_moves: vec![-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0],
            tail_factor: 1.0,
            correlations: vec![Correlation {
                a: "BTC".into(),
                b: "ETH".into(),
                rho: 0.8,
            }],
        }
    }

    /// w(T) = (30 / max(days, floor))^p, p short- or long-term (Derive PMRM_2 `VolShockParameters`).
    pub fn vol_shock_weight(&self, expiry_years: f64) -> f64 {
        let days = (expiry_years * 365.0).max(self.dte_floor_days).max(1e-9);
        let p = if days <= 30.0 {
            self.short_term_power
        } else {
            self.long_term_power
        };
        (30.0 / days).powf(p)
    }

    /// The (down, up) shocked vols of `vol` at `expiry_years`.
    pub fn shocked_vols(&self, vol: f64, expiry_years: f64) -> (f64, f64) {
        let w = self.vol_shock_weight(expiry_years);
        let down = vol * (1.0 - self.vol_range_down * w).max(0.0);
        let up = (vol * (1.0 + self.vol_range_up * w)).max(self.vol_up_floor);
        (down, up)
    }
}

/// One scenario: a spot move per underlying, a vol state, a dampening weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// Human-readable name, e.g. `BTC +18% vol up` or `ETH-led -9%, vol down`.
    pub label: String,
    /// Spot move per grid underlying (fraction), in [`ScenarioGrid::underlyings`] order.
    pub moves: Vec<f64>,
    /// Vol state applied to every option.
    pub vol: VolState,
    /// Dampening of the scenario's P&L, in (0, 1].
    pub weight: f64,
}

/// The distinct (move, vol state) points one underlying takes over the grid, so each instrument is priced
/// once per point and its array filled by lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPoints {
    /// Distinct (move, vol state) pairs.
    pub points: Vec<(f64, VolState)>,
    /// For each scenario of the grid, the index of its point in `points`.
    pub point_of_scenario: Vec<u32>,
}

/// A scenario grid over a market's underlyings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioGrid {
    /// Underlyings in the order of [`Scenario::moves`].
    pub underlyings: Vec<String>,
    /// Scenarios.
    pub scenarios: Vec<Scenario>,
    /// Per underlying, its distinct points.
    pub local: Vec<LocalPoints>,
}

fn pct(m: f64) -> String {
    format!("{:+}%", (m * 1e4).round() / 1e2)
}

fn vol_label(v: VolState) -> &'static str {
    match v {
        VolState::Down => "vol down",
        VolState::Unchanged => "vol unchanged",
        VolState::Up => "vol up",
    }
}

impl ScenarioGrid {
    /// Builds the grid over the market's underlyings. Cross-asset beta of `v` on driver `d`:
    /// β = clamp(ρ·σ_v/σ_d, −1, 1) with the assets' EWMA vols when both are known, else ρ.
    pub fn build(params: &GridParams, market: &MarketSnapshot) -> ScenarioGrid {
        let underlyings: Vec<String> = market.underlyings.keys().cloned().collect();
        let n = underlyings.len();
        let steps = params.spot_steps.max(1);
        let core: Vec<f64> = (0..=2 * steps)
            .map(|i| params.spot_range * (i as f64 - steps as f64) / steps as f64)
            .collect();
        let states = [VolState::Down, VolState::Unchanged, VolState::Up];
        let mut scenarios = Vec::new();
        for (u, name) in underlyings.iter().enumerate() {
            for &m in &core {
                for &v in &states {
                    let mut moves = vec![0.0; n];
                    moves[u] = m;
                    scenarios.push(Scenario {
                        label: format!("{name} {}, {}", pct(m), vol_label(v)),
                        moves,
                        vol: v,
                        weight: 1.0,
                    });
                }
            }
            for &m in &params.tail_moves {
                if !(m.is_finite() && m > -1.0 && m != 0.0) {
                    continue;
                }
                let mut moves = vec![0.0; n];
                moves[u] = m;
                scenarios.push(Scenario {
                    label: format!("{name} {} tail, vol up", pct(m)),
                    moves,
                    vol: VolState::Up,
                    weight: (params.tail_factor * params.spot_range / m.abs()).min(1.0),
                });
            }
        }
        let sigma = |name: &str| market.assets.get(name).and_then(|a| a.ewma_vol);
        for (d, driver) in underlyings.iter().enumerate() {
            let mut betas = vec![0.0; n];
            betas[d] = 1.0;
            let mut any = false;
            for c in &params.correlations {
                let other = if &c.a == driver {
                    &c.b
                } else if &c.b == driver {
                    &c.a
                } else {
                    continue;
                };
                let Some(v) = underlyings.iter().position(|x| x == other) else {
                    continue;
                };
                let rho = c.rho.clamp(-1.0, 1.0);
                let beta = match (sigma(driver), sigma(other)) {
                    (Some(sd), Some(sv)) if sd > 0.0 && sv.is_finite() => rho * sv / sd,
                    _ => rho,
                };
                if beta != 0.0 && beta.is_finite() {
                    betas[v] = beta.clamp(-1.0, 1.0);
                    any = true;
                }
            }
            if !any {
                continue;
            }
            for &m in core.iter().filter(|m| **m != 0.0) {
                for &v in &states {
                    scenarios.push(Scenario {
                        label: format!("{driver}-led {} joint, {}", pct(m), vol_label(v)),
                        moves: betas.iter().map(|b| b * m).collect(),
                        vol: v,
                        weight: 1.0,
                    });
                }
            }
        }
        let local = (0..n)
            .map(|u| {
                let mut points: Vec<(f64, VolState)> = Vec::new();
                let point_of_scenario = scenarios
                    .iter()
                    .map(|s| {
                        let key = (s.moves[u], s.vol);
                        let i = points.iter().position(|p| *p == key).unwrap_or_else(|| {
                            points.push(key);
                            points.len() - 1
                        });
                        i as u32
                    })
                    .collect();
                LocalPoints {
                    points,
                    point_of_scenario,
                }
            })
            .collect();
        ScenarioGrid {
            underlyings,
            scenarios,
            local,
        }
    }

    /// Number of scenarios.
    pub fn len(&self) -> usize {
        self.scenarios.len()
    }

    /// True for a grid with no scenario (a market with no underlying).
    pub fn is_empty(&self) -> bool {
        self.scenarios.is_empty()
    }
}

/// Pearson correlation of two equally long return series (e.g. daily log returns), `None` when it is undefined
/// (fewer than two points, a constant series, non-finite values).
pub fn correlation_from_returns(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    let rho = sab / (saa * sbb).sqrt();
    rho.is_finite().then_some(rho.clamp(-1.0, 1.0))
}
