//! The engine: one writer applies input events in sequence; the work of a tick (pricing the instruments of
//! the ticked underlying, re-margining the accounts exposed to it) is spread over a thread pool, and its
//! results are gathered back in account order, so the outputs do not depend on the thread count.
//!
//! What triggers what (`docs/engine.md` §5):
//! - `option_quote` and `mark` stage a mark IV, a forward or a perpetual price; they take effect at the next
//!   `index` tick of their underlying (the index is the heartbeat that re-marks a whole underlying at once).
//! - `index` on a grid underlying commits what is staged, settles expiries past, re-prices every instrument
//!   of the underlying (risk arrays included) and re-margins the accounts exposed to it (reverse index: one
//!   bit set of accounts per asset). On another asset (a stablecoin) it re-prices collateral and re-margins
//!   its holders.
//! - `fill`, `deposit`, `withdrawal`, `open_account` re-margin the one account.

use crate::config::{
    check_account, parse_instrument, AssetConfig, EngineParams, Genesis, CASH_ASSET,
};
use crate::error::EngineError;
use crate::event::{
    parse_input, Fill, Input, InputKind, LiquidationAlertOut, MarginOut, MarkOut, Output,
    ParseError, RejectedOut, Status, StatusOut, Transfer, FORMAT_VERSION,
};
use crate::margin::{
    account_margin, account_margin_tick, naked_coins, MarketView, PointLayout, Scratch,
};
use crate::state::{
    AccountState, AssetState, Basis, BitSet, Class, Computed, Figures, Instruments, NameMap,
    Position, Published, UnderlyingMarket, Valuation,
};
use crate::workers::Parallelism;
use rayon::prelude::*;
use rtm2m_margin::account::Account;
use rtm2m_margin::engine::Rtm2mParams;
use rtm2m_margin::instrument::{Instrument, InstrumentKind};
use rtm2m_margin::market::{AssetQuote, MarketSnapshot, UnderlyingQuote, VolSource};
use rtm2m_margin::market_risk::MarketRisk;
use rtm2m_margin::scenario::ScenarioGrid;
use rtm2m_margin::MarginError;
use rtm2m_market::event::{IndexStatus, IndexUpdate};
use rtm2m_market::{Event, Timestamp};
use std::collections::BTreeMap;

/// The account of an input announced ahead of its application ([`Engine::prefetch_account`]), so that
/// what its record points to can be fetched later ([`Engine::prefetch_holdings`]) without finding the
/// account again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountHint(u32);

/// What became of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Applied: the state changed (or, for a halted index, was confirmed); journal it.
    Applied,
    /// Not applied; a `rejected` output says why. `stale_seq` when its seq is not after the last applied one
    /// (a resumed run skips such lines silently).
    Rejected {
        /// The seq was not after the last applied one.
        stale_seq: bool,
    },
}

type Refusal = (String, String);

fn refuse<T>(field: &str, reason: impl Into<String>) -> Result<T, Refusal> {
    Err((field.to_owned(), reason.into()))
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;

fn seconds(ts: Timestamp) -> i64 {
    ts.unix_nanos().div_euclid(NANOS_PER_SECOND)
}

/// RFC 3339 of `ts` truncated to the second (the margin library's `as_of` has whole seconds).
fn as_of_text(ts: Timestamp) -> String {
    let text = ts.to_string(); // YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ
    format!("{}Z", &text[..19])
}

/// Oracle confidence in [0, 1] from an index's half-width: 1 − 10·(half-width / price), clamped, so a 0.5%
/// half-width is the model's 0.95 threshold (`docs/engine.md` §5).
pub fn confidence_of(price_usd: f64, half_width_usd: f64) -> f64 {
    (1.0 - 10.0 * half_width_usd / price_usd).clamp(0.0, 1.0)
}

/// Mark IVs by instrument id, as the margin library's [`VolSource`]. A fitted surface (`rtm2m-surface`) can
/// implement the same trait and take its place: the seam is this one call.
struct MarkIvSource<'a> {
    by_name: &'a NameMap<u32>,
    iv: &'a [Option<f64>],
}

impl VolSource for MarkIvSource<'_> {
    fn vol(&self, instrument: &str, _: &str, _: f64, _: f64, _: f64) -> Option<f64> {
        self.by_name
            .get(instrument)
            .and_then(|&i| self.iv[i as usize])
    }
}

fn reason_of(e: &MarginError) -> String {
    match e {
        MarginError::MissingMarketData { what, .. } => format!("missing market data: {what}"),
        MarginError::Expired { reason, .. } => format!("expired without settlement: {reason}"),
        MarginError::UnknownInstrument { reason, .. } => format!("unknown instrument: {reason}"),
        MarginError::InvalidInput { field, reason, .. } => format!("{field}: {reason}"),
        MarginError::Pricing { source, .. } => format!("pricing failed: {source}"),
        MarginError::VectorFile { reason, .. } => reason.clone(),
    }
}

/// `text` as a string that lives as long as the process, one copy per distinct text. Scenario labels are
/// interned: there are as many as the scenario grids built in the process (a few hundred per
/// configuration), and an output naming one then costs a pointer, not a shared reference count that every
/// thread writes to.
fn intern(text: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static TEXTS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut texts = TEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&t) = texts.get(text) {
        return t;
    }
    let t: &'static str = Box::leak(text.to_owned().into_boxed_str());
    texts.insert(t);
    t
}

/// The real-time margin engine. See the module documentation.
pub struct Engine {
    pub(crate) params: EngineParams,
    pub(crate) model: Rtm2mParams,
    pub(crate) grid: ScenarioGrid,
    pub(crate) points: PointLayout,
    /// The scenarios' labels, interned: outputs name them without a reference count to touch.
    labels: Vec<&'static str>,
    /// Grid underlyings, sorted (the grid's order).
    pub(crate) underlyings: Vec<String>,
    pub(crate) grid_asset: Vec<u16>,
    pub(crate) grid_spot: Vec<u32>,
    pub(crate) markets: Vec<UnderlyingMarket>,
    pub(crate) assets: Vec<AssetState>,
    pub(crate) asset_by_name: NameMap<u16>,
    pub(crate) inst: Instruments,
    pub(crate) staged_iv: BTreeMap<u32, f64>,
    pub(crate) accounts: Vec<AccountState>,
    pub(crate) account_by_id: NameMap<u32>,
    pub(crate) holders: Vec<BitSet>,
    pub(crate) clock: Option<Timestamp>,
    pub(crate) last_seq: u64,
    pool: Option<rayon::ThreadPool>,
    threads: usize,
    scratch: Scratch,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("underlyings", &self.underlyings)
            .field("instruments", &self.inst.len())
            .field("accounts", &self.accounts.len())
            .field("last_seq", &self.last_seq)
            .field("threads", &self.threads)
            .finish()
    }
}

/// What re-margining one account stores: its margin, and its published figures when it publishes.
type Change = (Computed, Option<Published>);

