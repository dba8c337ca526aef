//! Derive v2's Dutch-auction liquidation, in the form its published liquidation vectors pin down
//! (`derive-v2/liquidation/liquidationTests.json`; contract `DutchAuction.sol` of derivexyz/v2-core, whose
//! formulas are described — not copied — here and in `docs/liquidation.md`).
//!
//! Sign convention (Derive's): a margin is signed, `margin = equity − requirement`, ≥ 0 healthy. An auction
//! may start when the maintenance margin `MM` is < 0. It liquidates to a **buffer** below which the account
//! would be flagged again at once, `BM = MM + (MM − MtM)·b` (b = `buffer_margin_percentage`; with
//! `MM − MtM = −requirement`, `BM = equity − (1 + b)·requirement`).
//!
//! - **Solvent auction** (MtM > 0 at the start). The account pays the insurance fund a fee
//!   `rate·f_max(d = 1, R = 0)·|MtM|`. A bidder buys a fraction f of the current portfolio (reserved cash
//!   excluded) for `(MtM − R)·d(t)·f`, where R is the cash bidders have already paid in (reserved: it stays in
//!   the account) and the discount d(t) falls linearly from `starting_mtm_percentage` to
//!   `fast_auction_cutoff_percentage` over `fast_auction_length_s`, then to 0 over `slow_auction_length_s`.
//!   A bid may take at most `f_max = BM / (BM − MtM·d − R·(1 − d))` (BM capped at 0): the fraction that brings
//!   the buffer margin to exactly 0, as MM is cash plus a part linear in the positions.
//! - **Insolvent auction** (MtM ≤ 0 at the start). The fund pays bidders to take the account: the payout for
//!   the whole starting portfolio grows by `|lower bound|/total_steps` per step (one step per
//!   `insolvent_step_interval_s`) up to `|lower bound|`, with lower bound = `BM·insolvent_buffer_margin_scalar`
//!   at the start; a bid on a fraction of the starting portfolio receives that fraction of the payout.
//!
//! Everything here is a pure function of its arguments: time enters only as the `time_unix_s` of each call.

use crate::error::{invalid, require_finite, require_in, require_positive, LiquidationError};
use crate::events::{AuctionEnd, LiquidationEvent};
use serde::{Deserialize, Serialize};

/// An account's valuation in Derive's signed convention.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Valuation {
    /// Mark to market of the whole account, cash included (the rtm2m engine's equity), USD.
    pub mtm_usd: f64,
    /// Signed maintenance margin: mark to market − maintenance requirement, USD (≥ 0 healthy).
    pub margin_mm_usd: f64,
}

impl Valuation {
    /// The valuation of an account with `equity_usd` and a maintenance requirement `mm_usd` (≥ 0, the
    /// rtm2m engine's convention).
    pub fn from_requirement(equity_usd: f64, mm_usd: f64) -> Valuation {
        Valuation {
            mtm_usd: equity_usd,
            margin_mm_usd: equity_usd - mm_usd,
        }
    }

    /// Buffer margin `MM + (MM − MtM)·b`, USD.
    pub fn buffer_margin_usd(&self, buffer_margin_percentage: f64) -> f64 {
        buffer_margin_usd(self.margin_mm_usd, self.mtm_usd, buffer_margin_percentage)
    }

    /// The same valuation with `cash_usd` added (cash moves MtM and margin one for one).
    pub fn plus_cash(&self, cash_usd: f64) -> Valuation {
        Valuation {
            mtm_usd: self.mtm_usd + cash_usd,
            margin_mm_usd: self.margin_mm_usd + cash_usd,
        }
    }

    fn check(&self, account: &str) -> Result<(), LiquidationError> {
        require_finite(account, "mtm_usd", self.mtm_usd)?;
        require_finite(account, "margin_mm_usd", self.margin_mm_usd)?;
        Ok(())
    }
}

/// Buffer margin `MM + (MM − MtM)·b` from the signed maintenance margin and the mark to market, USD
/// (Derive `DutchAuction._getBufferMargin`).
pub fn buffer_margin_usd(margin_mm_usd: f64, mtm_usd: f64, buffer_margin_percentage: f64) -> f64 {
    margin_mm_usd + (margin_mm_usd - mtm_usd) * buffer_margin_percentage
}

