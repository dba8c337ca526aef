//! The surface of one underlying: its expiries' quotes, forwards, fitted slices, the repairs that make the
//! whole surface free of butterfly and calendar arbitrage on a dense grid, and interpolation between
//! expiries in total variance.
//!
//! Refitting is incremental: a quote change marks only its expiry dirty, and [`UnderlyingSurface::refit`]
//! refits the dirty expiries (warm-started from their previous parameters), rebuilds fallbacks, and re-runs
//! the repair pass from the first changed expiry until a later slice comes out unchanged.

use crate::config::SurfaceConfig;
use crate::correction::{
    ceiling_targets, fit_correction_with, own_targets, Bound, Correction, CorrectionBases,
    CorrectionInput, Smile, Target,
};
pub use crate::envelope::check_smile;
use crate::envelope::{check_own, Envelope, GridValues, SmilePiece, SurfaceSmile};
use crate::forward::{interpolate_forwards, parity_forward, Forward, ForwardSource};
use crate::quotes::{Exclusion, InstrumentQuote};
use crate::slice::{
    fit_quality, fit_svi, prepare_quotes, FitGrids, SliceKind, SliceQuotes, SviFit,
};
use crate::svi::{repair_butterfly, SviRaw, BUTTERFLY_REPAIR_MARGIN};
use rtm2m_market::time::parse_deribit_expiry;
use rtm2m_market::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Seconds in the ACT/365 year that reproduces Deribit's mark IVs (`docs/conventions.md`).
pub const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// Years from `now` to `expiry` (ACT/365; negative once expired).
pub fn expiry_years(now: Timestamp, expiry: Timestamp) -> f64 {
    (expiry.unix_nanos() as f64 - now.unix_nanos() as f64) * 1e-9 / SECONDS_PER_YEAR
}

/// Points of the coarse grid the calendar penalty of a fit is evaluated on.
const COARSE_GRID_POINTS: usize = 41;
/// Points of the local butterfly-penalty grid around a slice's quotes.
const LOCAL_GRID_POINTS: usize = 17;
/// Concentration of the sinh-spaced grids near `k = 0` (spacing at 0 is `c/sinh(c)` of the uniform one).
const GRID_CONCENTRATION: f64 = 4.0;
/// Relative part of the margin a calendar lift keeps above the previous slice.
const CALENDAR_MARGIN_RELATIVE: f64 = 1e-5;
/// Absolute part of that margin, total variance.
const CALENDAR_MARGIN: f64 = 1e-7;
/// A slice whose shortfall below the previous one on the dense grid exceeds this share of its at-the-money
/// total variance is refitted above it rather than lifted whole.
const REFIT_SHORTFALL: f64 = 0.002;
/// A constrained refit (warm from the free fit) whose objective is worse than this factor times the free
/// fit's, and by more than [`CONSTRAINED_RETRY_ADDED`], is redone cold: the constraint moved the optimum far.
const CONSTRAINED_RETRY_FACTOR: f64 = 4.0;
/// See [`CONSTRAINED_RETRY_FACTOR`]: a mean squared residual of half a half-spread² per quote.
const CONSTRAINED_RETRY_ADDED: f64 = 0.5;
/// A warm refit whose objective is worse than this factor times the previous one is redone cold.
const WARM_RETRY_FACTOR: f64 = 1.5;

/// The grid `k ∈ [lo, hi]` (`lo < 0 < hi`), sinh-spaced so that points are dense near the money and sparse in
/// the wings: `k = A·sinh(c·u)/sinh(c)` for `u` uniform in `[−1, 1]`, with `A = −lo` below 0 and `hi` above.
pub fn sinh_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    debug_assert!(lo < 0.0 && hi > 0.0 && n >= 3);
    let c = GRID_CONCENTRATION;
    let norm = c.sinh();
    (0..n)
        .map(|i| {
            let u = -1.0 + 2.0 * i as f64 / (n - 1) as f64;
            let scale = if u < 0.0 { -lo } else { hi };
            scale * (c * u).sinh() / norm
        })
        .collect()
}

/// What the repairs did to a slice.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Repair {
    /// Blend weight `t` toward a flat slice that removed butterfly arbitrage (0: none needed).
    pub butterfly_blend: f64,
    /// Total variance added to `a` to lift the slice above the previous expiry on the dense grid.
    pub calendar_lift: f64,
}

impl Default for Repair {
    fn default() -> Self {
        Repair {
            butterfly_blend: 0.0,
            calendar_lift: 0.0,
        }
    }
}

/// The no-arbitrage checks of a final slice on the dense grid.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ArbitrageCheck {
    /// Minimum of Durrleman's `g` on the dense grid (≥ 0: no butterfly arbitrage on it).
    pub g_min: f64,
    /// Where it is reached, `k`.
    pub g_min_at: f64,
    /// Dense-grid points where this slice's total variance is below the previous expiry's.
    pub calendar_violations: usize,
}

/// One fitted expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Expiry instant.
    pub expiry: Timestamp,
    /// When it was fitted (the valuation time of the refit).
    pub fitted_at: Timestamp,
    /// Years to expiry at `fitted_at`.
    pub expiry_years: f64,
    /// The forward the slice is expressed against.
    pub forward: Forward,
    /// How the parameters were obtained.
    pub kind: SliceKind,
    /// Parameters of the fit on the slice's own quotes.
    pub free: SviRaw,
    /// Its objective (mean squared residual in half-spreads plus penalties); 0 for fallbacks.
    pub free_objective: f64,
    /// `Σ νᵢ` of the fit points: objectives times this are comparable between slices.
    pub weight: f64,
    /// Parameters after the calendar resolution, before the repairs.
    pub raw: SviRaw,
    /// Final parameters: the surface.
    pub params: SviRaw,
    /// Every quote's implied volatilities and the fit points.
    pub quotes: SliceQuotes,
    /// Objective of `raw`'s fit (mean squared residual in half-spreads plus penalties); 0 for fallbacks.
    pub objective: f64,
    /// Objective evaluations of the last fit.
    pub evaluations: usize,
    /// What the repairs did.
    pub repair: Repair,
    /// The local correction on top of `params` (`docs/surface.md` §Correction): the surface is
    /// [`Slice::smile`], `params` plus this.
    pub correction: Correction,
    /// The dense-grid checks of the slice's own smile against the previous expiry's own smile: what the
    /// repairs and the correction work to.
    pub own_check: ArbitrageCheck,
    /// The dense-grid checks of the slice's smile on the surface ([`Slice::smile`]) against the previous
    /// expiry's: what the report gives.
    pub check: ArbitrageCheck,
    /// The own smile as the longer expiries read it (`None` until the first refit has finished).
    own_piece: Option<Arc<SmilePiece>>,
    /// Its `w` and `g` on the dense grid.
    own_values: Option<GridValues>,
    /// The own smiles of the shorter expiries, shortest first: the floor of [`Slice::smile`].
    floor: Vec<Arc<SmilePiece>>,
    /// What the correction was last computed from.
    correction_key: Option<CorrectionKey>,
    /// The inputs of the last correction fit and the smile's checks then: a fit on the same inputs is
    /// skipped (it would return the same correction).
    correction_memo: Option<Box<CorrectionMemo>>,
    /// Constrained refits by `(floor, ceiling)`, reused while the quotes do not change.
    constrained: Vec<(CalendarKey, SviFit)>,
    /// The butterfly repair of the last `raw` seen: `(raw, repaired, blend)`.
    butterfly_memo: Option<(SviRaw, SviRaw, f64)>,
    /// The correction's targets from the slice's own quotes ([`own_targets`]), once computed.
    own_targets: Option<Vec<Target>>,
    /// The B-spline values of the last correction fit, kept across refits of the expiry (a quote whose
    /// price moves leaves the knots as they were).
    correction_bases: CorrectionBases,
    /// `raw` and `objective` as the calendar resolution left them, before the repairs (which may refit
    /// the slice above the previous one): the repairs start from these.
    resolved: Option<(SviRaw, f64)>,
}

