//! The read-only snapshot the API serves: the writer builds a new [`View`] after each batch of inputs and
//! swaps it in behind an `Arc`, so a request never waits for the engine and never sees half a batch.

use rtm2m_engine::event::{LiquidationAlertOut, MarkOut};
use rtm2m_engine::Status;
use rtm2m_market::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// The most liquidation alerts a view keeps (the dashboard's feed and `GET /v1/alerts`).
pub const ALERTS_KEPT: usize = 200;

/// One account as listed: the engine's stored margin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountRow {
    /// Account id.
    pub id: String,
    /// Status (`null` before the first margin).
    pub status: Option<Status>,
    /// Equity, USD (absent when unpriced).
    pub equity_usd: Option<f64>,
    /// Initial margin, USD.
    pub im_usd: Option<f64>,
    /// Maintenance margin, USD.
    pub mm_usd: Option<f64>,
    /// MM / equity: liquidatable at ≥ 1; `null` when equity ≤ 0 or unpriced.
    pub margin_ratio: Option<f64>,
    /// Worst scenario loss (≥ 0), USD.
    pub scenario_loss_usd: Option<f64>,
    /// Label of the worst scenario.
    pub worst_scenario: Option<String>,
    /// Why the margin cannot be computed (status `unpriced`).
    pub reason: Option<String>,
}

impl AccountRow {
    /// The sort key, largest first: bankrupt (equity ≤ 0) accounts first, then by margin ratio, then the
    /// unpriced and not yet margined ones.
    pub fn risk_key(&self) -> f64 {
        match (self.status, self.margin_ratio) {
            (Some(Status::Bankrupt), _) => f64::INFINITY,
            (_, Some(r)) => r,
            _ => f64::NEG_INFINITY,
        }
    }
}

/// An instrument with its valuation at its underlying's last tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstrumentRow {
    /// Name (Deribit naming).
    pub name: String,
    /// Underlying.
    pub underlying: String,
    /// `option`, `future`, `perpetual` or `spot`.
    pub kind: &'static str,
    /// Expiry code (`27MAR26`) of an option or future.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    /// Strike of an option, USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strike_usd: Option<f64>,
    /// `call` or `put`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option_type: Option<&'static str>,
    /// Last mark IV quoted (options), annualised fraction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark_iv: Option<f64>,
    /// Value of one unit at the last tick, USD.
    pub price_usd: Option<f64>,
    /// Delta of one unit, coins.
    pub delta_coin: Option<f64>,
    /// Why it has no valuation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One quote of a smile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmileQuote {
    /// Instrument (the out-of-the-money option at the strike).
    pub instrument: String,
    /// Strike, USD.
    pub strike_usd: f64,
    /// ln(strike / forward).
    pub log_moneyness: f64,
    /// Mark IV, annualised fraction.
    pub mark_iv: f64,
    /// Bid IV, when quoted.
    pub bid_iv: Option<f64>,
    /// Ask IV, when quoted.
    pub ask_iv: Option<f64>,
}

/// Raw SVI parameters of a slice: total variance w(k) = a + b(ρ(k − m) + √((k − m)² + σ²)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SviParams {
    /// Level.
    pub a: f64,
    /// Slope of the wings.
    pub b: f64,
    /// Skew, in (−1, 1).
    pub rho: f64,
    /// Shift.
    pub m: f64,
    /// Curvature at the money (> 0).
    pub sigma: f64,
}

impl SviParams {
    /// Total variance at log-moneyness `k` (Gatheral 2004, eq. 1).
    pub fn total_variance(&self, k: f64) -> f64 {
        let d = k - self.m;
        self.a + self.b * (self.rho * d + (d * d + self.sigma * self.sigma).sqrt())
    }
}

/// One expiry of a surface.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmileView {
    /// Expiry code (`27MAR26`).
    pub expiry: String,
    /// Expiry instant.
    pub expiry_ts: Timestamp,
    /// Years to expiry at the last quote.
    pub expiry_years: f64,
    /// Forward of the expiry, USD.
    pub forward_usd: f64,
    /// The smile's SVI parameters when the feed knows them (the simulator does).
    pub svi: Option<SviParams>,
    /// Quotes, by strike.
    pub quotes: Vec<SmileQuote>,
}

/// The vol surface of one underlying as quoted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurfaceView {
    /// Underlying.
    pub underlying: String,
    /// Time of the last option quote.
    pub updated_ts: Option<Timestamp>,
    /// Expiries, nearest first.
    pub expiries: Vec<SmileView>,
}

/// The index of one underlying, with its sources when the feed knows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexView {
    /// Underlying.
    pub underlying: String,
    /// Time of the update.
    pub ts: Timestamp,
    /// Index, USD (absent when halted).
    pub price_usd: Option<f64>,
    /// Half-width of the confidence interval, USD.
    pub confidence_usd: Option<f64>,
    /// `ok`, `degraded` or `halted`.
    pub status: rtm2m_market::event::IndexStatus,
    /// Why a priced update is not `ok`.
    pub flags: Vec<String>,
    /// Sources used: `{source, price, price_usd}`.
    pub used: Vec<serde_json::Value>,
    /// Sources excluded: `{source, reason, price}`.
    pub excluded: Vec<serde_json::Value>,
    /// Whether the sources are known (the simulator's aggregation); `false` for an index event posted or
    /// replayed as is.
    pub sources_known: bool,
}

/// What the service is fed by, and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedStatus {
    /// `simulator`, `replay` or `none`.
    pub kind: String,
    /// A line on its progress.
    pub note: String,
}

/// The snapshot the API serves.
#[derive(Debug, Clone)]
pub struct View {
    /// The last applied seq.
    pub seq: u64,
    /// The engine clock (latest applied `ts`).
    pub clock: Option<Timestamp>,
    /// Accounts, riskiest first ([`AccountRow::risk_key`]).
    pub accounts: Vec<AccountRow>,
    /// Position of each account in `accounts`.
    pub by_id: HashMap<String, usize>,
    /// Accounts per status, in `metrics::STATUSES` order.
    pub status_counts: [u64; 5],
    /// The last `mark` output per underlying.
    pub marks: BTreeMap<String, MarkOut>,
    /// Instruments per underlying.
    pub instruments: BTreeMap<String, Arc<Vec<InstrumentRow>>>,
    /// Surfaces per underlying.
    pub surfaces: BTreeMap<String, Arc<SurfaceView>>,
    /// The last index per underlying.
    pub index: BTreeMap<String, IndexView>,
    /// The latest liquidation alerts, newest last.
    pub alerts: Arc<VecDeque<LiquidationAlertOut>>,
    /// Feed status.
    pub feed: FeedStatus,
    /// Ready: the engine has applied its first market data and margined the accounts.
    pub ready: bool,
}

impl View {
    /// The view before the writer has published anything.
    pub fn empty(feed: &str) -> View {
        View {
            seq: 0,
            clock: None,
            accounts: Vec::new(),
            by_id: HashMap::new(),
            status_counts: [0; 5],
            marks: BTreeMap::new(),
            instruments: BTreeMap::new(),
            surfaces: BTreeMap::new(),
            index: BTreeMap::new(),
            alerts: Arc::new(VecDeque::new()),
            feed: FeedStatus {
                kind: feed.into(),
                note: "starting".into(),
            },
            ready: false,
        }
    }
}
