//! The writer thread: the only owner of the [`Engine`]. It takes commands from a bounded queue (ingested
//! batches from the API, batches from the feeder, account look-ups), applies inputs in order, journals the
//! applied ones, keeps a shadow of the market (the inputs it applied) from which `rtm2m-margin` computes an
//! account's full report on request, and after each round publishes a new [`View`] and broadcasts the
//! engine's outputs.

use crate::journal::{Batch, Journal};
use crate::metrics::{Metrics, Source};
use crate::view::{
    AccountRow, FeedStatus, IndexView, InstrumentRow, SmileQuote, SmileView, SurfaceView,
    SviParams, View, ALERTS_KEPT,
};
use rtm2m_engine::config::AssetConfig;
use rtm2m_engine::event::{input_to_json, LiquidationAlertOut, MarkOut};
use rtm2m_engine::{confidence_of, Computed, Engine, Genesis, Input, InputKind, Output, Verdict};
use rtm2m_margin::account::Account;
use rtm2m_margin::instrument::{Instrument, InstrumentKind};
use rtm2m_margin::market::{AssetQuote, MarketSnapshot, UnderlyingQuote};
use rtm2m_market::event::OptionType;
use rtm2m_market::{Event, Timestamp};
use rtm2m_pricing::OptionKind;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Commands waiting for the writer, at most.
pub const QUEUE_COMMANDS: usize = 1024;

/// Output batches buffered per WebSocket client before it is told it lagged.
pub const BROADCAST_BATCHES: usize = 256;

/// One ingested event: the parsed input, and whether its seq was given (otherwise the writer assigns the
/// next one).
#[derive(Debug, Clone)]
pub struct Pending {
    /// The input (its seq is a placeholder when `seq_given` is false).
    pub input: Input,
    /// The request gave a seq.
    pub seq_given: bool,
}

/// An event the engine did not apply.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rejection {
    /// Position in the request's batch (0-based).
    pub index: usize,
    /// The seq it was given or assigned.
    pub seq: u64,
    /// The field at fault.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// What became of an ingested batch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IngestResult {
    /// Events applied.
    pub applied: usize,
    /// Events rejected, with the reason.
    pub rejected: Vec<Rejection>,
    /// The seq of the last applied event after this batch.
    pub last_seq: u64,
    /// Outputs the batch caused (marks, margins, status changes, alerts).
    pub outputs: usize,
}

/// Inputs from the feeder with what the feeder knows beyond them.
#[derive(Debug, Clone)]
pub struct FeedBatch {
    /// Where they come from.
    pub source: Source,
    /// Inputs; their seqs are assigned by the writer.
    pub inputs: Vec<Input>,
    /// Index updates with their sources (the simulator's aggregation).
    pub index: Vec<IndexView>,
    /// SVI parameters of smiles the feeder quoted: (underlying, expiry code, parameters).
    pub smiles: Vec<(String, String, SviParams)>,
    /// Progress line for `/v1/status`.
    pub note: Option<String>,
    /// When the batch was made.
    pub made: Instant,
}

/// An account and the market it is margined on, for the detail endpoint.
#[derive(Debug, Clone)]
pub struct AccountSnapshot {
    /// The account as the engine holds it.
    pub account: Account,
    /// The engine's stored margin.
    pub row: AccountRow,
    /// The market as last applied.
    pub market: Arc<MarketSnapshot>,
}

/// A command for the writer.
#[derive(Debug)]
pub enum Command {
    /// Apply ingested events; reply once applied and journaled.
    Ingest {
        /// Events, in order.
        events: Vec<Pending>,
        /// When the request arrived.
        received: Instant,
        /// Where the result goes.
        reply: oneshot::Sender<IngestResult>,
    },
    /// Apply a feeder's batch.
    Feed(FeedBatch),
    /// Look an account up.
    Account {
        /// Account id.
        id: String,
        /// Where the answer goes.
        reply: oneshot::Sender<Option<AccountSnapshot>>,
    },
}

/// The engine's outputs of one round, for WebSocket clients.
#[derive(Debug, Default)]
pub struct Broadcast {
    /// Outputs, in order (rejections left out).
    pub outputs: Vec<Output>,
    /// Index updates.
    pub index: Vec<IndexView>,
}