impl Slice {
    /// The slice's smile on the surface: at each `k`, the largest total variance of its own smile and of
    /// every shorter expiry's own smile (the running maximum in `T`, [`crate::envelope`]).
    pub fn smile(&self) -> SurfaceSmile<'_> {
        SurfaceSmile {
            own: self.own_smile(),
            floor: &self.floor,
        }
    }

    /// The slice's own smile: the SVI `params` plus the correction.
    pub fn own_smile(&self) -> Smile<'_> {
        Smile {
            svi: &self.params,
            correction: &self.correction,
        }
    }

    /// Implied volatility at strike `strike` (USD) on this slice's forward.
    pub fn vol_at_strike(&self, strike: f64) -> f64 {
        self.smile()
            .vol((strike / self.forward.price).ln(), self.expiry_years)
    }
}

/// One expiry's quotes and its current slice.
#[derive(Debug, Clone)]
pub struct ExpiryBook {
    /// Expiry instant.
    pub expiry: Timestamp,
    /// The latest quote of each instrument, in arrival order.
    pub quotes: Vec<InstrumentQuote>,
    by_name: HashMap<String, usize>,
    /// The latest price of a dated future on this expiry, from a `mark` event: `(ts, USD)`.
    pub future_mark: Option<(Timestamp, f64)>,
    dirty: bool,
    /// The current slice, once fitted.
    pub slice: Option<Slice>,
}

impl ExpiryBook {
    fn new(expiry: Timestamp) -> ExpiryBook {
        ExpiryBook {
            expiry,
            quotes: Vec::new(),
            by_name: HashMap::new(),
            future_mark: None,
            dirty: true,
            slice: None,
        }
    }

    /// Whether a quote changed since the last fit.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The forward of this expiry from its own data (no interpolation), by preference: a future (a `mark`
    /// or the quotes' underlying when it names a future), the venue's synthetic forward when
    /// `prefer_venue`, our put–call parity, the venue's synthetic forward.
    fn own_forward(&self, underlying: &str, prefer_venue: bool) -> Option<Forward> {
        let from = |price: f64, source| Forward {
            price,
            source,
            spread_rel: None,
        };
        // The latest (by ts) venue forward of each kind among the quotes.
        let mut future: Option<(Timestamp, f64)> = self.future_mark;
        let mut synthetic: Option<(Timestamp, f64)> = None;
        // The quotes of an expiry mostly name the same forward: the last name and its answer are kept so
        // that a name is not parsed again for every quote.
        let mut last_name: Option<(&str, bool)> = None;
        for q in &self.quotes {
            let Some((price, name)) = &q.venue_forward else {
                continue;
            };
            let names_future = name.as_deref().is_some_and(|n| match last_name {
                Some((last, answer)) if last == n => answer,
                _ => {
                    let answer = names_future_on(n, underlying, self.expiry);
                    last_name = Some((n, answer));
                    answer
                }
            });
            let slot = if names_future {
                &mut future
            } else {
                &mut synthetic
            };
            if slot.is_none_or(|(ts, _)| q.ts >= ts) {
                *slot = Some((q.ts, *price));
            }
        }
        if let Some((_, f)) = future {
            return Some(from(f, ForwardSource::Future));
        }
        if prefer_venue {
            if let Some((_, f)) = synthetic {
                return Some(from(f, ForwardSource::VenueSynthetic));
            }
        }
        let refs: Vec<&InstrumentQuote> = self.quotes.iter().collect();
        parity_forward(&refs)
            .or_else(|| synthetic.map(|(_, f)| from(f, ForwardSource::VenueSynthetic)))
    }
}

/// Whether `name` is the dated future of `underlying` expiring at `expiry` (`BTC-27MAR26`).
pub fn names_future_on(name: &str, underlying: &str, expiry: Timestamp) -> bool {
    name.strip_prefix(underlying)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|code| parse_deribit_expiry(code).ok())
        == Some(expiry)
}

/// The fit of a surface: when, and the index then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitStamp {
    /// Valuation time of the last refit.
    pub ts: Timestamp,
    /// The index at that time, USD, when known.
    pub index: Option<f64>,
}

/// What one refit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefitStats {
    /// Slices fitted (SVI fits, cold or warm).
    pub fitted: usize,
    /// Slices built as fallbacks.
    pub fallbacks: usize,
    /// Constrained refits computed for calendar conflicts (not found among the remembered ones).
    pub constrained: usize,
    /// Objective evaluations in all fits.
    pub evaluations: usize,
    /// Expiries dropped as expired.
    pub expired: usize,
}

/// The surface of one underlying.
#[derive(Debug, Clone)]
pub struct UnderlyingSurface {
    /// The underlying asset (`BTC`).
    pub underlying: String,
    books: BTreeMap<Timestamp, ExpiryBook>,
    /// The latest index price `(ts, USD)`, from `index` events or the quotes' `index_price`.
    pub index: Option<(Timestamp, f64)>,
    /// The last refit.
    pub fit: Option<FitStamp>,
    /// Instruments dropped because their expiry passed, at the last refit.
    pub expired: Vec<String>,
    dense: Vec<f64>,
    coarse: Vec<f64>,
    grid_range: (f64, f64),
}

impl UnderlyingSurface {
    /// An empty surface of `underlying`.
    pub fn new(underlying: &str) -> UnderlyingSurface {
        UnderlyingSurface {
            underlying: underlying.to_owned(),
            books: BTreeMap::new(),
            index: None,
            fit: None,
            expired: Vec::new(),
            dense: Vec::new(),
            coarse: Vec::new(),
            grid_range: (0.0, 0.0),
        }
    }

    /// Adds or replaces an instrument's quote; its expiry is refitted at the next refit when the quote
    /// changed. The quote's index price updates the index when it is newer.
    pub fn upsert(&mut self, quote: InstrumentQuote) {
        if let Some(s) = quote.index_price {
            self.set_index(quote.ts, s);
        }
        let book = self
            .books
            .entry(quote.expiry)
            .or_insert_with(|| ExpiryBook::new(quote.expiry));
        match book.by_name.get(&quote.instrument) {
            Some(&i) => {
                let old = &book.quotes[i];
                let changed = old.bid != quote.bid
                    || old.ask != quote.ask
                    || old.bid_size != quote.bid_size
                    || old.ask_size != quote.ask_size
                    || old.venue_forward != quote.venue_forward;
                book.quotes[i] = quote;
                book.dirty |= changed;
            }
            None => {
                book.by_name
                    .insert(quote.instrument.clone(), book.quotes.len());
                book.quotes.push(quote);
                book.dirty = true;
            }
        }
    }

    /// Sets the price of the dated future expiring at `expiry` (from a `mark` event).
    pub fn set_future(&mut self, expiry: Timestamp, ts: Timestamp, price: f64) {
        let book = self
            .books
            .entry(expiry)
            .or_insert_with(|| ExpiryBook::new(expiry));
        if book.future_mark.is_none_or(|(t, p)| ts >= t && p != price) {
            book.future_mark = Some((ts, price));
            book.dirty = true;
        }
    }

