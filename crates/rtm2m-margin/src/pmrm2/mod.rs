//! Derive v2 PMRM_2 portfolio margin: a SPAN-like scenario grid over spot and vol shocks, skew rotations, a
//! basis contingency, static discounting of option values, collateral haircuts and oracle/de-peg
//! contingencies. The formulas are described in `docs/margin.md`; the parameter names follow Derive's.
//!
//! Margins are signed, in USD: ≥ 0 is healthy. A trade needs IM ≥ 0; liquidation may start when MM < 0.

mod model;
mod naked;
pub mod svi;
pub mod vectors;

pub use model::margin;
pub use svi::{SviError, SviParams};

use rtm2m_pricing::OptionKind;

/// Vol move of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolShock {
    /// Vols × the expiry's up multiplier, floored at `vol_up_min`.
    Up,
    /// Vols unchanged.
    None,
    /// Vols × the expiry's down multiplier.
    Down,
    /// Skew rotation: vols × `1 + clamp(k·cap/k*, −cap, cap)` with signed log-moneyness `k`.
    SkewLinear,
    /// Smile lift: as [`VolShock::SkewLinear`] with `|k|`.
    SkewAbs,
}

impl VolShock {
    /// True for the two skew scenarios.
    pub fn is_skew(self) -> bool {
        matches!(self, VolShock::SkewLinear | VolShock::SkewAbs)
    }
}

/// One scenario of the grid. Skew scenarios price on the unshocked forward: Derive requires their spot shock to
/// be 1, and any other value is ignored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Multiplier of the spot (and of the forwards' variable part), e.g. 1.18 for +18%.
    pub spot_shock: f64,
    /// Vol move.
    pub vol_shock: VolShock,
    /// Factor applied to the scenario's P&L (tail scenarios are dampened), dimensionless.
    pub dampening: f64,
}

/// Per-expiry vol shock sizes (Derive `VolShockParameters`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolShockParams {
    /// `volRangeUp`: up multiplier is `1 + vol_range_up·m`.
    pub vol_range_up: f64,
    /// `volRangeDown`: down multiplier is `max(0, 1 − vol_range_down·m)`.
    pub vol_range_down: f64,
    /// `shortTermPower`: exponent of `m = (30 d / T)^p` for expiries ≤ 30 days.
    pub short_term_power: f64,
    /// `longTermPower`: exponent for expiries beyond 30 days.
    pub long_term_power: f64,
    /// `dteFloor`: floor on T in `m`, days.
    pub dte_floor_days: f64,
    /// `minVolUpShock`: floor of a shocked-up vol (fraction).
    pub vol_up_min: f64,
}

/// Skew scenario shape (Derive `SkewShockParameters`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkewShockParams {
    /// `linearBaseCap`: cap of the linear multiplier at τ = 0.
    pub linear_base_cap: f64,
    /// `linearCBase`: slope of the linear cap in √τ.
    pub linear_c_base: f64,
    /// `absBaseCap`: cap of the abs multiplier at τ = 0.
    pub abs_base_cap: f64,
    /// `absCBase`: slope of the abs cap in √τ.
    pub abs_c_base: f64,
    /// `minKStar`: floor of k*.
    pub min_k_star: f64,
    /// `widthScale`: k* = √τ·width_scale·(vol_param_static + √τ·vol_param_scale).
    pub width_scale: f64,
    /// `volParamStatic`.
    pub vol_param_static: f64,
    /// `volParamScale`.
    pub vol_param_scale: f64,
}