/// The context of a publication decision.
struct Publishing<'a> {
    rel: f64,
    /// Label of each scenario.
    labels: &'a [&'static str],
    seq: u64,
    ts: Option<Timestamp>,
}

/// Decides what storing `computed` as `acct`'s margin publishes, appending the outputs to `out` (in this
/// order): a margin update when the status changed or equity, IM or MM moved by more than `rel` of the
/// account's scale since the last publication; a status transition when the status changed, with a
/// liquidation alert when it became liquidatable or bankrupt. Reads the account only, so accounts are
/// decided in parallel and committed in list order.
fn decide(
    acct: &AccountState,
    computed: Computed,
    p: &Publishing<'_>,
    out: &mut Vec<Output>,
) -> Change {
    let (seq, ts) = (p.seq, p.ts);
    let prev = acct.computed.status();
    let new = computed.status().expect("a computed margin has a status");
    let mut published = None;
    if let Computed::Priced(f, status) = &computed {
        let publish = match acct.published {
            None => true,
            Some(last) => {
                let scale = last
                    .equity_usd
                    .abs()
                    .max(last.im_usd)
                    .max(last.mm_usd)
                    .max(1.0);
                prev != Some(*status)
                    || (f.equity_usd - last.equity_usd).abs() > p.rel * scale
                    || (f.im_usd - last.im_usd).abs() > p.rel * scale
                    || (f.mm_usd - last.mm_usd).abs() > p.rel * scale
            }
        };
        if publish {
            out.push(Output::Margin(MarginOut {
                v: FORMAT_VERSION,
                seq,
                ts,
                account: acct.id.clone(),
                status: *status,
                equity_usd: f.equity_usd,
                im_usd: f.im_usd,
                mm_usd: f.mm_usd,
                scenario_loss_usd: f.scenario_loss_usd,
                worst_scenario: f.worst_scenario.map(|w| p.labels[w as usize]),
            }));
            published = Some(Published {
                equity_usd: f.equity_usd,
                im_usd: f.im_usd,
                mm_usd: f.mm_usd,
            });
        }
    }
    if prev != Some(new) {
        let (f, reason) = match &computed {
            Computed::Priced(f, _) => (Some(*f), None),
            Computed::Unpriced(r) => (None, Some(r.clone())),
            Computed::None => (None, None),
        };
        out.push(Output::Status(StatusOut {
            v: FORMAT_VERSION,
            seq,
            ts,
            account: acct.id.clone(),
            from: prev,
            to: new,
            equity_usd: f.map(|f| f.equity_usd),
            im_usd: f.map(|f| f.im_usd),
            mm_usd: f.map(|f| f.mm_usd),
            reason,
        }));
        if let (Some(f), Status::Liquidatable | Status::Bankrupt) = (f, new) {
            out.push(Output::LiquidationAlert(LiquidationAlertOut {
                v: FORMAT_VERSION,
                seq,
                ts,
                account: acct.id.clone(),
                status: new,
                equity_usd: f.equity_usd,
                mm_usd: f.mm_usd,
                shortfall_usd: f.mm_usd - f.equity_usd,
            }));
        }
    }
    (computed, published)
}

/// Stores a [`Change`] decided for `acct`: its margin, and its published figures when it published. Drops
/// its screen memo: only a tick, which stores it after, keeps one (every change of the account's positions
/// or collateral is followed by a margin stored here).
fn store(acct: &mut AccountState, (computed, published): Change) {
    acct.screen = None;
    acct.computed = computed;
    if published.is_some() {
        acct.published = published;
    }
}

/// Margins the accounts `list` (sorted account indices) and stores what each publishes, appending the
/// outputs to `out` in `list` order; in parallel when a pool is given: `list` is cut into runs of
/// consecutive accounts, each run owning the slice of `accounts` it spans, so the runs margin, decide and
/// store without sharing anything, and their outputs are gathered in order. Without a pool the outputs go
/// to `out` directly.
fn margin_many(
    view: &MarketView<'_>,
    accounts: &mut [AccountState],
    list: &[u32],
    publishing: &Publishing<'_>,
    pool: Option<&rayon::ThreadPool>,
    scratch: &mut Scratch,
    out: &mut Vec<Output>,
) {
    // Accounts are margined in runs of CHUNK, each account prefetching the data of the ones a few places
    // ahead: the account record, then its positions and collateral. (The unit rows they read are shared by
    // many accounts and mostly cached; prefetching them as well measured slower.)
    const CHUNK: usize = 256;
    let run = |s: &mut Scratch,
               part: &[u32],
               slice: &mut [AccountState],
               first: usize,
               outputs: &mut Vec<Output>| {
        for (j, &a) in part.iter().enumerate() {
            if let Some(&ahead) = part.get(j + 8) {
                // The whole record: it spans several cache lines.
                prefetch_slice(std::slice::from_ref(&slice[ahead as usize - first]));
            }
            if let Some(&ahead) = part.get(j + 4) {
                let acct = &slice[ahead as usize - first];
                prefetch_slice(&acct.positions);
                prefetch_slice(&acct.collateral);
            }
            if let Some(&ahead) = part.get(j + 2) {
                prefetch_instruments(&slice[ahead as usize - first], view);
            }
            let acct = &mut slice[a as usize - first];
            let (computed, memo) = account_margin_tick(acct, view, s);
            let change = decide(acct, computed, publishing, outputs);
            store(acct, change);
            acct.screen = memo;
        }
    };
    let Some(pool) = pool.filter(|_| list.len() >= 2 * CHUNK) else {
        if let (Some(&first), Some(&last)) = (list.first(), list.last()) {
            let slice = &mut accounts[first as usize..=last as usize];
            run(scratch, list, slice, first as usize, out);
        }
        return;
    };
    let mut jobs = Vec::with_capacity(list.len().div_ceil(CHUNK));
    let mut rest = accounts;
    let mut offset = 0;
    for part in list.chunks(CHUNK) {
        let (first, last) = (part[0] as usize, part[part.len() - 1] as usize);
        debug_assert!(first >= offset && last >= first, "the list is sorted");
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(first - offset);
        let (mine, tail) = tail.split_at_mut(last + 1 - first);
        rest = tail;
        offset = last + 1;
        jobs.push((part, mine, first));
    }
    let runs: Vec<Vec<Output>> = pool.install(|| {
        jobs.into_par_iter()
            // Every run a task of its own, so a thread that finishes early takes the next run left.
            .with_max_len(1)
            .map_init(Scratch::default, |s, (part, slice, first)| {
                let mut outputs = Vec::with_capacity(part.len());
                run(s, part, slice, first, &mut outputs);
                outputs
            })
            .collect()
    });
    out.reserve(runs.iter().map(Vec::len).sum());
    for outputs in runs {
        out.extend(outputs);
    }
}

