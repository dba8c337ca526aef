//! Dynamic collateral haircuts (`docs/margin.md` §5.5): a function of the asset's EWMA realised vol, of its
//! liquidity at the size held, and of its concentration in the account.

/// Parameters of the dynamic haircut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HaircutParams {
    /// Static floor of every non-cash haircut, fraction.
    pub floor: f64,
    /// Quantile z of the vol term (2.33 ≈ one-sided 99%).
    pub z: f64,
    /// Liquidation horizon of the vol term, days.
    pub horizon_days: f64,
    /// Coefficient Y of the square-root impact term Y·√(value/depth).
    pub impact: f64,
    /// Concentration add-on per unit of share above the threshold.
    pub concentration_factor: f64,
    /// Share of the account's collateral value above which the concentration add-on starts, fraction.
    pub concentration_threshold: f64,
    /// IM haircut = min(1, MM haircut × this).
    pub im_multiplier: f64,
}

impl HaircutParams {
    /// Defaults of the `rtm2m` model.
    pub fn rtm2m_default() -> HaircutParams {
        HaircutParams {
            floor: 0.0,
            z: 2.33,
            horizon_days: 2.0,
            impact: 0.1,
            concentration_factor: 0.2,
            concentration_threshold: 0.25,
            im_multiplier: 1.25,
        }
    }

    /// MM haircut (fraction of value, in [0, 1]) of a holding worth `value_usd` out of `total_value_usd` of
    /// collateral, for an asset with EWMA vol `ewma_vol` (annualised; `None` when its price risk is carried by
    /// the scenario grid instead) and `depth_usd` of book depth; stablecoins have no concentration add-on.
    ///
    /// h = floor + z·σ·√(horizon/365) + Y·√(value/depth) + c·max(0, share − threshold), capped at 1
    /// (vol term: parametric VaR over the liquidation horizon; impact term: the square-root law of market
    /// impact, Tóth et al., "Anomalous price impact and the critical nature of liquidity", PRX 2011).
    pub fn haircut_mm(
        &self,
        value_usd: f64,
        total_value_usd: f64,
        ewma_vol: Option<f64>,
        depth_usd: f64,
        stablecoin: bool,
    ) -> f64 {
        let vol_term = ewma_vol.map_or(0.0, |s| self.z * s * (self.horizon_days / 365.0).sqrt());
        let liquidity = if depth_usd > 0.0 {
            self.impact * (value_usd.max(0.0) / depth_usd).sqrt()
        } else {
            1.0
        };
        let share = if total_value_usd > 0.0 {
            value_usd / total_value_usd
        } else {
            0.0
        };
        let concentration = if stablecoin {
            0.0
        } else {
            self.concentration_factor * (share - self.concentration_threshold).max(0.0)
        };
        (self.floor + vol_term + liquidity + concentration).clamp(0.0, 1.0)
    }

    /// IM haircut from the MM haircut.
    pub fn haircut_im(&self, haircut_mm: f64) -> f64 {
        (haircut_mm * self.im_multiplier).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_volatile_token_gets_a_heavy_haircut() {
        let p = HaircutParams::rtm2m_default();
        // Governance token: σ = 1.5, $1m held against $1m depth, all of the collateral.
        // √(2/365) = 0.0740233; 2.33·1.5·0.0740233 = 0.2587115; 0.1·√1 = 0.1; 0.2·(1 − 0.25) = 0.15 → 0.5087115
        let h = p.haircut_mm(1e6, 1e6, Some(1.5), 1e6, false);
        assert!((h - (2.33 * 1.5 * (2.0f64 / 365.0).sqrt() + 0.1 + 0.15)).abs() < 1e-12);
        assert!((h - 0.508_711_5).abs() < 1e-6);
        // USDC: σ = 0.005, $1m against $1bn depth, a stablecoin: 2.33·0.005·0.0740233 + 0.1·0.0316228 = 0.0040246.
        let usdc = p.haircut_mm(1e6, 1e6, Some(0.005), 1e9, true);
        assert!((usdc - 0.004_024_6).abs() < 1e-6);
        // IM: 1.25 × 0.5087115 = 0.6358894.
        assert!((p.haircut_im(h) - 0.635_889_4).abs() < 1e-6);
    }
}