/// What the HTTP side shares with the writer.
#[derive(Debug)]
pub struct Shared {
    view: RwLock<Arc<View>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Tokens.
    pub tokens: crate::auth::TokenStore,
    /// The writer's queue.
    pub tx: mpsc::Sender<Command>,
    /// Outputs for WebSocket clients.
    pub outputs: broadcast::Sender<Arc<Broadcast>>,
    /// Most events in one ingest request.
    pub max_batch_events: usize,
    /// Scenario labels of the margin grid, for the heat map.
    pub started: Instant,
}

impl Shared {
    /// A shared state with an empty view; returns it with the writer's receiving end.
    pub fn new(
        metrics: Arc<Metrics>,
        tokens: crate::auth::TokenStore,
        max_batch_events: usize,
        feed: &str,
    ) -> (Arc<Shared>, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(QUEUE_COMMANDS);
        let (outputs, _) = broadcast::channel(BROADCAST_BATCHES);
        let shared = Shared {
            view: RwLock::new(Arc::new(View::empty(feed))),
            metrics,
            tokens,
            tx,
            outputs,
            max_batch_events,
            started: Instant::now(),
        };
        (Arc::new(shared), rx)
    }

    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn publish(&self, v: View) {
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(v);
    }
}

#[derive(Debug, Clone)]
struct Meta {
    underlying: String,
    kind: &'static str,
    expiry: Option<String>,
    expiry_ts: Option<Timestamp>,
    strike_usd: Option<f64>,
    option_type: Option<&'static str>,
}

fn meta_of(name: &str) -> Option<Meta> {
    let i = Instrument::parse(name).ok()?;
    let (kind, expiry, expiry_s, strike, ot) = match &i.kind {
        InstrumentKind::Option {
            expiry_code,
            expiry_unix_s,
            strike_usd,
            kind,
            ..
        } => {
            let ot = match kind {
                OptionKind::Call => "call",
                OptionKind::Put => "put",
            };
            (
                "option",
                Some(expiry_code.clone()),
                Some(*expiry_unix_s),
                Some(*strike_usd),
                Some(ot),
            )
        }
        InstrumentKind::Future {
            expiry_code,
            expiry_unix_s,
        } => (
            "future",
            Some(expiry_code.clone()),
            Some(*expiry_unix_s),
            None,
            None,
        ),
        InstrumentKind::Perpetual => ("perpetual", None, None, None, None),
        InstrumentKind::Spot => ("spot", None, None, None, None),
    };
    Some(Meta {
        underlying: i.underlying.clone(),
        kind,
        expiry,
        expiry_ts: expiry_s.and_then(Timestamp::from_unix_seconds),
        strike_usd: strike,
        option_type: ot,
    })
}

#[derive(Debug, Clone, Default)]
struct Book {
    expiry_ts: Option<Timestamp>,
    forward_usd: f64,
    years: f64,
    /// By strike bits: the out-of-the-money quote.
    quotes: BTreeMap<u64, SmileQuote>,
    svi: Option<SviParams>,
}

/// The market as the inputs applied describe it (immediately, where the engine stages until the next tick).
#[derive(Debug, Default)]
struct Shadow {
    assets: BTreeMap<String, AssetConfig>,
    underlyings: Vec<String>,
    index: BTreeMap<String, (f64, f64)>,
    perp: BTreeMap<String, f64>,
    forwards: BTreeMap<String, BTreeMap<String, f64>>,
    settlements: BTreeMap<String, BTreeMap<String, f64>>,
    ivs: BTreeMap<String, f64>,
    meta: BTreeMap<String, Meta>,
    by_underlying: BTreeMap<String, BTreeSet<String>>,
    books: BTreeMap<String, BTreeMap<String, Book>>,
    clock: Option<Timestamp>,
    cached: Option<Arc<MarketSnapshot>>,
}

impl Shadow {
    fn know(&mut self, name: &str) -> Option<&Meta> {
        if !self.meta.contains_key(name) {
            let m = meta_of(name)?;
            self.by_underlying
                .entry(m.underlying.clone())
                .or_default()
                .insert(name.to_owned());
            self.meta.insert(name.to_owned(), m);
        }
        self.meta.get(name)
    }