/// Prefetches what margining `acct` reads of its instruments: their valuations. (Its f64 row values at the
/// points its screen memo settles, `crate::screen::ScreenMemo`, are read at random too, but prefetching them
/// as well measured no faster and costs 5% of the tick's instructions.) No effect on results.
#[inline(always)]
fn prefetch_instruments(acct: &AccountState, view: &MarketView<'_>) {
    let vals = view.inst.val.as_ptr();
    for pos in &acct.positions {
        // Addresses are only computed (wrapping) and prefetched, never read.
        prefetch(vals.wrapping_add(pos.inst as usize).cast());
    }
}

/// Prefetches every cache line of `items` (no effect on results).
#[inline(always)]
fn prefetch_slice<T>(items: &[T]) {
    let bytes = std::mem::size_of_val(items);
    let start = items.as_ptr() as *const u8;
    let mut off = 0;
    while off < bytes {
        prefetch(start.wrapping_add(off));
        off += 64;
    }
}

/// A hint to bring the cache line at `p` closer (no effect on results; nothing is read).
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address; SSE is part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// What a tick derives for a part of an underlying's instruments, in the part's order: each one's
/// valuation (or why it has none), and for those valued their unit rows (f64 and f32, `PointLayout::width`
/// values each, at the valued ones' places) and the rows' screen bounds.
struct PricedPart {
    outcomes: Vec<(Valuation, Option<String>)>,
    rows: Vec<f64>,
    rows32: Vec<f32>,
    bounds: Vec<f64>,
    /// How far each valued row moved from the one it replaces (`Instruments::drift`).
    drift: Vec<f64>,
}

/// Derives a [`PricedPart`] for the instruments `ids` (grid underlying `g`, oracle confidence `confidence`)
/// from their risk arrays `risk`.
fn price_part(
    ids: &[u32],
    risk: Result<MarketRisk, MarginError>,
    inst: &Instruments,
    points: &PointLayout,
    p: &Rtm2mParams,
    g: usize,
    confidence: f64,
) -> PricedPart {
    let w = points.width;
    let mut part = PricedPart {
        outcomes: Vec::with_capacity(ids.len()),
        rows: vec![0.0; ids.len() * w],
        rows32: vec![0.0; ids.len() * w],
        bounds: vec![0.0; ids.len()],
        drift: vec![f64::INFINITY; ids.len()],
    };
    for (k, &id) in ids.iter().enumerate() {
        let i = id as usize;
        let outcome = risk.as_ref().map_err(reason_of).and_then(|r| {
            r.index_of("", &inst.names[i])
                .map(|j| (r, j))
                .map_err(|e| reason_of(&e))
        });
        match outcome {
            Ok((r, j)) => {
                let u = &r.instruments[j];
                let s = u.index_usd;
                // Basis/roll contingency (Deribit PM roll-shock form): S·max(min, per_year·T), T = 0 for a
                // perpetual; settled futures (T = 0) carry none.
                let basis_usd_per_unit = match inst.class[i] {
                    Class::Perpetual => s * p.roll_move_min.max(0.0),
                    Class::Future if u.expiry_years > 0.0 => {
                        s * p.roll_move_min.max(p.roll_move_per_year * u.expiry_years)
                    }
                    _ => 0.0,
                };
                let oracle_im_usd_per_unit = if confidence < p.oracle_threshold {
                    (1.0 - confidence.max(0.0)) * p.oracle_factor * s
                } else {
                    0.0
                };
                part.outcomes.push((
                    Valuation {
                        ok: true,
                        grid: g as u8,
                        price_usd: u.price_usd,
                        index_usd: s,
                        delta_coin: u.greeks.delta_coin,
                        gamma_per_usd: u.greeks.gamma_per_usd,
                        expiry_years: u.expiry_years,
                        basis_usd_per_unit,
                        oracle_im_usd_per_unit,
                    },
                    None,
                ));
                let row = &mut part.rows[k * w..(k + 1) * w];
                points.compress(g, r.array(j), row);
                for (x32, &x) in part.rows32[k * w..(k + 1) * w].iter_mut().zip(&*row) {
                    *x32 = x as f32;
                }
                part.bounds[k] = points.row_bound(g, row);
                part.drift[k] = points.row_drift(g, &inst.arrays[i * w..(i + 1) * w], row);
            }
            Err(reason) => part.outcomes.push((
                Valuation {
                    grid: g as u8,
                    ..Valuation::default()
                },
                Some(reason),
            )),
        }
    }
    part
}

/// What margining reads of an engine `$e` besides the accounts, borrowed field by field (a method would
/// borrow the whole engine).
macro_rules! market_view {
    ($e:expr) => {
        MarketView {
            inst: &$e.inst,
            assets: &$e.assets,
            grid_asset: &$e.grid_asset,
            grid_spot: &$e.grid_spot,
            points: &$e.points,
            params: &$e.model,
        }
    };
}

impl Engine {
    /// An engine with the configuration of `genesis` and no account yet (used by restore).
    pub(crate) fn empty(
        underlyings: Vec<String>,
        asset_cfg: &BTreeMap<String, AssetConfig>,
        params: EngineParams,
        parallelism: Parallelism,
    ) -> Result<Engine, EngineError> {
        let model = Rtm2mParams::rtm2m_default();
        let crate::workers::Workers { pool, threads } =
            crate::workers::Workers::build(parallelism)?;
        let mut assets = Vec::new();
        let mut asset_by_name = NameMap::default();
        for (name, cfg) in asset_cfg {
            asset_by_name.insert(name.as_str().into(), assets.len() as u16);
            assets.push(AssetState {
                name: name.clone(),
                cfg: cfg.clone(),
                grid: underlyings.iter().position(|u| u == name).map(|g| g as u8),
                price_usd: if underlyings.contains(name) {
                    None
                } else {
                    cfg.price_usd
                },
                confidence: 1.0,
            });
        }
        let grid_asset: Vec<u16> = underlyings
            .iter()
            .map(|u| asset_by_name[u.as_str()])
            .collect();
        let mut engine = Engine {
            params,
            grid: ScenarioGrid {
                underlyings: Vec::new(),
                scenarios: Vec::new(),
                local: Vec::new(),
            },
            points: PointLayout::from_parts(Vec::new(), Vec::new(), Vec::new()),
            labels: Vec::new(),
            model,
            markets: vec![UnderlyingMarket::default(); underlyings.len()],
            inst: Instruments::new(underlyings.len()),
            holders: vec![BitSet::default(); assets.len()],
            underlyings,
            grid_asset,
            grid_spot: Vec::new(),
            assets,
            asset_by_name,
            staged_iv: BTreeMap::new(),
            accounts: Vec::new(),
            account_by_id: NameMap::default(),
            clock: None,
            last_seq: 0,
            pool,
            threads,
            scratch: Scratch::default(),
        };
        engine.grid = ScenarioGrid::build(&engine.model.grid, &engine.market_for(None));
        debug_assert_eq!(engine.grid.underlyings, engine.underlyings);
        engine.points = PointLayout::of(&engine.grid);
        engine.labels = engine
            .grid
            .scenarios
            .iter()
            .map(|s| intern(&s.label))
            .collect();
        for g in 0..engine.underlyings.len() {
            let name = format!("{}_USDC", engine.underlyings[g]);
            let parsed = Instrument::parse(&name).map_err(EngineError::Market)?;
            let id = engine.inst.push(parsed, g as u8, engine.points.width);
            engine.grid_spot.push(id);
        }
        Ok(engine)
    }

