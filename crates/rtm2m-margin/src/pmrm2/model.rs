//! The PMRM_2 computation: precomputes per expiry, scenario P&L, contingencies, margin.

use super::naked::naked_shorts;
use super::{
    Pmrm2Account, Pmrm2Expiry, Pmrm2Option, Pmrm2Params, Pmrm2Report, Scenario, SkewShockParams,
    VolShock,
};
use crate::error::{invalid, require_finite, require_non_negative, require_positive, MarginError};
use rtm2m_pricing::black76_price;

/// Seconds in Derive's year (365 days).
pub(crate) const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;
const SECONDS_PER_DAY: f64 = 86_400.0;
/// The vol-shock term structure pivots at 30 days.
const VOL_SHOCK_PIVOT_SECONDS: f64 = 30.0 * SECONDS_PER_DAY;
/// In the last 30 minutes before expiry part of the forward is already fixed by the settlement average.
const FORWARD_FIXING_SECONDS: f64 = 30.0 * 60.0;

/// One expiry after the precomputes: everything a scenario needs.
struct ExpiryState<'a> {
    label: String,
    options: &'a [Pmrm2Option],
    vols: Vec<f64>,
    tau_years: f64,
    discount: f64,
    forward_variable_usd: f64,
    forward_fixed_usd: f64,
    mtm_usd: f64,
    vol_up_mult: f64,
    vol_down_mult: f64,
    static_discount_pos: f64,
    static_discount_neg: f64,
}

