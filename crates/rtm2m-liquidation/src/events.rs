//! Liquidation events: every decision of this crate as a serde-serialisable value, so that the engine can
//! journal what was decided and a replay can check it. JSON form: one object tagged by `"type"`
//! (`auction_started`, `auction_bid`, …), fields as below, unknown fields refused. The format is described in
//! `docs/liquidation.md`.
//!
//! Times are whole seconds on the caller's clock (`time_unix_s`: Unix seconds in the engine; the vectors'
//! own clock in the Derive conformance runner). Amounts are USD; sizes are signed coins of the underlying
//! (one option contract is on one coin).

use serde::{Deserialize, Serialize};

/// Why an auction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuctionEnd {
    /// A solvent auction brought the buffer margin back to ≥ 0 (a bid took the whole maximum fraction).
    BufferRestored,
    /// An insolvent auction brought the maintenance margin back to ≥ 0.
    MaintenanceRestored,
    /// Bidders took the whole portfolio.
    PortfolioTaken,
}

/// One liquidation decision or accounting movement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LiquidationEvent {
    /// A Dutch auction started on an account whose maintenance margin is < 0.
    AuctionStarted {
        /// Account liquidated.
        account: String,
        /// Start time, seconds.
        time_unix_s: i64,
        /// True when the mark to market was ≤ 0: the security module pays bidders to take the account.
        insolvent: bool,
        /// Mark to market at the start (before the fee), USD.
        mtm_usd: f64,
        /// Signed maintenance margin at the start (before the fee), USD.
        margin_mm_usd: f64,
        /// Buffer margin at the start (before the fee), USD.
        buffer_margin_usd: f64,
        /// Fee charged to the account for the insurance fund (0 for an insolvent auction), USD.
        fee_usd: f64,
        /// Insolvent auctions: the most the fund pays for the whole account (≤ 0), USD.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lower_bound_usd: Option<f64>,
    },
    /// A bidder took a fraction of an account in auction.
    AuctionBid {
        /// Account liquidated.
        account: String,
        /// Bid time, seconds.
        time_unix_s: i64,
        /// True for a bid on an insolvent auction.
        insolvent: bool,
        /// Fraction of the mark to market (reserved cash excluded) the bidder pays (solvent auctions; 0 when
        /// insolvent).
        discount: f64,
        /// Fraction of the current portfolio taken.
        fraction_of_current: f64,
        /// Fraction of the portfolio at the auction start taken.
        fraction_of_original: f64,
        /// Cash the bidder paid into the account, USD.
        cash_from_bidder_usd: f64,
        /// Cash the insurance fund owes the bidder for taking an insolvent fraction, USD.
        cash_to_bidder_usd: f64,
        /// Mark to market after the bid, USD.
        mtm_after_usd: f64,
        /// Signed maintenance margin after the bid, USD.
        margin_mm_after_usd: f64,
    },
    /// An auction ended.
    AuctionEnded {
        /// Account liquidated.
        account: String,
        /// End time, seconds.
        time_unix_s: i64,
        /// Why.
        reason: AuctionEnd,
    },
    /// The planner closed part or all of a position in the market.
    PositionClosed {
        /// Account liquidated.
        account: String,
        /// Time, seconds.
        time_unix_s: i64,
        /// Instrument name.
        instrument: String,
        /// Signed size closed (the change of the held size is its opposite), coins.
        size_closed: f64,
        /// Mark of one unit when closed, USD.
        mark_usd: f64,
        /// Spread and price-impact cost of the closure, USD (≥ 0).
        cost_usd: f64,
    },
    /// The outcome of one account's liquidation by the planner.
    AccountLiquidated {
        /// Account liquidated.
        account: String,
        /// Time, seconds.
        time_unix_s: i64,
        /// Equity before, USD.
        equity_before_usd: f64,
        /// Equity after closing costs and fee, USD (negative: bad debt).
        equity_after_usd: f64,
        /// Maintenance requirement before (rtm2m model, ≥ 0), USD.
        mm_before_usd: f64,
        /// Maintenance requirement after, USD.
        mm_after_usd: f64,
        /// True when every position was closed (the account could not be brought back to its buffer).
        closed_out: bool,
    },
    /// A liquidation fee paid into the insurance fund.
    FeeCollected {
        /// Account that paid.
        account: String,
        /// Time, seconds.
        time_unix_s: i64,
        /// Fee, USD.
        fee_usd: f64,
        /// Fund balance after, USD.
        fund_balance_usd: f64,
    },
    /// The insurance fund covered (part of) an account's bad debt.
    InsurancePayout {
        /// Bankrupt account.
        account: String,
        /// Time, seconds.
        time_unix_s: i64,
        /// Bad debt to cover, USD (> 0).
        bad_debt_usd: f64,
        /// Paid by the fund, USD.
        paid_usd: f64,
        /// Fund balance after, USD.
        fund_balance_usd: f64,
    },
    /// Bad debt the fund could not cover, spread over the holders of positive cash.
    LossSocialised {
        /// Bankrupt account whose loss is socialised.
        account: String,
        /// Time, seconds.
        time_unix_s: i64,
        /// Loss socialised, USD.
        amount_usd: f64,
        /// Part of it that no holder could absorb (total positive cash too small), USD.
        unallocated_usd: f64,
    },
    /// One round of a cascade: liquidations at one index, then their price impact.
    CascadeRound {
        /// Time, seconds.
        time_unix_s: i64,
        /// Round number within the mark, from 0.
        round: u32,
        /// Accounts liquidated in the round.
        accounts_liquidated: u32,
        /// Net delta sold by the liquidations (negative: bought), coins.
        delta_sold_coin: f64,
        /// Index before the round's impact, USD.
        index_before_usd: f64,
        /// Index after it, USD.
        index_after_usd: f64,
    },
}
