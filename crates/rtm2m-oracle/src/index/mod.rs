//! Index aggregation: one USD index per underlying from many venues' prices, updated event by event and
//! published at a fixed cadence of event time.
//!
//! A *source* is one pair on one venue (`binanceus:BTC/USDT`). Every quote, trade or bar updates its
//! source's last price at once (O(1), no allocation once the source is known); every `cycle_ns` of event
//! time the engine publishes one [`IndexReport`] per underlying. A cycle at instant `T` sees every event
//! stamped at or before `T`. Time comes only from events; nothing here reads a clock.
//!
//! Each cycle, per underlying (design, defaults and the reasons behind them: `docs/index.md`):
//! 1. Sources are excluded, each with an [`ExclusionReason`] (the first that applies, in this order):
//!    `unsupported_quote`, `zero_price`, `jump` (a print more than `jump_threshold` away from the source's
//!    last accepted price, until a second print confirms it), `stale` (no live update for
//!    `staleness_ns`: a repeated identical quote or a bar without volume is not live), `one_sided`,
//!    `no_volume` (VWAP only).
//! 2. Stablecoin-quoted prices are converted to USD at the stablecoin's rate: the median of direct
//!    `STABLE/USD` pairs when the data has them; otherwise the implied rate, (median of USD-quoted sources)
//!    / (median of the stablecoin-quoted sources), taken as the median of its samples over `rate_window_ns`;
//!    otherwise par. A stablecoin whose rate is more than `depeg_threshold` from 1 has its pairs excluded
//!    (`depeg`); so does any stablecoin pair whose price this cycle is more than `depeg_threshold` from
//!    the median of the other quote currencies' prices, when USD-quoted sources and a second source
//!    corroborate that median (the fast check, `rates::off_peg_now`): a de-peg's pairs leave the index the
//!    cycle they move, not when the slow rate catches up.
//! 3. Sources more than `outlier_band` from the median of the rest are excluded (`outlier`).
//! 4. The used sources are aggregated by the [`Method`] (capped median by default) and a Pyth-style
//!    confidence is computed from their dispersion ([`aggregate::pyth_confidence`]).
//! 5. Status: `halted` without any used source (no price), `degraded` below `quorum` used sources or when
//!    the index moved more than `jump_threshold` since the last cycle (flagged, not silently accepted),
//!    `ok` otherwise.

pub mod aggregate;
mod rates;

use crate::OracleError;
use rates::{off_peg_now, RateWindow};
use rtm2m_market::event::{Bar, IndexStatus, IndexUpdate, Quote, Trade};
use rtm2m_market::{Event, Pair, Timestamp};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// The most volume-window entries one source keeps (VWAP method): a bound on memory per source.
pub const MAX_VWAP_ENTRIES: usize = 4096;

/// The most sources (venue and pair) one engine tracks: a bound on memory.
pub const MAX_SOURCES: usize = 65_536;

/// How the used sources' USD prices become one index price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Deribit's capped median: prices clamped to ±`cap_band` of their median, then averaged.
    CappedMedian,
    /// The plain median.
    Median,
    /// Volume-weighted average of each source's trades and bars over `vwap_window_ns`.
    Vwap,
}

impl Method {
    /// Every method, in the order the CLI lists them.
    pub const ALL: [Method; 3] = [Method::CappedMedian, Method::Median, Method::Vwap];

    /// The CLI name: `capped-median`, `median`, `vwap`.
    pub fn name(self) -> &'static str {
        match self {
            Method::CappedMedian => "capped-median",
            Method::Median => "median",
            Method::Vwap => "vwap",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = OracleError;

    fn from_str(text: &str) -> Result<Method, OracleError> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == text)
            .ok_or_else(|| {
                OracleError::config(
                    "method",
                    format!("`{text}` is not one of capped-median, median, vwap"),
                )
            })
    }
}