/// PMRM_2 maintenance and initial margin of `account` under `params`.
///
/// `margin = worst·factor − MM contingencies (− IM contingencies for IM) + MtM + cash`, where `worst` is the
/// smallest of the scenario P&Ls and the basis contingency (see `docs/margin.md`).
pub fn margin(account: &Pmrm2Account, params: &Pmrm2Params) -> Result<Pmrm2Report, MarginError> {
    let id = account.id.as_str();
    validate_account(account)?;
    validate_params(id, params)?;
    let c = &params.contingency;
    let spot = account.spot_usd;

    // Derive PMRM_2._arrangePortfolio: the portfolio confidence is the spot's, and the perp's when one is held;
    // collateral sees the spot's only (it is arranged before the perp).
    let collateral_base_confidence = account.spot_confidence;
    let mut min_confidence = account.spot_confidence;
    let mut mtm = 0.0;
    let mut mm_contingency = 0.0;
    let mut im_contingency = 0.0;
    if let Some(perp) = &account.perp {
        if perp.position != 0.0 {
            min_confidence = min_confidence.min(perp.confidence);
        }
        mtm += perp.unrealised_pnl_usd + perp.unrealised_funding_usd;
        let notional = perp.position.abs() * spot;
        mm_contingency += notional * c.mm_perp_percent;
        im_contingency +=
            notional * c.im_perp_percent + confidence_charge(c, min_confidence, notional);
    }

    let mut expiries = Vec::with_capacity(account.expiries.len());
    let mut basis_contingency = 0.0;
    for (index, expiry) in account.expiries.iter().enumerate() {
        let state = precompute_expiry(id, index, expiry, params)?;
        // Derive PMRMLib_2._addBasisContingency: forward ±shock, vols unchanged, no static discount.
        let up = expiry_value(id, &state, params.basis.spot_up, 1.0, 0.0)?;
        let down = expiry_value(id, &state, params.basis.spot_down, 1.0, 0.0)?;
        let basis = (up - state.mtm_usd).min(down - state.mtm_usd).min(0.0);
        basis_contingency +=
            basis * (params.basis.add_factor + params.basis.mult_factor * state.tau_years);

        let naked_notional = naked_shorts(&expiry.options) * spot;
        mm_contingency += naked_notional * c.mm_option_percent;
        im_contingency += naked_notional * c.im_option_percent;
        let expiry_confidence = min_confidence
            .min(expiry.forward_confidence)
            .min(expiry.rate_confidence)
            .min(expiry.vol_confidence);
        let gross: f64 = expiry.options.iter().map(|o| o.amount.abs()).sum();
        im_contingency += confidence_charge(c, expiry_confidence, gross * spot);
        mtm += state.mtm_usd;
        expiries.push(state);
    }

    let mut collateral_values = Vec::with_capacity(account.collaterals.len());
    for collateral in &account.collaterals {
        // Derive PMRM_2._arrangeAssets: collateral is valued in the stablecoin.
        let value = collateral.amount * collateral.price_usd / account.stable_price_usd;
        mtm += value;
        mm_contingency += value * collateral.mm_haircut;
        im_contingency += value * collateral.im_haircut;
        let confidence = collateral.confidence.min(collateral_base_confidence);
        im_contingency += confidence_charge(c, confidence, value);
        collateral_values.push((value, collateral.risk_cancelling));
    }

    let mut scenario_pnl = Vec::with_capacity(params.scenarios.len());
    for scenario in &params.scenarios {
        let mut pnl = 0.0;
        if let Some(perp) = &account.perp {
            pnl +=
                perp.position * ((scenario.spot_shock - 1.0) * perp.price_usd) * scenario.dampening;
        }
        for state in &expiries {
            pnl += expiry_scenario_pnl(id, state, scenario, params)?;
        }
        for &(value, risk_cancelling) in &collateral_values {
            if risk_cancelling {
                pnl += value * (scenario.spot_shock - 1.0) * scenario.dampening;
            }
        }
        scenario_pnl.push(pnl);
    }

    let mut worst = basis_contingency;
    let mut worst_scenario = None;
    for (i, &pnl) in scenario_pnl.iter().enumerate() {
        if pnl < worst {
            worst = pnl;
            worst_scenario = Some(i);
        }
    }

    let mut im_factor = params.margin.im_factor;
    if account.stable_price_usd < c.peg_loss_threshold {
        im_factor += (c.peg_loss_threshold - account.stable_price_usd) * c.peg_loss_factor;
    }
    let mtm_usd = mtm + account.cash_usd;
    let mm_usd = worst * params.margin.mm_factor - mm_contingency + mtm + account.cash_usd;
    let im_usd = worst * im_factor - im_contingency - mm_contingency + mtm + account.cash_usd;
    debug_assert!(mm_contingency >= 0.0 && im_contingency >= 0.0);
    Ok(Pmrm2Report {
        mm_usd,
        im_usd,
        mtm_usd,
        scenario_pnl_usd: scenario_pnl,
        basis_contingency_usd: basis_contingency,
        worst_pnl_usd: worst,
        worst_scenario,
        mm_contingency_usd: mm_contingency,
        im_contingency_usd: im_contingency,
        im_factor,
        expiry_mtm_usd: expiries.iter().map(|e| e.mtm_usd).collect(),
    })
}

/// IM charge for an oracle whose confidence is below the threshold.
fn confidence_charge(c: &super::ContingencyParams, confidence: f64, notional_usd: f64) -> f64 {
    if confidence < c.conf_threshold {
        (1.0 - confidence) * c.conf_margin * notional_usd
    } else {
        0.0
    }
}