/// Largest fraction of the current portfolio a solvent-auction bid may take at discount `d`, with `R` of
/// reserved cash: `f = BM / (BM − MtM·d − R·(1 − d))`, BM capped at 0 (Derive `_getMaxProportion`); 0 when
/// the buffer margin is already ≥ 0.
pub fn max_proportion(
    mtm_usd: f64,
    buffer_margin_usd: f64,
    discount: f64,
    reserved_cash_usd: f64,
) -> f64 {
    let bm = buffer_margin_usd.min(0.0);
    if bm == 0.0 {
        return 0.0;
    }
    let denominator = bm - mtm_usd * discount - reserved_cash_usd * (1.0 - discount);
    // With BM < 0, MtM ≥ R ≥ 0 and d in [0, 1] the denominator is ≤ BM < 0, so f is in (0, 1].
    let f = bm / denominator;
    debug_assert!(!(mtm_usd >= reserved_cash_usd && reserved_cash_usd >= 0.0) || f <= 1.0 + 1e-12);
    f.clamp(0.0, 1.0)
}

/// Parameters of the Dutch auction (Derive `AuctionParams`, buffer margin and insolvent-auction settings).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AuctionParams {
    /// Discount at the start of a solvent auction, fraction of MtM (Derive `startingMtMPercentage`).
    pub starting_mtm_percentage: f64,
    /// Discount at the end of the fast phase (Derive `fastAuctionCutoffPercentage`).
    pub fast_auction_cutoff_percentage: f64,
    /// Length of the fast phase, seconds.
    pub fast_auction_length_s: i64,
    /// Length of the slow phase (discount to 0), seconds.
    pub slow_auction_length_s: i64,
    /// Fee rate charged at the start of a solvent auction (Derive `liquidatorFeeRate`, ≤ 10%).
    pub liquidator_fee_rate: f64,
    /// b of the buffer margin `MM + (MM − MtM)·b` (Derive `bufferMarginPercentage`).
    pub buffer_margin_percentage: f64,
    /// Number of steps of an insolvent auction from 0 to the lower bound.
    pub insolvent_total_steps: u32,
    /// Seconds per insolvent step.
    pub insolvent_step_interval_s: i64,
    /// Lower bound of an insolvent auction = buffer margin at the start × this.
    pub insolvent_buffer_margin_scalar: f64,
}

impl AuctionParams {
    /// The setup of Derive's liquidation vectors: discount 98% → 80% over 100 s, → 0 over 14 400 s, fee 2%,
    /// buffer 20%, insolvent payout in 100 steps of 1 s up to 1.1 × the starting buffer margin
    /// (v2-core test base `PMRMTestBase`: default solvent and insolvent parameters, `setBufferMarginPercentage`).
    pub fn derive_liquidation_tests() -> AuctionParams {
        AuctionParams {
            starting_mtm_percentage: 0.98,
            fast_auction_cutoff_percentage: 0.8,
            fast_auction_length_s: 100,
            slow_auction_length_s: 14_400,
            liquidator_fee_rate: 0.02,
            buffer_margin_percentage: 0.2,
            insolvent_total_steps: 100,
            insolvent_step_interval_s: 1,
            insolvent_buffer_margin_scalar: 1.1,
        }
    }

    /// Checks every parameter, naming the first bad one.
    pub fn validate(&self) -> Result<(), LiquidationError> {
        let c = "auction parameters";
        require_in(
            c,
            "starting_mtm_percentage",
            self.starting_mtm_percentage,
            0.0,
            1.0,
        )?;
        require_in(
            c,
            "fast_auction_cutoff_percentage",
            self.fast_auction_cutoff_percentage,
            0.0,
            self.starting_mtm_percentage,
        )?;
        if self.fast_auction_length_s < 0 {
            return Err(invalid(
                c,
                "fast_auction_length_s",
                format!("must be ≥ 0, got {}", self.fast_auction_length_s),
            ));
        }
        if self.slow_auction_length_s <= 0 {
            return Err(invalid(
                c,
                "slow_auction_length_s",
                format!("must be > 0, got {}", self.slow_auction_length_s),
            ));
        }
        require_in(c, "liquidator_fee_rate", self.liquidator_fee_rate, 0.0, 0.1)?;
        require_in(
            c,
            "buffer_margin_percentage",
            self.buffer_margin_percentage,
            0.0,
            4.0,
        )?;
        if self.insolvent_total_steps == 0 {
            return Err(invalid(c, "insolvent_total_steps", "must be > 0".into()));
        }
        if self.insolvent_step_interval_s <= 0 {
            return Err(invalid(
                c,
                "insolvent_step_interval_s",
                format!("must be > 0, got {}", self.insolvent_step_interval_s),
            ));
        }
        require_positive(
            c,
            "insolvent_buffer_margin_scalar",
            self.insolvent_buffer_margin_scalar,
        )?;
        Ok(())
    }

