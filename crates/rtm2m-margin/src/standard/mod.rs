//! Standard (per-position) margin in the shape of Derive's standard risk manager (SRM), which is also the
//! shape of Deribit's standard margin: each short option carries an isolated requirement from spot and its
//! mark, an expiry's requirement may be capped by its bounded maximum loss, and perps, base assets, oracle
//! confidence and stablecoin de-peg add their charges. [`StandardParams::derive_srm_tests`] and
//! [`StandardParams::deribit`] are the two presets.
//!
//! Margins are signed, in USD: ≥ 0 is healthy.

mod model;
pub mod vectors;

pub use model::{isolated_margin, margin};

use rtm2m_pricing::OptionKind;

/// Bound of an expiry's requirement by its maximum loss at expiry (Derive SRM only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaxLossBound {
    /// `unpairedIMScale`: IM charge per net short call, × forward.
    pub unpaired_im_scale: f64,
    /// `unpairedMMScale`: MM charge per net short call, × forward.
    pub unpaired_mm_scale: f64,
}

/// IM charges for oracles whose confidence falls below a threshold (Derive `OracleContingencyParams`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OracleContingency {
    /// `perpThreshold` (0 disables).
    pub perp_threshold: f64,
    /// `optionThreshold` (0 disables).
    pub option_threshold: f64,
    /// `baseThreshold` (0 disables).
    pub base_threshold: f64,
    /// `OCFactor`: charge is `(1 − confidence)·factor·notional`.
    pub factor: f64,
}

/// IM add-on when the stablecoin trades below a threshold (Derive `DepegParams`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepegParams {
    /// `threshold`, USD per stablecoin (0 disables).
    pub threshold: f64,
    /// `depegFactor`: charge per USD of de-peg × spot × (short options + |perp|).
    pub factor: f64,
}

/// Parameters of the standard margin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StandardParams {
    /// `maxSpotReq` (Derive `scOffset1`): short-option IM fraction of spot before the OTM discount.
    pub max_spot_req: f64,
    /// `minSpotReq` (Derive `scOffset2`): floor of the short-option IM fraction of spot.
    pub min_spot_req: f64,
    /// `mmCallSpotReq`: short-call MM fraction of spot.
    pub mm_call_spot_req: f64,
    /// `mmPutSpotReq`: short-put MM fraction of spot.
    pub mm_put_spot_req: f64,
    /// `MMPutMtMReq`: short-put MM as a multiple of its mark (the smaller requirement wins); 0 disables.
    pub mm_put_mtm_req: f64,
    /// `mmOffsetScale`: a short put's IM is at least its MM × this.
    pub mm_offset_scale: f64,
    /// Max-loss bound of an expiry, `None` for a purely per-position margin.
    pub max_loss_bound: Option<MaxLossBound>,
    /// `mmPerpReq`: perp MM fraction of notional at the perp price.
    pub perp_mm_req: f64,
    /// `imPerpReq`: perp IM fraction of notional.
    pub perp_im_req: f64,
    /// `baseAssetMarginFactor`: fraction of a held base asset's value that counts as margin.
    pub base_margin_factor: f64,
    /// Oracle confidence charges.
    pub oracle: OracleContingency,
    /// Stablecoin de-peg charge.
    pub depeg: DepegParams,
}

impl StandardParams {
    /// The parameters of Derive's SRM test setup behind `srm/test-cases.json`.
    pub fn derive_srm_tests() -> StandardParams {
        StandardParams {
            max_spot_req: 0.15,
            min_spot_req: 0.10,
            mm_call_spot_req: 0.075,
            mm_put_spot_req: 0.075,
            mm_put_mtm_req: 0.075,
            mm_offset_scale: 1.05,
            max_loss_bound: Some(MaxLossBound {
                unpaired_im_scale: 1.2,
                unpaired_mm_scale: 1.1,
            }),
            perp_mm_req: 0.05,
            perp_im_req: 0.065,
            base_margin_factor: 0.1,
            oracle: OracleContingency {
                perp_threshold: 0.4,
                option_threshold: 0.4,
                base_threshold: 0.4,
                factor: 0.4,
            },
            depeg: DepegParams {
                threshold: 0.98,
                factor: 1.2,
            },
        }
    }

    /// Deribit's standard margin: short call IM `max(0.15 − OTM, 0.10)·S + mark`, MM `0.075·S + mark`; short
    /// put alike with OTM measured below spot and IM at least MM; no max-loss bound, no oracle or de-peg
    /// charges. Futures use Deribit's base rates (IM 4%, MM 2% of notional; the size add-on is not modelled).
    pub fn deribit() -> StandardParams {
        StandardParams {
            max_spot_req: 0.15,
            min_spot_req: 0.10,
            mm_call_spot_req: 0.075,
            mm_put_spot_req: 0.075,
            mm_put_mtm_req: 0.0,
            mm_offset_scale: 1.0,
            max_loss_bound: None,
            perp_mm_req: 0.02,
            perp_im_req: 0.04,
            base_margin_factor: 0.0,
            oracle: OracleContingency {
                perp_threshold: 0.0,
                option_threshold: 0.0,
                base_threshold: 0.0,
                factor: 0.0,
            },
            depeg: DepegParams {
                threshold: 0.0,
                factor: 0.0,
            },
        }
    }
}

/// An option position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StandardOption {
    /// Strike, USD.
    pub strike_usd: f64,
    /// Call or put.
    pub kind: OptionKind,
    /// Signed contracts (units of the underlying); < 0 is short.
    pub amount: f64,
    /// Mark implied vol (annualised, fraction).
    pub vol: f64,
}

/// The options of one expiry of a market.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardExpiry {
    /// Time to expiry, seconds.
    pub seconds_to_expiry: f64,
    /// Forward (or, near expiry, the settlement estimate), USD.
    pub forward_usd: f64,
    /// Oracle confidence of the forward.
    pub forward_confidence: f64,
    /// Oracle confidence of the expiry's vols.
    pub vol_confidence: f64,
    /// Positions.
    pub options: Vec<StandardOption>,
}

/// A perpetual position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StandardPerp {
    /// Signed position, units of the underlying.
    pub position: f64,
    /// Perp price, USD.
    pub price_usd: f64,
    /// Oracle confidence of the perp price.
    pub confidence: f64,
    /// Unrealised P&L plus unsettled funding, USD.
    pub unrealised_pnl_usd: f64,
}

/// Everything an account holds on one underlying.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardMarket {
    /// Underlying name, e.g. `ETH`.
    pub name: String,
    /// Spot (index) price, USD.
    pub spot_usd: f64,
    /// Oracle confidence of the spot.
    pub spot_confidence: f64,
    /// Perp position, if any.
    pub perp: Option<StandardPerp>,
    /// Base asset held (e.g. wrapped ETH), units (≥ 0).
    pub base_amount: f64,
    /// Options by expiry.
    pub expiries: Vec<StandardExpiry>,
}

/// An account under standard margin.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardAccount {
    /// Account name (for messages).
    pub id: String,
    /// Cash, USD.
    pub cash_usd: f64,
    /// Stablecoin price, USD.
    pub stable_price_usd: f64,
    /// Markets.
    pub markets: Vec<StandardMarket>,
}

/// Standard margin of an account.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardMargin {
    /// Margin (MM or IM as asked), USD, signed: ≥ 0 is healthy.
    pub margin_usd: f64,
    /// Mark-to-market including cash, USD.
    pub mtm_usd: f64,
    /// Option margin per market (after the max-loss bound and oracle charges), USD, in market order.
    pub option_margin_usd: Vec<f64>,
}