    /// Notes an applied input; returns the underlying whose surface it touched, if any.
    fn apply(&mut self, input: &Input) -> Option<String> {
        self.clock = Some(self.clock.map_or(input.ts, |c| c.max(input.ts)));
        let InputKind::Market(e) = &input.kind else {
            return None;
        };
        self.cached = None;
        match e {
            Event::Index(ix) => {
                self.index
                    .insert(ix.underlying.clone(), (ix.price, ix.confidence));
                None
            }
            Event::Mark(m) => {
                let meta = self.know(&m.instrument)?.clone();
                match (meta.kind, meta.expiry) {
                    ("perpetual", _) => {
                        self.perp.insert(meta.underlying, m.price);
                    }
                    ("future", Some(code)) => {
                        self.forwards
                            .entry(meta.underlying)
                            .or_default()
                            .insert(code, m.price);
                    }
                    _ => {}
                }
                None
            }
            Event::OptionQuote(q) => {
                let meta = self.know(&q.instrument)?.clone();
                let code = meta.expiry.clone()?;
                if let Some(iv) = q.mark_iv {
                    self.ivs.insert(q.instrument.clone(), iv);
                }
                if let Some(f) = q.underlying_price {
                    self.forwards
                        .entry(meta.underlying.clone())
                        .or_default()
                        .insert(code.clone(), f);
                }
                let forward = q
                    .underlying_price
                    .or_else(|| {
                        self.forwards
                            .get(&meta.underlying)
                            .and_then(|f| f.get(&code).copied())
                    })
                    .or(q.index_price)
                    .or_else(|| self.index.get(&meta.underlying).map(|x| x.0));
                let (Some(iv), Some(f), Some(k)) = (q.mark_iv, forward, meta.strike_usd) else {
                    return Some(meta.underlying);
                };
                let call = q.option_type == OptionType::Call;
                let book = self
                    .books
                    .entry(meta.underlying.clone())
                    .or_default()
                    .entry(code)
                    .or_default();
                book.expiry_ts = meta.expiry_ts;
                book.forward_usd = f;
                book.years = meta.expiry_ts.map_or(0.0, |x| {
                    (x.unix_nanos() - input.ts.unix_nanos()) as f64 / 1e9 / 31_536_000.0
                });
                if call == (k >= f) {
                    book.quotes.insert(
                        k.to_bits(),
                        SmileQuote {
                            instrument: q.instrument.clone(),
                            strike_usd: k,
                            log_moneyness: (k / f).ln(),
                            mark_iv: iv,
                            bid_iv: q.bid_iv,
                            ask_iv: q.ask_iv,
                        },
                    );
                }
                Some(meta.underlying)
            }
            _ => None,
        }
    }

    fn settle(&mut self, m: &MarkOut) {
        if !m.settled_usd.is_empty() {
            self.cached = None;
            let s = self.settlements.entry(m.underlying.clone()).or_default();
            for (code, price) in &m.settled_usd {
                s.insert(code.clone(), *price);
            }
            if let Some(books) = self.books.get_mut(&m.underlying) {
                for code in m.settled_usd.keys() {
                    books.remove(code);
                }
            }
        }
    }

    fn snapshot(&mut self) -> Arc<MarketSnapshot> {
        if let Some(c) = &self.cached {
            return c.clone();
        }
        let as_of = self.clock.map_or_else(
            || "1970-01-01T00:00:00Z".to_owned(),
            |t| format!("{}Z", &t.to_string()[..19]),
        );
        let mut assets = BTreeMap::new();
        for (name, cfg) in &self.assets {
            let grid = self.underlyings.contains(name);
            let (price, conf) = match self.index.get(name) {
                Some(&(p, half)) => (Some(p), confidence_of(p, half)),
                None if !grid => (cfg.price_usd, 1.0),
                None => (None, 1.0),
            };
            if let Some(price_usd) = price {
                assets.insert(
                    name.clone(),
                    AssetQuote {
                        price_usd,
                        confidence: conf,
                        ewma_vol: cfg.ewma_vol,
                        depth_usd: cfg.depth_usd,
                        stablecoin: cfg.stablecoin,
                        static_haircut: None,
                    },
                );
            }
        }
        let underlyings = self
            .underlyings
            .iter()
            .map(|u| {
                let q = UnderlyingQuote {
                    rate: self.assets.get(u).map_or(0.0, |a| a.rate),
                    perp_usd: self.perp.get(u).copied(),
                    forwards: self.forwards.get(u).cloned().unwrap_or_default(),
                    settlements: self.settlements.get(u).cloned().unwrap_or_default(),
                };
                (u.clone(), q)
            })
            .collect();
        let snap = Arc::new(MarketSnapshot {
            as_of,
            assets,
            underlyings,
            mark_ivs: self.ivs.clone(),
        });
        self.cached = Some(snap.clone());
        snap
    }
}