    /// Discount d of a solvent auction `elapsed_s` seconds after its start (Derive `_getDiscountPercentage`):
    /// linear from the starting percentage to the cutoff over the fast phase, then to 0 over the slow phase.
    pub fn discount(&self, elapsed_s: i64) -> f64 {
        let elapsed = elapsed_s.max(0);
        if elapsed < self.fast_auction_length_s {
            let fall = self.starting_mtm_percentage - self.fast_auction_cutoff_percentage;
            self.starting_mtm_percentage - fall * elapsed as f64 / self.fast_auction_length_s as f64
        } else if elapsed >= self.fast_auction_length_s + self.slow_auction_length_s {
            0.0
        } else {
            let in_slow = (elapsed - self.fast_auction_length_s) as f64;
            self.fast_auction_cutoff_percentage
                - self.fast_auction_cutoff_percentage * in_slow / self.slow_auction_length_s as f64
        }
    }

    /// Fee a solvent auction charges at its start: `rate·f_max(d = 1, R = 0)·|MtM|`, USD (Derive
    /// `_getLiquidationFee`).
    pub fn liquidation_fee_usd(&self, start: &Valuation) -> f64 {
        let bm = start.buffer_margin_usd(self.buffer_margin_percentage);
        max_proportion(start.mtm_usd, bm, 1.0, 0.0) * start.mtm_usd.abs() * self.liquidator_fee_rate
    }
}

/// How much of the account a bid asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BidSize {
    /// A fraction of the portfolio as it is now.
    OfCurrent(f64),
    /// A fraction of the portfolio at the auction start.
    OfOriginal(f64),
}

/// What one bid did.
#[derive(Debug, Clone, PartialEq)]
pub struct BidOutcome {
    /// True for a bid on an insolvent auction.
    pub insolvent: bool,
    /// Discount d at the bid (solvent), 0 for an insolvent auction.
    pub discount: f64,
    /// Buffer margin before the bid, USD.
    pub buffer_margin_usd: f64,
    /// Largest fraction of the current portfolio the bid could take (solvent), None when insolvent.
    pub f_max: Option<f64>,
    /// Fraction of the current portfolio taken.
    pub fraction_of_current: f64,
    /// Fraction of the starting portfolio taken.
    pub fraction_of_original: f64,
    /// Cash the bidder paid into the account, USD.
    pub cash_from_bidder_usd: f64,
    /// Cash the insurance fund owes the bidder (insolvent), USD.
    pub cash_to_bidder_usd: f64,
    /// Valuation after the bid.
    pub after: Valuation,
    /// True when the auction ended with this bid.
    pub ended: bool,
    /// The bid's events (the bid, and the end when it ended).
    pub events: Vec<LiquidationEvent>,
}

/// A Dutch auction on one account.
#[derive(Debug, Clone, PartialEq)]
pub struct DutchAuction {
    account: String,
    params: AuctionParams,
    start_time_unix_s: i64,
    insolvent: bool,
    lower_bound_usd: f64,
    fee_usd: f64,
    reserved_cash_usd: f64,
    percentage_left: f64,
    ongoing: bool,
}

