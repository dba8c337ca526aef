//! Accounts as read from a portfolio JSON file (format in `docs/margin.md`, example in
//! `examples/portfolio.json`): cash, multi-asset collateral, accrued funding and positions by instrument name.

use serde::Deserialize;
use std::collections::BTreeMap;

/// An asset held as collateral.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Collateral {
    /// Asset name, a key of the market's `assets`.
    pub asset: String,
    /// Units held (≥ 0).
    pub amount: f64,
}

/// A position in one instrument.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// Instrument name (`instrument` module naming).
    pub instrument: String,
    /// Signed size in coins of the underlying (options: contracts on one coin); < 0 is short.
    pub size: f64,
    /// Average entry price, USD per coin: required for futures and perpetuals (their unrealised P&L is
    /// `size·(price − entry)`); ignored for options and spot (premiums are already in cash).
    #[serde(default)]
    pub entry_price_usd: Option<f64>,
}

/// One account.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Account name, used in every message about it.
    pub id: String,
    /// Cash, USD (may be negative: borrowed).
    #[serde(default)]
    pub cash_usd: f64,
    /// Funding accrued on perpetuals and not yet settled, USD (signed).
    #[serde(default)]
    pub accrued_funding_usd: f64,
    /// Collateral assets.
    #[serde(default)]
    pub collateral: Vec<Collateral>,
    /// Positions.
    #[serde(default)]
    pub positions: Vec<Position>,
    /// This account's margin model (`standard`, `rtm2m`, `deribit-pm`, `derive-pmrm2`); the caller's default
    /// when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// A model per underlying, overriding `model` for that underlying's positions (e.g. `{"ETH": "standard"}`).
    #[serde(default)]
    pub model_by_underlying: BTreeMap<String, String>,
}

/// A portfolio file: a list of accounts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Portfolio {
    /// Accounts, margined independently.
    pub accounts: Vec<Account>,
}

impl Portfolio {
    /// Reads a portfolio from JSON text; the error says where the text is malformed.
    pub fn from_json(text: &str) -> Result<Portfolio, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}