fn row_of(engine: &Engine, id: &str) -> AccountRow {
    let mut row = AccountRow {
        id: id.to_owned(),
        status: None,
        equity_usd: None,
        im_usd: None,
        mm_usd: None,
        margin_ratio: None,
        scenario_loss_usd: None,
        worst_scenario: None,
        reason: None,
    };
    match engine.margin_of(id) {
        Some(Computed::Priced(f, s)) => {
            row.status = Some(*s);
            row.equity_usd = Some(f.equity_usd);
            row.im_usd = Some(f.im_usd);
            row.mm_usd = Some(f.mm_usd);
            row.margin_ratio = (f.equity_usd > 0.0).then(|| f.mm_usd / f.equity_usd);
            row.scenario_loss_usd = Some(f.scenario_loss_usd);
            row.worst_scenario = f
                .worst_scenario
                .and_then(|w| engine.scenario_label(w))
                .map(str::to_owned);
        }
        Some(Computed::Unpriced(r)) => {
            row.status = Some(rtm2m_engine::Status::Unpriced);
            row.reason = Some(r.clone());
        }
        _ => {}
    }
    row
}

#[derive(Default)]
struct Round {
    outputs: Vec<Output>,
    index: Vec<IndexView>,
    journal: Vec<u8>,
    done: Vec<crate::journal::Done>,
    ticks: Vec<Instant>,
    applied: usize,
    marked: BTreeSet<String>,
    surfaces: BTreeSet<String>,
}

/// The writer. Build it with [`Writer::new`], then [`Writer::run`] it on its own thread.
pub struct Writer {
    engine: Engine,
    shadow: Shadow,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Command>,
    journal: Option<Journal>,
    alerts: VecDeque<LiquidationAlertOut>,
    alerts_arc: Arc<VecDeque<LiquidationAlertOut>>,
    marks: BTreeMap<String, MarkOut>,
    instruments: BTreeMap<String, Arc<Vec<InstrumentRow>>>,
    surfaces: BTreeMap<String, Arc<SurfaceView>>,
    index: BTreeMap<String, IndexView>,
    feed: FeedStatus,
    initial: Vec<Output>,
    needs_market: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("engine", &self.engine)
            .finish()
    }
}

impl Writer {
    /// A writer over `engine` (set up from `genesis`, whose starting outputs are `initial`).
    pub fn new(
        engine: Engine,
        genesis: &Genesis,
        initial: Vec<Output>,
        shared: Arc<Shared>,
        rx: mpsc::Receiver<Command>,
        journal: Option<Journal>,
        feed: &str,
    ) -> Writer {
        let shadow = Shadow {
            assets: genesis.assets.clone(),
            underlyings: genesis.underlyings.clone(),
            ..Shadow::default()
        };
        Writer {
            engine,
            shadow,
            shared,
            rx,
            journal,
            alerts: VecDeque::new(),
            alerts_arc: Arc::new(VecDeque::new()),
            marks: BTreeMap::new(),
            instruments: BTreeMap::new(),
            surfaces: BTreeMap::new(),
            index: BTreeMap::new(),
            feed: FeedStatus {
                kind: feed.to_owned(),
                note: "starting".into(),
            },
            initial,
            needs_market: feed != "none",
        }
    }

    /// Applies commands until every sender is gone.
    pub fn run(mut self) {
        let mut first = Round {
            outputs: std::mem::take(&mut self.initial),
            ..Round::default()
        };
        self.publish(&mut first);
        while let Some(cmd) = self.rx.blocking_recv() {
            let mut round = Round::default();
            self.handle(cmd, &mut round);
            for _ in 0..255 {
                match self.rx.try_recv() {
                    Ok(cmd) => self.handle(cmd, &mut round),
                    Err(_) => break,
                }
            }
            self.shared
                .metrics
                .queue_depth
                .store(self.rx.len() as u64, std::sync::atomic::Ordering::Relaxed);
            self.publish(&mut round);
        }
    }