impl DutchAuction {
    /// Starts an auction on `account`, valued `start` (before any fee) at `time_unix_s`. Returns the auction
    /// and its start event; the fee ([`DutchAuction::fee_usd`]) is to be debited from the account's cash and
    /// credited to the insurance fund by the caller. Refused when the maintenance margin is ≥ 0.
    pub fn start(
        account: &str,
        params: AuctionParams,
        time_unix_s: i64,
        start: Valuation,
    ) -> Result<(DutchAuction, LiquidationEvent), LiquidationError> {
        params.validate()?;
        start.check(account)?;
        if start.margin_mm_usd >= 0.0 {
            return Err(LiquidationError::Auction {
                account: account.into(),
                reason: format!(
                    "maintenance margin {} USD is ≥ 0: nothing to liquidate",
                    start.margin_mm_usd
                ),
            });
        }
        let bm = start.buffer_margin_usd(params.buffer_margin_percentage);
        let insolvent = start.mtm_usd <= 0.0;
        let (fee_usd, lower_bound_usd) = if insolvent {
            (0.0, bm * params.insolvent_buffer_margin_scalar)
        } else {
            (params.liquidation_fee_usd(&start), 0.0)
        };
        let auction = DutchAuction {
            account: account.into(),
            params,
            start_time_unix_s: time_unix_s,
            insolvent,
            lower_bound_usd,
            fee_usd,
            reserved_cash_usd: 0.0,
            percentage_left: 1.0,
            ongoing: true,
        };
        let event = LiquidationEvent::AuctionStarted {
            account: account.into(),
            time_unix_s,
            insolvent,
            mtm_usd: start.mtm_usd,
            margin_mm_usd: start.margin_mm_usd,
            buffer_margin_usd: bm,
            fee_usd,
            lower_bound_usd: insolvent.then_some(lower_bound_usd),
        };
        Ok((auction, event))
    }

    /// Account liquidated.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// True for an insolvent auction.
    pub fn is_insolvent(&self) -> bool {
        self.insolvent
    }

    /// True until the auction ends.
    pub fn is_ongoing(&self) -> bool {
        self.ongoing
    }

    /// Fee charged at the start (0 when insolvent), USD.
    pub fn fee_usd(&self) -> f64 {
        self.fee_usd
    }

    /// Lower bound of an insolvent auction (≤ 0; 0 for a solvent one), USD.
    pub fn lower_bound_usd(&self) -> f64 {
        self.lower_bound_usd
    }

    /// Cash bidders have paid into the account so far, USD.
    pub fn reserved_cash_usd(&self) -> f64 {
        self.reserved_cash_usd
    }

    /// Fraction of the starting portfolio still in the account.
    pub fn percentage_left(&self) -> f64 {
        self.percentage_left
    }

    /// Discount of the solvent auction at `time_unix_s`.
    pub fn discount_at(&self, time_unix_s: i64) -> f64 {
        self.params.discount(time_unix_s - self.start_time_unix_s)
    }

    /// Largest fraction of the current portfolio a solvent bid may take at `time_unix_s` when the account is
    /// valued `now` (0 for an insolvent auction).
    pub fn f_max_at(&self, time_unix_s: i64, now: &Valuation) -> f64 {
        if self.insolvent {
            return 0.0;
        }
        let bm = now.buffer_margin_usd(self.params.buffer_margin_percentage);
        max_proportion(
            now.mtm_usd,
            bm,
            self.discount_at(time_unix_s),
            self.reserved_cash_usd,
        )
    }

    /// Price of the whole current portfolio, reserved cash excluded, at `time_unix_s` (solvent auctions):
    /// `(MtM − R)·d`, USD.
    pub fn bid_price_usd(&self, time_unix_s: i64, now: &Valuation) -> f64 {
        (now.mtm_usd - self.reserved_cash_usd) * self.discount_at(time_unix_s)
    }

    /// Payout the fund owes for the whole starting portfolio at `time_unix_s` (insolvent auctions):
    /// `|lower bound|·min(steps, total)/total`, USD.
    pub fn insolvent_payout_usd(&self, time_unix_s: i64) -> f64 {
        let elapsed = (time_unix_s - self.start_time_unix_s).max(0);
        let total = i64::from(self.params.insolvent_total_steps);
        let steps = (elapsed / self.params.insolvent_step_interval_s).min(total);
        self.lower_bound_usd.abs() * steps as f64 / total as f64
    }