    /// Sets the index price when `ts` is not older than the current one. It does not refit: the move since
    /// the fit is what [`crate::health`] measures.
    pub fn set_index(&mut self, ts: Timestamp, price: f64) {
        if price.is_finite() && price > 0.0 && self.index.is_none_or(|(t, _)| ts >= t) {
            self.index = Some((ts, price));
        }
    }

    /// The expiries, in time order.
    pub fn books(&self) -> impl Iterator<Item = &ExpiryBook> {
        self.books.values()
    }

    /// The fitted slices, in expiry order.
    pub fn slices(&self) -> impl Iterator<Item = &Slice> {
        self.books.values().filter_map(|b| b.slice.as_ref())
    }

    /// The dense grid of `k` the arbitrage checks use.
    pub fn dense_grid(&self) -> &[f64] {
        &self.dense
    }

    /// Marks every expiry dirty: the next refit refits them all (cold when `cold`).
    pub fn invalidate(&mut self, cold: bool) {
        for b in self.books.values_mut() {
            b.dirty = true;
            if cold {
                b.slice = None;
            }
        }
    }

    /// Refits the dirty expiries at valuation time `now` (time comes only from here: never the clock).
    pub fn refit(&mut self, now: Timestamp, config: &SurfaceConfig) -> RefitStats {
        let mut stats = RefitStats::default();
        // Expired expiries leave the surface, their instruments listed with the reason.
        let expired: Vec<Timestamp> = self.books.range(..=now).map(|(e, _)| *e).collect();
        if !expired.is_empty() {
            self.expired.clear();
        }
        for e in expired {
            if let Some(book) = self.books.remove(&e) {
                stats.expired += 1;
                self.expired
                    .extend(book.quotes.into_iter().map(|q| q.instrument));
            }
        }
        let keys: Vec<Timestamp> = self.books.keys().copied().collect();
        if keys.is_empty() {
            self.fit = Some(FitStamp {
                ts: now,
                index: self.index.map(|(_, s)| s),
            });
            return stats;
        }
        let years: Vec<f64> = keys.iter().map(|&e| expiry_years(now, e)).collect();

        // Forwards: each expiry's own, then the basis interpolated for those without.
        let mut forwards: Vec<Option<Forward>> = Vec::with_capacity(keys.len());
        for book in self.books.values() {
            let previous = book.slice.as_ref().map(|s| s.forward);
            let own = if book.dirty || previous.is_none() {
                book.own_forward(&self.underlying, config.prefer_venue_forward)
            } else {
                previous.filter(|f| f.source != ForwardSource::Interpolated)
            };
            forwards.push(own);
        }
        interpolate_forwards(&years, &mut forwards, self.index.map(|(_, s)| s));
        for (book, f) in self.books.values_mut().zip(&forwards) {
            let previous = book.slice.as_ref().map(|s| s.forward.price);
            if f.map(|f| f.price) != previous {
                book.dirty = true;
            }
        }

        self.update_grids(&forwards, config);

        // Phase 1: each dirty expiry with enough quotes is fitted on its own (warm from its previous fit).
        let mut books: Vec<&mut ExpiryBook> = self.books.values_mut().collect();
        let n = books.len();
        let mut changed = vec![false; n];
        for i in 0..n {
            if books[i].dirty {
                changed[i] = true;
                books[i].dirty = false;
                let bases = books[i]
                    .slice
                    .as_mut()
                    .map(|s| std::mem::take(&mut s.correction_bases));
                books[i].slice = match forwards[i] {
                    Some(forward) => Some(fit_expiry(
                        books[i],
                        forward,
                        years[i],
                        now,
                        config,
                        &self.coarse,
                        &mut stats,
                    )),
                    None => None,
                };
                if let (Some(slice), Some(bases)) = (books[i].slice.as_mut(), bases) {
                    slice.correction_bases = bases;
                }
            }
        }

        // Phase 1b, from the shortest SVI expiry to the longest: where a slice dips below the previous one on
        // the coarse grid, the calendar conflict goes to the cheaper of two refits, by the fits' own
        // weighted misfit: this slice held above the previous one, or the previous one held below this one
        // (and above its own predecessor). Data-rich slices thus keep their quotes, and a wing that one
        // slice only extrapolates gives way to a slice that has quotes there. Fallback slices take no part.
        let svi: Vec<usize> = (0..n)
            .filter(|&i| {
                books[i]
                    .slice
                    .as_ref()
                    .is_some_and(|s| s.kind == SliceKind::Svi)
            })
            .collect();
        // What the last resolution left, and the final `raw` and `objective` after the last repairs.
        let old_resolved: Vec<Option<SviRaw>> = books
            .iter()
            .map(|b| {
                b.slice
                    .as_ref()
                    .and_then(|s| s.resolved)
                    .map(|(raw, _)| raw)
            })
            .collect();
        let old_final: Vec<Option<(SviRaw, f64)>> = books
            .iter()
            .map(|b| b.slice.as_ref().map(|s| (s.raw, s.objective)))
            .collect();
        for &i in &svi {
            let slice = books[i].slice.as_mut().expect("an SVI slice");
            slice.raw = slice.free;
            slice.objective = slice.free_objective;
        }
        if config.calendar_constraints {
            for (position, &j) in svi.iter().enumerate() {
                let Some(&p) = position.checked_sub(1).and_then(|q| svi.get(q)) else {
                    continue;
                };
                let before_p = position.checked_sub(2).and_then(|q| svi.get(q)).copied();
                let floor = books[p].slice.as_ref().expect("an SVI slice").raw;
                let free_j = books[j].slice.as_ref().expect("an SVI slice").free;
                // The surface is the running maximum of the slices (phase 5): a conflict needs a refit
                // only where the previous slice would lift one of this slice's quotes above its ask.
                if !lifts_above_ask(books[j].slice.as_ref().expect("an SVI slice"), &floor) {
                    continue;
                }
                if self
                    .coarse
                    .iter()
                    .all(|&k| free_j.total_variance(k) >= floor.total_variance(k))
                {
                    continue;
                }
                let floor_before_p =
                    before_p.map(|q| books[q].slice.as_ref().expect("an SVI slice").raw);
                // The two ways out: A, this slice above the previous one; B, the previous one below this
                // one (and above its own predecessor).
                let on_grid = |s: &SviRaw| -> Vec<f64> {
                    self.coarse.iter().map(|&k| s.total_variance(k)).collect()
                };
                let (w_floor, w_free) = (on_grid(&floor), on_grid(&free_j));
                let w_before = floor_before_p.as_ref().map(on_grid);
                let a = constrained_fit(
                    books[j].slice.as_mut().expect("an SVI slice"),
                    Some(&w_floor),
                    None,
                    config,
                    &self.coarse,
                    &mut stats,
                );
                // Each way is scored by the quotes it pushes out of their bid/ask (the fewest wins), then by
                // its added weighted misfit: a conflict the quotes cannot all survive is put on as few of
                // them as possible. A that pushes out no quote the free fit kept needs no comparison.
                let slice_j = books[j].slice.as_ref().expect("an SVI slice");
                let outside_a = outside(slice_j, a.as_ref().map(|f| &f.params));
                if outside_a <= outside(slice_j, Some(&free_j)) {
                    if let (Some(f), Some(slice)) = (a, books[j].slice.as_mut()) {
                        slice.raw = f.params;
                        slice.objective = f.objective;
                    }
                    continue;
                }
                let b = constrained_fit(
                    books[p].slice.as_mut().expect("an SVI slice"),
                    w_before.as_deref(),
                    Some(&w_free),
                    config,
                    &self.coarse,
                    &mut stats,
                );
                let (base_j, base_p) = (
                    books[j].slice.as_ref().expect("an SVI slice").objective,
                    books[p].slice.as_ref().expect("an SVI slice").objective,
                );
                let cost = |f: &Option<SviFit>, base: f64| {
                    f.map_or(f64::INFINITY, |f| (f.objective - base) * f.weight)
                };
                let score_a = (outside_a, cost(&a, base_j));
                let slice_p = books[p].slice.as_ref().expect("an SVI slice");
                let score_b = (
                    outside(slice_p, b.as_ref().map(|f| &f.params)),
                    cost(&b, base_p),
                );
                let b_wins = score_b.0 < score_a.0 - 0.5
                    || (score_b.0 < score_a.0 + 0.5 && score_b.1 < score_a.1);
                let (i, f) = if b_wins { (p, b) } else { (j, a) };
                if let (Some(f), Some(slice)) = (f, books[i].slice.as_mut()) {
                    slice.raw = f.params;
                    slice.objective = f.objective;
                }
            }
        }
        // A slice whose resolution came out as before needs no repair again (the repairs would refit it
        // as before): it keeps the final `raw` and `objective` of the last repairs.
        for i in 0..n {
            let Some(slice) = books[i].slice.as_mut() else {
                changed[i] |= old_resolved[i].is_some();
                continue;
            };
            changed[i] |= Some(slice.raw) != old_resolved[i];
            slice.resolved = Some((slice.raw, slice.objective));
            if let (false, Some((raw, objective))) = (changed[i], old_final[i]) {
                (slice.raw, slice.objective) = (raw, objective);
            }
        }

        // Phase 2: every slice without an SVI fit borrows the smile of its nearest SVI neighbour, its level
        // moved to its own quotes, then held between its SVI neighbours.
        let svi: Vec<Option<(f64, SviRaw)>> = books
            .iter()
            .map(|b| {
                b.slice
                    .as_ref()
                    .filter(|s| s.kind == SliceKind::Svi)
                    .map(|s| (s.expiry_years, s.params))
            })
            .collect();
        for i in 0..n {
            let Some(slice) = books[i].slice.as_mut() else {
                continue;
            };
            if slice.kind == SliceKind::Svi {
                continue;
            }
            let shorter = svi[..i].iter().rev().find_map(|s| *s);
            let longer = svi[i + 1..].iter().find_map(|s| *s);
            match fallback_slice(slice, shorter, longer, &self.dense) {
                Some((kind, raw)) => {
                    changed[i] |= slice.raw != raw || slice.kind != kind;
                    slice.kind = kind;
                    slice.raw = raw;
                    slice.resolved = Some((raw, slice.objective));
                    stats.fallbacks += 1;
                }
                None => {
                    books[i].slice = None;
                    changed[i] = true;
                }
            }
        }

        // Phase 3, from the shortest to the longest again: every slice repaired against the final slice of
        // the previous expiry and checked on the dense grid. A slice is repaired again when it changed,
        // when the previous slice came out of its repair changed, or when the grid changed (its check is
        // NaN); otherwise it stays as it was, so the pass stops cascading at the first slice that needs
        // nothing.
        let mut previous: Option<SviRaw> = None;
        let mut previous_changed = false;
        // The slices whose checks this pass recomputed (of their SVI alone).
        let mut repaired = vec![false; n];
        for i in 0..n {
            let Some(slice) = books[i].slice.as_mut() else {
                continue;
            };
            if changed[i] || previous_changed || slice.own_check.g_min.is_nan() {
                repaired[i] = true;
                // The previous slice on the dense grid, read by every scan below; none where the running
                // maximum of phase 5 keeps every quote of this slice at or below its ask.
                let floor_w = previous
                    .filter(|p| slice.kind != SliceKind::Svi || lifts_above_ask(slice, p))
                    .map(|p| on_grid(&p, &self.dense));
                let (mut raw, objective) = slice.resolved.unwrap_or((slice.raw, slice.objective));
                slice.objective = objective;
                // A slice far below the previous one somewhere (a conflict the pairwise resolution left,
                // e.g. with a slice two expiries back) is refitted above it first: lifting it whole by a
                // large shortfall in one wing would move every strike.
                if let (Some(floor), Some(floor_w), SliceKind::Svi) =
                    (previous.as_ref(), floor_w.as_deref(), slice.kind)
                {
                    let shortfall = self
                        .dense
                        .iter()
                        .zip(floor_w)
                        .map(|(&k, &w)| w - raw.total_variance(k))
                        .fold(0.0_f64, f64::max);
                    if shortfall > REFIT_SHORTFALL * raw.total_variance(0.0).max(1e-12) {
                        let w_floor: Vec<f64> = self
                            .coarse
                            .iter()
                            .map(|&k| floor.total_variance(k))
                            .collect();
                        if let Some(f) = constrained_fit(
                            slice,
                            Some(&w_floor),
                            None,
                            config,
                            &self.coarse,
                            &mut stats,
                        ) {
                            raw = f.params;
                            slice.objective = f.objective;
                        }
                    }
                }
                slice.raw = raw;
                let (params, repair, check) = repair_slice_cached(
                    &raw,
                    floor_w.as_deref(),
                    &self.dense,
                    &mut slice.butterfly_memo,
                );
                previous_changed = changed[i] || params != slice.params;
                slice.params = params;
                slice.repair = repair;
                slice.own_check = check;
            } else {
                previous_changed = false;
            }
            if config.calendar_constraints {
                previous = Some(slice.params);
            }
        }
        if config.smile_correction {
            self.correct_slices(&mut changed, &repaired, config);
        }
        self.envelope(config);
        self.fit = Some(FitStamp {
            ts: now,
            index: self.index.map(|(_, s)| s),
        });
        stats
    }