    /// Sets up an engine from an accounts file on the worker threads `parallelism` asks for (a thread count
    /// converts: 0 for one per core, pinned); returns it with the outputs of the starting accounts (`seq` 0).
    pub fn new(
        genesis: &Genesis,
        parallelism: impl Into<Parallelism>,
    ) -> Result<(Engine, Vec<Output>), EngineError> {
        let mut e = Engine::empty(
            genesis.underlyings.clone(),
            &genesis.assets,
            genesis.params.clone(),
            parallelism.into(),
        )?;
        let mut out = Vec::new();
        for (k, a) in genesis.accounts.iter().enumerate() {
            e.open_account(a, 0, None, &mut out)
                .map_err(|(field, reason)| {
                    crate::error::genesis(format!("accounts[{k}]: {field}"), reason)
                })?;
        }
        Ok((e, out))
    }

    /// The market snapshot the margin library prices grid underlying `g` on (`None`: only what the scenario
    /// grid needs).
    fn market_for(&self, g: Option<usize>) -> MarketSnapshot {
        let mut assets = BTreeMap::new();
        let mut underlyings = BTreeMap::new();
        for (k, u) in self.underlyings.iter().enumerate() {
            let a = &self.assets[self.grid_asset[k] as usize];
            assets.insert(
                u.clone(),
                AssetQuote {
                    price_usd: self.markets[k].index_usd.unwrap_or(1.0),
                    confidence: a.confidence,
                    ewma_vol: a.cfg.ewma_vol,
                    depth_usd: a.cfg.depth_usd,
                    stablecoin: false,
                    static_haircut: None,
                },
            );
            let mut q = UnderlyingQuote {
                rate: a.cfg.rate,
                ..UnderlyingQuote::default()
            };
            if g == Some(k) {
                let m = &self.markets[k];
                let s = m.index_usd.unwrap_or(1.0);
                q.perp_usd = m.perp.map(|b| b.at(s));
                q.forwards = m
                    .forwards
                    .iter()
                    .map(|(c, b)| (c.clone(), b.at(s)))
                    .collect();
                q.settlements = m.settlements.clone();
            }
            underlyings.insert(u.clone(), q);
        }
        let as_of = g
            .and_then(|k| self.markets[k].tick_ts)
            .map_or_else(|| "1970-01-01T00:00:00Z".to_owned(), as_of_text);
        MarketSnapshot {
            as_of,
            assets,
            underlyings,
            mark_ivs: BTreeMap::new(),
        }
    }

    /// Re-prices every instrument of grid underlying `g` listed before its last tick (values, Greeks, risk
    /// arrays), in parallel chunks; each instrument's result does not depend on the chunking.
    pub(crate) fn reprice(&mut self, g: usize) {
        if self.markets[g].tick_ts.is_none() {
            return;
        }
        let market = self.market_for(Some(g));
        let ids: Vec<u32> = self.inst.by_grid[g]
            .iter()
            .copied()
            .filter(|&i| !self.inst.pending[i as usize])
            .collect();
        let chunk = (ids.len() / (self.threads * 4)).max(32);
        let vols = MarkIvSource {
            by_name: &self.inst.by_name,
            iv: &self.inst.iv,
        };
        // One scenario grid for every part (its labels are formatted once per tick, not once per part).
        let scenario_grid = std::sync::Arc::new(ScenarioGrid::build(&self.model.grid, &market));
        let inst = &self.inst;
        let (points, p) = (&self.points, &self.model);
        let confidence = self.assets[self.grid_asset[g] as usize].confidence;
        // Each part values its instruments and derives their rows, f32 copies and bounds in parallel; only
        // the copy into the instrument table below is serial.
        let price = |c: &[u32]| {
            let risk = MarketRisk::build_on(
                &market,
                &vols,
                &p.grid,
                scenario_grid.clone(),
                c.iter().map(|&i| inst.names[i as usize].as_str()),
            );
            price_part(c, risk, inst, points, p, g, confidence)
        };
        let parts: Vec<PricedPart> = match &self.pool {
            Some(pool) if ids.len() > chunk => {
                pool.install(|| ids.par_chunks(chunk).map(price).collect())
            }
            _ => ids.chunks(chunk.max(1)).map(price).collect(),
        };
        let w = self.points.width;
        self.inst.repriced[g] = self.inst.repriced[g].wrapping_add(1);
        for (c, part) in ids.chunks(chunk.max(1)).zip(parts) {
            for (k, (&id, (val, failure))) in c.iter().zip(part.outcomes).enumerate() {
                let i = id as usize;
                self.inst.val[i] = val;
                self.inst.failure[i] = failure;
                self.inst.drift[i] = part.drift[k];
                if val.ok {
                    self.inst.arrays[i * w..(i + 1) * w]
                        .copy_from_slice(&part.rows[k * w..(k + 1) * w]);
                    self.inst.arrays32[i * w..(i + 1) * w]
                        .copy_from_slice(&part.rows32[k * w..(k + 1) * w]);
                    self.inst.bounds[i] = part.bounds[k];
                }
            }
        }
    }