    /// A bid at `time_unix_s` on the account valued `now`. Solvent: the fraction is capped at
    /// [`DutchAuction::f_max_at`] and the bidder pays the bid price for it; insolvent: the bidder takes the
    /// fraction and the fund owes it that fraction of the payout. The valuation after the bid assumes, as
    /// Derive's margin does, that MtM and MM are cash plus a part linear in the positions.
    pub fn bid(
        &mut self,
        time_unix_s: i64,
        now: Valuation,
        size: BidSize,
    ) -> Result<BidOutcome, LiquidationError> {
        now.check(&self.account)?;
        let refuse = |reason: String| LiquidationError::Auction {
            account: self.account.clone(),
            reason,
        };
        if !self.ongoing {
            return Err(refuse("the auction has ended".into()));
        }
        if time_unix_s < self.start_time_unix_s {
            return Err(refuse(format!(
                "bid at {time_unix_s} s is before the auction start at {} s",
                self.start_time_unix_s
            )));
        }
        let asked = match size {
            BidSize::OfCurrent(f) | BidSize::OfOriginal(f) => f,
        };
        if !(asked.is_finite() && asked > 0.0 && asked <= 1.0) {
            return Err(invalid(
                &self.account,
                "bid fraction",
                format!("must be in (0, 1], got {asked}"),
            ));
        }
        let left = self.percentage_left;
        let b = self.params.buffer_margin_percentage;
        let bm = now.buffer_margin_usd(b);
        let r = self.reserved_cash_usd;
        let outcome = if self.insolvent {
            let of_original = match size {
                BidSize::OfOriginal(f) => f.min(left),
                BidSize::OfCurrent(f) => f * left,
            };
            let of_current = (of_original / left).min(1.0);
            let cash_to_bidder = self.insolvent_payout_usd(time_unix_s) * of_original;
            let after = scale_after_bid(&now, r, of_current, 0.0);
            self.percentage_left = (left - of_original).max(0.0);
            let ended = self.percentage_left <= 1e-15 || after.margin_mm_usd >= 0.0;
            let end = if self.percentage_left <= 1e-15 {
                AuctionEnd::PortfolioTaken
            } else {
                AuctionEnd::MaintenanceRestored
            };
            (
                0.0,
                None,
                of_current,
                of_original,
                0.0,
                cash_to_bidder,
                after,
                ended,
                end,
            )
        } else {
            let elapsed = time_unix_s - self.start_time_unix_s;
            if elapsed >= self.params.fast_auction_length_s + self.params.slow_auction_length_s {
                return Err(refuse(
                    "the solvent auction has ended: convert it to an insolvent one".into(),
                ));
            }
            if r > now.mtm_usd {
                return Err(refuse(format!(
                    "reserved cash {r} USD exceeds the mark to market {} USD",
                    now.mtm_usd
                )));
            }
            let d = self.params.discount(elapsed);
            let price = (now.mtm_usd - r) * d;
            if price <= 0.0 {
                return Err(refuse(format!("the bid price {price} USD is not positive")));
            }
            let f_max = max_proportion(now.mtm_usd, bm, d, r);
            let wanted = match size {
                BidSize::OfCurrent(f) => f,
                BidSize::OfOriginal(f) => (f / left).min(1.0),
            };
            let takes_max = wanted >= f_max;
            let of_current = if takes_max { f_max } else { wanted };
            let cash = price * of_current;
            let after = scale_after_bid(&now, r, of_current, cash);
            self.reserved_cash_usd += cash;
            let of_original = of_current * left;
            self.percentage_left = (left - of_original).max(0.0);
            let ended = takes_max || after.buffer_margin_usd(b) >= 0.0;
            (
                d,
                Some(f_max),
                of_current,
                of_original,
                cash,
                0.0,
                after,
                ended,
                AuctionEnd::BufferRestored,
            )
        };
        let (d, f_max, of_current, of_original, cash_from, cash_to, after, ended, end) = outcome;
        let mut events = vec![LiquidationEvent::AuctionBid {
            account: self.account.clone(),
            time_unix_s,
            insolvent: self.insolvent,
            discount: d,
            fraction_of_current: of_current,
            fraction_of_original: of_original,
            cash_from_bidder_usd: cash_from,
            cash_to_bidder_usd: cash_to,
            mtm_after_usd: after.mtm_usd,
            margin_mm_after_usd: after.margin_mm_usd,
        }];
        if ended {
            self.ongoing = false;
            events.push(LiquidationEvent::AuctionEnded {
                account: self.account.clone(),
                time_unix_s,
                reason: end,
            });
        }
        Ok(BidOutcome {
            insolvent: self.insolvent,
            discount: d,
            buffer_margin_usd: bm,
            f_max,
            fraction_of_current: of_current,
            fraction_of_original: of_original,
            cash_from_bidder_usd: cash_from,
            cash_to_bidder_usd: cash_to,
            after,
            ended,
            events,
        })
    }
}