    /// Phase 4, from the shortest expiry to the longest: each slice's local correction
    /// ([`crate::correction`]) toward the quotes its SVI leaves outside their bid/ask, between the previous
    /// expiry's own smile and the next expiry's SVI slice, then the dense-grid checks of the smile. A
    /// slice is corrected again only when its SVI, its quotes, its floor or its ceiling changed.
    ///
    /// A slice the repairs checked again (of its SVI alone) is checked again as a smile when it or its
    /// floor has a correction, even when its correction stands.
    fn correct_slices(&mut self, changed: &mut [bool], repaired: &[bool], config: &SurfaceConfig) {
        let grid_key = (
            self.dense.len(),
            self.dense.first().copied().unwrap_or(0.0),
            self.dense.last().copied().unwrap_or(0.0),
        );
        let mut books: Vec<&mut ExpiryBook> = self.books.values_mut().collect();
        let n = books.len();
        // Every slice's own targets; a slice takes the next expiry's as ceilings (the total variance of a
        // slice is at most the next one's at the same k).
        // (Computed once per slice: its quotes change only with a new slice.)
        let own: Vec<Vec<Target>> = books
            .iter_mut()
            .map(|b| {
                b.slice.as_mut().map_or_else(Vec::new, |s| {
                    s.own_targets
                        .take()
                        .unwrap_or_else(|| own_targets(&s.quotes.points, s.expiry_years))
                })
            })
            .collect();
        // The previous slice (the floor) by its index: the pass has finished with it, so it is read in
        // place rather than copied.
        let mut previous: Option<usize> = None;
        let mut previous_moved = false;
        for i in 0..n {
            let next_index = (i + 1..n)
                .find(|&j| books[j].slice.is_some())
                .filter(|_| config.calendar_constraints);
            let next = next_index.and_then(|j| books[j].slice.as_ref().map(|s| s.params));
            let next_changed = next_index.is_some_and(|j| changed[j]);
            let (done, rest) = books.split_at_mut(i);
            let (current, later) = rest.split_first_mut().expect("i < n");
            let previous_slice = previous.and_then(|p| done[p].slice.as_ref());
            // The ceiling: the next slice as it stands (with the correction it has, which the pass may
            // still refit; it is checked against this slice below).
            let next_slice = next_index.and_then(|j| later[j - i - 1].slice.as_ref());
            let Some(slice) = current.slice.as_mut() else {
                continue;
            };
            let key = CorrectionKey {
                params: slice.params,
                next,
                grid: grid_key,
            };
            let own_inputs_changed =
                changed[i] || next_changed || slice.correction_key != Some(key);
            if own_inputs_changed || previous_moved {
                let floor_smile = previous_slice.map(Slice::own_smile);
                // Only the floor moved: the correction stands while the smile stays above it.
                let kept = !own_inputs_changed && {
                    // The smile's own `g` on the grid is that of its last check, when the memo has one for
                    // this SVI: only the calendar condition needs the new floor.
                    let g_known = slice
                        .correction_memo
                        .as_ref()
                        .filter(|m| m.svi == slice.params && m.grid == grid_key)
                        .and_then(|m| m.check);
                    match g_known {
                        Some(known) => {
                            let clear = clears_floor(slice.own_smile(), floor_smile, &self.dense);
                            if clear {
                                slice.own_check = ArbitrageCheck {
                                    calendar_violations: 0,
                                    ..known
                                };
                            }
                            clear
                        }
                        None => {
                            let check = check_own_smile(slice, floor_smile, &self.dense);
                            let clear = check.calendar_violations == 0;
                            if clear {
                                slice.own_check = check;
                            }
                            clear
                        }
                    }
                };
                if kept {
                    previous_moved = false;
                } else {
                    let ceiling_smile = next_slice.map(Slice::own_smile);
                    let ceilings: Vec<Target> =
                        next_index.map_or_else(Vec::new, |j| ceiling_targets(&own[j]).collect());
                    let input = CorrectionInput {
                        svi: &slice.params,
                        own: &own[i],
                        extra: &ceilings,
                        grid: &self.dense,
                        floor: floor_smile.map(Bound::Smile),
                        ceiling: ceiling_smile.map(Bound::Smile),
                    };
                    let memo = slice.correction_memo.take().filter(|m| {
                        m.matches(&input, grid_key)
                            || (m.matches_below_the_ceiling(&input, grid_key)
                                && stays_below(slice.own_smile(), ceiling_smile, &self.dense))
                    });
                    let floor_corrected = previous_slice.is_some_and(|p| !p.correction.is_zero());
                    let moved = match memo {
                        // The same inputs as the last fit, or the same but for the next expiry (its smile and
                        // the ceiling targets of its quotes) with the smile still below that expiry's: the
                        // correction stands, and so do its checks (the floor is the same).
                        Some(mut memo) => {
                            if previous_moved || floor_corrected || !slice.correction.is_zero() {
                                let check = *memo.check.get_or_insert_with(|| {
                                    check_own_smile(slice, floor_smile, &self.dense)
                                });
                                slice.own_check = check;
                            }
                            slice.correction_memo = Some(memo);
                            false
                        }
                        None => {
                            let correction =
                                fit_correction_with(&input, &mut slice.correction_bases);
                            let moved = correction != slice.correction;
                            slice.correction = correction;
                            let mut memo = CorrectionMemo::of(&input, grid_key);
                            if moved
                                || previous_moved
                                || floor_corrected
                                || !slice.correction.is_zero()
                            {
                                slice.own_check = check_own_smile(slice, floor_smile, &self.dense);
                                memo.check = Some(slice.own_check);
                            }
                            slice.correction_memo = Some(Box::new(memo));
                            moved
                        }
                    };
                    slice.correction_key = Some(key);
                    changed[i] |= moved;
                    previous_moved = moved;
                }
            } else {
                previous_moved = false;
                let floor_corrected = previous_slice.is_some_and(|p| !p.correction.is_zero());
                if repaired[i] && (floor_corrected || !slice.correction.is_zero()) {
                    let floor_smile = previous_slice.map(Slice::own_smile);
                    slice.own_check = check_own_smile(slice, floor_smile, &self.dense);
                }
            }
            if config.calendar_constraints {
                previous = Some(i);
            }
        }
        for (b, targets) in books.iter_mut().zip(own) {
            if let Some(s) = b.slice.as_mut() {
                s.own_targets = Some(targets);
            }
        }
    }

