//! Risk vectors, aggregation and the risk-matrix margin.

use super::{
    DeribitInstrument, DeribitPmParams, DeribitPmReport, DeribitPortfolio, DeribitPosition,
    WorstBucket,
};
use crate::error::{invalid, require_finite, require_non_negative, require_positive, MarginError};
use rtm2m_pricing::black76_price;

/// Price moves of the extended table, fractions.
pub const EXTENDED_MOVES: [f64; 8] = [-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0];
/// Vol states of the standard table, in order: down, unchanged, up.
pub const VOL_STATES: usize = 3;
/// Deribit's amounts are reported to 1e-9 coin.
const COIN_DECIMALS: f64 = 1e9;
/// Largest accepted `buckets_count` (Deribit uses 4): bounds the size of a risk vector.
pub const BUCKETS_MAX: usize = 1000;

/// A risk vector in coin: the standard table (price levels × vol states, level-major) and the extended table.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskVector {
    /// P&L per (price level, vol state), `(2·buckets + 1) × 3` entries, coin.
    pub standard: Vec<f64>,
    /// P&L per extended move (vol up), 8 entries, coin.
    pub extended: Vec<f64>,
}

fn standard_moves(p: &DeribitPmParams) -> Vec<f64> {
    let b = p.buckets_count as f64;
    (0..=2 * p.buckets_count)
        .map(|i| p.price_range * (i as f64 - b) / b)
        .collect()
}

/// Risk vector of one position at index price `index_usd`, coin.
pub fn risk_vector(
    account: &str,
    position: &DeribitPosition,
    params: &DeribitPmParams,
    index_usd: f64,
) -> Result<RiskVector, MarginError> {
    let size = require_finite(account, &position.name, "size", position.size_coin)?;
    check_buckets(account, params)?;
    require_positive(account, "portfolio", "index_price", index_usd)?;
    let moves = standard_moves(params);
    let mut standard = Vec::with_capacity(moves.len() * VOL_STATES);
    let mut extended = Vec::with_capacity(EXTENDED_MOVES.len());
    match position.instrument {
        DeribitInstrument::Perpetual | DeribitInstrument::Future { .. } => {
            // Deribit portfolio margin, inverse contracts: size q coin at index S gains q·(1 − S/S') coin at S'.
            let pnl = |m: f64| size * (1.0 - 1.0 / (1.0 + m));
            for &m in &moves {
                standard.extend([pnl(m); VOL_STATES]);
            }
            // Delta-one instruments repeat the edge of the standard table on each side (as Deribit publishes).
            let (low, high) = (pnl(-params.price_range), pnl(params.price_range));
            extended.extend(
                EXTENDED_MOVES
                    .iter()
                    .map(|&m| if m < 0.0 { low } else { high }),
            );
        }
        DeribitInstrument::Option {
            kind,
            strike_usd,
            expiry_years,
            vol,
        } => {
            let pos = position.name.as_str();
            require_positive(account, pos, "strike", strike_usd)?;
            require_non_negative(account, pos, "vol", vol)?;
            let days = expiry_years * 365.0;
            let power = if days <= 30.0 {
                params.short_term_vega_power
            } else {
                params.long_term_vega_power
            };
            let m = (30.0 / days.max(1.0)).powf(power);
            let vol_up = (vol * (1.0 + params.volatility_range_up * m))
                .max(params.min_volatility_for_shock_up);
            let vol_down = vol * (1.0 - params.volatility_range_down * m).max(0.0);
            // Deribit inverse options: coin premium = Black-76 USD premium on the forward (r = 0) / forward.
            let coin = |forward: f64, v: f64| {
                black76_price(kind, forward, strike_usd, expiry_years, v, 1.0)
                    .map(|usd| usd / forward)
                    .map_err(|source| MarginError::Pricing {
                        account: account.to_owned(),
                        position: pos.to_owned(),
                        source,
                    })
            };
            let base = coin(index_usd, vol)?;
            for &mv in &moves {
                let f = index_usd * (1.0 + mv);
                for v in [vol_down, vol, vol_up] {
                    standard.push(size * (coin(f, v)? - base));
                }
            }
            for &mv in &EXTENDED_MOVES {
                extended.push(size * (coin(index_usd * (1.0 + mv), vol_up)? - base));
            }
        }
    }
    Ok(RiskVector { standard, extended })
}

