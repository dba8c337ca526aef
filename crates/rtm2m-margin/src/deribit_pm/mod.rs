//! Deribit portfolio margin (the "risk matrix"): per-instrument risk vectors over price moves × vol states,
//! summed per currency, gains scaled by `pnl_offset`, worst case, roll shock, MM and IM. Amounts are in coin
//! (Deribit's inverse contracts settle in the currency); requirements are ≥ 0.

mod instrument;
mod model;
pub mod vectors;

pub use instrument::{parse_instrument, DeribitInstrument};
pub use model::{margin, risk_vector, RiskVector};

/// Parameters of the risk matrix (Deribit's `model_params` of one currency and currency pair).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeribitPmParams {
    /// `price_range`: largest standard move, fraction (0.16 = ±16%).
    pub price_range: f64,
    /// `buckets_count`: price levels on each side of 0.
    pub buckets_count: usize,
    /// `volatility_range_up`: vol up multiplier is `1 + range_up·(30/days)^power`.
    pub volatility_range_up: f64,
    /// `volatility_range_down`: vol down multiplier is `max(0, 1 − range_down·(30/days)^power)`.
    pub volatility_range_down: f64,
    /// `short_term_vega_power`: power for expiries ≤ 30 days.
    pub short_term_vega_power: f64,
    /// `long_term_vega_power`: power beyond 30 days.
    pub long_term_vega_power: f64,
    /// `min_volatility_for_shock_up`: floor of a shocked-up vol, fraction.
    pub min_volatility_for_shock_up: f64,
    /// `extended_table_factor`: multiplier of the extended table's dampened losses.
    pub extended_table_factor: f64,
    /// `extended_dampener`: USD of extended-table loss forgiven per currency.
    pub extended_dampener_usd: f64,
    /// `pnl_offset`: fraction of a scenario gain that offsets losses (0 = gains ignored).
    pub pnl_offset: f64,
    /// `annualised_move_risk`: roll shock per year to expiry, fraction of size.
    pub annualised_move_risk: f64,
    /// `min_annualised_move`: floor of the roll shock, fraction of size.
    pub min_annualised_move: f64,
    /// `mm_factor`: MM as a fraction of the risk-matrix margin.
    pub mm_factor: f64,
}

impl DeribitPmParams {
    /// The BTC parameters Deribit publishes in its `private/pme/simulate` response example (API reference
    /// v2.1.1, `model_params` of `btc_usd` and `btc`, timestamp 1718619740501): ±16% in 4 buckets, vol +50% /
    /// −25% at 30 days with powers 0.3 / 0.13, shocked-up vol floored at 50%, extended dampener 100 000 USD,
    /// no pnl offset, roll shock 7.5% per year (floor 1%), MM = 80% of the risk-matrix margin.
    pub fn deribit_published_btc() -> DeribitPmParams {
        DeribitPmParams {
            price_range: 0.16,
            buckets_count: 4,
            volatility_range_up: 0.5,
            volatility_range_down: 0.25,
            short_term_vega_power: 0.3,
            long_term_vega_power: 0.13,
            min_volatility_for_shock_up: 0.5,
            extended_table_factor: 1.0,
            extended_dampener_usd: 100_000.0,
            pnl_offset: 0.0,
            annualised_move_risk: 0.075,
            min_annualised_move: 0.01,
            mm_factor: 0.8,
        }
    }
}

/// One position of the portfolio.
#[derive(Debug, Clone, PartialEq)]
pub struct DeribitPosition {
    /// Instrument name as Deribit writes it (`BTC-PERPETUAL`, `BTC-28JUN24`, `BTC-28JUN24-70000-C`).
    pub name: String,
    /// The instrument with its time to expiry.
    pub instrument: DeribitInstrument,
    /// Signed size in coin (for futures: USD notional / index at entry, as the simulate response reports it).
    pub size_coin: f64,
}

/// A single-currency portfolio with the inputs the risk matrix takes as given.
#[derive(Debug, Clone, PartialEq)]
pub struct DeribitPortfolio {
    /// Account or example name.
    pub id: String,
    /// Index price of the currency, USD.
    pub index_usd: f64,
    /// Positions.
    pub positions: Vec<DeribitPosition>,
    /// Margin of open orders, coin (computed by the matching engine, an input here).
    pub open_orders_margin_coin: f64,
    /// Market-maker-protection margin, coin (an input here).
    pub mmp_margin_coin: f64,
    /// Delta shock, coin (an input here; 0 in the official example).
    pub delta_shock_coin: f64,
    /// Correlation contingency, coin (an input here; 0 in the official example).
    pub correlation_contingency_coin: f64,
}

/// Where the worst case sits in the aggregated risk vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorstBucket {
    /// `standard` or `extended` table.
    pub source: &'static str,
    /// `left` (price down), `center` or `right` (price up).
    pub side: &'static str,
    /// 1-based bucket within the side, in table order.
    pub bucket: usize,
    /// 1-based vol state (standard table) or 1 (extended table).
    pub index: usize,
}

/// Result of the risk matrix for one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct DeribitPmReport {
    /// Aggregated risk vector (after `pnl_offset` and the extended dampener), coin.
    pub aggregated: RiskVector,
    /// Largest loss over the aggregated vector, coin (≥ 0).
    pub worst_case_coin: f64,
    /// Where the worst case is.
    pub worst_case_bucket: WorstBucket,
    /// Roll shock, coin.
    pub roll_shock_coin: f64,
    /// Risk-matrix margin, coin.
    pub risk_matrix_margin_coin: f64,
    /// Maintenance margin, coin.
    pub mm_coin: f64,
    /// Initial margin, coin.
    pub im_coin: f64,
}