    fn apply(&mut self, input: &Input, round: &mut Round) -> Result<(), (String, String)> {
        let mark = round.outputs.len();
        match self.engine.apply(input, None, &mut round.outputs) {
            Verdict::Applied => {
                round.applied += 1;
                round
                    .journal
                    .extend_from_slice(input_to_json(input).as_bytes());
                round.journal.push(b'\n');
                if let Some(u) = self.shadow.apply(input) {
                    round.surfaces.insert(u);
                }
                Ok(())
            }
            Verdict::Rejected { .. } => {
                self.shared
                    .metrics
                    .rejected
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let why = match round.outputs.get(mark) {
                    Some(Output::Rejected(r)) => (r.field.clone(), r.reason.clone()),
                    _ => ("event".into(), "rejected".into()),
                };
                round.outputs.truncate(mark);
                Err(why)
            }
        }
    }

    fn handle(&mut self, cmd: Command, round: &mut Round) {
        match cmd {
            Command::Ingest {
                events,
                received,
                reply,
            } => {
                let before = round.outputs.len();
                let mut result = IngestResult {
                    applied: 0,
                    rejected: Vec::new(),
                    last_seq: 0,
                    outputs: 0,
                };
                for (index, mut p) in events.into_iter().enumerate() {
                    if !p.seq_given {
                        p.input.seq = self.engine.last_seq() + 1;
                    }
                    let tick = matches!(&p.input.kind, InputKind::Market(Event::Index(_)));
                    match self.apply(&p.input, round) {
                        Ok(()) => {
                            result.applied += 1;
                            if tick {
                                round.ticks.push(received);
                            }
                        }
                        Err((field, reason)) => result.rejected.push(Rejection {
                            index,
                            seq: p.input.seq,
                            field,
                            reason,
                        }),
                    }
                }
                self.shared
                    .metrics
                    .applied(Source::Api, result.applied as u64);
                result.last_seq = self.engine.last_seq();
                result.outputs = round.outputs.len() - before;
                round.done.push(Box::new(move || {
                    let _ = reply.send(result);
                }));
            }
            Command::Feed(batch) => {
                let mut applied = 0;
                let mut rejected = 0;
                let mut last_reason = None;
                for mut input in batch.inputs {
                    input.seq = self.engine.last_seq() + 1;
                    let tick = matches!(&input.kind, InputKind::Market(Event::Index(_)));
                    match self.apply(&input, round) {
                        Ok(()) => {
                            applied += 1;
                            if tick {
                                round.ticks.push(batch.made);
                            }
                        }
                        Err((field, reason)) => {
                            rejected += 1;
                            last_reason = Some(format!("{}: {field}: {reason}", input.type_name()));
                        }
                    }
                }
                self.shared.metrics.applied(batch.source, applied);
                for (u, code, svi) in batch.smiles {
                    if let Some(b) = self.shadow.books.get_mut(&u).and_then(|b| b.get_mut(&code)) {
                        b.svi = Some(svi);
                        round.surfaces.insert(u);
                    }
                }
                for ix in batch.index {
                    self.index.insert(ix.underlying.clone(), ix.clone());
                    round.index.push(ix);
                }
                if let Some(note) = batch.note {
                    self.feed.note = note;
                }
                if let Some(r) = last_reason {
                    self.feed.note = format!("{} ({rejected} rejected, last: {r})", self.feed.note);
                }
            }
            Command::Account { id, reply } => {
                let answer = self.engine.account(&id).map(|account| AccountSnapshot {
                    account,
                    row: row_of(&self.engine, &id),
                    market: self.shadow.snapshot(),
                });
                let _ = reply.send(answer);
            }
        }
    }

