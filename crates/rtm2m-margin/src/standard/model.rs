//! The standard-margin computation.

use super::{
    StandardAccount, StandardExpiry, StandardMargin, StandardMarket, StandardOption, StandardParams,
};
use crate::error::{require_finite, require_non_negative, require_positive, MarginError};
use rtm2m_pricing::{black76_price, OptionKind};

const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// Standard margin (MM when `is_initial` is false, IM otherwise) of `account`.
pub fn margin(
    account: &StandardAccount,
    params: &StandardParams,
    is_initial: bool,
) -> Result<StandardMargin, MarginError> {
    let id = account.id.as_str();
    require_finite(id, "portfolio", "cash", account.cash_usd)?;
    require_positive(id, "portfolio", "stable_price", account.stable_price_usd)?;
    // Derive StandardManager._getDepegMultiplier: IM only, below the threshold.
    let depeg_multiplier = if is_initial && account.stable_price_usd < params.depeg.threshold {
        (params.depeg.threshold - account.stable_price_usd) * params.depeg.factor
    } else {
        0.0
    };
    let mut total = account.cash_usd;
    let mut mtm = account.cash_usd;
    let mut option_margins = Vec::with_capacity(account.markets.len());
    for market in &account.markets {
        let (m, v, options) = market_margin(
            id,
            market,
            params,
            is_initial,
            depeg_multiplier,
            account.stable_price_usd,
        )?;
        total += m;
        mtm += v;
        option_margins.push(options);
    }
    Ok(StandardMargin {
        margin_usd: total,
        mtm_usd: mtm,
        option_margin_usd: option_margins,
    })
}

fn market_margin(
    id: &str,
    market: &StandardMarket,
    params: &StandardParams,
    is_initial: bool,
    depeg_multiplier: f64,
    stable_price_usd: f64,
) -> Result<(f64, f64, f64), MarginError> {
    let name = market.name.as_str();
    let spot = require_positive(id, name, "spot", market.spot_usd)?;
    let spot_confidence =
        require_non_negative(id, name, "spot_confidence", market.spot_confidence)?;
    let oc = &params.oracle;
    let mut margin = 0.0;
    let mut mtm = 0.0;
    let mut perp_size = 0.0;

    // Derive StandardManager._getNetPerpMargin.
    if let Some(perp) = &market.perp {
        let pos = format!("{name} perp");
        require_finite(id, &pos, "position", perp.position)?;
        require_non_negative(id, &pos, "price", perp.price_usd)?;
        require_finite(id, &pos, "unrealised_pnl", perp.unrealised_pnl_usd)?;
        if perp.position != 0.0 {
            perp_size = perp.position.abs();
            let notional = perp_size * perp.price_usd;
            margin -= notional
                * if is_initial {
                    params.perp_im_req
                } else {
                    params.perp_mm_req
                };
            let confidence = perp.confidence.min(spot_confidence);
            if is_initial && oc.perp_threshold != 0.0 && confidence < oc.perp_threshold {
                margin -= (1.0 - confidence) * oc.factor * spot * perp_size;
            }
            margin += perp.unrealised_pnl_usd;
            mtm += perp.unrealised_pnl_usd;
        }
    }

    // Derive StandardManager._getNetOptionMarginAndMtM.
    let mut option_margin = 0.0;
    let mut shorts = 0.0;
    for (e, expiry) in market.expiries.iter().enumerate() {
        let pos = format!("{name} expiry {e}");
        let (m, v, short) = expiry_margin(id, &pos, expiry, spot, params, is_initial)?;
        let mut m = m;
        let confidence = spot_confidence
            .min(expiry.forward_confidence)
            .min(expiry.vol_confidence);
        if is_initial && oc.option_threshold != 0.0 && confidence < oc.option_threshold {
            m -= (1.0 - confidence) * oc.factor * spot * short;
        }
        option_margin += m;
        mtm += v;
        shorts += short;
    }
    margin += option_margin;

    if depeg_multiplier != 0.0 {
        margin -= (shorts + perp_size) * depeg_multiplier * spot;
    }

    // Derive StandardManager._getBaseMarginAndMtM.
    let base = require_non_negative(id, name, "base_amount", market.base_amount)?;
    if base != 0.0 {
        let notional = base * spot;
        margin += notional * params.base_margin_factor;
        if is_initial && oc.base_threshold != 0.0 && spot_confidence < oc.base_threshold {
            margin -= (1.0 - spot_confidence) * oc.factor * notional;
        }
        mtm += notional / stable_price_usd;
    }
    Ok((margin, mtm, option_margin))
}

