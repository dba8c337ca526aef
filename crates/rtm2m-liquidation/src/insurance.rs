//! Insurance fund accounting and socialised loss.
//!
//! Liquidation fees flow into the fund; an account whose equity ends below zero leaves **bad debt** −equity,
//! which the fund pays while it can. What it cannot pay is **socialised**: spread over the holders of positive
//! cash in proportion to their cash (as Derive's cash asset does when its security module runs dry: it prints
//! the shortfall and every cash holder's claim is diluted pro rata). By construction
//! `paid + socialised = bad debt` for every loss.

use crate::error::{invalid, require_finite, LiquidationError};
use crate::events::LiquidationEvent;
use serde::Serialize;

/// The insurance fund.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InsuranceFund {
    /// Balance at creation, USD.
    pub initial_usd: f64,
    /// Current balance, USD (≥ 0).
    pub balance_usd: f64,
    /// Lowest balance seen, USD.
    pub balance_min_usd: f64,
    /// Largest fall from a previous high, USD.
    pub drawdown_max_usd: f64,
    /// Liquidation fees received, USD.
    pub fees_usd: f64,
    /// Bad debt presented to the fund, USD.
    pub bad_debt_usd: f64,
    /// Bad debt the fund paid, USD.
    pub paid_usd: f64,
    /// Bad debt it could not pay, socialised, USD.
    pub socialised_usd: f64,
    #[serde(skip)]
    peak_usd: f64,
}

/// How one bad debt was covered.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    /// Bad debt presented, USD.
    pub bad_debt_usd: f64,
    /// Paid by the fund, USD.
    pub paid_usd: f64,
    /// Socialised, USD (`bad_debt_usd − paid_usd`).
    pub socialised_usd: f64,
    /// Amount taken from each cash holder (same order as given), USD, each ≤ the holder's positive cash.
    pub haircuts_usd: Vec<f64>,
    /// Part of the socialised loss no holder could absorb, USD.
    pub unallocated_usd: f64,
    /// The payout and, when some was socialised, the socialisation event.
    pub events: Vec<LiquidationEvent>,
}

/// Spreads `loss_usd` over holders in proportion to their positive cash, each giving at most what it holds.
/// Returns the amount taken from each and the part no one could absorb.
pub fn socialise(loss_usd: f64, cash_usd: &[f64]) -> (Vec<f64>, f64) {
    let positive: f64 = cash_usd.iter().map(|c| c.max(0.0)).sum();
    if loss_usd <= 0.0 || positive <= 0.0 {
        return (vec![0.0; cash_usd.len()], loss_usd.max(0.0));
    }
    let share = (loss_usd / positive).min(1.0);
    let taken: Vec<f64> = cash_usd.iter().map(|c| c.max(0.0) * share).collect();
    let unallocated = (loss_usd - positive).max(0.0);
    (taken, unallocated)
}

impl InsuranceFund {
    /// A fund holding `balance_usd` (finite, ≥ 0).
    pub fn new(balance_usd: f64) -> Result<InsuranceFund, LiquidationError> {
        let b = require_finite("insurance fund", "balance_usd", balance_usd)?;
        if b < 0.0 {
            return Err(invalid(
                "insurance fund",
                "balance_usd",
                format!("must be ≥ 0, got {b}"),
            ));
        }
        Ok(InsuranceFund {
            initial_usd: b,
            balance_usd: b,
            balance_min_usd: b,
            drawdown_max_usd: 0.0,
            fees_usd: 0.0,
            bad_debt_usd: 0.0,
            paid_usd: 0.0,
            socialised_usd: 0.0,
            peak_usd: b,
        })
    }

    fn track(&mut self) {
        self.peak_usd = self.peak_usd.max(self.balance_usd);
        self.balance_min_usd = self.balance_min_usd.min(self.balance_usd);
        self.drawdown_max_usd = self.drawdown_max_usd.max(self.peak_usd - self.balance_usd);
    }

