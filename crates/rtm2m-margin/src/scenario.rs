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
    /// Skew rotation, calls up: σ·max(0, 1 + clamp(k·cap/k*, −cap, cap)), k = ln(K/F) ([`SkewParams`]).
    SkewCallsUp,
    /// Skew rotation, puts up: σ·max(0, 1 − clamp(k·cap/k*, −cap, cap)).
    SkewPutsUp,
    /// Smile deepens, wings up: σ·(1 + min(cap, |k|·cap/k*)).
    WingsUp,
    /// Smile flattens, wings down: σ·max(0, 1 − min(cap, |k|·cap/k*)).
    WingsDown,
}

impl VolState {
    /// True for the strike-dependent skew and smile rotations.
    pub fn is_skew(self) -> bool {
        matches!(
            self,
            VolState::SkewCallsUp | VolState::SkewPutsUp | VolState::WingsUp | VolState::WingsDown
        )
    }
}

/// Shape of the skew and smile rotations (the form of Derive PMRM_2's `SkewShockParameters`, with its
/// published test setup as defaults): the vol multiplier's cap at expiry τ (years) is
/// `cap(τ) = max(0, cap_base + cap_per_sqrt_year·√τ)`, reached at log-moneyness
/// `k*(τ) = max(min_k_star, √τ·width_scale·(vol_param_static + √τ·vol_param_scale))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkewParams {
    /// Cap of the multiplier at τ = 0 (`baseCap`).
    pub cap_base: f64,
    /// Change of the cap per √year (`cBase`).
    pub cap_per_sqrt_year: f64,
    /// Floor of k* (`minKStar`).
    pub min_k_star: f64,
    /// `widthScale`.
    pub width_scale: f64,
    /// `volParamStatic`.
    pub vol_param_static: f64,
    /// `volParamScale`.
    pub vol_param_scale: f64,
}

impl SkewParams {
    /// Derive's published PMRM_2 setup: cap 0.15 − 0.05·√τ, k* = max(0.01, √τ·4·(0.6 − 0.1·√τ)).
    pub fn derive_default() -> SkewParams {
        SkewParams {
            cap_base: 0.15,
            cap_per_sqrt_year: -0.05,
            min_k_star: 0.01,
            width_scale: 4.0,
            vol_param_static: 0.6,
            vol_param_scale: -0.1,
        }
    }

    /// The vol multiplier of `state` at log-moneyness `k = ln(K/F)` and expiry `expiry_years`
    /// (1 for the non-skew states).
    pub fn multiplier(&self, state: VolState, k: f64, expiry_years: f64) -> f64 {
        // Derive PMRM_2 skew scenarios (docs/margin.md §1, "Skew scenarios").
        let root = expiry_years.max(0.0).sqrt();
        let cap = (self.cap_base + self.cap_per_sqrt_year * root).max(0.0);
        let k_star = self
            .min_k_star
            .max(root * self.width_scale * (self.vol_param_static + root * self.vol_param_scale));
        let linear = (k * cap / k_star).clamp(-cap, cap);
        let abs = (k.abs() * cap / k_star).min(cap);
        let m = match state {
            VolState::SkewCallsUp => 1.0 + linear,
            VolState::SkewPutsUp => 1.0 - linear,
            VolState::WingsUp => 1.0 + abs,
            VolState::WingsDown => 1.0 - abs,
            VolState::Down | VolState::Unchanged | VolState::Up => 1.0,
        };
        m.max(0.0)
    }
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
    /// Skew and smile rotations, per underlying at unchanged spot (None: no rotation scenarios).
    pub skew: Option<SkewParams>,
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
            skew: Some(SkewParams::derive_default()),
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
    /// Vol state applied to every option (of `vol_underlying` only, when set).
    pub vol: VolState,
    /// For a rotation scenario, the one underlying whose options it rotates; the others stay unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vol_underlying: Option<usize>,
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
        VolState::SkewCallsUp => "skew rotated, calls up",
        VolState::SkewPutsUp => "skew rotated, puts up",
        VolState::WingsUp => "smile wings up",
        VolState::WingsDown => "smile wings down",
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
                        vol_underlying: None,
                        weight: 1.0,
                    });
                }
            }
            if params.skew.is_some() {
                for v in [
                    VolState::SkewCallsUp,
                    VolState::SkewPutsUp,
                    VolState::WingsUp,
                    VolState::WingsDown,
                ] {
                    scenarios.push(Scenario {
                        label: format!("{name} {}", vol_label(v)),
                        moves: vec![0.0; n],
                        vol: v,
                        vol_underlying: Some(u),
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
                    vol_underlying: None,
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
                        vol_underlying: None,
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
                        let vol = match s.vol_underlying {
                            Some(only) if only != u => VolState::Unchanged,
                            _ => s.vol,
                        };
                        let key = (s.moves[u], vol);
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