    /// Phase 5, from the shortest expiry to the longest: each slice's smile on the surface becomes the
    /// running maximum of the own smiles so far ([`crate::envelope`]), and its checks those of that smile.
    /// A slice whose own smile and floor are as before keeps its checks; the own smiles' values on the
    /// dense grid are read again only when they changed. Without calendar constraints (a diagnostic), each
    /// smile is its own and is checked against the previous own smile.
    fn envelope(&mut self, config: &SurfaceConfig) {
        let mut floor: Vec<Arc<SmilePiece>> = Vec::new();
        let mut envelope = Envelope::default();
        let mut previous: Option<Arc<SmilePiece>> = None;
        for book in self.books.values_mut() {
            let Some(slice) = book.slice.as_mut() else {
                continue;
            };
            let own_changed = slice
                .own_piece
                .as_ref()
                .is_none_or(|p| p.svi != slice.params || p.correction != slice.correction);
            if own_changed {
                slice.own_piece = Some(Arc::new(SmilePiece {
                    svi: slice.params,
                    correction: slice.correction.clone(),
                }));
            }
            let own = slice.own_piece.clone().expect("set above");
            if !config.calendar_constraints {
                slice.floor.clear();
                slice.check = check_smile(
                    own.smile().into(),
                    previous.as_ref().map(|p| p.smile().into()),
                    &self.dense,
                );
                previous = Some(own);
                continue;
            }
            // Values read by the own smile's last check are kept when they are of this smile.
            let values_stale = slice
                .own_values
                .as_ref()
                .is_none_or(|v| !v.are_of(own.smile(), &self.dense));
            if values_stale {
                slice.own_values = Some(GridValues::of(own.smile(), &self.dense));
            }
            let floor_changed = slice.floor.len() != floor.len()
                || slice
                    .floor
                    .iter()
                    .zip(&floor)
                    .any(|(a, b)| !Arc::ptr_eq(a, b));
            if floor_changed {
                slice.floor.clone_from(&floor);
            }
            let values = slice.own_values.as_ref().expect("set above");
            if own_changed || values_stale || floor_changed || slice.check.g_min.is_nan() {
                slice.check = envelope.check_and_take(values, &self.dense);
            } else {
                envelope.take(values);
            }
            floor.push(own);
        }
    }