/// The engine's settings. [`IndexConfig::default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConfig {
    /// Aggregation method.
    pub method: Method,
    /// Time between published cycles, nanoseconds of event time (default 60 s: one per minute of bars).
    pub cycle_ns: i64,
    /// A source without a live update for longer than this is `stale`, nanoseconds (default 180 s, as
    /// Deribit drops an exchange after 3 minutes without book data).
    pub staleness_ns: i64,
    /// Fewer used sources than this and the index is `degraded` (default 3).
    pub quorum: usize,
    /// Capped median: each price is clamped to within this fraction of the median (default 0.005).
    pub cap_band: f64,
    /// A source further than this fraction from the median of all candidates is excluded as an
    /// `outlier` (default 0.02).
    pub outlier_band: f64,
    /// A stablecoin whose USD rate is further than this fraction from 1 is de-pegged: its pairs are
    /// excluded; so is a stablecoin pair whose price is further than this fraction from the other quote
    /// currencies' prices in the same cycle (default 0.02).
    pub depeg_threshold: f64,
    /// Implied stablecoin rates are the median of their samples over this window, nanoseconds
    /// (default 600 s).
    pub rate_window_ns: i64,
    /// A move larger than this fraction is a jump: a source's print waits for confirmation, and the
    /// index is flagged (default 0.10).
    pub jump_threshold: f64,
    /// VWAP method: the window of trades and bars averaged, nanoseconds (default 300 s).
    pub vwap_window_ns: i64,
    /// Quote currencies taken as USD stablecoins (default USDT, USDC, BUSD, TUSD, DAI, USDP, FDUSD, PYUSD).
    pub stablecoins: Vec<String>,
}

impl Default for IndexConfig {
    fn default() -> IndexConfig {
        IndexConfig {
            method: Method::CappedMedian,
            cycle_ns: 60 * NANOS_PER_SECOND,
            staleness_ns: 180 * NANOS_PER_SECOND,
            quorum: 3,
            cap_band: 0.005,
            outlier_band: 0.02,
            depeg_threshold: 0.02,
            rate_window_ns: 600 * NANOS_PER_SECOND,
            jump_threshold: 0.10,
            vwap_window_ns: 300 * NANOS_PER_SECOND,
            stablecoins: [
                "USDT", "USDC", "BUSD", "TUSD", "DAI", "USDP", "FDUSD", "PYUSD",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl IndexConfig {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), OracleError> {
        let positive_ns = |field: &str, value: i64| {
            if value > 0 {
                Ok(())
            } else {
                Err(OracleError::config(
                    field,
                    format!("must be > 0 ns, found {value}"),
                ))
            }
        };
        positive_ns("cycle_ns", self.cycle_ns)?;
        positive_ns("staleness_ns", self.staleness_ns)?;
        positive_ns("rate_window_ns", self.rate_window_ns)?;
        positive_ns("vwap_window_ns", self.vwap_window_ns)?;
        if self.quorum == 0 {
            return Err(OracleError::config("quorum", "must be at least 1"));
        }
        let fraction = |field: &str, value: f64, max: f64| {
            if value > 0.0 && value < max {
                Ok(())
            } else {
                Err(OracleError::config(
                    field,
                    format!("must be a fraction in (0, {max}), found {value}"),
                ))
            }
        };
        fraction("cap_band", self.cap_band, 0.5)?;
        fraction("outlier_band", self.outlier_band, 1.0)?;
        fraction("depeg_threshold", self.depeg_threshold, 1.0)?;
        fraction("jump_threshold", self.jump_threshold, 1.0)?;
        if self.outlier_band < self.cap_band {
            return Err(OracleError::config(
                "outlier_band",
                format!(
                    "{} is below cap_band {}: sources inside the cap band would be excluded",
                    self.outlier_band, self.cap_band
                ),
            ));
        }
        for (i, code) in self.stablecoins.iter().enumerate() {
            let valid = !code.is_empty()
                && code.len() <= 16
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !valid || code == "USD" {
                return Err(OracleError::config(
                    &format!("stablecoins[{i}]"),
                    format!("`{code}` is not a currency code other than USD (1 to 16 of A-Z, 0-9)"),
                ));
            }
        }
        Ok(())
    }
}

/// Why a source was left out of a cycle. The codes (`snake_case`) are stable: consumers match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    /// No live update for longer than the staleness limit (a frozen or silent venue).
    Stale,
    /// The last print was zero, negative or not a number.
    ZeroPrice,
    /// The last print jumped more than the jump threshold from the source's price and is not confirmed.
    Jump,
    /// The last quote had only one side: no mid price.
    OneSided,
    /// VWAP: no traded volume in the window.
    NoVolume,
    /// The quote currency is neither USD nor a configured stablecoin.
    UnsupportedQuote,
    /// The quote currency is a stablecoin off its peg by more than the threshold: by its USD rate, or by
    /// this pair's price against the other quote currencies' in this cycle.
    Depeg,
    /// Too far from the median of the other candidates.
    Outlier,
}

impl ExclusionReason {
    /// The stable code, as serialised: `stale`, `zero_price`, `jump`, `one_sided`, `no_volume`,
    /// `unsupported_quote`, `depeg`, `outlier`.
    pub fn code(self) -> &'static str {
        match self {
            ExclusionReason::Stale => "stale",
            ExclusionReason::ZeroPrice => "zero_price",
            ExclusionReason::Jump => "jump",
            ExclusionReason::OneSided => "one_sided",
            ExclusionReason::NoVolume => "no_volume",
            ExclusionReason::UnsupportedQuote => "unsupported_quote",
            ExclusionReason::Depeg => "depeg",
            ExclusionReason::Outlier => "outlier",
        }
    }
}

impl fmt::Display for ExclusionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why an update is not `ok` although it has a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexFlag {
    /// Fewer used sources than the quorum.
    BelowQuorum,
    /// The index moved more than the jump threshold since the last published price.
    Jump,
}

/// Where a quote currency's USD rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateBasis {
    /// USD itself.
    Usd,
    /// The median of direct `STABLE/USD` (or `USD/STABLE`) pairs.
    Direct,
    /// Implied by the underlying: USD-quoted over stablecoin-quoted prices, median over the rate window.
    Implied,
    /// No way to measure it (no direct pair, no USD-quoted source in the window): taken at par, 1.
    Par,
}

