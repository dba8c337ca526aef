//! Runs Derive's liquidation vectors (`derive-v2/liquidation/liquidationTests.json`) through
//! [`crate::auction`] and compares with the published results.
//!
//! Each case starts an auction and then replays its actions: at each action's time the account is valued at
//! the file's `PreMtM` and `PreMM` (Derive's PMRM margin of the account under that action's feeds — the
//! margin model's own conformance is `rtm2m conformance derive-pmrm2`), and a liquidator asks for
//! `PercentWant` of it. One outcome per action (`Test4/1` is the second action of `Test4`) compares:
//! - `fee` (first action only): the fee charged at the auction start, `LiquidationFee`;
//! - `bm`: the buffer margin before the bid, `PreBM`;
//! - solvent: `f_max` (`PreFMax`), `bid` (cash paid, `ExpectedBidPrice`), `f_taken` (fraction of the current
//!   portfolio taken, `fLiquidatedOfOriginal` — Derive's own test compares the bid's returned fraction with
//!   this field), `f_max_post` (`PostFMax`);
//! - insolvent: `lower_bound` (`Lowerbound`), `sm_payout` (cash the fund pays the bidder, `−SMPayout`),
//!   `f_taken` (fraction of the starting portfolio, `FinalPercentageReceived`);
//! - `mtm_post`, `mm_post`, `bm_post`: the valuation after the bid (`PostMtM`, `PostMM`, `PostBM`).
//!
//! The file's bid sizes are fractions of the current portfolio in solvent auctions and of the starting
//! portfolio in insolvent ones (the insolvent payout is sized on the starting portfolio).
//!
//! **Start state.** The file gives each action's valuation but not the account's at the auction start,
//! before the fee, which the fee and the insolvent lower bound depend on. MtM and MM are cash plus a part
//! that depends only on the positions and feeds, so it is recovered from a case whose first action happens
//! at its start time (its valuation there is the start state less the fee, and the fee is the cash the
//! account lost between `InitialPortfolio.Cash` and the action's `Cash`); a case with the same start time
//! and the same initial portfolio and feeds except cash has that start state shifted by its cash difference.