fn precompute_expiry<'a>(
    id: &str,
    index: usize,
    expiry: &'a Pmrm2Expiry,
    params: &Pmrm2Params,
) -> Result<ExpiryState<'a>, MarginError> {
    let label = format!("expiry {index}");
    let seconds = expiry.seconds_to_expiry;
    let tau_years = seconds / SECONDS_PER_YEAR;
    // Derive PMRM_2._initialiseExpiries: rates are floored at 0; discount = e^{−rτ}.
    let rate = expiry.rate.max(0.0);
    let discount = (-rate * tau_years).exp();
    let (forward_variable_usd, forward_fixed_usd) = if seconds < FORWARD_FIXING_SECONDS {
        (
            expiry.forward_usd * seconds / FORWARD_FIXING_SECONDS,
            expiry.forward_usd * (FORWARD_FIXING_SECONDS - seconds) / FORWARD_FIXING_SECONDS,
        )
    } else {
        (expiry.forward_usd, 0.0)
    };

    let mut vols = Vec::with_capacity(expiry.options.len());
    for (j, option) in expiry.options.iter().enumerate() {
        let vol = expiry.vols.vol(option.strike_usd).map_err(|e| {
            invalid(
                id,
                &format!("{label} option {j}"),
                "vols",
                format!("no vol at this strike: {e:?}"),
            )
        })?;
        vols.push(vol);
    }

    // Derive PMRMLib_2._addVolShocks: m = (30 d / max(T, floor))^p, p short- or long-term.
    let v = &params.vol_shock;
    let floored_seconds = seconds.max(v.dte_floor_days * SECONDS_PER_DAY);
    if floored_seconds <= 0.0 {
        return Err(invalid(
            id,
            &label,
            "seconds_to_expiry",
            "expired with a zero dte floor: no vol shock size".into(),
        ));
    }
    let ratio = VOL_SHOCK_PIVOT_SECONDS / floored_seconds;
    let power = if seconds <= VOL_SHOCK_PIVOT_SECONDS {
        v.short_term_power
    } else {
        v.long_term_power
    };
    let m = ratio.powf(power);
    let vol_up_mult = 1.0 + v.vol_range_up * m;
    let vol_down_mult = (1.0 - v.vol_range_down * m).max(0.0);

    // Derive PMRMLib_2._addStaticDiscount: gains discounted, losses marked up (capped at 1/discount).
    let f = &params.margin;
    let static_discount_pos = f.long_base_static_discount
        * (-tau_years * (rate * f.long_rate_mult_scale + f.long_rate_add_scale)).exp();
    let static_discount_neg = (f.short_base_static_discount
        / (-tau_years * (rate * f.short_rate_mult_scale + f.short_rate_add_scale)).exp())
    .min(1.0 / discount);

    let mut state = ExpiryState {
        label,
        options: &expiry.options,
        vols,
        tau_years,
        discount,
        forward_variable_usd,
        forward_fixed_usd,
        mtm_usd: 0.0,
        vol_up_mult,
        vol_down_mult,
        static_discount_pos,
        static_discount_neg,
    };
    state.mtm_usd = expiry_value(id, &state, 1.0, 1.0, 0.0)?;
    Ok(state)
}

/// Value of an expiry's options with the forward's variable part × `spot_shock` and vols × `vol_mult`
/// floored at `vol_min`.
fn expiry_value(
    id: &str,
    s: &ExpiryState,
    spot_shock: f64,
    vol_mult: f64,
    vol_min: f64,
) -> Result<f64, MarginError> {
    let forward = s.forward_variable_usd * spot_shock + s.forward_fixed_usd;
    let mut total = 0.0;
    for (j, (option, &vol)) in s.options.iter().zip(&s.vols).enumerate() {
        let shocked_vol = (vol * vol_mult).max(vol_min);
        total += option.amount * price(id, s, j, option, forward, shocked_vol)?;
    }
    Ok(total)
}

/// Value of an expiry's options under a skew scenario (forward unshocked).
fn expiry_value_skewed(
    id: &str,
    s: &ExpiryState,
    linear: bool,
    k: &SkewShockParams,
) -> Result<f64, MarginError> {
    // Derive PMRMLib_2._getExpirySkewedShockedMTM and _getKStar.
    let forward = s.forward_variable_usd + s.forward_fixed_usd;
    let sqrt_tau = s.tau_years.sqrt();
    let cap = if linear {
        k.linear_c_base * sqrt_tau + k.linear_base_cap
    } else {
        k.abs_c_base * sqrt_tau + k.abs_base_cap
    };
    let k_star = (sqrt_tau * k.width_scale * (k.vol_param_static + sqrt_tau * k.vol_param_scale))
        .max(k.min_k_star);
    let mut total = 0.0;
    for (j, (option, &vol)) in s.options.iter().zip(&s.vols).enumerate() {
        let log_moneyness = (option.strike_usd / forward).ln();
        let x = if linear {
            log_moneyness
        } else {
            log_moneyness.abs()
        };
        // With k* = 0 (allowed by min_k_star = 0 at τ = 0) any k ≠ 0 hits the cap.
        let slope = if k_star > 0.0 {
            x * cap / k_star
        } else if x == 0.0 {
            0.0
        } else {
            x.signum() * f64::INFINITY
        };
        let multiplier = if x >= 0.0 {
            1.0 + cap.min(slope)
        } else {
            1.0 + (-cap).max(slope)
        };
        total += option.amount * price(id, s, j, option, forward, vol * multiplier.max(0.0))?;
    }
    Ok(total)
}