    /// Rebuilds the dense and coarse grids when the quoted log-moneyness range has changed: the range of
    /// every quote's `ln(K/F)` over all expiries, widened by 10% of its width on each side and by at least
    /// ±0.25.
    fn update_grids(&mut self, forwards: &[Option<Forward>], config: &SurfaceConfig) {
        let (mut lo, mut hi) = (0.0_f64, 0.0_f64);
        for (book, f) in self.books.values().zip(forwards) {
            let Some(f) = f else { continue };
            // k is increasing in the strike: the extreme strikes give the range.
            let (k_lo, k_hi) = book
                .quotes
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), q| {
                    (a.min(q.strike), b.max(q.strike))
                });
            if k_lo.is_finite() {
                lo = lo.min((k_lo / f.price).ln());
                hi = hi.max((k_hi / f.price).ln());
            }
        }
        let width = hi - lo;
        let lo = (lo - 0.1 * width).min(-0.25);
        let hi = (hi + 0.1 * width).max(0.25);
        // Keep the grids while the range moves by less than 1%: repeated refits check the same points.
        let (old_lo, old_hi) = self.grid_range;
        let same = self.dense.len() == config.dense_grid_points
            && (lo - old_lo).abs() <= 0.01 * (old_hi - old_lo)
            && (hi - old_hi).abs() <= 0.01 * (old_hi - old_lo)
            && lo >= old_lo
            && hi <= old_hi;
        if !same {
            self.grid_range = (lo - 0.005 * width, hi + 0.005 * width);
            let (lo, hi) = self.grid_range;
            self.dense = sinh_grid(lo, hi, config.dense_grid_points);
            self.coarse = sinh_grid(lo, hi, COARSE_GRID_POINTS);
            // New grids: every slice is checked again.
            for b in self.books.values_mut() {
                if let Some(s) = b.slice.as_mut() {
                    s.own_check.g_min = f64::NAN;
                }
                b.dirty |= b.slice.is_none();
            }
        }
    }

    /// Total implied variance at `k = ln(K/F(T))` and `expiry_years`: the slice's own when an expiry matches
    /// (within a second), else linear in `T` between the neighbouring slices at fixed `k`, `w_1(k)·T/T_1`
    /// before the first, and `w_N(k)·T/T_N` (flat volatility) after the last. `None` without slices.
    pub fn total_variance(&self, k: f64, expiry_years: f64) -> Option<f64> {
        let slices: Vec<&Slice> = self.slices().collect();
        let first = slices.first()?;
        let last = slices.last()?;
        const ONE_SECOND: f64 = 1.0 / SECONDS_PER_YEAR;
        if let Some(s) = slices
            .iter()
            .find(|s| (s.expiry_years - expiry_years).abs() < ONE_SECOND)
        {
            return Some(s.smile().total_variance(k));
        }
        if expiry_years <= first.expiry_years {
            return Some(
                first.smile().total_variance(k) * expiry_years.max(0.0) / first.expiry_years,
            );
        }
        if expiry_years >= last.expiry_years {
            return Some(last.smile().total_variance(k) * expiry_years / last.expiry_years);
        }
        let j = slices.iter().position(|s| s.expiry_years > expiry_years)?;
        let (s0, s1) = (slices[j - 1], slices[j]);
        let u = (expiry_years - s0.expiry_years) / (s1.expiry_years - s0.expiry_years);
        Some((1.0 - u) * s0.smile().total_variance(k) + u * s1.smile().total_variance(k))
    }

    /// The slice of `expiry`, if fitted.
    pub fn slice(&self, expiry: Timestamp) -> Option<&Slice> {
        self.books.get(&expiry)?.slice.as_ref()
    }
}

/// How many of `slice`'s fit quotes `params` put outside their bid/ask implied volatilities (∞ without
/// parameters).
fn outside(slice: &Slice, params: Option<&SviRaw>) -> f64 {
    match params {
        Some(p) => fit_quality(&slice.quotes.points, p, slice.expiry_years)
            .map_or(0.0, |q| q.points as f64 * (1.0 - q.within_bid_ask_share)),
        None => f64::INFINITY,
    }
}

/// Prepares one expiry's quotes and fits it on its own (warm from its previous SVI fit when it has one,
/// cold again when the warm fit is much worse than the previous objective). A slice with too few quotes
/// gets a placeholder of kind [`SliceKind::FallbackFlat`] that the fallback step replaces.
fn fit_expiry(
    book: &mut ExpiryBook,
    forward: Forward,
    t: f64,
    now: Timestamp,
    config: &SurfaceConfig,
    coarse: &[f64],
    stats: &mut RefitStats,
) -> Slice {
    let previous = book.slice.take();
    let mut quotes = previous
        .as_ref()
        .map(|s| s.quotes.clone())
        .unwrap_or_default();
    prepare_quotes(&book.quotes, &forward, t, config, &mut quotes);
    let local = local_grid(&quotes.points.k, coarse);
    let grids = FitGrids {
        butterfly: &local,
        calendar: coarse,
    };
    let warm = previous
        .as_ref()
        .filter(|s| s.kind == SliceKind::Svi)
        .map(|s| (s.free, s.free_objective));
    let points = &quotes.points;
    let mut fit = fit_svi(
        points,
        config,
        grids,
        None,
        None,
        warm.as_ref().map(|w| &w.0),
    );
    if let (Some(f), Some((_, previous_objective))) = (fit, warm) {
        if f.objective > WARM_RETRY_FACTOR * previous_objective.max(1e-3) {
            if let Some(c) = fit_svi(points, config, grids, None, None, None) {
                let evaluations = f.evaluations + c.evaluations;
                let best = if c.objective < f.objective { c } else { f };
                fit = Some(SviFit {
                    evaluations,
                    ..best
                });
            }
        }
    }
    let (kind, raw, objective, weight, evaluations) = match fit {
        Some(f) => {
            stats.fitted += 1;
            stats.evaluations += f.evaluations;
            (
                SliceKind::Svi,
                f.params,
                f.objective,
                f.weight,
                f.evaluations,
            )
        }
        None => (SliceKind::FallbackFlat, SviRaw::flat(0.0), 0.0, 0.0, 0),
    };
    Slice {
        expiry: book.expiry,
        fitted_at: now,
        expiry_years: t,
        forward,
        kind,
        free: raw,
        free_objective: objective,
        weight,
        raw,
        params: raw,
        quotes,
        objective,
        evaluations,
        repair: Repair::default(),
        own_check: ArbitrageCheck {
            g_min: f64::NAN,
            g_min_at: f64::NAN,
            calendar_violations: 0,
        },
        check: ArbitrageCheck {
            g_min: f64::NAN,
            g_min_at: f64::NAN,
            calendar_violations: 0,
        },
        own_piece: None,
        own_values: None,
        floor: Vec::new(),
        constrained: Vec::new(),
        butterfly_memo: None,
        resolved: None,
        own_targets: None,
        correction_bases: CorrectionBases::default(),
        correction: Correction::none(),
        correction_key: None,
        correction_memo: None,
    }
}

/// The calendar bounds a constrained fit was made with (total variance on the coarse grid).
type CalendarKey = (Option<Vec<f64>>, Option<Vec<f64>>);

/// Constrained fits kept per slice (the calendar resolution asks for the same ones at every refit until
/// the slice or a neighbour changes).
const CONSTRAINED_CACHE: usize = 8;

