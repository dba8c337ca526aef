//! The accounts file (the engine's genesis): which underlyings the scenario grid spans, the oracle and
//! liquidity data of every asset, the engine's parameters, and the accounts at start. Format in
//! `docs/engine.md` §2; the `accounts` array is the portfolio format of `docs/margin.md` §5.

use crate::error::{genesis, EngineError};
use rtm2m_margin::account::Account;
use rtm2m_margin::instrument::{Instrument, InstrumentKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most assets an engine knows (each account keeps a 64-bit mask of the assets it is exposed to).
pub const MAX_ASSETS: usize = 64;

/// The pseudo-asset of deposits and withdrawals in cash (USD).
pub const CASH_ASSET: &str = "USD";

/// Oracle, liquidity and rate data of one asset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// Initial oracle price, USD per unit, until the first `index` event of the asset (grid underlyings ignore
    /// it: their instruments are valued only from index events).
    #[serde(default)]
    pub price_usd: Option<f64>,
    /// EWMA realised volatility, annualised fraction: the haircut's vol term and the cross-asset betas.
    #[serde(default)]
    pub ewma_vol: Option<f64>,
    /// Order-book depth within the liquidation band, USD: the haircut's impact term.
    #[serde(default)]
    pub depth_usd: Option<f64>,
    /// True for a USD stablecoin (de-peg contingency, no concentration add-on).
    #[serde(default)]
    pub stablecoin: bool,
    /// USD rate of an underlying, continuously compounded per year (discounts its USD-settled options).
    #[serde(default)]
    pub rate: f64,
}

/// Parameters of the engine itself (the margin model's are `rtm2m_margin::engine::Rtm2mParams::rtm2m_default`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineParams {
    /// How far behind the engine clock (the latest accepted `ts`) an event may be, seconds; older events are
    /// rejected as out of order.
    pub reorder_window_s: f64,
    /// A `margin` output is published when equity, IM or MM moved by more than this fraction of the largest
    /// of the three (at least 1 USD) since the account's last publication, or when its status changed.
    /// 0 publishes every change.
    pub margin_publish_rel: f64,
    /// Most instruments listed at once.
    pub max_instruments: usize,
    /// Most accounts.
    pub max_accounts: usize,
    /// Most positions and collateral lines of one account.
    pub max_positions_per_account: usize,
}

