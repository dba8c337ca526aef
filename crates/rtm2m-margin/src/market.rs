//! A market snapshot: oracle prices of assets, forwards and rates per underlying, and mark implied vols
//! behind a [`VolSource`], read from JSON (format in `docs/margin.md`, example in `examples/market.json`).

use crate::instrument::parse_utc;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Oracle data of one asset (a coin, a stablecoin, a token held as collateral).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AssetQuote {
    /// Oracle (index) price, USD per unit.
    pub price_usd: f64,
    /// Oracle confidence in [0, 1] (1 = fully trusted; default 1).
    #[serde(default = "one")]
    pub confidence: f64,
    /// EWMA realised volatility, annualised fraction (e.g. 0.45); used by haircuts and cross-asset betas.
    #[serde(default)]
    pub ewma_vol: Option<f64>,
    /// Order-book depth, USD, within the liquidation slippage band; used by haircuts.
    #[serde(default)]
    pub depth_usd: Option<f64>,
    /// True for a USD stablecoin (subject to the de-peg contingency).
    #[serde(default)]
    pub stablecoin: bool,
    /// Static MM haircut of the asset set by the venue, fraction in [0, 1]: the dynamic haircut never goes
    /// below it, and it is used alone when the asset has no `ewma_vol` or `depth_usd`.
    #[serde(default)]
    pub static_haircut: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// Forwards and rate of one underlying.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct UnderlyingQuote {
    /// USD rate, continuously compounded per year, discounting USD-settled options (coin-settled ones use 0
    /// as Deribit does).
    #[serde(default)]
    pub rate: f64,
    /// Perpetual mark price, USD per coin (the index when absent).
    #[serde(default)]
    pub perp_usd: Option<f64>,
    /// Forward per expiry code (`27MAR26`), USD per coin.
    #[serde(default)]
    pub forwards: BTreeMap<String, f64>,
    /// Settlement price per expiry code that has expired, USD per coin (Deribit: the 30-minute TWAP of the
    /// index before 08:00 UTC). Expired instruments are valued on it; without it they are an error.
    #[serde(default)]
    pub settlements: BTreeMap<String, f64>,
}

/// A market snapshot as read from JSON.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MarketSnapshot {
    /// Time of the snapshot, RFC 3339 UTC.
    pub as_of: String,
    /// Oracle prices by asset name (`BTC`, `USDC`, ...).
    pub assets: BTreeMap<String, AssetQuote>,
    /// Forwards and rates by underlying.
    #[serde(default)]
    pub underlyings: BTreeMap<String, UnderlyingQuote>,
    /// Mark implied vol (annualised fraction) by option name.
    #[serde(default)]
    pub mark_ivs: BTreeMap<String, f64>,
}

impl MarketSnapshot {
    /// Reads a snapshot from JSON text; the error says where the text is malformed.
    pub fn from_json(text: &str) -> Result<MarketSnapshot, String> {
        let market: MarketSnapshot = serde_json::from_str(text).map_err(|e| e.to_string())?;
        market.as_of_unix_s()?;
        Ok(market)
    }

    /// `as_of`, seconds since the epoch.
    pub fn as_of_unix_s(&self) -> Result<i64, String> {
        parse_utc(&self.as_of)
    }
}

/// Where margin gets an option's volatility. Implemented by [`MarkIvs`] from per-instrument marks; a fitted
/// surface (`rtm2m-surface`) can implement it too.
pub trait VolSource {
    /// Annualised vol (fraction) of `instrument` on `underlying`, strike `strike_usd`, forward `forward_usd`,
    /// `expiry_years` ahead; `None` when the source has no vol for it.
    fn vol(
        &self,
        instrument: &str,
        underlying: &str,
        strike_usd: f64,
        forward_usd: f64,
        expiry_years: f64,
    ) -> Option<f64>;
}

/// A [`VolSource`] from each option's own mark IV.
#[derive(Debug, Clone, Copy)]
pub struct MarkIvs<'a>(pub &'a BTreeMap<String, f64>);

impl VolSource for MarkIvs<'_> {
    fn vol(&self, instrument: &str, _: &str, _: f64, _: f64, _: f64) -> Option<f64> {
        self.0.get(instrument).copied()
    }
}
