//! Risk arrays: each instrument is fully revalued once per market update over a scenario grid; an account's
//! scenario P&L is then the position-weighted sum of its instruments' arrays, so margining an account costs
//! O(positions × scenarios) multiply-adds and no pricing.

use crate::error::{require_finite, MarginError};

/// One unit's P&L per scenario, in the quote currency, for one instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskArray {
    /// Instrument name.
    pub instrument: String,
    /// P&L of one unit in each scenario of the grid, in grid order.
    pub pnl_per_unit: Vec<f64>,
}

impl RiskArray {
    /// Builds an array by revaluing one unit: `value(scenario) − value_now` for each scenario.
    pub fn from_revaluation<S>(
        instrument: &str,
        scenarios: &[S],
        value_now: f64,
        mut value_in: impl FnMut(&S) -> f64,
    ) -> Result<RiskArray, MarginError> {
        require_finite("risk-array", instrument, "value_now", value_now)?;
        let mut pnl = Vec::with_capacity(scenarios.len());
        for scenario in scenarios {
            let v = require_finite(
                "risk-array",
                instrument,
                "scenario value",
                value_in(scenario),
            )?;
            pnl.push(v - value_now);
        }
        Ok(RiskArray {
            instrument: instrument.to_owned(),
            pnl_per_unit: pnl,
        })
    }
}

/// Position-weighted sum of risk arrays: the account's P&L per scenario.
///
/// Every array must have `scenario_count` entries; `positions` pairs an index into `arrays` with a signed size.
/// Sizes are netted per instrument first, so a position and its exact offset contribute exactly nothing.
pub fn account_pnl(
    account: &str,
    arrays: &[RiskArray],
    positions: &[(usize, f64)],
    scenario_count: usize,
) -> Result<Vec<f64>, MarginError> {
    let mut net = vec![0.0; arrays.len()];
    for &(index, size) in positions {
        let slot = net
            .get_mut(index)
            .ok_or_else(|| MarginError::MissingMarketData {
                account: account.to_owned(),
                position: format!("position on instrument {index}"),
                what: "risk array".to_owned(),
            })?;
        *slot += require_finite(
            account,
            &format!("position on instrument {index}"),
            "size",
            size,
        )?;
    }
    let mut pnl = vec![0.0; scenario_count];
    for (array, &size) in arrays.iter().zip(&net) {
        if size == 0.0 {
            continue;
        }
        if array.pnl_per_unit.len() != scenario_count {
            return Err(crate::error::invalid(
                account,
                &array.instrument,
                "risk array",
                format!(
                    "has {} scenarios, the grid has {scenario_count}",
                    array.pnl_per_unit.len()
                ),
            ));
        }
        for (p, x) in pnl.iter_mut().zip(&array.pnl_per_unit) {
            *p += size * x;
        }
    }
    Ok(pnl)
}

/// Requirement of a scenario P&L vector: the largest loss, ≥ 0.
pub fn requirement(pnl: &[f64]) -> f64 {
    pnl.iter().fold(0.0, |worst: f64, &x| worst.max(-x))
}
