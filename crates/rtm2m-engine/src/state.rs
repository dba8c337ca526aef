//! The engine's state: instruments (struct of arrays, per-point P&L contiguous per instrument), the market as
//! of each underlying's last index tick plus what is staged for its next one, assets and accounts.
//!
//! Fields marked *derived* are recomputed from the others on restore and never serialised.

use crate::config::AssetConfig;
use crate::event::Status;
use rtm2m_margin::instrument::{Instrument, InstrumentKind};
use rtm2m_market::Timestamp;
use std::collections::{BTreeMap, HashMap};

/// Names to ids. The keys are kept inline (up to 24 bytes, every account and instrument name in practice):
/// a lookup compares the key in the table's own cache line instead of following a pointer to the heap.
pub(crate) type NameMap<V> = HashMap<compact_str::CompactString, V, foldhash::fast::RandomState>;

/// What kind of instrument, as the margin arithmetic needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Option,
    Future,
    Perpetual,
    Spot,
}

/// An instrument's valuation at its underlying's last tick (derived).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Valuation {
    pub ok: bool,
    /// Grid underlying index (also when not valued).
    pub grid: u8,
    pub price_usd: f64,
    pub index_usd: f64,
    pub delta_coin: f64,
    pub gamma_per_usd: f64,
    pub expiry_years: f64,
    /// Basis/roll contingency per unit held (either side), USD: `S·max(roll_min, roll_per_year·T)` for a
    /// future before expiry, `S·max(roll_min, 0)` for a perpetual, 0 otherwise (`docs/margin.md` §5).
    pub basis_usd_per_unit: f64,
    /// Oracle contingency per unit held, USD: `(1 − c)·factor·S` when the underlying's oracle confidence `c`
    /// is below the model's threshold, 0 otherwise.
    pub oracle_im_usd_per_unit: f64,
}

/// Every listed instrument, in listing order (an instrument's id is its position).
#[derive(Debug, Default)]
pub(crate) struct Instruments {
    pub names: Vec<String>,
    pub by_name: NameMap<u32>,
    pub parsed: Vec<Instrument>,
    /// Grid underlying index.
    pub grid: Vec<u8>,
    pub class: Vec<Class>,
    /// Expiry, seconds since the epoch (i64::MAX for perpetuals and spot).
    pub expiry_s: Vec<i64>,
    /// Options at the same (underlying, expiry, strike) share a group (naked-short netting); derived.
    pub strike_group: Vec<u32>,
    groups: HashMap<(u8, i64, u64), u32>,
    /// Committed mark IV (fraction).
    pub iv: Vec<Option<f64>>,
    /// Listed since its underlying's last tick: not valued before the next one.
    pub pending: Vec<bool>,
    /// Derived at ticks.
    pub val: Vec<Valuation>,
    /// Why an instrument could not be valued at its underlying's last tick (derived).
    pub failure: Vec<Option<String>>,
    /// One unit's P&L at each distinct point (spot move, vol state) of its underlying, undampened,
    /// `PointLayout::width` per instrument, USD (derived; `margin::PointLayout`).
    pub arrays: Vec<f64>,
    /// `arrays` rounded to f32, what the tick's screen reads (derived; `crate::screen`).
    pub arrays32: Vec<f32>,
    /// Per instrument, the screen's bound of its row (`PointLayout::row_bound`; derived, +∞ until valued).
    pub bounds: Vec<f64>,
    /// Per instrument, the most its row moved at its underlying's last re-pricing, weighted:
    /// `max_p weight_hi[p]·|new[p] − old[p]|` rounded up (0 when the row was not rewritten, +∞ when not
    /// finite; derived). What lets a tick reuse an account's last screen (`crate::screen::ScreenMemo`).
    pub drift: Vec<f64>,
    /// Per grid underlying, how many times its instruments were re-priced (derived; 0 after a restore,
    /// which re-prices from scratch and keeps no screen memo).
    pub repriced: Vec<u32>,
    /// Instruments per grid underlying, listing order (derived).
    pub by_grid: Vec<Vec<u32>>,
}

