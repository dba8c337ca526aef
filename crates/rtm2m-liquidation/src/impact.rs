//! Price impact of liquidation flow: how far a market order of a given USD notional moves the price, and what
//! it costs on average to execute it.
//!
//! - **Linear** (an order book of uniform depth; Kyle 1985's λ): the price moves by `ΔP/P = 1% · Q / D`, D the
//!   USD depth that moves the price by 1%. Walking the book from the touch to `ΔP`, the order's average price
//!   is half-way: average slippage `½·ΔP/P`.
//! - **Square root** (Tóth, Lempérière, Deremble, de Lataillade, Kockelkoren, Bouchaud, "Anomalous price
//!   impact and the critical nature of liquidity in financial markets", Phys. Rev. X 1, 021006 (2011),
//!   eq. (1)): `ΔP/P = Y·σ_daily·√(Q/V_daily)`, Y of order 1, σ_daily the daily volatility, V_daily the daily
//!   traded volume in USD. The impact path of a metaorder being √ of the quantity already executed, its
//!   average slippage is `∫₀^Q Y·σ·√(q/V) dq / Q = ⅔·ΔP/P`.
//!
//! The relative move is capped at [`MAX_RELATIVE_IMPACT`] so that no flow takes a price to zero or below.

use crate::error::{require_in, require_positive, LiquidationError};
use serde::{Deserialize, Serialize};

/// Largest relative price move one flow can cause (a price never falls to 0).
pub const MAX_RELATIVE_IMPACT: f64 = 0.5;

/// A price-impact model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum ImpactModel {
    /// `ΔP/P = 1%·Q/depth_usd_per_pct`.
    Linear {
        /// USD notional that moves the price by 1% (the book's depth within 1%).
        depth_usd_per_pct: f64,
    },
    /// `ΔP/P = Y·σ_daily·√(Q/V_daily)` (Tóth et al. 2011).
    Sqrt {
        /// Y, dimensionless, of order 1.
        y: f64,
        /// Daily volatility, fraction (annual vol / √365 for a market open every day).
        vol_daily: f64,
        /// Daily traded volume, USD.
        volume_daily_usd: f64,
    },
}

impl ImpactModel {
    /// Checks the parameters, naming the first bad one.
    pub fn validate(&self) -> Result<(), LiquidationError> {
        let c = "impact model";
        match *self {
            ImpactModel::Linear { depth_usd_per_pct } => {
                require_positive(c, "depth_usd_per_pct", depth_usd_per_pct)?;
            }
            ImpactModel::Sqrt {
                y,
                vol_daily,
                volume_daily_usd,
            } => {
                require_in(c, "y", y, 0.0, 100.0)?;
                require_in(c, "vol_daily", vol_daily, 0.0, 10.0)?;
                require_positive(c, "volume_daily_usd", volume_daily_usd)?;
            }
        }
        Ok(())
    }

    /// Relative price move caused by a market order of `notional_usd` (≥ 0, sign ignored), in
    /// `[0, MAX_RELATIVE_IMPACT]`.
    pub fn relative_impact(&self, notional_usd: f64) -> f64 {
        let q = notional_usd.abs();
        if !q.is_finite() {
            return MAX_RELATIVE_IMPACT;
        }
        let move_ = match *self {
            ImpactModel::Linear { depth_usd_per_pct } => 0.01 * q / depth_usd_per_pct,
            ImpactModel::Sqrt {
                y,
                vol_daily,
                volume_daily_usd,
            } => y * vol_daily * (q / volume_daily_usd).sqrt(),
        };
        move_.clamp(0.0, MAX_RELATIVE_IMPACT)
    }

    /// Average slippage of the order against the price before it, fraction of its notional: ½ (linear) or ⅔
    /// (square root) of [`ImpactModel::relative_impact`].
    pub fn average_slippage(&self, notional_usd: f64) -> f64 {
        let share = match self {
            ImpactModel::Linear { .. } => 0.5,
            ImpactModel::Sqrt { .. } => 2.0 / 3.0,
        };
        share * self.relative_impact(notional_usd)
    }

    /// Model name as the CLI spells it.
    pub fn name(&self) -> &'static str {
        match self {
            ImpactModel::Linear { .. } => "linear",
            ImpactModel::Sqrt { .. } => "sqrt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_impact_is_one_percent_per_depth() {
        let m = ImpactModel::Linear {
            depth_usd_per_pct: 20e6,
        };
        assert!((m.relative_impact(50e6) - 0.025).abs() < 1e-15);
        assert!((m.average_slippage(50e6) - 0.0125).abs() < 1e-15);
        assert_eq!(m.relative_impact(1e12), MAX_RELATIVE_IMPACT);
    }

    #[test]
    fn square_root_impact_follows_toth_et_al() {
        // Y = 1, σ_daily = 3%, Q = 1% of daily volume: ΔP/P = 0.03·0.1 = 0.003; slippage ⅔ of it.
        let m = ImpactModel::Sqrt {
            y: 1.0,
            vol_daily: 0.03,
            volume_daily_usd: 1e9,
        };
        assert!((m.relative_impact(1e7) - 0.003).abs() < 1e-15);
        assert!((m.average_slippage(1e7) - 0.002).abs() < 1e-15);
        // Four times the size, twice the impact.
        assert!((m.relative_impact(4e7) - 0.006).abs() < 1e-15);
    }
}