fn price(
    id: &str,
    s: &ExpiryState,
    j: usize,
    option: &Pmrm2Option,
    forward: f64,
    vol: f64,
) -> Result<f64, MarginError> {
    // Black (1976), "The pricing of commodity contracts", on the expiry's forward with discount e^{−rτ}.
    black76_price(
        option.kind,
        forward,
        option.strike_usd,
        s.tau_years,
        vol,
        s.discount,
    )
    .map_err(|source| MarginError::Pricing {
        account: id.to_owned(),
        position: format!("{} option {j}", s.label),
        source,
    })
}

fn expiry_scenario_pnl(
    id: &str,
    s: &ExpiryState,
    scenario: &Scenario,
    params: &Pmrm2Params,
) -> Result<f64, MarginError> {
    // Derive PMRMLib_2.getScenarioPnL, per expiry.
    let shocked = match scenario.vol_shock {
        VolShock::SkewLinear => expiry_value_skewed(id, s, true, &params.skew_shock)?,
        VolShock::SkewAbs => expiry_value_skewed(id, s, false, &params.skew_shock)?,
        VolShock::None if scenario.spot_shock == 1.0 => s.mtm_usd,
        VolShock::None => expiry_value(id, s, scenario.spot_shock, 1.0, 0.0)?,
        VolShock::Up => expiry_value(
            id,
            s,
            scenario.spot_shock,
            s.vol_up_mult,
            params.vol_shock.vol_up_min,
        )?,
        VolShock::Down => expiry_value(id, s, scenario.spot_shock, s.vol_down_mult, 0.0)?,
    };
    let discounted = shocked
        * if shocked >= 0.0 {
            s.static_discount_pos
        } else {
            s.static_discount_neg
        };
    let pnl = (discounted - s.mtm_usd) * scenario.dampening;
    // Skew scenarios take the loss side of each expiry: a gain stands for the opposite rotation's loss.
    Ok(if scenario.vol_shock.is_skew() {
        -pnl.abs()
    } else {
        pnl
    })
}

fn validate_account(a: &Pmrm2Account) -> Result<(), MarginError> {
    let id = a.id.as_str();
    require_finite(id, "portfolio", "cash", a.cash_usd)?;
    require_positive(id, "portfolio", "spot", a.spot_usd)?;
    require_non_negative(id, "portfolio", "spot_confidence", a.spot_confidence)?;
    require_positive(id, "portfolio", "stable_price", a.stable_price_usd)?;
    if let Some(p) = &a.perp {
        require_finite(id, "perp", "position", p.position)?;
        require_non_negative(id, "perp", "price", p.price_usd)?;
        require_non_negative(id, "perp", "confidence", p.confidence)?;
        require_finite(id, "perp", "unrealised_pnl", p.unrealised_pnl_usd)?;
        require_finite(id, "perp", "unrealised_funding", p.unrealised_funding_usd)?;
    }
    for (i, c) in a.collaterals.iter().enumerate() {
        let pos = format!("collateral {i} ({})", c.name);
        require_non_negative(id, &pos, "amount", c.amount)?;
        require_non_negative(id, &pos, "price", c.price_usd)?;
        require_non_negative(id, &pos, "confidence", c.confidence)?;
        require_non_negative(id, &pos, "mm_haircut", c.mm_haircut)?;
        require_non_negative(id, &pos, "im_haircut", c.im_haircut)?;
    }
    for (i, e) in a.expiries.iter().enumerate() {
        let pos = format!("expiry {i}");
        require_non_negative(id, &pos, "seconds_to_expiry", e.seconds_to_expiry)?;
        require_positive(id, &pos, "forward", e.forward_usd)?;
        require_finite(id, &pos, "rate", e.rate)?;
        require_non_negative(id, &pos, "forward_confidence", e.forward_confidence)?;
        require_non_negative(id, &pos, "rate_confidence", e.rate_confidence)?;
        require_non_negative(id, &pos, "vol_confidence", e.vol_confidence)?;
        for (j, o) in e.options.iter().enumerate() {
            let pos = format!("expiry {i} option {j}");
            require_positive(id, &pos, "strike", o.strike_usd)?;
            require_finite(id, &pos, "amount", o.amount)?;
        }
    }
    Ok(())
}