    /// Credits a liquidation fee (finite, ≥ 0) paid by `account`.
    pub fn collect_fee(
        &mut self,
        account: &str,
        time_unix_s: i64,
        fee_usd: f64,
    ) -> Result<LiquidationEvent, LiquidationError> {
        let fee = require_finite(account, "fee_usd", fee_usd)?;
        if fee < 0.0 {
            return Err(invalid(
                account,
                "fee_usd",
                format!("must be ≥ 0, got {fee}"),
            ));
        }
        self.balance_usd += fee;
        self.fees_usd += fee;
        self.track();
        Ok(LiquidationEvent::FeeCollected {
            account: account.into(),
            time_unix_s,
            fee_usd: fee,
            fund_balance_usd: self.balance_usd,
        })
    }

    /// Covers `bad_debt_usd` (finite, > 0) left by `account`: the fund pays what it can, the rest is
    /// socialised over `holders_cash_usd` (the cash of every other account, see [`socialise`]).
    pub fn cover(
        &mut self,
        account: &str,
        time_unix_s: i64,
        bad_debt_usd: f64,
        holders_cash_usd: &[f64],
    ) -> Result<Coverage, LiquidationError> {
        let debt = require_finite(account, "bad_debt_usd", bad_debt_usd)?;
        if debt <= 0.0 {
            return Err(invalid(
                account,
                "bad_debt_usd",
                format!("must be > 0, got {debt}"),
            ));
        }
        let paid = debt.min(self.balance_usd);
        let socialised = debt - paid;
        self.balance_usd -= paid;
        self.bad_debt_usd += debt;
        self.paid_usd += paid;
        self.socialised_usd += socialised;
        self.track();
        let mut events = vec![LiquidationEvent::InsurancePayout {
            account: account.into(),
            time_unix_s,
            bad_debt_usd: debt,
            paid_usd: paid,
            fund_balance_usd: self.balance_usd,
        }];
        let (haircuts, unallocated) = if socialised > 0.0 {
            let (h, u) = socialise(socialised, holders_cash_usd);
            events.push(LiquidationEvent::LossSocialised {
                account: account.into(),
                time_unix_s,
                amount_usd: socialised,
                unallocated_usd: u,
            });
            (h, u)
        } else {
            (vec![0.0; holders_cash_usd.len()], 0.0)
        };
        debug_assert!(self.balance_usd >= 0.0);
        Ok(Coverage {
            bad_debt_usd: debt,
            paid_usd: paid,
            socialised_usd: socialised,
            haircuts_usd: haircuts,
            unallocated_usd: unallocated,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fund_pays_what_it_holds_and_the_rest_is_socialised_pro_rata() {
        let mut f = InsuranceFund::new(100.0).expect("valid");
        f.collect_fee("a", 0, 20.0).expect("valid");
        // 150 of bad debt against 120 in the fund: 120 paid, 30 socialised over cash 10, 50, −5, 40 (positive
        // total 100): 3, 15, 0, 12.
        let c = f
            .cover("b", 1, 150.0, &[10.0, 50.0, -5.0, 40.0])
            .expect("valid");
        assert_eq!(c.paid_usd, 120.0);
        assert_eq!(c.socialised_usd, 30.0);
        assert_eq!(c.haircuts_usd, vec![3.0, 15.0, 0.0, 12.0]);
        assert_eq!(c.unallocated_usd, 0.0);
        assert_eq!(f.balance_usd, 0.0);
        assert_eq!(f.drawdown_max_usd, 120.0);
        assert_eq!(c.events.len(), 2);
    }

    #[test]
    fn bad_input_is_refused_by_name() {
        let mut f = InsuranceFund::new(1.0).expect("valid");
        let e = f.cover("x", 0, f64::NAN, &[]).expect_err("NaN");
        assert!(e.to_string().contains("bad_debt_usd"), "{e}");
        assert!(InsuranceFund::new(-1.0).is_err());
        assert!(f.collect_fee("x", 0, -2.0).is_err());
    }
}