    fn view(&self) -> MarketView<'_> {
        market_view!(self)
    }

    /// Recomputes what is derived from account `a`'s positions and collateral: its exposure mask and bits
    /// in the reverse index, and its naked short options.
    pub(crate) fn refresh_derived(&mut self, a: usize) {
        let naked = naked_coins(&self.accounts[a].positions, &self.inst);
        self.accounts[a].naked_coins = naked;
        self.refresh_mask(a);
    }

    /// Recomputes account `a`'s exposure mask and its bits in the reverse index (what a change of
    /// collateral, or of a position that is not an option, can change).
    fn refresh_mask(&mut self, a: usize) {
        let acct = &self.accounts[a];
        let mut mask = 0u64;
        for p in &acct.positions {
            mask |= 1 << self.grid_asset[self.inst.grid[p.inst as usize] as usize];
        }
        for &(asset, _) in &acct.collateral {
            mask |= 1 << asset;
        }
        let old = acct.mask;
        let mut diff = old ^ mask;
        while diff != 0 {
            let bit = diff.trailing_zeros() as usize;
            self.holders[bit].set(a, mask & (1 << bit) != 0);
            diff &= diff - 1;
        }
        self.accounts[a].mask = mask;
    }

    /// Stores `computed` as account `a`'s margin and emits what changed.
    fn publish(
        &mut self,
        a: usize,
        computed: Computed,
        seq: u64,
        ts: Option<Timestamp>,
        out: &mut Vec<Output>,
    ) {
        let publishing = Publishing {
            rel: self.params.margin_publish_rel,
            labels: &self.labels,
            seq,
            ts,
        };
        let change = decide(&self.accounts[a], computed, &publishing, out);
        self.commit(a, change);
    }

    /// Stores a [`Change`] decided for account `a`.
    fn commit(&mut self, a: usize, change: Change) {
        store(&mut self.accounts[a], change);
    }

    fn remargin_one(&mut self, a: usize, seq: u64, ts: Option<Timestamp>, out: &mut Vec<Output>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let c = account_margin(&self.accounts[a], &self.view(), &mut scratch, false);
        self.scratch = scratch;
        self.publish(a, c, seq, ts, out);
    }

    /// Re-margins every account exposed to `asset` (the reverse index); returns how many.
    fn remargin_holders(
        &mut self,
        asset: usize,
        seq: u64,
        ts: Timestamp,
        out: &mut Vec<Output>,
    ) -> u64 {
        let mut list = Vec::new();
        self.holders[asset].collect(&mut list);
        let mut scratch = std::mem::take(&mut self.scratch);
        let publishing = Publishing {
            rel: self.params.margin_publish_rel,
            labels: &self.labels,
            seq,
            ts: Some(ts),
        };
        // Borrows the market's fields one by one, so the accounts stay free to be margined in place.
        let view = market_view!(self);
        margin_many(
            &view,
            &mut self.accounts,
            &list,
            &publishing,
            self.pool.as_ref(),
            &mut scratch,
            out,
        );
        self.scratch = scratch;
        list.len() as u64
    }

    /// A hint that `input` will be applied in a few inputs: finds the account it names (none for an input
    /// that names no known account) and fetches its record into the caches, so a caller that reads its
    /// inputs ahead overlaps the memory latency of one input's account with the work of the inputs before
    /// it. No effect on the state or on any result.
    pub fn prefetch_account(&self, input: &Input) -> Option<AccountHint> {
        let id = match &input.kind {
            InputKind::Fill(f) => &f.account,
            InputKind::Deposit(t) | InputKind::Withdrawal(t) => &t.account,
            InputKind::Market(_) | InputKind::OpenAccount(_) => return None,
        };
        let a = self.find_account(id)?;
        prefetch_slice(std::slice::from_ref(&self.accounts[a]));
        Some(AccountHint(a as u32))
    }

    /// The next hint, once the account's record was fetched ([`Engine::prefetch_account`]): its
    /// positions, its collateral and its id (which its outputs share). No effect on the state or on any
    /// result.
    pub fn prefetch_holdings(&self, hint: AccountHint) {
        // Accounts are never removed, so a hint stays in range; `get` keeps a stray one harmless.
        if let Some(acct) = self.accounts.get(hint.0 as usize) {
            prefetch_slice(&acct.positions);
            prefetch_slice(&acct.collateral);
            prefetch(acct.id.as_ptr());
        }
    }

    /// Reads and applies one input line (`line` is its 1-based number in the input, for rejections).
    pub fn apply_line(&mut self, line: Option<u64>, text: &str, out: &mut Vec<Output>) -> Verdict {
        match parse_input(text) {
            Ok(input) => self.apply(&input, line, out),
            Err(e) => self.reject_unreadable(line, e, out),
        }
    }

    /// Records the rejection of a line that does not read as an input (`e`, what [`parse_input`] said of
    /// it); nothing is applied. For a caller that parsed the line itself.
    pub fn reject_unreadable(
        &self,
        line: Option<u64>,
        e: ParseError,
        out: &mut Vec<Output>,
    ) -> Verdict {
        out.push(Output::Rejected(RejectedOut {
            v: FORMAT_VERSION,
            seq: e.seq,
            ts: None,
            line,
            event_type: e.event_type,
            field: e.field,
            reason: e.reason,
        }));
        Verdict::Rejected { stale_seq: false }
    }

    /// Applies one input; its outputs (or its rejection) are appended to `out`.
    pub fn apply(&mut self, input: &Input, line: Option<u64>, out: &mut Vec<Output>) -> Verdict {
        let reject = |out: &mut Vec<Output>, (field, reason): Refusal, stale: bool| {
            out.push(Output::Rejected(RejectedOut {
                v: FORMAT_VERSION,
                seq: Some(input.seq),
                ts: Some(input.ts),
                line,
                event_type: Some(input.type_name().to_owned()),
                field,
                reason,
            }));
            Verdict::Rejected { stale_seq: stale }
        };
        if input.seq <= self.last_seq {
            let why = format!(
                "seq {} is not after the last applied seq {}",
                input.seq, self.last_seq
            );
            return reject(out, ("seq".into(), why), true);
        }
        if let Some(clock) = self.clock {
            let window_ns = (self.params.reorder_window_s * 1e9) as i64;
            let behind = clock.unix_nanos().saturating_sub(input.ts.unix_nanos());
            if behind > window_ns {
                let why = format!(
                    "ts {} is {:.3} s before the engine clock {}, beyond the reorder window of {} s",
                    input.ts,
                    behind as f64 / 1e9,
                    clock,
                    self.params.reorder_window_s
                );
                return reject(out, ("ts".into(), why), false);
            }
        }
        let (seq, ts) = (input.seq, input.ts);
        let mark = out.len();
        let outcome = match &input.kind {
            InputKind::Market(e) => self.market(e, seq, ts, out),
            InputKind::Fill(f) => self.fill(f, seq, ts, out),
            InputKind::Deposit(t) => self.deposit(t, seq, ts, out),
            InputKind::Withdrawal(t) => self.withdrawal(t, seq, ts, out),
            InputKind::OpenAccount(a) => self.open_account(a, seq, Some(ts), out),
        };
        match outcome {
            Ok(()) => {
                self.last_seq = seq;
                self.clock = Some(self.clock.map_or(ts, |c| c.max(ts)));
                Verdict::Applied
            }
            Err(r) => {
                debug_assert_eq!(out.len(), mark, "a refused input emits nothing else");
                out.truncate(mark);
                reject(out, r, false)
            }
        }
    }

    fn grid_of(&self, underlying: &str) -> Result<usize, Refusal> {
        self.underlyings
            .iter()
            .position(|u| u == underlying)
            .ok_or_else(|| {
                (
                    "underlying".to_owned(),
                    format!(
                        "{underlying} is not one of the engine's underlyings ({})",
                        self.underlyings.join(", ")
                    ),
                )
            })
    }

    fn list(&mut self, parsed: Instrument) -> Result<u32, Refusal> {
        if let Some(&id) = self.inst.by_name.get(parsed.name.as_str()) {
            return Ok(id);
        }
        if self.inst.len() >= self.params.max_instruments {
            return refuse(
                "instrument",
                format!(
                    "cannot list {}: engine.max_instruments = {} reached",
                    parsed.name, self.params.max_instruments
                ),
            );
        }
        let g = self.grid_of(&parsed.underlying)?;
        Ok(self.inst.push(parsed, g as u8, self.points.width))
    }

    fn market(
        &mut self,
        e: &Event,
        seq: u64,
        ts: Timestamp,
        out: &mut Vec<Output>,
    ) -> Result<(), Refusal> {
        match e {
            Event::Index(ix) => self.index(ix, seq, ts, out),
            Event::OptionQuote(q) => {
                let g = self.grid_of(&q.underlying)?;
                let parsed = parse_instrument(&q.instrument, &self.underlyings)
                    .map_err(|r| ("instrument".to_owned(), r))?;
                let InstrumentKind::Option { expiry_code, expiry_unix_s, .. } = &parsed.kind else {
                    return refuse("instrument", format!("{} is not an option", q.instrument));
                };
                if parsed.underlying != q.underlying {
                    return refuse(
                        "underlying",
                        format!("{} is an option on {}, not {}", q.instrument, parsed.underlying, q.underlying),
                    );
                }
                if *expiry_unix_s <= seconds(ts) {
                    return refuse("instrument", format!("{} expired at {expiry_unix_s} s", q.instrument));
                }
                let Some(iv) = q.mark_iv else {
                    return refuse("mark_iv", "required: the engine marks options on the venue's mark IV");
                };
                let code = expiry_code.clone();
                let id = self.list(parsed)?;
                self.staged_iv.insert(id, iv);
                if let Some(f) = q.underlying_price {
                    self.markets[g].staged_forwards.insert(
                        code,
                        Basis {
                            price_usd: f,
                            index_usd: q.index_price,
                        },
                    );
                }
                Ok(())
            }
            Event::Mark(m) => {
                if !matches!(m.price_currency.as_str(), "USD" | "USDC" | "USDT") {
                    return refuse(
                        "price_currency",
                        format!("{} is not USD, USDC or USDT", m.price_currency),
                    );
                }
                let parsed = parse_instrument(&m.instrument, &self.underlyings)
                    .map_err(|r| ("instrument".to_owned(), r))?;
                let g = self.grid_of(&parsed.underlying)?;
                let basis = Basis {
                    price_usd: m.price,
                    index_usd: None,
                };
                match &parsed.kind {
                    InstrumentKind::Perpetual => {
                        self.list(parsed)?;
                        self.markets[g].staged_perp = Some(basis);
                    }
                    InstrumentKind::Future { expiry_code, expiry_unix_s } => {
                        if *expiry_unix_s <= seconds(ts) {
                            return refuse("instrument", format!("{} expired at {expiry_unix_s} s", m.instrument));
                        }
                        let code = expiry_code.clone();
                        self.list(parsed)?;
                        self.markets[g].staged_forwards.insert(code, basis);
                    }
                    _ => return refuse("instrument", format!("{} is not a future or perpetual", m.instrument)),
                }
                Ok(())
            }
            other => refuse(
                "type",
                format!(
                    "`{}` events are not consumed by the engine (index events carry prices: aggregate venues with rtm2m-oracle first)",
                    other.type_name()
                ),
            ),
        }
    }

    fn index(
        &mut self,
        ix: &IndexUpdate,
        seq: u64,
        ts: Timestamp,
        out: &mut Vec<Output>,
    ) -> Result<(), Refusal> {
        let Some(&asset) = self.asset_by_name.get(ix.underlying.as_str()) else {
            return refuse(
                "underlying",
                format!("asset {} is not configured", ix.underlying),
            );
        };
        let asset = asset as usize;
        let halted = ix.status == IndexStatus::Halted;
        let Some(g) = self.assets[asset].grid.map(usize::from) else {
            if !halted {
                self.assets[asset].price_usd = Some(ix.price);
                self.assets[asset].confidence = confidence_of(ix.price, ix.confidence);
                self.remargin_holders(asset, seq, ts, out);
            }
            return Ok(());
        };
        let m = &mut self.markets[g];
        m.halted = halted;
        if halted {
            return Ok(());
        }
        let s = ix.price;
        for (code, b) in std::mem::take(&mut m.staged_forwards) {
            m.forwards.insert(
                code,
                Basis {
                    price_usd: b.price_usd,
                    index_usd: Some(b.index_usd.unwrap_or(s)),
                },
            );
        }
        if let Some(b) = m.staged_perp.take() {
            m.perp = Some(Basis {
                price_usd: b.price_usd,
                index_usd: Some(b.index_usd.unwrap_or(s)),
            });
        }
        m.index_usd = Some(s);
        m.tick_ts = Some(ts);
        self.assets[asset].price_usd = Some(s);
        self.assets[asset].confidence = confidence_of(s, ix.confidence);
        let inst = &mut self.inst;
        self.staged_iv.retain(|&i, iv| {
            if inst.grid[i as usize] as usize == g {
                inst.iv[i as usize] = Some(*iv);
                false
            } else {
                true
            }
        });
        let now_s = seconds(ts);
        let mut settled = BTreeMap::new();
        for &i in &inst.by_grid[g] {
            let i = i as usize;
            inst.pending[i] = false;
            if inst.expiry_s[i] <= now_s {
                if let Some(code) = inst.expiry_code(i) {
                    if !m.settlements.contains_key(code) {
                        m.settlements.insert(code.to_owned(), s);
                        settled.insert(code.to_owned(), s);
                    }
                }
            }
        }
        self.reprice(g);
        let m = &self.markets[g];
        let mut valued = 0;
        for &i in &self.inst.by_grid[g] {
            valued += u64::from(self.inst.val[i as usize].ok);
        }
        let mark_at = out.len();
        out.push(Output::Mark(MarkOut {
            v: FORMAT_VERSION,
            seq,
            ts,
            underlying: ix.underlying.clone(),
            index_usd: s,
            perp_usd: m.perp.map(|b| b.at(s)),
            forwards_usd: m
                .forwards
                .iter()
                .filter(|(c, _)| !m.settlements.contains_key(*c))
                .map(|(c, b)| (c.clone(), b.at(s)))
                .collect(),
            settled_usd: settled,
            instruments_valued: valued,
            instruments_unvalued: self.inst.by_grid[g].len() as u64 - valued,
            accounts_remargined: 0,
        }));
        let n = self.remargin_holders(asset, seq, ts, out);
        if let Output::Mark(mk) = &mut out[mark_at] {
            mk.accounts_remargined = n;
        }
        Ok(())
    }

    fn account_index(&self, id: &str) -> Result<usize, Refusal> {
        self.find_account(id)
            .ok_or_else(|| ("account".to_owned(), format!("unknown account {id}")))
    }

    /// The index of account `id`, when known.
    fn find_account(&self, id: &str) -> Option<usize> {
        self.account_by_id.get(id).map(|&a| a as usize)
    }

    fn fill(
        &mut self,
        f: &Fill,
        seq: u64,
        ts: Timestamp,
        out: &mut Vec<Output>,
    ) -> Result<(), Refusal> {
        let a = self.account_index(&f.account)?;
        let Some(&id) = self.inst.by_name.get(f.instrument.as_str()) else {
            return refuse(
                "instrument",
                format!(
                    "unknown instrument {} (listed by the accounts file, an option quote or a mark)",
                    f.instrument
                ),
            );
        };
        let i = id as usize;
        if self.inst.expiry_s[i] <= seconds(ts) {
            return refuse(
                "instrument",
                format!("{} expired at {} s", f.instrument, self.inst.expiry_s[i]),
            );
        }
        let class = self.inst.class[i];
        let max = self.params.max_positions_per_account;
        let acct = &mut self.accounts[a];
        let at = acct.positions.binary_search_by_key(&id, |p| p.inst);
        if at.is_err() && acct.positions.len() + acct.collateral.len() >= max {
            return refuse(
                "instrument",
                format!("account {} already has {max} positions", f.account),
            );
        }
        let (q, px) = (f.size, f.price_usd);
        let old = match at {
            Ok(k) => acct.positions[k],
            Err(_) => Position {
                inst: id,
                size: 0.0,
                entry_usd: 0.0,
            },
        };
        let mut new = old;
        new.size = old.size + q;
        if new.size.abs() <= 1e-12 * old.size.abs().max(q.abs()) {
            new.size = 0.0;
        }
        match class {
            Class::Future | Class::Perpetual => {
                if old.size == 0.0 || old.size.signum() == q.signum() {
                    // Adding: average entry, weighted by size.
                    if new.size != 0.0 {
                        new.entry_usd = (old.size * old.entry_usd + q * px) / new.size;
                    }
                } else {
                    // Reducing: realise P&L on the closed part; a flip opens the rest at the fill price.
                    let closed = q.abs().min(old.size.abs());
                    acct.cash_usd += closed * (px - old.entry_usd) * old.size.signum();
                    if new.size != 0.0 && new.size.signum() != old.size.signum() {
                        new.entry_usd = px;
                    }
                }
            }
            Class::Option | Class::Spot => {
                acct.cash_usd -= q * px;
                new.entry_usd = 0.0;
            }
        }
        acct.cash_usd -= f.fee_usd;
        match (at, new.size == 0.0) {
            (Ok(k), true) => {
                acct.positions.remove(k);
            }
            (Ok(k), false) => acct.positions[k] = new,
            (Err(_), true) => {}
            (Err(k), false) => acct.positions.insert(k, new),
        }
        if class == Class::Option {
            self.refresh_derived(a);
        } else {
            self.refresh_mask(a);
        }
        self.remargin_one(a, seq, Some(ts), out);
        Ok(())
    }

    fn transfer_asset(&self, t: &Transfer) -> Result<Option<u16>, Refusal> {
        if t.asset == CASH_ASSET {
            return Ok(None);
        }
        self.asset_by_name
            .get(t.asset.as_str())
            .map(|&x| Some(x))
            .ok_or_else(|| {
                (
                    "asset".to_owned(),
                    format!("asset {} is not configured (USD is cash)", t.asset),
                )
            })
    }

    fn deposit(
        &mut self,
        t: &Transfer,
        seq: u64,
        ts: Timestamp,
        out: &mut Vec<Output>,
    ) -> Result<(), Refusal> {
        let a = self.account_index(&t.account)?;
        let asset = self.transfer_asset(t)?;
        let max = self.params.max_positions_per_account;
        let acct = &mut self.accounts[a];
        match asset {
            None => acct.cash_usd += t.amount,
            Some(x) => match acct.collateral.binary_search_by_key(&x, |c| c.0) {
                Ok(k) => acct.collateral[k].1 += t.amount,
                Err(k) => {
                    if acct.positions.len() + acct.collateral.len() >= max {
                        return refuse(
                            "asset",
                            format!("account {} already has {max} lines", t.account),
                        );
                    }
                    acct.collateral.insert(k, (x, t.amount));
                }
            },
        }
        self.refresh_mask(a);
        self.remargin_one(a, seq, Some(ts), out);
        Ok(())
    }

    fn withdrawal(
        &mut self,
        t: &Transfer,
        seq: u64,
        ts: Timestamp,
        out: &mut Vec<Output>,
    ) -> Result<(), Refusal> {
        let a = self.account_index(&t.account)?;
        let asset = self.transfer_asset(t)?;
        let before = self.accounts[a].clone();
        let acct = &mut self.accounts[a];
        match asset {
            None => {
                if acct.cash_usd < t.amount {
                    return refuse(
                        "amount",
                        format!("account {} has {} USD of cash", t.account, acct.cash_usd),
                    );
                }
                acct.cash_usd -= t.amount;
            }
            Some(x) => {
                let k = acct
                    .collateral
                    .binary_search_by_key(&x, |c| c.0)
                    .map_err(|_| {
                        (
                            "asset".to_owned(),
                            format!("account {} holds no {}", t.account, t.asset),
                        )
                    })?;
                let held = acct.collateral[k].1;
                if held < t.amount {
                    return refuse(
                        "amount",
                        format!("account {} holds {held} {}", t.account, t.asset),
                    );
                }
                if held == t.amount {
                    acct.collateral.remove(k);
                } else {
                    acct.collateral[k].1 = held - t.amount;
                }
            }
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let c = account_margin(&self.accounts[a], &self.view(), &mut scratch, false);
        self.scratch = scratch;
        let refusal = match &c {
            Computed::Priced(_, Status::Healthy) => None,
            Computed::Priced(f, _) => Some(format!(
                "would leave equity {} USD below the initial margin {} USD",
                f.equity_usd, f.im_usd
            )),
            Computed::Unpriced(r) => Some(format!("the margin after it cannot be computed: {r}")),
            Computed::None => Some("no margin".into()),
        };
        if let Some(r) = refusal {
            self.accounts[a] = before;
            return refuse("amount", r);
        }
        self.refresh_mask(a);
        self.publish(a, c, seq, Some(ts), out);
        Ok(())
    }

    /// Creates an account (accounts file or `open_account` event).
    fn open_account(
        &mut self,
        a: &Account,
        seq: u64,
        ts: Option<Timestamp>,
        out: &mut Vec<Output>,
    ) -> Result<(), Refusal> {
        let cfg: BTreeMap<String, AssetConfig> = self
            .assets
            .iter()
            .map(|x| (x.name.clone(), x.cfg.clone()))
            .collect();
        check_account(
            a,
            &cfg,
            &self.underlyings,
            self.params.max_positions_per_account,
        )?;
        if self.account_by_id.contains_key(a.id.as_str()) {
            return refuse("account.id", format!("account {} already exists", a.id));
        }
        if self.accounts.len() >= self.params.max_accounts {
            return refuse(
                "account",
                format!("engine.max_accounts = {} reached", self.params.max_accounts),
            );
        }
        let mut parsed = Vec::new();
        let mut new_names = std::collections::BTreeSet::new();
        for p in &a.positions {
            let i = parse_instrument(&p.instrument, &self.underlyings)
                .map_err(|r| ("positions.instrument".to_owned(), r))?;
            if !self.inst.by_name.contains_key(i.name.as_str()) {
                new_names.insert(i.name.clone());
            }
            parsed.push(i);
        }
        if self.inst.len() + new_names.len() > self.params.max_instruments {
            return refuse(
                "positions",
                format!(
                    "engine.max_instruments = {} reached",
                    self.params.max_instruments
                ),
            );
        }
        let mut cash = a.cash_usd;
        let mut net: BTreeMap<u32, (f64, f64)> = BTreeMap::new(); // id → (size, Σ size·entry)
        for (p, i) in a.positions.iter().zip(parsed) {
            if p.size == 0.0 {
                continue;
            }
            let id = self.list(i)?;
            let e = net.entry(id).or_insert((0.0, 0.0));
            e.0 += p.size;
            e.1 += p.size * p.entry_price_usd.unwrap_or(0.0);
        }
        let mut positions = Vec::new();
        for (id, (size, notional)) in net {
            let linear = matches!(
                self.inst.class[id as usize],
                Class::Future | Class::Perpetual
            );
            if size == 0.0 {
                // Offsetting lines of a future: their value Σ size·(P − entry) = −Σ size·entry is fixed cash.
                if linear {
                    cash -= notional;
                }
                continue;
            }
            positions.push(Position {
                inst: id,
                size,
                entry_usd: if linear { notional / size } else { 0.0 },
            });
        }
        let mut collateral: BTreeMap<u16, f64> = BTreeMap::new();
        for c in &a.collateral {
            *collateral
                .entry(self.asset_by_name[c.asset.as_str()])
                .or_insert(0.0) += c.amount;
        }
        let idx = self.accounts.len();
        self.accounts.push(AccountState {
            id: a.id.as_str().into(),
            cash_usd: cash,
            funding_usd: a.accrued_funding_usd,
            collateral: collateral.into_iter().filter(|c| c.1 > 0.0).collect(),
            positions,
            mask: 0,
            naked_coins: Default::default(),
            computed: Computed::None,
            published: None,
            screen: None,
        });
        self.account_by_id.insert(a.id.as_str().into(), idx as u32);
        self.refresh_derived(idx);
        let mut scratch = std::mem::take(&mut self.scratch);
        let c = account_margin(&self.accounts[idx], &self.view(), &mut scratch, false);
        self.scratch = scratch;
        self.publish(idx, c, seq, ts, out);
        Ok(())
    }

    /// The last applied seq (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The engine clock: the latest `ts` applied.
    pub fn clock(&self) -> Option<Timestamp> {
        self.clock
    }

    /// Worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The cores each worker thread may run on, in worker order: one core each when pinned
    /// ([`Parallelism::pin`]); without a pool, one list, the calling thread's cores.
    pub fn worker_cores(&self) -> Vec<Vec<usize>> {
        crate::workers::cores(self.pool.as_ref())
    }

    /// Scenarios of the grid.
    pub fn scenario_count(&self) -> usize {
        self.grid.len()
    }

    /// Number of accounts.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// Number of positions over all accounts.
    pub fn position_count(&self) -> usize {
        self.accounts.iter().map(|a| a.positions.len()).sum()
    }

    /// Number of listed instruments.
    pub fn instrument_count(&self) -> usize {
        self.inst.len()
    }

    /// The stored margin of account `id`.
    pub fn margin_of(&self, id: &str) -> Option<&Computed> {
        self.account_by_id
            .get(id)
            .map(|&a| &self.accounts[a as usize].computed)
    }

    /// Ids of the accounts, in creation order.
    pub fn account_ids(&self) -> impl Iterator<Item = &str> {
        self.accounts.iter().map(|a| &*a.id)
    }

    /// The account as the portfolio format writes it (cash includes realised P&L and premiums; positions
    /// netted per instrument, futures at their average entry).
    pub fn account(&self, id: &str) -> Option<Account> {
        let a = &self.accounts[*self.account_by_id.get(id)? as usize];
        Some(Account {
            id: a.id.to_string(),
            cash_usd: a.cash_usd,
            accrued_funding_usd: a.funding_usd,
            collateral: a
                .collateral
                .iter()
                .map(|&(x, amount)| rtm2m_margin::account::Collateral {
                    asset: self.assets[x as usize].name.clone(),
                    amount,
                })
                .collect(),
            positions: a
                .positions
                .iter()
                .map(|p| rtm2m_margin::account::Position {
                    instrument: self.inst.names[p.inst as usize].clone(),
                    size: p.size,
                    entry_price_usd: matches!(
                        self.inst.class[p.inst as usize],
                        Class::Future | Class::Perpetual
                    )
                    .then_some(p.entry_usd),
                })
                .collect(),
            ..Account::default()
        })
    }

    /// The index of `underlying` at its last tick.
    pub fn index_usd(&self, underlying: &str) -> Option<f64> {
        let g = self.underlyings.iter().position(|u| u == underlying)?;
        self.markets[g].index_usd
    }

    /// The valuation of an instrument at its underlying's last tick: (price USD, delta coin), or why none.
    pub fn valuation(&self, name: &str) -> Option<Result<(f64, f64), String>> {
        let i = *self.inst.by_name.get(name)? as usize;
        let v = &self.inst.val[i];
        Some(if v.ok {
            Ok((v.price_usd, v.delta_coin))
        } else {
            Err(self.inst.failure[i]
                .clone()
                .unwrap_or_else(|| "no valuation yet".into()))
        })
    }

    /// The label of scenario `s`.
    pub fn scenario_label(&self, s: u32) -> Option<&str> {
        self.grid
            .scenarios
            .get(s as usize)
            .map(|x| x.label.as_str())
    }

    /// Recomputes every account's margin from scratch (readable scenario reduction, one thread) and checks
    /// it equals the stored, incrementally maintained one to the bit; the error names the first account that
    /// differs. An audit of the incremental path.
    pub fn verify_incremental(&self) -> Result<(), String> {
        let view = self.view();
        let mut s = Scratch::default();
        for a in &self.accounts {
            let fresh = account_margin(a, &view, &mut s, true);
            let same = match (&fresh, &a.computed) {
                (Computed::Priced(f, x), Computed::Priced(g, y)) => {
                    x == y
                        && f.equity_usd.to_bits() == g.equity_usd.to_bits()
                        && f.im_usd.to_bits() == g.im_usd.to_bits()
                        && f.mm_usd.to_bits() == g.mm_usd.to_bits()
                        && f.scenario_loss_usd.to_bits() == g.scenario_loss_usd.to_bits()
                        && f.worst_scenario == g.worst_scenario
                }
                (x, y) => x == y,
            };
            if !same {
                return Err(format!(
                    "account {}: stored {:?}, from scratch {:?}",
                    a.id, a.computed, fresh
                ));
            }
        }
        Ok(())
    }

    /// How many accounts hold a screen memo from their last tick (`crate::screen::ScreenMemo`): a
    /// diagnostic of how much of the next tick can reuse the last one's screen.
    pub fn screen_memos(&self) -> usize {
        self.accounts.iter().filter(|a| a.screen.is_some()).count()
    }

    /// Figures of an account's stored margin, when priced.
    pub fn figures_of(&self, id: &str) -> Option<(Figures, Status)> {
        match self.margin_of(id)? {
            Computed::Priced(f, s) => Some((*f, *s)),
            _ => None,
        }
    }
}