fn validate_params(id: &str, p: &Pmrm2Params) -> Result<(), MarginError> {
    if p.scenarios.is_empty() {
        return Err(invalid(
            id,
            "parameters",
            "scenarios",
            "at least one scenario is needed".into(),
        ));
    }
    for (i, s) in p.scenarios.iter().enumerate() {
        let pos = format!("scenario {i}");
        require_positive(id, &pos, "spot_shock", s.spot_shock)?;
        require_non_negative(id, &pos, "dampening", s.dampening)?;
    }
    let v = &p.vol_shock;
    for (field, x) in [
        ("vol_range_up", v.vol_range_up),
        ("vol_range_down", v.vol_range_down),
        ("short_term_power", v.short_term_power),
        ("long_term_power", v.long_term_power),
        ("vol_up_min", v.vol_up_min),
    ] {
        require_finite(id, "parameters", field, x)?;
    }
    require_non_negative(id, "parameters", "dte_floor_days", v.dte_floor_days)?;
    let k = &p.skew_shock;
    for (field, x) in [
        ("linear_base_cap", k.linear_base_cap),
        ("linear_c_base", k.linear_c_base),
        ("abs_base_cap", k.abs_base_cap),
        ("abs_c_base", k.abs_c_base),
        ("width_scale", k.width_scale),
        ("vol_param_static", k.vol_param_static),
        ("vol_param_scale", k.vol_param_scale),
    ] {
        require_finite(id, "parameters", field, x)?;
    }
    require_non_negative(id, "parameters", "min_k_star", k.min_k_star)?;
    let m = &p.margin;
    for (field, x) in [
        ("mm_factor", m.mm_factor),
        ("im_factor", m.im_factor),
        ("short_rate_mult_scale", m.short_rate_mult_scale),
        ("long_rate_mult_scale", m.long_rate_mult_scale),
        ("short_rate_add_scale", m.short_rate_add_scale),
        ("long_rate_add_scale", m.long_rate_add_scale),
        ("short_base_static_discount", m.short_base_static_discount),
        ("long_base_static_discount", m.long_base_static_discount),
    ] {
        require_finite(id, "parameters", field, x)?;
    }
    let b = &p.basis;
    require_positive(id, "parameters", "basis_spot_up", b.spot_up)?;
    require_positive(id, "parameters", "basis_spot_down", b.spot_down)?;
    require_finite(id, "parameters", "basis_add_factor", b.add_factor)?;
    require_finite(id, "parameters", "basis_mult_factor", b.mult_factor)?;
    let c = &p.contingency;
    for (field, x) in [
        ("peg_loss_threshold", c.peg_loss_threshold),
        ("peg_loss_factor", c.peg_loss_factor),
        ("conf_threshold", c.conf_threshold),
        ("conf_margin", c.conf_margin),
        ("mm_perp_percent", c.mm_perp_percent),
        ("im_perp_percent", c.im_perp_percent),
        ("mm_option_percent", c.mm_option_percent),
        ("im_option_percent", c.im_option_percent),
    ] {
        require_finite(id, "parameters", field, x)?;
    }
    Ok(())
}