impl Instruments {
    pub fn new(grid_count: usize) -> Instruments {
        Instruments {
            repriced: vec![0; grid_count],
            by_grid: vec![Vec::new(); grid_count],
            ..Instruments::default()
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Lists `parsed` on grid underlying `grid`; returns its id. The caller checked capacity and that the
    /// name is new.
    pub fn push(&mut self, parsed: Instrument, grid: u8, scenarios: usize) -> u32 {
        let id = self.names.len() as u32;
        let (class, expiry_s) = match &parsed.kind {
            InstrumentKind::Option { expiry_unix_s, .. } => (Class::Option, *expiry_unix_s),
            InstrumentKind::Future { expiry_unix_s, .. } => (Class::Future, *expiry_unix_s),
            InstrumentKind::Perpetual => (Class::Perpetual, i64::MAX),
            InstrumentKind::Spot => (Class::Spot, i64::MAX),
        };
        let group = match &parsed.kind {
            InstrumentKind::Option {
                expiry_unix_s,
                strike_usd,
                ..
            } => {
                let next = self.groups.len() as u32;
                *self
                    .groups
                    .entry((grid, *expiry_unix_s, strike_usd.to_bits()))
                    .or_insert(next)
            }
            _ => u32::MAX,
        };
        self.by_name.insert(parsed.name.as_str().into(), id);
        self.names.push(parsed.name.clone());
        self.parsed.push(parsed);
        self.grid.push(grid);
        self.class.push(class);
        self.expiry_s.push(expiry_s);
        self.strike_group.push(group);
        self.iv.push(None);
        self.pending.push(true);
        self.val.push(Valuation {
            grid,
            ..Valuation::default()
        });
        self.failure.push(None);
        self.arrays.resize(self.arrays.len() + scenarios, 0.0);
        self.arrays32.resize(self.arrays32.len() + scenarios, 0.0);
        self.bounds.push(f64::INFINITY);
        self.drift.push(f64::INFINITY);
        self.by_grid[grid as usize].push(id);
        id
    }

    /// Expiry code of a future or option.
    pub fn expiry_code(&self, id: usize) -> Option<&str> {
        match &self.parsed[id].kind {
            InstrumentKind::Option { expiry_code, .. }
            | InstrumentKind::Future { expiry_code, .. } => Some(expiry_code),
            _ => None,
        }
    }
}

/// A forward or perpetual price observed with the index it was observed against; at a tick it becomes
/// `price_usd·S/index_usd` (the basis is held while the index moves).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Basis {
    pub price_usd: f64,
    /// The index at observation; `None` until the tick that commits it (then that tick's index).
    pub index_usd: Option<f64>,
}

impl Basis {
    pub fn at(&self, index_usd: f64) -> f64 {
        match self.index_usd {
            Some(obs) => self.price_usd * (index_usd / obs),
            None => self.price_usd,
        }
    }
}

/// One grid underlying's market.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct UnderlyingMarket {
    /// Time of the last index tick (the valuation time of its instruments).
    pub tick_ts: Option<Timestamp>,
    /// Index at the last tick, USD.
    pub index_usd: Option<f64>,
    /// The last index event said `halted`: nothing is re-marked until a usable index arrives.
    pub halted: bool,
    pub forwards: BTreeMap<String, Basis>,
    pub perp: Option<Basis>,
    /// Settlement prices of expiries past, USD.
    pub settlements: BTreeMap<String, f64>,
    pub staged_forwards: BTreeMap<String, Basis>,
    pub staged_perp: Option<Basis>,
}

/// One asset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssetState {
    pub name: String,
    pub cfg: AssetConfig,
    /// Its index among the grid underlyings, when it is one.
    pub grid: Option<u8>,
    /// Oracle price, USD.
    pub price_usd: Option<f64>,
    /// Oracle confidence in [0, 1].
    pub confidence: f64,
}

/// A position, netted per instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Position {
    pub inst: u32,
    pub size: f64,
    /// Average entry price of a future or perpetual, USD per coin (0 for options and spot).
    pub entry_usd: f64,
}

/// An account's margin figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Equity, USD.
    pub equity_usd: f64,
    /// Initial margin, USD.
    pub im_usd: f64,
    /// Maintenance margin, USD.
    pub mm_usd: f64,
    /// Worst scenario loss (≥ 0), USD.
    pub scenario_loss_usd: f64,
    /// Index of the worst scenario in the grid.
    pub worst_scenario: Option<u32>,
}

/// The outcome of margining an account.
#[derive(Debug, Clone, PartialEq)]
pub enum Computed {
    /// Not computed yet.
    None,
    /// Margined.
    Priced(Figures, Status),
    /// Cannot be margined, with the reason.
    Unpriced(String),
}

impl Computed {
    /// The status (None before the first computation).
    pub fn status(&self) -> Option<Status> {
        match self {
            Computed::None => None,
            Computed::Priced(_, s) => Some(*s),
            Computed::Unpriced(_) => Some(Status::Unpriced),
        }
    }
}

/// The last published margin of an account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Published {
    pub equity_usd: f64,
    pub im_usd: f64,
    pub mm_usd: f64,
}

/// One account.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AccountState {
    /// Shared with the outputs that name it (no allocation per output).
    pub id: std::sync::Arc<str>,
    pub cash_usd: f64,
    pub funding_usd: f64,
    /// (asset, amount), sorted by asset, amounts > 0.
    pub collateral: Vec<(u16, f64)>,
    /// Sorted by instrument id, sizes ≠ 0.
    pub positions: Vec<Position>,
    /// Assets the account is exposed to (derived).
    pub mask: u64,
    /// Naked short options per grid underlying, coins: Σ over (expiry, strike) of max(0, −net size), calls
    /// and puts netted at a strike (derived when the positions change; `margin::naked_coins`).
    pub naked_coins: smallvec::SmallVec<[(u8, f64); 2]>,
    pub computed: Computed,
    pub published: Option<Published>,
    /// What the last tick's screen proved about this account's scenarios, for the next tick to reuse
    /// (derived, never stored; cleared whenever the account's margin is stored by another path, which is
    /// what follows every change of its positions or collateral).
    pub screen: Option<crate::screen::ScreenMemo>,
}

/// A set of account indices, one bit each.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    pub fn set(&mut self, i: usize, on: bool) {
        let w = i / 64;
        if w >= self.words.len() {
            if !on {
                return;
            }
            self.words.resize(w + 1, 0);
        }
        if on {
            self.words[w] |= 1 << (i % 64);
        } else {
            self.words[w] &= !(1 << (i % 64));
        }
    }

    /// Members in increasing order, appended to `out`.
    pub fn collect(&self, out: &mut Vec<u32>) {
        for (w, &bits) in self.words.iter().enumerate() {
            let mut b = bits;
            while b != 0 {
                let t = b.trailing_zeros();
                out.push((w * 64) as u32 + t);
                b &= b - 1;
            }
        }
    }
}