/// Loss factors and static discounting (Derive `MarginParameters`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarginFactors {
    /// `mmFactor`: multiplier of the worst scenario loss for MM.
    pub mm_factor: f64,
    /// `imFactor`: multiplier of the worst scenario loss for IM.
    pub im_factor: f64,
    /// `shortRateMultScale`: rate multiplier in the discount of negative values.
    pub short_rate_mult_scale: f64,
    /// `longRateMultScale`: rate multiplier in the discount of positive values.
    pub long_rate_mult_scale: f64,
    /// `shortRateAddScale`: rate add-on (per year) for negative values.
    pub short_rate_add_scale: f64,
    /// `longRateAddScale`: rate add-on (per year) for positive values.
    pub long_rate_add_scale: f64,
    /// `shortBaseStaticDiscount` (`BASE_STATIC_DISCOUNT_NEG`): base mark-up of negative values.
    pub short_base_static_discount: f64,
    /// `longBaseStaticDiscount` (`BASE_STATIC_DISCOUNT`): base discount of positive values.
    pub long_base_static_discount: f64,
}

/// Basis (forward) contingency (Derive `BasisContingencyParameters`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BasisParams {
    /// `scenarioSpotUp`: forward multiplier of the up leg, e.g. 1.045.
    pub spot_up: f64,
    /// `scenarioSpotDown`: forward multiplier of the down leg, e.g. 0.955.
    pub spot_down: f64,
    /// `basisContAddFactor`.
    pub add_factor: f64,
    /// `basisContMultFactor`, per year to expiry.
    pub mult_factor: f64,
}

/// Other contingencies (Derive `OtherContingencyParameters`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContingencyParams {
    /// `pegLossThreshold`: stablecoin price (USD) under which IM's loss factor grows.
    pub peg_loss_threshold: f64,
    /// `pegLossFactor`: IM factor added per USD of de-peg.
    pub peg_loss_factor: f64,
    /// `confThreshold`: oracle confidence under which the IM confidence charge applies.
    pub conf_threshold: f64,
    /// `confMargin`: the charge is `(1 − confidence)·conf_margin·notional`.
    pub conf_margin: f64,
    /// `MMPerpPercent`: perp charge as a fraction of |position|·spot, MM (and so IM).
    pub mm_perp_percent: f64,
    /// `IMPerpPercent`: extra perp charge for IM.
    pub im_perp_percent: f64,
    /// `MMOptionPercent`: naked-short charge as a fraction of shorts·spot, MM (and so IM).
    pub mm_option_percent: f64,
    /// `IMOptionPercent`: extra naked-short charge for IM.
    pub im_option_percent: f64,
}

/// Every parameter of the PMRM_2 model.
#[derive(Debug, Clone, PartialEq)]
pub struct Pmrm2Params {
    /// The scenario grid (at most one [`VolShock::SkewLinear`] and one [`VolShock::SkewAbs`]).
    pub scenarios: Vec<Scenario>,
    /// Vol shock sizes.
    pub vol_shock: VolShockParams,
    /// Skew scenario shape.
    pub skew_shock: SkewShockParams,
    /// Loss factors and static discounting.
    pub margin: MarginFactors,
    /// Basis contingency.
    pub basis: BasisParams,
    /// Other contingencies.
    pub contingency: ContingencyParams,
}

/// An option position of one expiry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pmrm2Option {
    /// Strike, USD.
    pub strike_usd: f64,
    /// Call or put.
    pub kind: OptionKind,
    /// Signed number of contracts (one contract = one unit of the underlying); < 0 is short.
    pub amount: f64,
}

/// The options of one expiry with that expiry's market data.
#[derive(Debug, Clone, PartialEq)]
pub struct Pmrm2Expiry {
    /// Time to expiry, seconds (0 once expired).
    pub seconds_to_expiry: f64,
    /// Forward of the expiry, USD. In the last 30 minutes part of it is fixed (the settlement average so far):
    /// only `(T / 30 min)` of it moves with spot.
    pub forward_usd: f64,
    /// Oracle confidence of the forward, in [0, 1].
    pub forward_confidence: f64,
    /// Risk-free rate of the expiry, per year, continuously compounded (negative rates are floored at 0).
    pub rate: f64,
    /// Oracle confidence of the rate.
    pub rate_confidence: f64,
    /// Vols of the expiry.
    pub vols: ExpiryVols,
    /// Oracle confidence of the vols.
    pub vol_confidence: f64,
    /// Positions.
    pub options: Vec<Pmrm2Option>,
}