/// Risk-matrix margin of a single-currency portfolio.
///
/// `risk_matrix_margin = worst_case (to 1e-9 coin) + roll_shock + delta_shock + correlation_contingency`;
/// `MM = mm_factor·risk_matrix_margin`; `IM = risk_matrix_margin + open orders + MMP` (to 1e-9 coin).
pub fn margin(
    portfolio: &DeribitPortfolio,
    params: &DeribitPmParams,
) -> Result<DeribitPmReport, MarginError> {
    let id = portfolio.id.as_str();
    let index = require_positive(id, "portfolio", "index_price", portfolio.index_usd)?;
    if params.buckets_count == 0 {
        return Err(invalid(
            id,
            "parameters",
            "buckets_count",
            "must be at least 1".into(),
        ));
    }
    for (field, x) in [
        ("price_range", params.price_range),
        ("pnl_offset", params.pnl_offset),
        ("extended_dampener", params.extended_dampener_usd),
        ("extended_table_factor", params.extended_table_factor),
        ("annualised_move_risk", params.annualised_move_risk),
        ("min_annualised_move", params.min_annualised_move),
        ("mm_factor", params.mm_factor),
    ] {
        require_non_negative(id, "parameters", field, x)?;
    }
    let levels = 2 * params.buckets_count + 1;
    let mut standard = vec![0.0; levels * VOL_STATES];
    let mut extended = vec![0.0; EXTENDED_MOVES.len()];
    let mut roll_shock = 0.0;
    for position in &portfolio.positions {
        let v = risk_vector(id, position, params, index)?;
        for (a, x) in standard.iter_mut().zip(&v.standard) {
            *a += x;
        }
        for (a, x) in extended.iter_mut().zip(&v.extended) {
            *a += x;
        }
        // Deribit PM roll shock: |size|·max(min_annualised_move, annualised_move_risk·T) per future or perp.
        let years = match position.instrument {
            DeribitInstrument::Perpetual => Some(0.0),
            DeribitInstrument::Future { expiry_years } => Some(expiry_years),
            DeribitInstrument::Option { .. } => None,
        };
        if let Some(t) = years {
            roll_shock += position.size_coin.abs()
                * params
                    .min_annualised_move
                    .max(params.annualised_move_risk * t);
        }
    }
    // Gains offset losses only by the pnl_offset fraction.
    let offset = |x: f64| if x > 0.0 { x * params.pnl_offset } else { x };
    for x in standard.iter_mut() {
        *x = offset(*x);
    }
    // The extended table forgives `extended_dampener` USD of loss, then scales what remains.
    let dampener_coin = params.extended_dampener_usd / index;
    for x in extended.iter_mut() {
        *x = offset(if *x < 0.0 {
            (*x + dampener_coin).min(0.0) * params.extended_table_factor
        } else {
            *x
        });
    }

    let mut worst = 0.0;
    let mut bucket = WorstBucket {
        source: "standard",
        side: "center",
        bucket: 0,
        index: 0,
    };
    for (i, &x) in standard.iter().enumerate() {
        if -x > worst {
            worst = -x;
            let level = i / VOL_STATES;
            let b = params.buckets_count;
            let (side, n) = match level.cmp(&b) {
                std::cmp::Ordering::Less => ("left", level + 1),
                std::cmp::Ordering::Equal => ("center", 0),
                std::cmp::Ordering::Greater => ("right", level - b),
            };
            bucket = WorstBucket {
                source: "standard",
                side,
                bucket: n,
                index: i % VOL_STATES + 1,
            };
        }
    }
    for (i, &x) in extended.iter().enumerate() {
        if -x > worst {
            worst = -x;
            let left = EXTENDED_MOVES[i] < 0.0;
            let n = if left {
                i + 1
            } else {
                i + 1 - EXTENDED_MOVES.iter().filter(|m| **m < 0.0).count()
            };
            bucket = WorstBucket {
                source: "extended",
                side: if left { "left" } else { "right" },
                bucket: n,
                index: 1,
            };
        }
    }
    debug_assert!(worst >= 0.0 && roll_shock >= 0.0);

    // Deribit PM: the simulate example's risk_matrix_margin is the worst case to 1e-9 coin plus the shocks.
    let risk_matrix_margin = round_coin(worst)
        + roll_shock
        + require_non_negative(id, "portfolio", "delta_shock", portfolio.delta_shock_coin)?
        + require_non_negative(
            id,
            "portfolio",
            "correlation_contingency",
            portfolio.correlation_contingency_coin,
        )?;
    let im = round_coin(
        risk_matrix_margin
            + require_non_negative(
                id,
                "portfolio",
                "open_orders_margin",
                portfolio.open_orders_margin_coin,
            )?
            + require_non_negative(id, "portfolio", "mmp_margin", portfolio.mmp_margin_coin)?,
    );
    Ok(DeribitPmReport {
        aggregated: RiskVector { standard, extended },
        worst_case_coin: worst,
        worst_case_bucket: bucket,
        roll_shock_coin: roll_shock,
        risk_matrix_margin_coin: risk_matrix_margin,
        mm_coin: params.mm_factor * risk_matrix_margin,
        im_coin: im,
    })
}

fn check_buckets(account: &str, params: &DeribitPmParams) -> Result<(), MarginError> {
    if (1..=BUCKETS_MAX).contains(&params.buckets_count) {
        Ok(())
    } else {
        Err(invalid(
            account,
            "parameters",
            "buckets_count",
            format!("must be in 1..={BUCKETS_MAX}, got {}", params.buckets_count),
        ))
    }
}

/// Rounds to Deribit's 1e-9 coin.
fn round_coin(x: f64) -> f64 {
    (x * COIN_DECIMALS).round() / COIN_DECIMALS
}