/// Margin, mark and short contracts of one expiry.
fn expiry_margin(
    id: &str,
    pos: &str,
    expiry: &StandardExpiry,
    spot: f64,
    params: &StandardParams,
    is_initial: bool,
) -> Result<(f64, f64, f64), MarginError> {
    require_non_negative(id, pos, "seconds_to_expiry", expiry.seconds_to_expiry)?;
    let forward = require_positive(id, pos, "forward", expiry.forward_usd)?;
    let expiry_years = expiry.seconds_to_expiry / SECONDS_PER_YEAR;
    let mut isolated = 0.0;
    let mut mtm = 0.0;
    let mut shorts = 0.0;
    for (j, option) in expiry.options.iter().enumerate() {
        let opos = format!("{pos} option {j}");
        require_positive(id, &opos, "strike", option.strike_usd)?;
        require_finite(id, &opos, "amount", option.amount)?;
        require_non_negative(id, &opos, "vol", option.vol)?;
        // Black (1976) on the forward, undiscounted, as Derive's SRM marks options.
        let unit = black76_price(
            option.kind,
            forward,
            option.strike_usd,
            expiry_years,
            option.vol,
            1.0,
        )
        .map_err(|source| MarginError::Pricing {
            account: id.to_owned(),
            position: opos.clone(),
            source,
        })?;
        let value = unit * option.amount;
        mtm += value;
        isolated += isolated_margin(option, value, spot, params, is_initial);
        if option.amount < 0.0 {
            shorts -= option.amount;
        }
    }
    let Some(bound) = params.max_loss_bound else {
        return Ok((isolated, mtm, shorts));
    };
    // Derive StandardManager._calcNetBasicMarginSingleExpiry: payoff at 0 and at every strike; an unbounded
    // short-call tail adds the unpaired charge.
    let mut max_loss = payoff_at(&expiry.options, 0.0);
    for option in &expiry.options {
        max_loss = max_loss.min(payoff_at(&expiry.options, option.strike_usd));
    }
    let net_calls: f64 = expiry
        .options
        .iter()
        .filter(|o| o.kind == OptionKind::Call)
        .map(|o| o.amount)
        .sum();
    if net_calls < 0.0 {
        let scale = if is_initial {
            bound.unpaired_im_scale
        } else {
            bound.unpaired_mm_scale
        };
        max_loss += scale * forward * net_calls;
    }
    Ok((isolated.max(max_loss), mtm, shorts))
}

/// Payoff of the expiry's options at settlement price `price_usd`, capped at 0.
fn payoff_at(options: &[StandardOption], price_usd: f64) -> f64 {
    let mut payoff = 0.0;
    for o in options {
        let diff = price_usd - o.strike_usd;
        payoff += match o.kind {
            OptionKind::Call if diff > 0.0 => diff * o.amount,
            OptionKind::Put if diff < 0.0 => -diff * o.amount,
            _ => 0.0,
        };
    }
    payoff.min(0.0)
}

/// Isolated margin of one option position with mark `value_usd` (= unit price × amount), USD, signed
/// (≤ 0 for shorts, 0 for longs: a long needs no margin and gives no credit).
pub fn isolated_margin(
    option: &StandardOption,
    value_usd: f64,
    spot_usd: f64,
    params: &StandardParams,
    is_initial: bool,
) -> f64 {
    let amount = option.amount;
    if amount >= 0.0 {
        return 0.0;
    }
    match option.kind {
        OptionKind::Call => {
            // Derive StandardManager._getIsolatedMarginForCall; Deribit: max(0.15 − OTM, 0.10)·S + mark.
            if !is_initial {
                return value_usd + params.mm_call_spot_req * spot_usd * amount;
            }
            let otm = (option.strike_usd - spot_usd).max(0.0) / spot_usd;
            im_fraction(params, otm) * spot_usd * amount + value_usd
        }
        OptionKind::Put => {
            // Derive StandardManager._getIsolatedMarginForPut.
            let mm = (params.mm_put_spot_req * spot_usd * amount)
                .min(params.mm_put_mtm_req * value_usd)
                + value_usd;
            if !is_initial {
                return mm;
            }
            let otm = (spot_usd - option.strike_usd).max(0.0) / spot_usd;
            (im_fraction(params, otm) * spot_usd * amount + value_usd)
                .min(mm * params.mm_offset_scale)
        }
    }
}

fn im_fraction(params: &StandardParams, otm: f64) -> f64 {
    (params.max_spot_req - otm).max(params.min_spot_req)
}