/// Valuation after a fraction f of the current portfolio, reserved cash R excluded, left for `cash_in_usd`:
/// `X' = R + cash + (1 − f)·(X − R)` for X = MtM and MM (both are cash plus a part linear in the positions).
fn scale_after_bid(now: &Valuation, reserved_usd: f64, f: f64, cash_in_usd: f64) -> Valuation {
    let keep = 1.0 - f;
    Valuation {
        mtm_usd: reserved_usd + cash_in_usd + keep * (now.mtm_usd - reserved_usd),
        margin_mm_usd: reserved_usd + cash_in_usd + keep * (now.margin_mm_usd - reserved_usd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_margin_and_max_fraction_match_a_hand_computed_account() {
        // MtM 100, MM −50: BM = −50 + (−150)·0.2 = −80; at d = 0.98, f = 80/(80 + 98) = 0.449438…,
        // bid = 100·0.98·f = 44.04494…
        let v = Valuation {
            mtm_usd: 100.0,
            margin_mm_usd: -50.0,
        };
        let p = AuctionParams::derive_liquidation_tests();
        assert_eq!(v.buffer_margin_usd(0.2), -80.0);
        let f = max_proportion(100.0, -80.0, 0.98, 0.0);
        assert!((f - 80.0 / 178.0).abs() < 1e-15);
        // Fee: f(d = 1) = 80/180, fee = 0.02·(4/9)·100 = 0.8888…
        assert!((p.liquidation_fee_usd(&v) - 0.02 * 80.0 / 180.0 * 100.0).abs() < 1e-14);
    }

    #[test]
    fn discount_follows_the_fast_then_slow_schedule() {
        let p = AuctionParams::derive_liquidation_tests();
        assert_eq!(p.discount(0), 0.98);
        assert!((p.discount(30) - 0.926).abs() < 1e-15);
        assert_eq!(p.discount(100), 0.8);
        assert!((p.discount(600) - (0.8 - 0.8 * 500.0 / 14_400.0)).abs() < 1e-15);
        assert_eq!(p.discount(14_500), 0.0);
        assert_eq!(p.discount(1_000_000), 0.0);
    }

    #[test]
    fn taking_the_maximum_fraction_brings_the_buffer_margin_to_zero() {
        let p = AuctionParams::derive_liquidation_tests();
        let start = Valuation {
            mtm_usd: 100.0,
            margin_mm_usd: -50.0,
        };
        let (mut a, _) = DutchAuction::start("a", p, 0, start).expect("starts");
        let now = start.plus_cash(-a.fee_usd());
        let out = a.bid(30, now, BidSize::OfCurrent(1.0)).expect("bids");
        assert!(out.ended);
        assert!(out.after.buffer_margin_usd(0.2).abs() < 1e-12);
        assert!(a.bid(31, out.after, BidSize::OfCurrent(0.1)).is_err());
    }

    #[test]
    fn an_account_above_maintenance_cannot_be_auctioned() {
        let p = AuctionParams::derive_liquidation_tests();
        let v = Valuation {
            mtm_usd: 100.0,
            margin_mm_usd: 0.0,
        };
        assert!(DutchAuction::start("a", p, 0, v).is_err());
        let nan = Valuation {
            mtm_usd: f64::NAN,
            margin_mm_usd: -1.0,
        };
        let e = DutchAuction::start("a", p, 0, nan).expect_err("NaN refused");
        assert!(e.to_string().contains("mtm_usd"), "{e}");
    }
}