impl Default for EngineParams {
    fn default() -> EngineParams {
        EngineParams {
            reorder_window_s: 5.0,
            margin_publish_rel: 0.001,
            max_instruments: 100_000,
            max_accounts: 10_000_000,
            max_positions_per_account: 10_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenesisFile {
    #[serde(default)]
    underlyings: Option<Vec<String>>,
    #[serde(default)]
    assets: Option<BTreeMap<String, AssetConfig>>,
    #[serde(default)]
    engine: Option<EngineParams>,
    #[serde(default)]
    accounts: Vec<Account>,
}

/// The engine's configuration and starting accounts, as read from the accounts file.
#[derive(Debug, Clone, PartialEq)]
pub struct Genesis {
    /// Underlyings of the scenario grid, sorted (the grid orders them by name).
    pub underlyings: Vec<String>,
    /// Every asset that can be held or priced, by name.
    pub assets: BTreeMap<String, AssetConfig>,
    /// Engine parameters.
    pub params: EngineParams,
    /// Accounts at start, in file order.
    pub accounts: Vec<Account>,
}

/// The assets known when the file names none: BTC and ETH (grid underlyings) and the USDC and USDT
/// stablecoins at 1 USD.
pub fn default_assets() -> BTreeMap<String, AssetConfig> {
    let coin = |ewma_vol: f64, depth_usd: f64| AssetConfig {
        price_usd: None,
        ewma_vol: Some(ewma_vol),
        depth_usd: Some(depth_usd),
        stablecoin: false,
        rate: 0.0,
    };
    let stable = AssetConfig {
        price_usd: Some(1.0),
        ewma_vol: Some(0.004),
        depth_usd: Some(1e9),
        stablecoin: true,
        rate: 0.0,
    };
    BTreeMap::from([
        ("BTC".to_owned(), coin(0.5, 4e7)),
        ("ETH".to_owned(), coin(0.7, 2e7)),
        ("USDC".to_owned(), stable.clone()),
        ("USDT".to_owned(), stable),
    ])
}

fn finite_positive(place: &str, field: &str, value: Option<f64>) -> Result<(), EngineError> {
    match value {
        Some(v) if !(v.is_finite() && v > 0.0) => Err(genesis(
            format!("{place}.{field}"),
            format!("must be finite and positive, got {v}"),
        )),
        _ => Ok(()),
    }
}

impl Genesis {
    /// Reads and checks an accounts file; the error names the place and the reason.
    pub fn from_json(text: &str) -> Result<Genesis, EngineError> {
        let file: GenesisFile =
            serde_json::from_str(text).map_err(|e| genesis("json", e.to_string()))?;
        let assets = file.assets.unwrap_or_else(default_assets);
        let mut underlyings = file
            .underlyings
            .unwrap_or_else(|| vec!["BTC".into(), "ETH".into()]);
        underlyings.sort();
        underlyings.dedup();
        let g = Genesis {
            underlyings,
            assets,
            params: file.engine.unwrap_or_default(),
            accounts: file.accounts,
        };
        g.check()?;
        Ok(g)
    }

    /// The accounts file of this genesis (readable by [`Genesis::from_json`]).
    pub fn to_json(&self) -> String {
        let accounts: Vec<serde_json::Value> = self
            .accounts
            .iter()
            .map(crate::event::account_json)
            .collect();
        let v = serde_json::json!({
            "underlyings": self.underlyings,
            "assets": self.assets,
            "engine": self.params,
            "accounts": accounts,
        });
        v.to_string()
    }

    /// Checks the configuration and every account (the same checks as an `open_account` event).
    pub fn check(&self) -> Result<(), EngineError> {
        if self.assets.len() > MAX_ASSETS {
            return Err(genesis(
                "assets",
                format!("at most {MAX_ASSETS} assets, got {}", self.assets.len()),
            ));
        }
        for (name, a) in &self.assets {
            let place = format!("assets.{name}");
            if name == CASH_ASSET {
                return Err(genesis(place, "USD is cash (cash_usd), not an asset"));
            }
            finite_positive(&place, "price_usd", a.price_usd)?;
            finite_positive(&place, "depth_usd", a.depth_usd)?;
            if let Some(v) = a.ewma_vol {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(genesis(
                        format!("{place}.ewma_vol"),
                        format!("must be finite and non-negative, got {v}"),
                    ));
                }
            }
            if !a.rate.is_finite() {
                return Err(genesis(format!("{place}.rate"), "must be finite"));
            }
            let grid = self.underlyings.contains(name);
            if a.depth_usd.is_none() {
                return Err(genesis(
                    format!("{place}.depth_usd"),
                    "required (the haircut's liquidity term)",
                ));
            }
            if !grid && !a.stablecoin && a.ewma_vol.is_none() {
                return Err(genesis(
                    format!("{place}.ewma_vol"),
                    "required for an asset outside the scenario grid (the haircut's vol term)",
                ));
            }
            if grid && a.stablecoin {
                return Err(genesis(
                    format!("{place}.stablecoin"),
                    "a grid underlying cannot be a stablecoin",
                ));
            }
        }
        if self.underlyings.is_empty() {
            return Err(genesis("underlyings", "at least one underlying is needed"));
        }
        for u in &self.underlyings {
            if !self.assets.contains_key(u) {
                return Err(genesis(
                    format!("underlyings.{u}"),
                    "is not among the assets",
                ));
            }
        }
        let p = &self.params;
        if !(p.reorder_window_s.is_finite() && p.reorder_window_s >= 0.0) {
            return Err(genesis(
                "engine.reorder_window_s",
                "must be finite and non-negative",
            ));
        }
        if !(p.margin_publish_rel.is_finite() && p.margin_publish_rel >= 0.0) {
            return Err(genesis(
                "engine.margin_publish_rel",
                "must be finite and non-negative",
            ));
        }
        if self.accounts.len() > p.max_accounts {
            return Err(genesis(
                "accounts",
                format!("more than engine.max_accounts = {}", p.max_accounts),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (k, a) in self.accounts.iter().enumerate() {
            let place = format!("accounts[{k}] (id {})", a.id);
            check_account(
                a,
                &self.assets,
                &self.underlyings,
                p.max_positions_per_account,
            )
            .map_err(|(field, reason)| genesis(format!("{place}: {field}"), reason))?;
            if !seen.insert(a.id.as_str()) {
                return Err(genesis(place, "duplicate account id"));
            }
        }
        Ok(())
    }
}

/// Parses an instrument name and checks that its underlying is a grid underlying.
pub(crate) fn parse_instrument(name: &str, underlyings: &[String]) -> Result<Instrument, String> {
    let i = Instrument::parse(name)?;
    if !underlyings.contains(&i.underlying) {
        return Err(format!(
            "underlying {} is not one of the engine's underlyings ({})",
            i.underlying,
            underlyings.join(", ")
        ));
    }
    Ok(i)
}

/// Checks an account as given in the accounts file or an `open_account` event: `(field, reason)` on error.
pub(crate) fn check_account(
    a: &Account,
    assets: &BTreeMap<String, AssetConfig>,
    underlyings: &[String],
    max_lines: usize,
) -> Result<(), (String, String)> {
    let bad = |field: String, reason: String| Err((field, reason));
    if a.id.is_empty() || a.id.len() > 256 {
        return bad("id".into(), "must be 1 to 256 bytes".into());
    }
    if !a.cash_usd.is_finite() {
        return bad("cash_usd".into(), "must be finite".into());
    }
    if !a.accrued_funding_usd.is_finite() {
        return bad("accrued_funding_usd".into(), "must be finite".into());
    }
    let models = a.model.iter().chain(a.model_by_underlying.values());
    for m in models {
        if m != "rtm2m" {
            return bad(
                "model".into(),
                format!("the engine margins with the rtm2m model only, got {m}"),
            );
        }
    }
    if a.positions.len() + a.collateral.len() > max_lines {
        return bad(
            "positions".into(),
            format!("more than {max_lines} positions and collateral lines"),
        );
    }
    for (k, c) in a.collateral.iter().enumerate() {
        if !assets.contains_key(&c.asset) {
            return bad(
                format!("collateral[{k}].asset"),
                format!("{} is not a configured asset", c.asset),
            );
        }
        if !(c.amount.is_finite() && c.amount >= 0.0) {
            return bad(
                format!("collateral[{k}].amount"),
                format!("must be finite and non-negative, got {}", c.amount),
            );
        }
    }
    for (k, p) in a.positions.iter().enumerate() {
        let i = parse_instrument(&p.instrument, underlyings)
            .map_err(|r| (format!("positions[{k}].instrument"), r))?;
        if !p.size.is_finite() {
            return bad(
                format!("positions[{k}].size"),
                format!("must be finite, got {}", p.size),
            );
        }
        if matches!(
            i.kind,
            InstrumentKind::Future { .. } | InstrumentKind::Perpetual
        ) {
            match p.entry_price_usd {
                Some(e) if e.is_finite() && e > 0.0 => {}
                Some(e) => {
                    return bad(
                        format!("positions[{k}].entry_price_usd"),
                        format!("must be finite and positive, got {e}"),
                    )
                }
                None => {
                    return bad(
                        format!("positions[{k}].entry_price_usd"),
                        "required for futures and perpetuals".into(),
                    )
                }
            }
        }
    }
    Ok(())
}