/// Where an expiry's vols come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpiryVols {
    /// Derive's vol feed: a raw SVI slice.
    Svi(SviParams),
    /// A vol per strike (e.g. mark IVs of the options held), `(strike_usd, vol)`; a strike not listed has none.
    PerStrike(Vec<(f64, f64)>),
}

impl ExpiryVols {
    /// Implied vol at `strike_usd`.
    pub fn vol(&self, strike_usd: f64) -> Result<f64, SviError> {
        match self {
            ExpiryVols::Svi(svi) => svi.vol(strike_usd),
            ExpiryVols::PerStrike(table) => table
                .iter()
                .find(|(k, _)| *k == strike_usd)
                .map(|&(_, v)| v)
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or(SviError::BadParameters),
        }
    }
}

/// A perpetual position on the portfolio's underlying.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pmrm2Perp {
    /// Signed position, units of the underlying.
    pub position: f64,
    /// Perp mark price, USD.
    pub price_usd: f64,
    /// Oracle confidence of the perp price.
    pub confidence: f64,
    /// Unrealised P&L, USD.
    pub unrealised_pnl_usd: f64,
    /// Unsettled funding, USD.
    pub unrealised_funding_usd: f64,
}

/// A collateral asset held by the account.
#[derive(Debug, Clone, PartialEq)]
pub struct Pmrm2Collateral {
    /// Asset name (for messages).
    pub name: String,
    /// Units held (≥ 0).
    pub amount: f64,
    /// Oracle price, USD.
    pub price_usd: f64,
    /// Oracle confidence of the price.
    pub confidence: f64,
    /// MM haircut, fraction of value.
    pub mm_haircut: f64,
    /// Extra IM haircut, fraction of value.
    pub im_haircut: f64,
    /// True when the asset moves with the underlying (e.g. ETH or an LRT under an ETH portfolio): its value is
    /// shocked with spot in every scenario.
    pub risk_cancelling: bool,
}

/// A PMRM_2 account: one underlying, cash in the stablecoin, collaterals, a perp and options.
#[derive(Debug, Clone, PartialEq)]
pub struct Pmrm2Account {
    /// Account name (for messages).
    pub id: String,
    /// Cash balance in the stablecoin.
    pub cash_usd: f64,
    /// Spot (index) price of the underlying, USD.
    pub spot_usd: f64,
    /// Oracle confidence of the spot.
    pub spot_confidence: f64,
    /// Stablecoin price, USD.
    pub stable_price_usd: f64,
    /// Perp position, if any.
    pub perp: Option<Pmrm2Perp>,
    /// Collateral holdings.
    pub collaterals: Vec<Pmrm2Collateral>,
    /// Options grouped by expiry.
    pub expiries: Vec<Pmrm2Expiry>,
}

