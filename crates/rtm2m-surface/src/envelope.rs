//! The surface across expiries as the running maximum of the expiries' own smiles: the smile of an expiry
//! on the surface is, at each `k = ln(K/F)`, the largest total variance of its own smile and of every
//! shorter expiry's own smile (`docs/surface.md` §Calendar).
//!
//! Why: total variance must not fall in `T` at fixed `k` (no calendar arbitrage). Holding a slice above the
//! previous one where neither has quotes (a short expiry's wing extrapolated far out) moves a rigid SVI
//! slice where it does have quotes. The running maximum removes calendar arbitrage by construction and
//! keeps butterfly arbitrage out: at fixed `k` the normalised call price is increasing in total variance,
//! so the maximum's call prices are the largest of arbitrage-free call price curves, and a maximum of
//! convex, decreasing curves with the same limits is one too. Where one piece sets the surface, `g` is its
//! own; where two cross, the total variance has a convex kink.

use crate::correction::{Correction, Smile, SmileReader};
use crate::surface::ArbitrageCheck;
use crate::svi::{durrleman_g, SliceDerivatives, SviRaw};
use std::sync::Arc;

/// One expiry's own smile, kept whole for the longer expiries whose surface smile reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct SmilePiece {
    /// The SVI part.
    pub svi: SviRaw,
    /// The correction.
    pub correction: Correction,
}

impl SmilePiece {
    /// The piece as a smile of its own.
    pub fn smile(&self) -> Smile<'_> {
        Smile {
            svi: &self.svi,
            correction: &self.correction,
        }
    }
}

/// An expiry's smile on the surface: its own smile and the own smiles of the shorter expiries (the floor),
/// read as their maximum at each `k`.
#[derive(Debug, Clone, Copy)]
pub struct SurfaceSmile<'a> {
    /// The expiry's own smile.
    pub own: Smile<'a>,
    /// The own smiles of the shorter expiries, shortest first.
    pub floor: &'a [Arc<SmilePiece>],
}

impl<'a> From<Smile<'a>> for SurfaceSmile<'a> {
    fn from(own: Smile<'a>) -> SurfaceSmile<'a> {
        SurfaceSmile { own, floor: &[] }
    }
}

impl<'a> SurfaceSmile<'a> {
    /// The piece that sets the surface at `k` and its total variance: of the floor's pieces (shortest
    /// first) and then the own smile, the first that reaches the largest total variance.
    pub fn active(&self, k: f64) -> (Smile<'a>, f64) {
        let mut best: Option<(Smile<'a>, f64)> = None;
        let pieces = self.floor.iter().map(|p| p.smile()).chain([self.own]);
        for smile in pieces {
            let w = smile.total_variance(k);
            if best.is_none_or(|(_, b)| w > b) {
                best = Some((smile, w));
            }
        }
        best.expect("the own smile is always a piece")
    }

    /// Whether a shorter expiry's smile sets the surface at `k` (the own smile is below it there).
    pub fn inherited(&self, k: f64) -> bool {
        !std::ptr::eq(self.active(k).0.svi, self.own.svi)
    }

    /// `w(k)`: the largest total variance of the pieces.
    pub fn total_variance(&self, k: f64) -> f64 {
        self.active(k).1
    }

    /// `w`, `w'`, `w''` at `k`, of the piece that sets the surface there.
    pub fn derivatives(&self, k: f64) -> SliceDerivatives {
        self.active(k).0.derivatives(k)
    }

    /// Durrleman's `g(k)`, of the piece that sets the surface there.
    pub fn durrleman_g(&self, k: f64) -> f64 {
        self.active(k).0.durrleman_g(k)
    }

    /// Implied volatility `√(w(k)/T)` (the active piece's, from the value [`SurfaceSmile::active`] read).
    pub fn vol(&self, k: f64, expiry_years: f64) -> f64 {
        (self.total_variance(k).max(0.0) / expiry_years).sqrt()
    }

    /// The at-the-money skew `dσ/dk` at `k = 0`, of the piece that sets the surface there.
    pub fn atm_skew(&self, expiry_years: f64) -> f64 {
        self.active(0.0).0.atm_skew(expiry_years)
    }
}

/// An own smile read at increasing points as the checks read it: `w` and `g` from the smile inside its
/// correction's support, from the SVI alone outside (where the correction is zero).
struct PieceScan<'a> {
    smile: Smile<'a>,
    reader: SmileReader<'a>,
    support: (f64, f64),
}

impl<'a> PieceScan<'a> {
    fn new(smile: Smile<'a>) -> PieceScan<'a> {
        PieceScan {
            smile,
            reader: smile.reader(),
            support: smile.correction.support().unwrap_or((0.0, 0.0)),
        }
    }

    #[inline]
    fn at(&mut self, k: f64) -> (f64, f64) {
        if k >= self.support.0 && k < self.support.1 {
            let d = self.reader.derivatives(k);
            (d.w, durrleman_g(k, d))
        } else {
            self.smile.svi.total_variance_and_g(k)
        }
    }
}

/// A surface smile read at increasing points: `w` and `g` of the piece that sets it.
struct SurfaceScan<'a> {
    pieces: Vec<PieceScan<'a>>,
}