use crate::auction::{AuctionParams, BidSize, DutchAuction, Valuation};
use crate::error::LiquidationError;
use rtm2m_margin::conformance::{CaseOutcome, Compared};
use rtm2m_margin::num::from_wad;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Case {
    start_time: f64,
    is_force: bool,
    initial_portfolio: Map<String, Value>,
    action_count: usize,
    liquidation_fee: f64,
    actions: Vec<Action>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Action {
    time: f64,
    portfolio_and_feeds: ActionPortfolio,
    liquidator: Liquidator,
    results: Results,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ActionPortfolio {
    cash: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Liquidator {
    percent_want: f64,
}

#[derive(Deserialize)]
struct Results {
    #[serde(rename = "PreMtM")]
    pre_mtm: f64,
    #[serde(rename = "PreMM")]
    pre_mm: f64,
    #[serde(rename = "PreBM")]
    pre_bm: f64,
    #[serde(rename = "PreFMax")]
    pre_f_max: f64,
    #[serde(rename = "ExpectedBidPrice")]
    expected_bid_price: f64,
    #[serde(rename = "FinalPercentageReceived")]
    final_percentage_received: f64,
    #[serde(rename = "fLiquidatedOfOriginal")]
    f_liquidated: f64,
    #[serde(rename = "PostMtM")]
    post_mtm: f64,
    #[serde(rename = "PostMM")]
    post_mm: f64,
    #[serde(rename = "PostBM")]
    post_bm: f64,
    #[serde(rename = "PostFMax")]
    post_f_max: f64,
    #[serde(rename = "Lowerbound")]
    lower_bound: f64,
    #[serde(rename = "SMPayout")]
    sm_payout: f64,
}

/// A case's time, a whole number of seconds.
fn seconds(case: &str, field: &str, t: f64) -> Result<i64, String> {
    if t.is_finite() && t.fract() == 0.0 && t.abs() < 9.0e15 {
        Ok(t as i64)
    } else {
        Err(format!(
            "{case}: {field}: not a whole number of seconds: {t}"
        ))
    }
}

/// The initial portfolio and feeds without the cash, to find cases that differ only by cash.
fn without_cash(portfolio: &Map<String, Value>) -> Map<String, Value> {
    let mut m = portfolio.clone();
    m.remove("Cash");
    m
}

/// Start states (before the fee) recovered as the module documentation describes, per case name.
fn start_states(cases: &BTreeMap<String, Case>) -> BTreeMap<String, Result<Valuation, String>> {
    let mut references: Vec<(&Case, Valuation)> = Vec::new();
    for c in cases.values() {
        let (Some(a), Some(cash)) = (c.actions.first(), initial_cash(c)) else {
            continue;
        };
        if a.time != c.start_time {
            continue;
        }
        let fee_paid = from_wad(cash - a.portfolio_and_feeds.cash);
        let after_fee = Valuation {
            mtm_usd: from_wad(a.results.pre_mtm),
            margin_mm_usd: from_wad(a.results.pre_mm),
        };
        references.push((c, after_fee.plus_cash(fee_paid)));
    }
    cases
        .iter()
        .map(|(name, c)| {
            let found = references.iter().find(|(r, _)| {
                r.start_time == c.start_time
                    && without_cash(&r.initial_portfolio) == without_cash(&c.initial_portfolio)
            });
            let state = match (found, initial_cash(c)) {
                (Some((r, v)), Some(cash)) => {
                    let ref_cash = initial_cash(r).unwrap_or(cash);
                    Ok(v.plus_cash(from_wad(cash - ref_cash)))
                }
                (_, None) => Err("InitialPortfolio.Cash: missing or not a number".to_owned()),
                (None, _) => Err(
                    "start state unavailable: no case with the same initial portfolio has an action at its start time"
                        .to_owned(),
                ),
            };
            (name.clone(), state)
        })
        .collect()
}

fn initial_cash(c: &Case) -> Option<f64> {
    c.initial_portfolio.get("Cash").and_then(Value::as_f64)
}

fn compared(name: &'static str, actual: f64, expected: f64) -> Compared {
    Compared {
        name,
        actual,
        expected,
    }
}

/// Replays one case; one outcome per action.
fn run_case(
    name: &str,
    case: &Case,
    start: &Result<Valuation, String>,
    params: AuctionParams,
) -> Vec<CaseOutcome> {
    let action_name = |i: usize| format!("{name}/{i}");
    let fail_all = |reason: String| -> Vec<CaseOutcome> {
        (0..case.actions.len().max(1))
            .map(|i| CaseOutcome {
                case: action_name(i),
                compared: Vec::new(),
                error: Some(reason.clone()),
            })
            .collect()
    };
    if case.is_force {
        return fail_all("IsForce: forced liquidations are not part of this runner".into());
    }
    if case.action_count != case.actions.len() {
        return fail_all(format!(
            "ActionCount is {} but {} actions are listed",
            case.action_count,
            case.actions.len()
        ));
    }
    let start = match start {
        Ok(v) => *v,
        Err(e) => return fail_all(e.clone()),
    };
    let start_time = match seconds(name, "StartTime", case.start_time) {
        Ok(t) => t,
        Err(e) => return fail_all(e),
    };
    let (mut auction, _) = match DutchAuction::start(name, params, start_time, start) {
        Ok(x) => x,
        Err(e) => return fail_all(e.to_string()),
    };
    let b = params.buffer_margin_percentage;
    let mut out = Vec::new();
    for (i, a) in case.actions.iter().enumerate() {
        let r = &a.results;
        let now = Valuation {
            mtm_usd: from_wad(r.pre_mtm),
            margin_mm_usd: from_wad(r.pre_mm),
        };
        let time = match seconds(name, "Time", a.time) {
            Ok(t) => t,
            Err(e) => {
                out.push(CaseOutcome {
                    case: action_name(i),
                    compared: Vec::new(),
                    error: Some(e),
                });
                continue;
            }
        };
        let want = from_wad(a.liquidator.percent_want);
        let mut c = Vec::new();
        if i == 0 {
            c.push(compared("fee", auction.fee_usd(), case.liquidation_fee));
        }
        let insolvent = auction.is_insolvent();
        let f_max_pre = auction.f_max_at(time, &now);
        let size = if insolvent {
            BidSize::OfOriginal(want)
        } else {
            BidSize::OfCurrent(want)
        };
        let bid = match auction.bid(time, now, size) {
            Ok(bid) => bid,
            Err(e) => {
                out.push(CaseOutcome {
                    case: action_name(i),
                    compared: c,
                    error: Some(e.to_string()),
                });
                continue;
            }
        };
        c.push(compared("bm", bid.buffer_margin_usd, from_wad(r.pre_bm)));
        if insolvent {
            c.push(compared(
                "lower_bound",
                auction.lower_bound_usd(),
                from_wad(r.lower_bound),
            ));
            c.push(compared(
                "sm_payout",
                bid.cash_to_bidder_usd,
                -from_wad(r.sm_payout),
            ));
            c.push(compared(
                "f_taken",
                bid.fraction_of_original,
                from_wad(r.final_percentage_received),
            ));
        } else {
            c.push(compared("f_max", f_max_pre, from_wad(r.pre_f_max)));
            c.push(compared(
                "bid",
                bid.cash_from_bidder_usd,
                from_wad(r.expected_bid_price),
            ));
            c.push(compared(
                "f_taken",
                bid.fraction_of_current,
                from_wad(r.f_liquidated),
            ));
        }
        c.push(compared(
            "mtm_post",
            bid.after.mtm_usd,
            from_wad(r.post_mtm),
        ));
        c.push(compared(
            "mm_post",
            bid.after.margin_mm_usd,
            from_wad(r.post_mm),
        ));
        c.push(compared(
            "bm_post",
            bid.after.buffer_margin_usd(b),
            from_wad(r.post_bm),
        ));
        if !insolvent {
            c.push(compared(
                "f_max_post",
                auction.f_max_at(time, &bid.after),
                from_wad(r.post_f_max),
            ));
        }
        out.push(CaseOutcome {
            case: action_name(i),
            compared: c,
            error: None,
        });
    }
    out
}

/// Runs every case of a Derive liquidation vector file with [`AuctionParams::derive_liquidation_tests`];
/// one outcome per action, in case-name order.
pub fn run_derive_liquidation(path: &Path) -> Result<Vec<CaseOutcome>, LiquidationError> {
    let fail = |reason: String| LiquidationError::Vectors {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let cases: BTreeMap<String, Case> =
        serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    if cases.is_empty() {
        return Err(fail("no case in the file".into()));
    }
    let params = AuctionParams::derive_liquidation_tests();
    let starts = start_states(&cases);
    Ok(cases
        .iter()
        .flat_map(|(name, case)| {
            let start = starts
                .get(name)
                .cloned()
                .unwrap_or_else(|| Err("start state unavailable".into()));
            run_case(name, case, &start, params)
        })
        .collect())
}
