//! Reader of Derive's standard-manager test cases (`srm/test-cases.json`): amounts, prices and results in
//! 18-decimal fixed point, options listed one per index with their feeds at the same index.

use super::{StandardAccount, StandardExpiry, StandardMarket, StandardOption, StandardPerp};
use crate::error::MarginError;
use crate::num::{from_wad, from_wad_truncated_1e8};
use rtm2m_pricing::OptionKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Near-expiry cut-off: expiries closer than this settle on the file's `SettlementPrice<asset>`, seconds.
pub const SETTLEMENT_FEED_SECONDS: f64 = 3600.0;

/// One parsed case.
#[derive(Debug, Clone)]
pub struct SrmCase {
    /// Case key, e.g. `Test7`.
    pub name: String,
    /// The account.
    pub account: StandardAccount,
    /// Published maintenance margin (`realMM`), USD.
    pub expected_mm_usd: f64,
    /// Published initial margin (`realIM`), USD.
    pub expected_im_usd: f64,
    /// Published mark-to-market (`PortfolioMtM`), USD.
    pub expected_mtm_usd: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Case {
    scenario: Scenario,
    result: Results,
}

#[derive(Deserialize)]
struct Results {
    #[serde(rename = "realMM")]
    real_mm: f64,
    #[serde(rename = "realIM")]
    real_im: f64,
    #[serde(rename = "PortfolioMtM")]
    portfolio_mtm: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Scenario {
    option_underlying: Vec<String>,
    option_expiries: Vec<f64>,
    option_strikes: Vec<f64>,
    option_is_call: Vec<u8>,
    option_amounts: Vec<f64>,
    option_vols: Vec<f64>,
    option_vol_confidences: Vec<f64>,
    cash: f64,
    #[serde(rename = "Perps_ETH")]
    perps_eth: f64,
    #[serde(rename = "Perps_BTC")]
    perps_btc: f64,
    #[serde(rename = "wETH")]
    w_eth: f64,
    #[serde(rename = "wBTC")]
    w_btc: f64,
    #[serde(rename = "LastEntryETH")]
    last_entry_eth: Option<f64>,
    #[serde(rename = "LastEntryBTC")]
    last_entry_btc: Option<f64>,
    #[serde(rename = "ETHGlobalFundingIndex")]
    eth_global_funding_index: Option<f64>,
    #[serde(rename = "BTCGlobalFundingIndex")]
    btc_global_funding_index: Option<f64>,
    #[serde(rename = "AccountETHFundingIndex")]
    account_eth_funding_index: Option<f64>,
    #[serde(rename = "AccountBTCFundingIndex")]
    account_btc_funding_index: Option<f64>,
    #[serde(rename = "ETHSpotPrice")]
    eth_spot_price: f64,
    #[serde(rename = "BTCSpotPrice")]
    btc_spot_price: f64,
    spot_perp_confidences: [[f64; 2]; 2],
    feed_expiries: Vec<f64>,
    forwards: Vec<f64>,
    forward_confidences: Vec<f64>,
    #[serde(rename = "USDCValue")]
    usdc_value: f64,
    perp_price: [f64; 2],
    #[serde(rename = "SettlementPriceETH")]
    settlement_price_eth: Option<f64>,
    #[serde(rename = "SettlementPriceBTC")]
    settlement_price_btc: Option<f64>,
}

/// Reads every case of the file, in the numeric order of their keys (`Test1`, `Test2`, …).
pub fn read_cases(path: &Path) -> Result<Vec<SrmCase>, MarginError> {
    let text = std::fs::read_to_string(path).map_err(|e| MarginError::VectorFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    parse_cases(&text).map_err(|reason| MarginError::VectorFile {
        path: path.to_owned(),
        reason,
    })
}

/// Parses the text of a test-case file.
pub fn parse_cases(text: &str) -> Result<Vec<SrmCase>, String> {
    let cases: BTreeMap<String, Case> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(cases.len());
    for (name, case) in cases {
        let account = to_account(&name, &case.scenario).map_err(|e| format!("{name}: {e}"))?;
        out.push(SrmCase {
            name,
            account,
            expected_mm_usd: from_wad(case.result.real_mm),
            expected_im_usd: from_wad(case.result.real_im),
            expected_mtm_usd: from_wad(case.result.portfolio_mtm),
        });
    }
    out.sort_by_key(|c| (natural_key(&c.name), c.name.clone()));
    Ok(out)
}

fn natural_key(name: &str) -> u64 {
    let digits: String = name.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(u64::MAX)
}

fn to_account(name: &str, s: &Scenario) -> Result<StandardAccount, String> {
    let n = s.option_underlying.len();
    for (field, len) in [
        ("OptionExpiries", s.option_expiries.len()),
        ("OptionStrikes", s.option_strikes.len()),
        ("OptionIsCall", s.option_is_call.len()),
        ("OptionAmounts", s.option_amounts.len()),
        ("OptionVols", s.option_vols.len()),
        ("OptionVolConfidences", s.option_vol_confidences.len()),
    ] {
        if len != n {
            return Err(format!(
                "{field} has {len} entries, OptionUnderlying has {n}"
            ));
        }
    }
    if s.feed_expiries.len() > n
        || s.forwards.len() != s.feed_expiries.len()
        || s.forward_confidences.len() != s.feed_expiries.len()
    {
        return Err(
            "FeedExpiries, Forwards and ForwardConfidences must align with the options".into(),
        );
    }
    let mut markets = Vec::new();
    for (m, asset) in ["ETH", "BTC"].into_iter().enumerate() {
        let (spot, perps, base, entry, global_index, account_index, settlement) = if m == 0 {
            (
                s.eth_spot_price,
                s.perps_eth,
                s.w_eth,
                s.last_entry_eth,
                s.eth_global_funding_index,
                s.account_eth_funding_index,
                s.settlement_price_eth,
            )
        } else {
            (
                s.btc_spot_price,
                s.perps_btc,
                s.w_btc,
                s.last_entry_btc,
                s.btc_global_funding_index,
                s.account_btc_funding_index,
                s.settlement_price_btc,
            )
        };
        let position = from_wad(perps);
        let perp_price = from_wad(s.perp_price[m]);
        let perp = (position != 0.0).then(|| {
            // Unrealised P&L against the last entry, plus funding owed since the account's funding index.
            let pnl = (perp_price - from_wad(entry.unwrap_or(0.0))) * position;
            let funding = (from_wad(account_index.unwrap_or(0.0))
                - from_wad(global_index.unwrap_or(0.0)))
                * position;
            StandardPerp {
                position,
                price_usd: perp_price,
                confidence: from_wad(s.spot_perp_confidences[m][1]),
                unrealised_pnl_usd: pnl + funding,
            }
        });

        // Feeds: the one at index i belongs to option i's asset; the last write for an expiry wins.
        let mut feeds: Vec<(f64, f64, f64)> = Vec::new();
        for i in 0..s.feed_expiries.len() {
            if s.option_underlying[i] != asset {
                continue;
            }
            let seconds = s.feed_expiries[i];
            let forward = if seconds < SETTLEMENT_FEED_SECONDS {
                from_wad(settlement.ok_or_else(|| {
                    format!("SettlementPrice{asset} is needed for expiry {seconds} s")
                })?)
            } else {
                from_wad(s.forwards[i])
            };
            let confidence = from_wad(s.forward_confidences[i]);
            match feeds.iter_mut().find(|f| f.0 == seconds) {
                Some(f) => *f = (seconds, forward, confidence),
                None => feeds.push((seconds, forward, confidence)),
            }
        }

        let mut expiries: Vec<StandardExpiry> = Vec::new();
        for i in 0..n {
            if s.option_underlying[i] != asset {
                continue;
            }
            let seconds = s.option_expiries[i];
            let kind = match s.option_is_call[i] {
                1 => OptionKind::Call,
                0 => OptionKind::Put,
                other => {
                    return Err(format!(
                        "option {i}: OptionIsCall must be 0 or 1, got {other}"
                    ))
                }
            };
            let option = StandardOption {
                strike_usd: from_wad_truncated_1e8(s.option_strikes[i]),
                kind,
                amount: from_wad(s.option_amounts[i]),
                vol: from_wad(s.option_vols[i]),
            };
            let vol_confidence = from_wad(s.option_vol_confidences[i]);
            match expiries.iter_mut().find(|e| e.seconds_to_expiry == seconds) {
                Some(e) => {
                    e.options.push(option);
                    e.vol_confidence = vol_confidence;
                }
                None => {
                    let &(_, forward_usd, forward_confidence) =
                        feeds.iter().find(|f| f.0 == seconds).ok_or_else(|| {
                            format!("option {i}: no {asset} forward for expiry {seconds} s")
                        })?;
                    expiries.push(StandardExpiry {
                        seconds_to_expiry: seconds,
                        forward_usd,
                        forward_confidence,
                        vol_confidence,
                        options: vec![option],
                    });
                }
            }
        }
        markets.push(StandardMarket {
            name: asset.to_owned(),
            spot_usd: from_wad(spot),
            spot_confidence: from_wad(s.spot_perp_confidences[m][0]),
            perp,
            base_amount: from_wad(base),
            expiries,
        });
    }
    Ok(StandardAccount {
        id: name.to_owned(),
        cash_usd: from_wad(s.cash),
        stable_price_usd: from_wad(s.usdc_value),
        markets,
    })
}