impl<'a> SurfaceScan<'a> {
    fn new(smile: SurfaceSmile<'a>) -> SurfaceScan<'a> {
        let pieces = smile.floor.iter().map(|p| p.smile()).chain([smile.own]);
        SurfaceScan {
            pieces: pieces.map(PieceScan::new).collect(),
        }
    }

    #[inline]
    fn at(&mut self, k: f64) -> (f64, f64) {
        let mut best = (f64::NAN, f64::NAN);
        for (i, piece) in self.pieces.iter_mut().enumerate() {
            let (w, g) = piece.at(k);
            if i == 0 || w > best.0 {
                best = (w, g);
            }
        }
        best
    }
}

/// Folds one point into a check: the least `g` (NaN counts as `−∞`) and, against the previous smile's
/// `w`, a calendar violation.
#[inline]
fn fold_point(check: &mut ArbitrageCheck, k: f64, (w, g): (f64, f64), previous_w: Option<f64>) {
    if g < check.g_min || g.is_nan() {
        check.g_min = if g.is_nan() { f64::NEG_INFINITY } else { g };
        check.g_min_at = k;
    }
    if previous_w.is_some_and(|p| w < p) {
        check.calendar_violations += 1;
    }
}

fn empty_check() -> ArbitrageCheck {
    ArbitrageCheck {
        g_min: f64::INFINITY,
        g_min_at: 0.0,
        calendar_violations: 0,
    }
}

/// The dense-grid checks of a smile against the previous (shorter) one: the least `g` of the piece that
/// sets the smile at each point, and the points where its total variance is below the previous smile's.
/// The grid must be increasing.
pub fn check_smile(
    smile: SurfaceSmile<'_>,
    previous: Option<SurfaceSmile<'_>>,
    grid: &[f64],
) -> ArbitrageCheck {
    let mut check = empty_check();
    let mut scan = SurfaceScan::new(smile);
    let mut previous_scan = previous.map(SurfaceScan::new);
    for &k in grid {
        let point = scan.at(k);
        let previous_w = previous_scan.as_mut().map(|p| p.at(k).0);
        fold_point(&mut check, k, point, previous_w);
    }
    check
}

/// An own smile's `w` and `g` at the dense grid's points, as [`check_smile`] reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct GridValues {
    /// The smile they were read from: its SVI part.
    pub svi: SviRaw,
    /// Its correction.
    pub correction: Correction,
    /// `(points, first, last)` of the grid they were read on.
    pub grid: (usize, f64, f64),
    /// `w` at each point.
    pub w: Vec<f64>,
    /// `g` at each point.
    pub g: Vec<f64>,
}

impl GridValues {
    /// Reads `smile` at every point of `grid`.
    pub fn of(smile: Smile<'_>, grid: &[f64]) -> GridValues {
        let mut scan = PieceScan::new(smile);
        let (w, g) = grid.iter().map(|&k| scan.at(k)).unzip();
        GridValues {
            svi: *smile.svi,
            correction: smile.correction.clone(),
            grid: grid_key(grid),
            w,
            g,
        }
    }

    /// Whether these are the values of `smile` on `grid`.
    pub fn are_of(&self, smile: Smile<'_>, grid: &[f64]) -> bool {
        self.grid == grid_key(grid)
            && self.svi == *smile.svi
            && self.correction == *smile.correction
    }
}

/// [`check_smile`] of an own smile against the previous own smile, and the own smile's values it reads
/// ([`GridValues::of`]), so that the running maximum need not read them again.
pub fn check_own(
    smile: Smile<'_>,
    previous: Option<Smile<'_>>,
    grid: &[f64],
) -> (ArbitrageCheck, GridValues) {
    let values = GridValues::of(smile, grid);
    let mut check = empty_check();
    let mut previous_scan = previous.map(PieceScan::new);
    for (j, &k) in grid.iter().enumerate() {
        let previous_w = previous_scan.as_mut().map(|p| p.at(k).0);
        fold_point(&mut check, k, (values.w[j], values.g[j]), previous_w);
    }
    (check, values)
}

/// `(points, first, last)` of a grid.
pub fn grid_key(grid: &[f64]) -> (usize, f64, f64) {
    (
        grid.len(),
        grid.first().copied().unwrap_or(0.0),
        grid.last().copied().unwrap_or(0.0),
    )
}

/// The running maximum of the own smiles read so far on the dense grid: `w` and `g` of the piece that
/// sets it at each point.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    w: Vec<f64>,
    g: Vec<f64>,
}

impl Envelope {
    /// The checks of the next expiry's surface smile (its own values `own` under this envelope), which
    /// equal [`check_smile`] of that smile against the previous expiry's; then the envelope takes the
    /// expiry in.
    pub fn check_and_take(&mut self, own: &GridValues, grid: &[f64]) -> ArbitrageCheck {
        let mut check = empty_check();
        if self.w.is_empty() {
            for (j, &k) in grid.iter().enumerate() {
                fold_point(&mut check, k, (own.w[j], own.g[j]), None);
            }
            self.w.clone_from(&own.w);
            self.g.clone_from(&own.g);
            return check;
        }
        for (j, &k) in grid.iter().enumerate() {
            let previous = self.w[j];
            let point = if own.w[j] > previous {
                (own.w[j], own.g[j])
            } else {
                (previous, self.g[j])
            };
            fold_point(&mut check, k, point, Some(previous));
            (self.w[j], self.g[j]) = point;
        }
        check
    }

    /// Takes in the next expiry without checking it.
    pub fn take(&mut self, own: &GridValues) {
        if self.w.is_empty() {
            self.w.clone_from(&own.w);
            self.g.clone_from(&own.g);
            return;
        }
        for j in 0..self.w.len() {
            if own.w[j] > self.w[j] {
                (self.w[j], self.g[j]) = (own.w[j], own.g[j]);
            }
        }
    }
}