    fn instrument_rows(&self, underlying: &str) -> Vec<InstrumentRow> {
        let Some(names) = self.shadow.by_underlying.get(underlying) else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|n| {
                let m = self.shadow.meta.get(n)?;
                let (price, delta, error) = match self.engine.valuation(n) {
                    Some(Ok((p, d))) => (Some(p), Some(d), None),
                    Some(Err(e)) => (None, None, Some(e)),
                    None => (None, None, Some("not listed by the engine".to_owned())),
                };
                Some(InstrumentRow {
                    name: n.clone(),
                    underlying: m.underlying.clone(),
                    kind: m.kind,
                    expiry: m.expiry.clone(),
                    strike_usd: m.strike_usd,
                    option_type: m.option_type,
                    mark_iv: self.shadow.ivs.get(n).copied(),
                    price_usd: price,
                    delta_coin: delta,
                    error,
                })
            })
            .collect()
    }

    fn surface_view(&self, underlying: &str) -> SurfaceView {
        let mut expiries: Vec<SmileView> = self
            .shadow
            .books
            .get(underlying)
            .map(|books| {
                books
                    .iter()
                    .filter(|(_, b)| !b.quotes.is_empty())
                    .map(|(code, b)| {
                        let mut quotes: Vec<SmileQuote> = b.quotes.values().cloned().collect();
                        quotes.sort_by(|x, y| x.strike_usd.total_cmp(&y.strike_usd));
                        SmileView {
                            expiry: code.clone(),
                            expiry_ts: b.expiry_ts.unwrap_or(Timestamp::UNIX_EPOCH),
                            expiry_years: b.years,
                            forward_usd: b.forward_usd,
                            svi: b.svi,
                            quotes,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        expiries.sort_by_key(|e| e.expiry_ts);
        SurfaceView {
            underlying: underlying.to_owned(),
            updated_ts: self.shadow.clock,
            expiries,
        }
    }

    fn publish(&mut self, round: &mut Round) {
        let metrics = &self.shared.metrics;
        let mut alerts_changed = false;
        for o in &round.outputs {
            match o {
                Output::Mark(m) => {
                    round.marked.insert(m.underlying.clone());
                    self.shadow.settle(m);
                    self.marks.insert(m.underlying.clone(), m.clone());
                }
                Output::LiquidationAlert(a) => {
                    metrics
                        .alerts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if self.alerts.len() == ALERTS_KEPT {
                        self.alerts.pop_front();
                    }
                    self.alerts.push_back(a.clone());
                    alerts_changed = true;
                }
                _ => {}
            }
        }
        if alerts_changed {
            self.alerts_arc = Arc::new(self.alerts.clone());
        }
        for u in std::mem::take(&mut round.marked) {
            let rows = self.instrument_rows(&u);
            self.instruments.insert(u, Arc::new(rows));
        }
        let now = Instant::now();
        for u in std::mem::take(&mut round.surfaces) {
            metrics.surface_quoted(&u, now);
            let v = self.surface_view(&u);
            self.surfaces.insert(u, Arc::new(v));
        }
        let mut accounts: Vec<AccountRow> = self
            .engine
            .account_ids()
            .map(|id| row_of(&self.engine, id))
            .collect();
        accounts.sort_by(|a, b| {
            b.risk_key()
                .total_cmp(&a.risk_key())
                .then_with(|| a.id.cmp(&b.id))
        });
        let mut counts = [0u64; 5];
        for r in &accounts {
            if let Some(s) = r.status {
                let k = crate::metrics::STATUSES
                    .iter()
                    .position(|x| *x == s.name())
                    .unwrap_or(4);
                counts[k] += 1;
            }
        }
        for (k, c) in counts.iter().enumerate() {
            metrics.accounts_by_status[k].store(*c, std::sync::atomic::Ordering::Relaxed);
        }
        let by_id = accounts
            .iter()
            .enumerate()
            .map(|(k, r)| (r.id.clone(), k))
            .collect();
        let ready = !self.needs_market
            || self
                .shadow
                .underlyings
                .iter()
                .all(|u| self.marks.contains_key(u));
        let view = View {
            seq: self.engine.last_seq(),
            clock: self.engine.clock(),
            accounts,
            by_id,
            status_counts: counts,
            marks: self.marks.clone(),
            instruments: self.instruments.clone(),
            surfaces: self.surfaces.clone(),
            index: self.index.clone(),
            alerts: self.alerts_arc.clone(),
            feed: self.feed.clone(),
            ready,
        };
        metrics
            .last_seq
            .store(view.seq, std::sync::atomic::Ordering::Relaxed);
        self.shared.publish(view);
        let published = Instant::now();
        for t in round.ticks.drain(..) {
            metrics.tick_to_margin.observe(published.duration_since(t));
        }
        round.outputs.retain(|o| !matches!(o, Output::Rejected(_)));
        metrics.outputs.fetch_add(
            round.outputs.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        if !round.outputs.is_empty() || !round.index.is_empty() {
            let b = Broadcast {
                outputs: std::mem::take(&mut round.outputs),
                index: std::mem::take(&mut round.index),
            };
            // No receiver is not an error: nobody is subscribed.
            let _ = self.shared.outputs.send(Arc::new(b));
        }
        let done = std::mem::take(&mut round.done);
        let bytes = std::mem::take(&mut round.journal);
        match &self.journal {
            Some(j) if !bytes.is_empty() || !done.is_empty() => j.append(Batch {
                bytes,
                done,
                enqueued: published,
            }),
            _ => {
                for d in done {
                    d();
                }
            }
        }
    }
}