/// A source used in a cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsedSource {
    /// `venue:BASE/QUOTE`.
    pub source: String,
    /// Its price in its quote currency per unit (the window VWAP under the VWAP method).
    pub price: f64,
    /// The same in USD per unit, after the quote currency's rate.
    pub price_usd: f64,
    /// VWAP method: traded volume in the window, base units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
}

/// A source left out of a cycle, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExcludedSource {
    /// `venue:BASE/QUOTE`.
    pub source: String,
    /// Why.
    pub reason: ExclusionReason,
    /// Its last accepted price in its quote currency per unit, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
}

/// The USD rate applied to a quote currency in a cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuoteRate {
    /// The currency (`USDT`).
    pub currency: String,
    /// USD per unit of the currency.
    pub usd_rate: f64,
    /// Where the rate came from.
    pub basis: RateBasis,
    /// Whether it is off its peg by more than the threshold: its rate, or this cycle's prices of all its
    /// pairs (the fast check). Its pairs are then excluded as `depeg`. A single pair can also be excluded
    /// as `depeg` on its own (that venue's stablecoin off its peg) while this stays false.
    pub depeg: bool,
}

/// One published index update: price, confidence, status, and every source used or excluded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexReport {
    /// The cycle's instant: every event at or before it is included.
    pub ts: Timestamp,
    /// The asset indexed (`BTC`); prices are USD per unit.
    pub underlying: String,
    /// Index price, USD per unit; `None` when halted.
    pub price: Option<f64>,
    /// Half-width of the Pyth-style confidence interval around `price`, USD; `None` when halted.
    pub confidence: Option<f64>,
    /// `ok`, `degraded` (a price, to be used with care: see `flags`) or `halted` (no price).
    pub status: IndexStatus,
    /// Why a priced update is not `ok`.
    pub flags: Vec<IndexFlag>,
    /// Sources aggregated, by name.
    pub used: Vec<UsedSource>,
    /// Sources left out, by name, each with its reason.
    pub excluded: Vec<ExcludedSource>,
    /// The rates applied to the quote currencies of this underlying's sources.
    pub rates: Vec<QuoteRate>,
}

impl IndexReport {
    /// The `index` event of this update, or `None` when halted (there is no price to publish).
    pub fn to_event(&self) -> Option<IndexUpdate> {
        Some(IndexUpdate {
            ts: self.ts,
            underlying: self.underlying.clone(),
            price: self.price?,
            confidence: self.confidence?,
            status: self.status,
        })
    }
}

/// One price observation of a source, for [`IndexEngine::observe`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// When it was observed.
    pub ts: Timestamp,
    /// Price in the pair's quote currency per base unit (mid, trade price or bar close).
    pub price: f64,
    /// The source's own uncertainty of `price`, same unit, ≥ 0 (half the spread, or half a bar's range).
    pub confidence: f64,
    /// Traded volume carried, base units (0 for a quote).
    pub volume: f64,
    /// The price the volume traded at on average, for VWAP (trade price, or a bar's (high+low+close)/3).
    pub vwap_price: f64,
    /// Whether it is evidence of a live market: a changed quote, a trade, a bar with volume.
    pub live: bool,
}

/// The index of a source, from [`IndexEngine::source_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceId(usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteKind {
    Usd,
    Stable(usize),
    Unsupported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Prices an underlying.
    Constituent { underlying: usize, quote: QuoteKind },
    /// Prices a stablecoin in USD (`USDC/USD`, or `USD/USDC` inverted).
    Rate { stable: usize, inverted: bool },
    /// A pair the index has no use for (a stablecoin against another).
    Ignored,
}