/// The slice refitted between a calendar `floor` and `ceiling` (total variance at the coarse grid's points,
/// `∓∞` where absent), warm from its free fit; remembered per `(floor, ceiling)` until the slice is refitted
/// from new quotes.
fn constrained_fit(
    slice: &mut Slice,
    floor: Option<&[f64]>,
    ceiling: Option<&[f64]>,
    config: &SurfaceConfig,
    coarse: &[f64],
    stats: &mut RefitStats,
) -> Option<SviFit> {
    let key = (floor.map(<[f64]>::to_vec), ceiling.map(<[f64]>::to_vec));
    if let Some((_, f)) = slice.constrained.iter().find(|(k, _)| *k == key) {
        return Some(*f);
    }
    let local = local_grid(&slice.quotes.points.k, coarse);
    let grids = FitGrids {
        butterfly: &local,
        calendar: coarse,
    };
    // The cold retry runs on a smaller budget: it only has to find the basin.
    let quick = SurfaceConfig {
        evaluations_cold: (config.evaluations_cold / 2).max(10),
        evaluations_warm: (config.evaluations_warm / 2).max(10),
        ..*config
    };
    let fit_from = |warm: Option<&SviRaw>| {
        let config = if warm.is_some() { config } else { &quick };
        fit_svi(&slice.quotes.points, config, grids, floor, ceiling, warm)
    };
    // Warm from the free fit; cold as well when that lands far above the free fit's objective (the
    // constraint moved the optimum to another basin).
    stats.constrained += 1;
    let mut fit = fit_from(Some(&slice.free))?;
    let retry_above = (CONSTRAINED_RETRY_FACTOR * slice.free_objective)
        .max(slice.free_objective + CONSTRAINED_RETRY_ADDED);
    if fit.objective > retry_above {
        if let Some(cold) = fit_from(None) {
            let evaluations = fit.evaluations + cold.evaluations;
            fit = if cold.objective < fit.objective {
                cold
            } else {
                fit
            };
            fit.evaluations = evaluations;
        }
    }
    stats.evaluations += fit.evaluations;
    if slice.constrained.len() == CONSTRAINED_CACHE {
        slice.constrained.remove(0);
    }
    slice.constrained.push((key, fit));
    Some(fit)
}

/// The local butterfly-penalty grid: `LOCAL_GRID_POINTS` across the quotes' `k` range widened by a quarter
/// of its width on each side, plus the coarse grid's points outside it for the wings, sorted.
fn local_grid(k: &[f64], coarse: &[f64]) -> Vec<f64> {
    let mut grid = coarse.to_vec();
    if let (Some(lo), Some(hi)) = (
        k.iter().copied().reduce(f64::min),
        k.iter().copied().reduce(f64::max),
    ) {
        let width = (hi - lo).max(1e-3);
        let (lo, hi) = (lo - 0.25 * width, hi + 0.25 * width);
        // Coarse points inside the local range add nothing the local ones do not check.
        grid.retain(|&k| k < lo || k > hi);
        let step = (hi - lo) / (LOCAL_GRID_POINTS - 1) as f64;
        grid.extend((0..LOCAL_GRID_POINTS).map(|i| lo + step * i as f64));
    }
    grid.sort_by(f64::total_cmp);
    grid
}

/// A slice for an expiry with too few quotes: the nearest SVI neighbour's implied volatility smile (its
/// total variance scaled by `T/T_n`), its level moved by the weighted mean residual of the expiry's own
/// quotes, then lifted to the shorter SVI neighbour and scaled under the longer one on `grid` (the two are
/// calendar-consistent after the SVI pass, so the sandwich is not empty); flat at the quotes' weighted mean
/// implied variance without any neighbour. `None` when there are neither neighbours nor quotes.
fn fallback_slice(
    slice: &Slice,
    shorter: Option<(f64, SviRaw)>,
    longer: Option<(f64, SviRaw)>,
    grid: &[f64],
) -> Option<(SliceKind, SviRaw)> {
    let t = slice.expiry_years;
    let p = &slice.quotes.points;
    // Level quotes: the fit points, or failing those any quote's implied volatility.
    let mut level: Vec<(f64, f64, f64)> = (0..p.len())
        .map(|i| (p.k[i], p.w[i], p.weight[i]))
        .collect();
    if level.is_empty() {
        for q in &slice.quotes.ivs {
            let iv = match (q.bid_iv, q.ask_iv, q.mid_iv) {
                (_, _, Some(m)) => Some(m),
                (Some(b), Some(a), None) => Some(0.5 * (b + a)),
                (b, a, None) => b.or(a),
            };
            if let Some(v) = iv.filter(|v| *v > 0.0 && q.exclusion != Some(Exclusion::Expired)) {
                level.push((q.k, v * v * t, 1.0));
            }
        }
    }
    let weight_sum: f64 = level.iter().map(|l| l.2).sum();
    let nearest = match (shorter, longer) {
        (Some(a), Some(b)) => Some(if t - a.0 <= b.0 - t { a } else { b }),
        (a, b) => a.or(b),
    };
    let Some((tn, params)) = nearest else {
        if weight_sum > 0.0 {
            let w = level.iter().map(|&(_, w, o)| o * w).sum::<f64>() / weight_sum;
            return Some((SliceKind::FallbackFlat, SviRaw::flat(w)));
        }
        return None;
    };
    let mut shape = params.scaled(t / tn);
    if weight_sum > 0.0 {
        let shift: f64 = level
            .iter()
            .map(|&(k, w, o)| o * (w - shape.total_variance(k)))
            .sum::<f64>()
            / weight_sum;
        // Never below zero total variance.
        shape.a += shift.max(-shape.min_total_variance());
    }
    if let Some((_, floor)) = shorter {
        let shortfall = grid
            .iter()
            .map(|&k| floor.total_variance(k) - shape.total_variance(k))
            .fold(0.0_f64, f64::max);
        shape.a += shortfall;
    }
    if let Some((_, ceiling)) = longer {
        let ratio = grid
            .iter()
            .map(|&k| ceiling.total_variance(k) / shape.total_variance(k).max(f64::MIN_POSITIVE))
            .fold(1.0_f64, f64::min);
        shape = shape.scaled(ratio);
    }
    Some((SliceKind::FallbackNeighbour, shape))
}

/// The repairs of one slice given the previous (shorter) final slice, its calendar floor, and the checks
/// of the result on the dense grid: butterfly first (blend toward the at-the-money level), then calendar
/// (lift `a` by the largest shortfall below the floor on the dense grid — after a fit above the floor on
/// the coarse grid, a small amount), then butterfly again if the lift broke it (blend toward a level at or
/// above the floor's maximum on the grid, which keeps the calendar condition: the blend of two curves above
/// the floor stays above it). A slice that needs nothing costs one pass over the grid.
pub fn repair_slice(
    raw: &SviRaw,
    previous: Option<&SviRaw>,
    grid: &[f64],
) -> (SviRaw, Repair, ArbitrageCheck) {
    let floor = previous.map(|p| on_grid(p, grid));
    repair_slice_cached(raw, floor.as_deref(), grid, &mut None)
}

/// A slice's total variance at the points of `grid`.
fn on_grid(params: &SviRaw, grid: &[f64]) -> Vec<f64> {
    grid.iter().map(|&k| params.total_variance(k)).collect()
}