impl Pmrm2Params {
    /// The parameters of Derive's published PMRM_2 test setup (the `Parameters` shared by 43 of the 139 case
    /// files of `derive-v2/pmrm2`, e.g. `test_10_collateral_negative_margin_from_collateral.json`): spot ±13.5%
    /// in 4.5% steps × 3 vol states, +18% and −18% vol up, tails 0.34…4× dampened, the two skew scenarios;
    /// vol shocks +50%/−27.5% at 30 days (powers 0.3/0.13, floor 45%), MM factor 0.8, IM factor 1.0, static
    /// discounts 0.95/1.04, basis 1.045/0.955 × (0.5 + 2·τ), naked shorts 0.3%/0.2%, perps 1.5%/0.5%,
    /// confidence threshold 0.55, de-peg 0.98 × 2.
    pub fn derive_published() -> Pmrm2Params {
        let core = |spot_shock: f64, vol_shock: VolShock| Scenario {
            spot_shock,
            vol_shock,
            dampening: 1.0,
        };
        let tail = |spot_shock: f64, dampening: f64| Scenario {
            spot_shock,
            vol_shock: VolShock::Up,
            dampening,
        };
        let mut scenarios = vec![core(1.18, VolShock::Up)];
        for spot in [1.135, 1.09, 1.045, 1.0, 0.955, 0.91, 0.865] {
            for vol in [VolShock::Down, VolShock::None, VolShock::Up] {
                scenarios.push(core(spot, vol));
            }
        }
        // The shocks and dampenings as the files write them (binary64 round trips of Derive's values).
        scenarios.push(core(0.8200000000000001, VolShock::Up));
        scenarios.push(tail(0.33999999999999997, 0.054545454545454536));
        scenarios.push(tail(0.6699999999999999, 0.10909090909090907));
        scenarios.push(tail(1.5, 0.072));
        scenarios.push(tail(2.0, 0.036));
        scenarios.push(tail(3.0, 0.018));
        scenarios.push(tail(4.0, 0.011999999999999999));
        scenarios.push(core(1.0, VolShock::SkewLinear));
        scenarios.push(core(1.0, VolShock::SkewAbs));
        Pmrm2Params {
            scenarios,
            vol_shock: VolShockParams {
                vol_range_up: 0.5,
                vol_range_down: 0.275,
                short_term_power: 0.3,
                long_term_power: 0.13,
                dte_floor_days: 1.0,
                vol_up_min: 0.45,
            },
            skew_shock: SkewShockParams {
                linear_base_cap: 0.15,
                linear_c_base: -0.05,
                abs_base_cap: 0.15,
                abs_c_base: -0.05,
                min_k_star: 0.01,
                width_scale: 4.0,
                vol_param_static: 0.6,
                vol_param_scale: -0.1,
            },
            margin: MarginFactors {
                mm_factor: 0.8,
                im_factor: 1.0,
                short_rate_mult_scale: 0.5,
                long_rate_mult_scale: 1.0,
                short_rate_add_scale: 0.08,
                long_rate_add_scale: 0.08,
                short_base_static_discount: 1.04,
                long_base_static_discount: 0.95,
            },
            basis: BasisParams {
                spot_up: 1.045,
                spot_down: 0.955,
                add_factor: 0.5,
                mult_factor: 2.0,
            },
            contingency: ContingencyParams {
                peg_loss_threshold: 0.98,
                peg_loss_factor: 2.0,
                conf_threshold: 0.55,
                conf_margin: 1.0,
                mm_perp_percent: 0.015,
                im_perp_percent: 0.005000000000000001,
                mm_option_percent: 0.003,
                im_option_percent: 0.002,
            },
        }
    }
}

/// PMRM_2 result of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Pmrm2Report {
    /// Maintenance margin, USD (signed; < 0 means liquidatable).
    pub mm_usd: f64,
    /// Initial margin, USD (signed; < 0 means no risk-adding trade).
    pub im_usd: f64,
    /// Mark-to-market of the account including cash, USD.
    pub mtm_usd: f64,
    /// P&L of each scenario relative to the mark, USD, in the order of `Pmrm2Params::scenarios`.
    pub scenario_pnl_usd: Vec<f64>,
    /// Basis contingency (≤ 0), USD; it competes with the scenarios for the worst case.
    pub basis_contingency_usd: f64,
    /// Worst of the scenarios and the basis contingency, USD.
    pub worst_pnl_usd: f64,
    /// Index of the worst scenario, `None` when the basis contingency is the worst.
    pub worst_scenario: Option<usize>,
    /// Contingencies charged to MM (and to IM), USD (≥ 0).
    pub mm_contingency_usd: f64,
    /// Contingencies charged to IM only, USD (≥ 0).
    pub im_contingency_usd: f64,
    /// Loss factor applied to the worst case for IM (with the de-peg add-on).
    pub im_factor: f64,
    /// Option mark per expiry, USD, in the order of `Pmrm2Account::expiries`.
    pub expiry_mtm_usd: Vec<f64>,
}