#[derive(Debug, Clone)]
struct Source {
    label: String,
    role: Role,
    price: f64,
    confidence: f64,
    has_price: bool,
    fresh_at_ns: i64,
    zero: bool,
    one_sided: bool,
    pending: Option<(f64, f64)>,
    last_bid: Option<f64>,
    last_ask: Option<f64>,
    window: VecDeque<(i64, f64, f64)>,
}

#[derive(Debug, Clone)]
struct Underlying {
    name: String,
    sources: Vec<usize>,
    last_price: Option<f64>,
}

#[derive(Debug, Clone)]
struct Stable {
    code: String,
    window: RateWindow,
    direct: Vec<usize>,
}

/// A constituent that passed the per-source checks of a cycle.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    id: usize,
    quote: QuoteKind,
    price: f64,
    confidence: f64,
    volume: f64,
    price_usd: f64,
    confidence_usd: f64,
}

/// The incremental index engine: feed it events in time order, collect [`IndexReport`]s.
#[derive(Debug, Clone)]
pub struct IndexEngine {
    config: IndexConfig,
    lookup: HashMap<String, HashMap<Pair, usize>>,
    sources: Vec<Source>,
    underlyings: Vec<Underlying>,
    /// Underlying indices sorted by name: reports come out in this order.
    order: Vec<usize>,
    stables: Vec<Stable>,
    last_ns: Option<i64>,
    next_cycle_ns: Option<i64>,
    updated_since_cycle: bool,
    all_halted: bool,
}