/// [`repair_slice`] with the previous slice given by its total variance at the grid's points (`floor`),
/// and the butterfly repair of `raw` (which does not depend on the floor) remembered in `memo` as `(raw,
/// repaired, blend)`: a cascade that only moves the floor does not bisect again.
fn repair_slice_cached(
    raw: &SviRaw,
    previous: Option<&[f64]>,
    grid: &[f64],
    memo: &mut Option<(SviRaw, SviRaw, f64)>,
) -> (SviRaw, Repair, ArbitrageCheck) {
    let (first, clear_of_floor) = scan_slice(raw, previous, grid);
    if first.g_min >= BUTTERFLY_REPAIR_MARGIN && clear_of_floor {
        return (*raw, Repair::default(), first);
    }
    let mut repair = Repair::default();
    let (mut p, t) = if first.g_min >= BUTTERFLY_REPAIR_MARGIN {
        (*raw, 0.0)
    } else {
        match memo {
            Some((r, repaired, t)) if r == raw => (*repaired, *t),
            _ => {
                let (repaired, t) = repair_butterfly(raw, raw.total_variance(0.0), grid);
                *memo = Some((*raw, repaired, t));
                (repaired, t)
            }
        }
    };
    repair.butterfly_blend = t;
    if let Some(floor) = previous {
        // The lift aims a hair above the floor, `CALENDAR_MARGIN_RELATIVE·w_prev + CALENDAR_MARGIN`: two curves
        // that only touch at grid points can cross between them by about the grid step squared times
        // their curvature gap (measured on the real chains: 2e-8 at most).
        let shortfall = grid
            .iter()
            .zip(floor)
            .map(|(&k, &w)| {
                w + CALENDAR_MARGIN_RELATIVE * w + CALENDAR_MARGIN - p.total_variance(k)
            })
            .fold(0.0_f64, f64::max);
        if shortfall > 0.0 {
            let lift = shortfall;
            p.a += lift;
            repair.calendar_lift = lift;
            let level = floor.iter().copied().fold(p.total_variance(0.0), f64::max);
            let (q, t) = repair_butterfly(&p, level, grid);
            p = q;
            repair.butterfly_blend = repair.butterfly_blend.max(t);
        }
    }
    (p, repair, scan_slice(&p, previous, grid).0)
}

/// What a slice's correction depends on besides its quotes and its floor: its SVI, the next slice's SVI
/// and the dense grid `(points, first, last)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CorrectionKey {
    params: SviRaw,
    next: Option<SviRaw>,
    grid: (usize, f64, f64),
}

/// Everything a slice's correction fit reads ([`CorrectionInput`], the grid by its key), owned, and the
/// smile's dense-grid checks against the floor once computed.
#[derive(Debug, Clone, PartialEq)]
struct CorrectionMemo {
    svi: SviRaw,
    own: Vec<Target>,
    extra: Vec<Target>,
    grid: (usize, f64, f64),
    floor: Option<(SviRaw, Correction)>,
    ceiling: Option<(SviRaw, Correction)>,
    check: Option<ArbitrageCheck>,
}

impl CorrectionMemo {
    fn of(input: &CorrectionInput<'_>, grid: (usize, f64, f64)) -> CorrectionMemo {
        let owned = |b: &Option<Bound<'_>>| match b {
            Some(Bound::Smile(s)) => Some((*s.svi, s.correction.clone())),
            _ => None,
        };
        CorrectionMemo {
            svi: *input.svi,
            own: input.own.to_vec(),
            extra: input.extra.to_vec(),
            grid,
            floor: owned(&input.floor),
            ceiling: owned(&input.ceiling),
            check: None,
        }
    }

    /// Whether `input` is the one remembered, bit for bit (NaN never matches, nor a bound that is not a
    /// smile).
    fn matches(&self, input: &CorrectionInput<'_>, grid: (usize, f64, f64)) -> bool {
        let same =
            |memo: &Option<(SviRaw, Correction)>, bound: &Option<Bound<'_>>| match (memo, bound) {
                (Some((svi, correction)), Some(Bound::Smile(s))) => {
                    svi == s.svi && correction == s.correction
                }
                (None, None) => true,
                _ => false,
            };
        self.matches_below_the_ceiling(input, grid)
            && self.extra == input.extra
            && same(&self.ceiling, &input.ceiling)
    }

    /// Whether `input` is the one remembered but for what comes from the next expiry (the ceiling smile
    /// and the ceiling targets): the slice's SVI, own targets, floor and grid, bit for bit.
    fn matches_below_the_ceiling(
        &self,
        input: &CorrectionInput<'_>,
        grid: (usize, f64, f64),
    ) -> bool {
        let floor_same = match (&self.floor, &input.floor) {
            (Some((svi, correction)), Some(Bound::Smile(s))) => {
                svi == s.svi && correction == s.correction
            }
            (None, None) => true,
            _ => false,
        };
        self.svi == *input.svi && self.grid == grid && self.own == input.own && floor_same
    }
}

/// Whether `smile` is nowhere below `floor` on the grid: [`check_smile`]'s calendar condition alone (the
/// same values compared, without `g`).
fn clears_floor(smile: Smile<'_>, floor: Option<Smile<'_>>, grid: &[f64]) -> bool {
    let Some(floor) = floor else {
        return true;
    };
    let (mut own, mut below) = (smile.reader(), floor.reader());
    !grid
        .iter()
        .any(|&k| own.total_variance(k) < below.total_variance(k))
}

/// Whether `smile` stays below `ceiling` (the next expiry's smile) on the dense grid by the margin a
/// correction fit keeps, `10⁻⁷ + 10⁻⁵·w` (or by as much as its SVI does, when less): what a correction
/// fit against that ceiling would guarantee there. Always without a ceiling.
fn stays_below(smile: Smile<'_>, ceiling: Option<Smile<'_>>, grid: &[f64]) -> bool {
    let Some(ceiling) = ceiling else {
        return true;
    };
    let (mut correction, mut above) = (smile.correction.reader(), ceiling.reader());
    grid.iter().all(|&k| {
        let c = above.total_variance(k);
        let svi = smile.svi.total_variance(k);
        let svi_clearance = (c - svi).max(0.0);
        let margin = CALENDAR_MARGIN + CALENDAR_MARGIN_RELATIVE * c.abs();
        // NaN fails.
        svi + correction.eval(k)[0] <= c - margin.min(svi_clearance)
    })
}

/// [`check_smile`] of `slice`'s own smile against `floor` (the previous slice's own smile); the own
/// smile's values on the grid, read on the way, are kept for the running maximum (phase 5).
fn check_own_smile(slice: &mut Slice, floor: Option<Smile<'_>>, grid: &[f64]) -> ArbitrageCheck {
    let (check, values) = check_own(slice.own_smile(), floor, grid);
    slice.own_values = Some(values);
    check
}

/// Whether `floor` (the previous slice) lifts one of `slice`'s fit quotes above its ask: the running
/// maximum would then take that quote's implied volatility out of its bid/ask.
fn lifts_above_ask(slice: &Slice, floor: &SviRaw) -> bool {
    let p = &slice.quotes.points;
    let t = slice.expiry_years;
    (0..p.len()).any(|i| floor.total_variance(p.k[i]) > p.ask_iv[i] * p.ask_iv[i] * t)
}

/// The dense-grid checks of a final slice against the previous (shorter) one.
pub fn check_slice(params: &SviRaw, previous: Option<&SviRaw>, grid: &[f64]) -> ArbitrageCheck {
    let floor = previous.map(|p| on_grid(p, grid));
    scan_slice(params, floor.as_deref(), grid).0
}

/// The checks of [`check_slice`] (the previous slice given by its total variance at the grid's points)
/// and, in the same pass, whether the slice clears the previous one by the calendar margin everywhere on
/// the grid.
fn scan_slice(params: &SviRaw, previous: Option<&[f64]>, grid: &[f64]) -> (ArbitrageCheck, bool) {
    let mut check = ArbitrageCheck {
        g_min: f64::INFINITY,
        g_min_at: 0.0,
        calendar_violations: 0,
    };
    let mut clear = true;
    for (j, &k) in grid.iter().enumerate() {
        let (w, g) = params.total_variance_and_g(k);
        if g < check.g_min {
            check.g_min = g;
            check.g_min_at = k;
        }
        if let Some(prev) = previous {
            let floor = prev[j];
            if w < floor {
                check.calendar_violations += 1;
            }
            clear &= w >= floor + CALENDAR_MARGIN_RELATIVE * floor + CALENDAR_MARGIN;
        }
    }
    (check, clear)
}