impl IndexEngine {
    /// An engine with `config`, checked.
    pub fn new(config: IndexConfig) -> Result<IndexEngine, OracleError> {
        config.validate()?;
        let stables = config
            .stablecoins
            .iter()
            .map(|code| Stable {
                code: code.clone(),
                window: RateWindow::default(),
                direct: Vec::new(),
            })
            .collect();
        Ok(IndexEngine {
            config,
            lookup: HashMap::new(),
            sources: Vec::new(),
            underlyings: Vec::new(),
            order: Vec::new(),
            stables,
            last_ns: None,
            next_cycle_ns: None,
            updated_since_cycle: false,
            all_halted: false,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// Feeds one event; the reports of every cycle that ends before it are appended to `out`. Quotes, trades
    /// and bars update their source; other events only move time forward.
    pub fn on_event(
        &mut self,
        event: &Event,
        out: &mut Vec<IndexReport>,
    ) -> Result<(), OracleError> {
        match event {
            Event::Quote(q) => self.on_quote(q, out),
            Event::Trade(t) => self.on_trade(t, out),
            Event::Bar(b) => self.on_bar(b, out),
            other => self.advance(other.ts(), out),
        }
    }

    /// Feeds a quote: its mid, with half the spread as its confidence. A quote identical to the source's
    /// previous one is not live (it does not refresh the source); a one-sided quote gives no price.
    pub fn on_quote(
        &mut self,
        quote: &Quote,
        out: &mut Vec<IndexReport>,
    ) -> Result<(), OracleError> {
        self.advance(quote.ts, out)?;
        let id = self.source_id(&quote.venue, &quote.symbol)?;
        let source = &mut self.sources[id.0];
        let live = source.last_bid != quote.bid || source.last_ask != quote.ask;
        source.last_bid = quote.bid;
        source.last_ask = quote.ask;
        match (quote.bid, quote.ask) {
            (Some(bid), Some(ask)) => {
                let mid = bid / 2.0 + ask / 2.0;
                self.observe(
                    id,
                    Observation {
                        ts: quote.ts,
                        price: mid,
                        confidence: (ask - bid) / 2.0,
                        volume: 0.0,
                        vwap_price: mid,
                        live,
                    },
                );
            }
            _ => {
                if live {
                    source.fresh_at_ns = quote.ts.unix_nanos();
                }
                source.one_sided = true;
                self.updated_since_cycle = true;
            }
        }
        Ok(())
    }

    /// Feeds a trade: its price, confidence 0, its size as volume. Every trade is live.
    pub fn on_trade(
        &mut self,
        trade: &Trade,
        out: &mut Vec<IndexReport>,
    ) -> Result<(), OracleError> {
        self.advance(trade.ts, out)?;
        let id = self.source_id(&trade.venue, &trade.symbol)?;
        self.observe(
            id,
            Observation {
                ts: trade.ts,
                price: trade.price,
                confidence: 0.0,
                volume: trade.size,
                vwap_price: trade.price,
                live: true,
            },
        );
        Ok(())
    }

    /// Feeds a bar: its close, half its high–low range as confidence, its volume at (high+low+close)/3
    /// for VWAP. A bar without volume is the venue repeating its last price: not live.
    pub fn on_bar(&mut self, bar: &Bar, out: &mut Vec<IndexReport>) -> Result<(), OracleError> {
        self.advance(bar.ts, out)?;
        let id = self.source_id(&bar.venue, &bar.symbol)?;
        self.observe(
            id,
            Observation {
                ts: bar.ts,
                price: bar.close,
                confidence: (bar.high - bar.low) / 2.0,
                volume: bar.volume,
                vwap_price: (bar.high + bar.low + bar.close) / 3.0,
                live: bar.volume > 0.0 || bar.trade_count.is_some_and(|n| n > 0),
            },
        );
        Ok(())
    }

    /// The source of `symbol` on `venue`, registered on first sight. What it prices follows from the pair:
    /// `X/USD` and `X/STABLE` price underlying `X`; `STABLE/USD` and `USD/STABLE` price the stablecoin;
    /// any other quote currency makes a constituent that is always excluded as `unsupported_quote`.
    ///
    /// Fails once [`MAX_SOURCES`] sources are known and this would be a new one.
    pub fn source_id(&mut self, venue: &str, symbol: &Pair) -> Result<SourceId, OracleError> {
        if let Some(id) = self.lookup.get(venue).and_then(|m| m.get(symbol)) {
            return Ok(SourceId(*id));
        }
        if self.sources.len() >= MAX_SOURCES {
            return Err(OracleError::TooManySources {
                name: format!("{venue}:{symbol}"),
                limit: MAX_SOURCES,
            });
        }
        let stable = |code: &str| self.config.stablecoins.iter().position(|s| s == code);
        let (base_stable, quote_stable) = (stable(&symbol.base), stable(&symbol.quote));
        let id = self.sources.len();
        let role = match (symbol.base.as_str(), symbol.quote.as_str()) {
            (_, "USD") if base_stable.is_some() => Role::Rate {
                stable: base_stable.expect("checked"),
                inverted: false,
            },
            ("USD", _) if quote_stable.is_some() => Role::Rate {
                stable: quote_stable.expect("checked"),
                inverted: true,
            },
            _ if base_stable.is_some() && quote_stable.is_some() => Role::Ignored,
            (base, quote) => {
                let quote = match quote_stable {
                    Some(s) => QuoteKind::Stable(s),
                    None if quote == "USD" => QuoteKind::Usd,
                    None => QuoteKind::Unsupported,
                };
                Role::Constituent {
                    underlying: self.underlying_id(base),
                    quote,
                }
            }
        };
        match role {
            Role::Constituent { underlying, .. } => self.underlyings[underlying].sources.push(id),
            Role::Rate { stable, .. } => self.stables[stable].direct.push(id),
            Role::Ignored => {}
        }
        self.sources.push(Source {
            label: format!("{venue}:{symbol}"),
            role,
            price: 0.0,
            confidence: 0.0,
            has_price: false,
            fresh_at_ns: i64::MIN,
            zero: false,
            one_sided: false,
            pending: None,
            last_bid: None,
            last_ask: None,
            window: VecDeque::new(),
        });
        self.lookup
            .entry(venue.to_owned())
            .or_default()
            .insert(symbol.clone(), id);
        Ok(SourceId(id))
    }

    fn underlying_id(&mut self, name: &str) -> usize {
        if let Some(i) = self.underlyings.iter().position(|u| u.name == name) {
            return i;
        }
        self.underlyings.push(Underlying {
            name: name.to_owned(),
            sources: Vec::new(),
            last_price: None,
        });
        let i = self.underlyings.len() - 1;
        self.order.push(i);
        let names: Vec<String> = self.underlyings.iter().map(|u| u.name.clone()).collect();
        self.order.sort_by(|a, b| names[*a].cmp(&names[*b]));
        i
    }

    /// Records an observation of source `id`. The caller has moved time to `obs.ts` with
    /// [`IndexEngine::advance`] (the `on_*` methods do).
    ///
    /// A non-positive or non-finite price marks the source `zero_price` until its next valid print. A
    /// price more than `jump_threshold` from the last accepted one is held, and the source excluded as
    /// `jump`, until a second print within the threshold of it confirms the move.
    pub fn observe(&mut self, id: SourceId, obs: Observation) {
        self.updated_since_cycle = true;
        let jump = self.config.jump_threshold;
        let vwap = self.config.method == Method::Vwap;
        let vwap_window_ns = self.config.vwap_window_ns;
        let s = &mut self.sources[id.0];
        let ts_ns = obs.ts.unix_nanos();
        if obs.live {
            s.fresh_at_ns = s.fresh_at_ns.max(ts_ns);
        }
        s.one_sided = false;
        if !(obs.price.is_finite() && obs.price > 0.0) {
            s.zero = true;
            return;
        }
        s.zero = false;
        let confidence = if obs.confidence.is_finite() && obs.confidence >= 0.0 {
            obs.confidence
        } else {
            0.0
        };
        if s.has_price && (obs.price / s.price - 1.0).abs() > jump {
            let confirmed = s
                .pending
                .is_some_and(|(p, _)| (obs.price / p - 1.0).abs() <= jump);
            if !confirmed {
                s.pending = Some((obs.price, confidence));
                return;
            }
        }
        s.price = obs.price;
        s.confidence = confidence;
        s.has_price = true;
        s.pending = None;
        let volume_ok = obs.volume.is_finite() && obs.volume > 0.0;
        if vwap && volume_ok && obs.vwap_price.is_finite() && obs.vwap_price > 0.0 {
            if s.window.len() == MAX_VWAP_ENTRIES {
                s.window.pop_front();
            }
            s.window.push_back((ts_ns, obs.vwap_price, obs.volume));
            while s
                .window
                .front()
                .is_some_and(|(t, _, _)| *t <= ts_ns.saturating_sub(vwap_window_ns))
            {
                s.window.pop_front();
            }
        }
    }

    /// Moves event time to `ts`, publishing every cycle that ends before it. Fails, changing nothing, when
    /// `ts` is before an instant already seen.
    pub fn advance(
        &mut self,
        ts: Timestamp,
        out: &mut Vec<IndexReport>,
    ) -> Result<(), OracleError> {
        let t = ts.unix_nanos();
        if let Some(last) = self.last_ns {
            if t < last {
                return Err(OracleError::OutOfOrder {
                    ts: ts.to_string(),
                    previous: Timestamp::from_unix_nanos(last).to_string(),
                });
            }
        }
        self.last_ns = Some(t);
        let cycle = self.config.cycle_ns;
        let mut next = match self.next_cycle_ns {
            Some(next) => next,
            None => {
                self.next_cycle_ns = Some(ceil_to_multiple(t, cycle));
                return Ok(());
            }
        };
        while next < t {
            self.cycle(next, out);
            next = next.saturating_add(cycle);
            if self.all_halted && !self.updated_since_cycle {
                // Nothing can change until the next event: one halted update per gap is enough.
                next = ceil_to_multiple(t, cycle);
            }
        }
        self.next_cycle_ns = Some(next);
        Ok(())
    }

    /// Publishes the last cycle, the first at or after the last event seen. Call once at the end of a
    /// stream; later events continue from the following cycle.
    pub fn finish(&mut self, out: &mut Vec<IndexReport>) {
        if let Some(next) = self.next_cycle_ns {
            self.cycle(next, out);
            self.next_cycle_ns = Some(next.saturating_add(self.config.cycle_ns));
        }
    }

    /// Computes and publishes one cycle at `at_ns` for every underlying, in name order.
    fn cycle(&mut self, at_ns: i64, out: &mut Vec<IndexReport>) {
        let direct: Vec<Option<f64>> = (0..self.stables.len())
            .map(|s| self.direct_rate(s, at_ns))
            .collect();
        let mut all_halted = true;
        for k in 0..self.order.len() {
            let u = self.order[k];
            let report = self.compute(u, at_ns, &direct);
            all_halted &= report.status == IndexStatus::Halted;
            out.push(report);
        }
        self.all_halted = all_halted;
        self.updated_since_cycle = false;
    }

    /// Median USD rate of the fresh, valid direct pairs of stablecoin `s`.
    fn direct_rate(&self, s: usize, at_ns: i64) -> Option<f64> {
        let mut rates: Vec<f64> = Vec::new();
        for &id in &self.stables[s].direct {
            let src = &self.sources[id];
            let fresh = at_ns.saturating_sub(src.fresh_at_ns) <= self.config.staleness_ns;
            if fresh && src.has_price && !src.zero && src.pending.is_none() && !src.one_sided {
                let inverted = matches!(src.role, Role::Rate { inverted: true, .. });
                rates.push(if inverted { 1.0 / src.price } else { src.price });
            }
        }
        aggregate::median_in_place(&mut rates)
    }

    /// The per-source checks of step 1: `Err(reason)` or the source's price, confidence and volume.
    fn check_source(&self, src: &Source, at_ns: i64) -> Result<(f64, f64, f64), ExclusionReason> {
        if matches!(
            src.role,
            Role::Constituent {
                quote: QuoteKind::Unsupported,
                ..
            }
        ) {
            return Err(ExclusionReason::UnsupportedQuote);
        }
        // What the venue last said outranks how long ago it said it: a venue repeating 0 is `zero_price`.
        if src.zero {
            return Err(ExclusionReason::ZeroPrice);
        }
        if src.pending.is_some() {
            return Err(ExclusionReason::Jump);
        }
        if at_ns.saturating_sub(src.fresh_at_ns) > self.config.staleness_ns {
            return Err(ExclusionReason::Stale);
        }
        if src.one_sided || !src.has_price {
            return Err(ExclusionReason::OneSided);
        }
        if self.config.method != Method::Vwap {
            return Ok((src.price, src.confidence, 0.0));
        }
        let after = at_ns.saturating_sub(self.config.vwap_window_ns);
        let (mut pv, mut v) = (0.0, 0.0);
        for (t, p, vol) in &src.window {
            if *t > after && *t <= at_ns {
                pv += p * vol;
                v += vol;
            }
        }
        if v > 0.0 {
            Ok((pv / v, src.confidence, v))
        } else {
            Err(ExclusionReason::NoVolume)
        }
    }

    fn compute(&mut self, u: usize, at_ns: i64, direct: &[Option<f64>]) -> IndexReport {
        let mut excluded: Vec<ExcludedSource> = Vec::new();
        let mut candidates: Vec<Candidate> = Vec::new();
        for &id in &self.underlyings[u].sources {
            let src = &self.sources[id];
            let Role::Constituent { quote, .. } = src.role else {
                continue;
            };
            match self.check_source(src, at_ns) {
                Ok((price, confidence, volume)) => candidates.push(Candidate {
                    id,
                    quote,
                    price,
                    confidence,
                    volume,
                    price_usd: price,
                    confidence_usd: confidence,
                }),
                Err(reason) => excluded.push(ExcludedSource {
                    source: src.label.clone(),
                    reason,
                    price: src.has_price.then_some(src.price),
                }),
            }
        }

        // Step 2: quote currencies to USD.
        let usd_reference = aggregate::median_in_place(
            &mut candidates
                .iter()
                .filter(|c| c.quote == QuoteKind::Usd)
                .map(|c| c.price)
                .collect::<Vec<f64>>(),
        );
        let mut rates = Vec::new();
        if candidates.iter().any(|c| c.quote == QuoteKind::Usd) {
            rates.push(QuoteRate {
                currency: "USD".into(),
                usd_rate: 1.0,
                basis: RateBasis::Usd,
                depeg: false,
            });
        }
        let mut depegged = vec![false; self.stables.len()];
        let mut stable_rate = vec![1.0; self.stables.len()];
        let mut stable_basis = vec![None; self.stables.len()];
        for s in 0..self.stables.len() {
            let mut prices: Vec<f64> = candidates
                .iter()
                .filter(|c| c.quote == QuoteKind::Stable(s))
                .map(|c| c.price)
                .collect();
            let Some(stable_median) = aggregate::median_in_place(&mut prices) else {
                continue;
            };
            let (rate, basis) = match direct[s] {
                Some(rate) => (rate, RateBasis::Direct),
                None => {
                    let window = &mut self.stables[s].window;
                    if let Some(reference) = usd_reference {
                        window.push(at_ns, reference / stable_median);
                    }
                    match window.median_after(at_ns.saturating_sub(self.config.rate_window_ns)) {
                        Some(rate) => (rate, RateBasis::Implied),
                        None => (1.0, RateBasis::Par),
                    }
                }
            };
            depegged[s] = (rate - 1.0).abs() > self.config.depeg_threshold;
            stable_rate[s] = rate;
            stable_basis[s] = Some(basis);
        }
        // The fast check: this cycle's stablecoin pairs against the rest of the market, at face value.
        let pairs: Vec<(Option<usize>, f64)> = candidates
            .iter()
            .map(|c| match c.quote {
                QuoteKind::Stable(s) => (Some(s), c.price),
                QuoteKind::Usd => (None, c.price),
                QuoteKind::Unsupported => unreachable!("excluded by the per-source checks"),
            })
            .collect();
        let in_play: Vec<bool> = depegged.iter().map(|d| !d).collect();
        let off_peg = off_peg_now(&pairs, &in_play, &stable_rate, self.config.depeg_threshold);
        for s in 0..self.stables.len() {
            let Some(basis) = stable_basis[s] else {
                continue;
            };
            // Every pair of the stablecoin off its peg now: the stablecoin is, whatever its slow rate.
            let all_off = (0..pairs.len())
                .filter(|&i| pairs[i].0 == Some(s))
                .all(|i| off_peg[i]);
            rates.push(QuoteRate {
                currency: self.stables[s].code.clone(),
                usd_rate: stable_rate[s],
                basis,
                depeg: depegged[s] || all_off,
            });
        }
        let mut k = 0;
        candidates.retain_mut(|c| {
            let off = off_peg[k];
            k += 1;
            if let QuoteKind::Stable(s) = c.quote {
                if depegged[s] || off {
                    excluded.push(ExcludedSource {
                        source: self.sources[c.id].label.clone(),
                        reason: ExclusionReason::Depeg,
                        price: Some(c.price),
                    });
                    return false;
                }
                c.price_usd = c.price * stable_rate[s];
                c.confidence_usd = c.confidence * stable_rate[s];
            }
            true
        });

        // Step 3: outliers against the median of all candidates.
        let median_usd = aggregate::median_in_place(
            &mut candidates.iter().map(|c| c.price_usd).collect::<Vec<f64>>(),
        );
        if let Some(median_usd) = median_usd {
            let band = self.config.outlier_band;
            candidates.retain(|c| {
                let keep = (c.price_usd / median_usd - 1.0).abs() <= band;
                if !keep {
                    excluded.push(ExcludedSource {
                        source: self.sources[c.id].label.clone(),
                        reason: ExclusionReason::Outlier,
                        price: Some(c.price),
                    });
                }
                keep
            });
        }

        // Step 4: aggregate and confidence.
        let prices: Vec<f64> = candidates.iter().map(|c| c.price_usd).collect();
        let price = match self.config.method {
            Method::CappedMedian => aggregate::capped_median(&prices, self.config.cap_band),
            Method::Median => aggregate::median(&prices),
            Method::Vwap => aggregate::volume_weighted(
                &prices,
                &candidates.iter().map(|c| c.volume).collect::<Vec<f64>>(),
            ),
        };
        let confidences: Vec<f64> = candidates.iter().map(|c| c.confidence_usd).collect();
        let confidence = price.and_then(|p| aggregate::pyth_confidence(p, &prices, &confidences));
        debug_assert!(price.is_none_or(|p| p.is_finite() && p > 0.0));

        // Step 5: status.
        let mut flags = Vec::new();
        let status = match price {
            None => IndexStatus::Halted,
            Some(p) => {
                if candidates.len() < self.config.quorum {
                    flags.push(IndexFlag::BelowQuorum);
                }
                let underlying = &mut self.underlyings[u];
                if let Some(last) = underlying.last_price {
                    if (p / last - 1.0).abs() > self.config.jump_threshold {
                        flags.push(IndexFlag::Jump);
                    }
                }
                underlying.last_price = Some(p);
                if flags.is_empty() {
                    IndexStatus::Ok
                } else {
                    IndexStatus::Degraded
                }
            }
        };

        let mut used: Vec<UsedSource> = candidates
            .iter()
            .map(|c| UsedSource {
                source: self.sources[c.id].label.clone(),
                price: c.price,
                price_usd: c.price_usd,
                volume: (self.config.method == Method::Vwap).then_some(c.volume),
            })
            .collect();
        used.sort_by(|a, b| a.source.cmp(&b.source));
        excluded.sort_by(|a, b| a.source.cmp(&b.source));
        IndexReport {
            ts: Timestamp::from_unix_nanos(at_ns),
            underlying: self.underlyings[u].name.clone(),
            price,
            confidence: price.and(confidence),
            status,
            flags,
            used,
            excluded,
            rates,
        }
    }
}

/// The smallest multiple of `step` (> 0) at or after `t`, saturating at the ends of the i64 range.
fn ceil_to_multiple(t: i64, step: i64) -> i64 {
    debug_assert!(step > 0);
    let floor = t.div_euclid(step).saturating_mul(step);
    if floor == t {
        t
    } else {
        floor.saturating_add(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_align_to_multiples_of_the_cadence() {
        assert_eq!(ceil_to_multiple(0, 60), 0);
        assert_eq!(ceil_to_multiple(1, 60), 60);
        assert_eq!(ceil_to_multiple(60, 60), 60);
        assert_eq!(ceil_to_multiple(-1, 60), 0);
        assert_eq!(ceil_to_multiple(-61, 60), -60);
        assert_eq!(ceil_to_multiple(i64::MAX, 60), i64::MAX);
    }

    #[test]
    fn configuration_errors_name_the_field() {
        let config = IndexConfig {
            cap_band: 0.7,
            ..IndexConfig::default()
        };
        let error = config.validate().expect_err("0.7 is not a band");
        assert!(error.to_string().starts_with("cap_band: "), "{error}");
        let config = IndexConfig {
            stablecoins: vec!["usdt".into()],
            ..IndexConfig::default()
        };
        let error = config.validate().expect_err("lower case");
        assert!(error.to_string().starts_with("stablecoins[0]: "), "{error}");
        assert!("twap".parse::<Method>().is_err());
        assert_eq!("vwap".parse::<Method>(), Ok(Method::Vwap));
    }
}
