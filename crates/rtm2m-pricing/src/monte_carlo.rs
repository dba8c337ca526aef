//! Seeded, reproducible Monte Carlo under geometric Brownian motion (generalised Black–Scholes: rate r,
//! yield q), for European options and for options settled on a TWAP of the index, as Deribit settles its
//! options on the average of the index over the 30 minutes before expiry.
//!
//! ## Reproducibility
//! Paths are simulated in fixed chunks of [`CHUNK_SAMPLES`] samples. Chunk `c` draws from its own stream:
//! `ChaCha8Rng::seed_from_u64(seed)` with `set_stream(c)`; each chunk reduces its samples to running
//! moments (Welford), and the chunks are merged in index order (Chan, Golub and LeVeque 1979). The result
//! is therefore bit-identical for the same seed whatever the number of threads rayon uses; across machines
//! it is identical wherever `f64::exp`/`ln` round the same (they are the platform's libm).
//!
//! ## Estimators
//! - **Antithetic variates**: each normal vector `z` also drives the path of `−z`; a sample is the mean of
//!   the two discounted payoffs, so `paths` must be even and gives `paths/2` samples.
//! - **Control variate**: `price = Ȳ − β·(X̄ − E[X])` with β = Cov(X, Y)/Var(X) estimated on the same samples
//!   (the optimal β; its estimation biases the price by O(1/n), far below the standard error). The control X
//!   is the discounted terminal spot `e^{−rT}·S_T` (known mean `S·e^{−qT}`) for [`european_mc`], and the
//!   discounted payoff of the same option on the geometric average of the same fixings (known price
//!   [`geometric_average_price`]) for [`twap_mc`]. The standard error is `√(Var(Y)(1 − ρ²)/n)`, and the
//!   variance reduction factor `Var(Y)/(Var(Y)(1 − ρ²))` is measured on the same samples.
//!
//! ## TWAP fixings
//! A TWAP over a window `W` ending at expiry with `m` fixings averages the index at
//! `t_k = T − W + k·W/m`, k = 1..m (the last fixing is at T, so one fixing is the European option). Paths
//! are simulated exactly: one step to `t_1`, then `m − 1` steps of `W/m`.
//!
//! ## Measured (2-core x86_64, release build, both cores)
//! - European, 200,000 paths, S = 30,000, r = 5%: ≈ 15–20 ns per path. Variance reduction of the
//!   terminal-spot control: ATM call σ = 80%, T = 3 months ≈ 6.7; ATM call σ = 60%, T = 1 day ≈ 3.9;
//!   10% out-of-the-money put ≈ 2.0; deep in-the-money call (K = S·2/3) ≈ 50.
//! - TWAP, Deribit's 30-minute window with 30 one-minute fixings: ≈ 365 ns per path (12 ns per fixing).
//!   The geometric control is nearly exact because the window is short against the option's life: the
//!   measured variance reduction factor is 2e8 (ATM call, 1 day, σ = 60%), 1e8 (put 3% out of the money,
//!   1 day) and 7e9 (ATM call, 30 days); antithetic variates add little on top of it.
//!
use crate::black::{black76_price, BsInputs};
use crate::error::{require_finite, require_non_negative};
use crate::{OptionKind, PricingError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// Samples per chunk: the unit of work and of random streams. Part of the reproducibility contract:
/// changing it changes every result.
pub const CHUNK_SAMPLES: usize = 8192;
/// Largest accepted number of paths (a bound on the work of one call).
pub const PATHS_MAX: usize = 1_000_000_000;
/// Largest accepted number of TWAP fixings.
pub const FIXINGS_MAX: usize = 100_000;
/// Deribit's settlement window: the 30 minutes before expiry, in years of 365 days.
pub const DERIBIT_TWAP_WINDOW_YEARS: f64 = 30.0 / (365.0 * 24.0 * 60.0);

/// Monte Carlo settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct McSettings {
    /// Number of simulated paths (≥ 2; even, and ≥ 4, with antithetic variates).
    pub paths: usize,
    /// Seed of the random streams: the same seed gives the same result, bit for bit.
    pub seed: u64,
    /// Pair every path with its mirror image (−z).
    pub antithetic: bool,
    /// Use the control variate described in the module docs.
    pub control_variate: bool,
}

/// A Monte Carlo estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McResult {
    /// The estimated premium, in the currency of spot and strike.
    pub price: f64,
    /// Its standard error, same unit.
    pub std_error: f64,
    /// Number of simulated paths.
    pub paths: usize,
    /// Variance of the plain estimator over the variance of the control-variate estimator, measured on the
    /// same samples (`None` without a control variate; 1 when the control has no variance).
    pub variance_reduction_factor: Option<f64>,
}

/// The averaging window of a TWAP-settled option.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwapSpec {
    /// Length W of the window that ends at expiry, in years (0 ≤ W ≤ T).
    pub window_years: f64,
    /// Number m of equally spaced fixings in the window, the last one at expiry (m ≥ 1).
    pub fixings: usize,
}

impl Default for TwapSpec {
    /// Deribit's settlement: 30 minutes, sampled once a minute.
    fn default() -> Self {
        TwapSpec {
            window_years: DERIBIT_TWAP_WINDOW_YEARS,
            fixings: 30,
        }
    }
}

impl TwapSpec {
    /// Checks the window against the option's expiry, naming the offending field.
    pub fn validate(&self, expiry_years: f64) -> Result<(), PricingError> {
        require_non_negative("window_years", self.window_years)?;
        if self.window_years > expiry_years {
            return Err(PricingError::InvalidInput {
                field: "window_years",
                reason: "must not exceed expiry_years",
            });
        }
        if self.fixings == 0 {
            return Err(PricingError::InvalidInput {
                field: "fixings",
                reason: "must be at least 1",
            });
        }
        if self.fixings > FIXINGS_MAX {
            return Err(PricingError::InvalidInput {
                field: "fixings",
                reason: "must be at most 100000",
            });
        }
        Ok(())
    }
}

impl McSettings {
    /// Checks the path count, naming the offending field.
    pub fn validate(&self) -> Result<(), PricingError> {
        if self.paths > PATHS_MAX {
            return Err(PricingError::InvalidInput {
                field: "paths",
                reason: "must be at most 1000000000",
            });
        }
        if self.antithetic {
            if !self.paths.is_multiple_of(2) {
                return Err(PricingError::InvalidInput {
                    field: "paths",
                    reason: "must be even with antithetic variates",
                });
            }
            if self.paths < 4 {
                return Err(PricingError::InvalidInput {
                    field: "paths",
                    reason: "must be at least 4 with antithetic variates",
                });
            }
        } else if self.paths < 2 {
            return Err(PricingError::InvalidInput {
                field: "paths",
                reason: "must be at least 2",
            });
        }
        Ok(())
    }

    /// Independent samples: paths, or pairs of paths with antithetic variates.
    fn samples(&self) -> usize {
        if self.antithetic {
            self.paths / 2
        } else {
            self.paths
        }
    }
}

/// European option by Monte Carlo (one exact step to expiry). With the control variate, X is the discounted
/// terminal spot `e^{−rT}·S_T`, whose mean `S·e^{−qT}` is known exactly.
pub fn european_mc(
    kind: OptionKind,
    inputs: &BsInputs,
    settings: &McSettings,
) -> Result<McResult, PricingError> {
    inputs.validate()?;
    settings.validate()?;
    let t = inputs.expiry_years;
    let drift = (inputs.rate - inputs.dividend - 0.5 * inputs.vol * inputs.vol) * t;
    let stddev = inputs.vol * t.sqrt();
    let discount = (-inputs.rate * t).exp();
    let theta = kind.sign();
    let (spot, strike) = (inputs.spot, inputs.strike);
    // One path: (discounted payoff, discounted terminal spot).
    let path = |z: f64| -> (f64, f64) {
        let terminal = spot * (drift + stddev * z).exp();
        (
            discount * (theta * (terminal - strike)).max(0.0),
            discount * terminal,
        )
    };
    let stats = simulate(settings, 1, |normals| {
        let z = normals[0];
        let (y_plus, x_plus) = path(z);
        if settings.antithetic {
            let (y_minus, x_minus) = path(-z);
            (0.5 * (y_plus + y_minus), 0.5 * (x_plus + x_minus))
        } else {
            (y_plus, x_plus)
        }
    });
    let control_mean = spot * (-inputs.dividend * t).exp();
    finish(&stats, settings, control_mean)
}

/// Price of the option on the **geometric** average of the TWAP fixings, in closed form (the discrete
/// analogue of Kemna and Vorst, J. Banking Finance 14, 1990).
///
/// With `t_k = a + kΔ` (a = T − W, Δ = W/m, k = 1..m) and `ln S_t = ln S + μt + σW_t`, μ = r − q − σ²/2:
/// `ln G ~ N(ln S + μ·t̄, V)` with `t̄ = a + Δ(m + 1)/2` and
/// `V = (σ²/m²)·Σ_j Σ_k min(t_j, t_k) = σ²·(a + Δ(m + 1)(2m + 1)/(6m))`
/// (each t_k is the minimum of 2(m − k) + 1 ordered pairs). G is lognormal, so the price is Black-76 on
/// the forward `E[G] = S·e^{μ·t̄ + V/2}` with total variance V, discounted from T.
pub fn geometric_average_price(
    kind: OptionKind,
    inputs: &BsInputs,
    twap: &TwapSpec,
) -> Result<f64, PricingError> {
    inputs.validate()?;
    twap.validate(inputs.expiry_years)?;
    let (forward, variance) = geometric_average_moments(inputs, twap);
    let discount = (-inputs.rate * inputs.expiry_years).exp();
    // Black-76 with expiry 1 year and volatility √V carries the total variance V.
    black76_price(kind, forward, inputs.strike, 1.0, variance.sqrt(), discount)
}

/// `(E[G], Var[ln G])` of the geometric average of the fixings; see [`geometric_average_price`].
fn geometric_average_moments(i: &BsInputs, twap: &TwapSpec) -> (f64, f64) {
    let m = twap.fixings as f64;
    let step = twap.window_years / m;
    let start = i.expiry_years - twap.window_years;
    let mean_time = start + step * (m + 1.0) / 2.0;
    let variance = i.vol * i.vol * (start + step * (m + 1.0) * (2.0 * m + 1.0) / (6.0 * m));
    let mu = i.rate - i.dividend - 0.5 * i.vol * i.vol;
    (i.spot * (mu * mean_time + 0.5 * variance).exp(), variance)
}

/// Option settled on the arithmetic average (TWAP) of the index over the window before expiry, by Monte
/// Carlo. With the control variate, X is the discounted payoff of the same option on the geometric average
/// of the same fixings, whose price [`geometric_average_price`] is known exactly.
pub fn twap_mc(
    kind: OptionKind,
    inputs: &BsInputs,
    twap: &TwapSpec,
    settings: &McSettings,
) -> Result<McResult, PricingError> {
    inputs.validate()?;
    twap.validate(inputs.expiry_years)?;
    settings.validate()?;
    let m = twap.fixings;
    let step = twap.window_years / m as f64;
    let first_time = inputs.expiry_years - twap.window_years + step;
    let mu = inputs.rate - inputs.dividend - 0.5 * inputs.vol * inputs.vol;
    let (first_drift, first_stddev) = (mu * first_time, inputs.vol * first_time.sqrt());
    let (step_drift, step_stddev) = (mu * step, inputs.vol * step.sqrt());
    let discount = (-inputs.rate * inputs.expiry_years).exp();
    let theta = kind.sign();
    let (ln_spot, strike) = (inputs.spot.ln(), inputs.strike);
    let inv_m = 1.0 / m as f64;
    // One path driven by `sign·z`: (discounted arithmetic payoff, discounted geometric payoff).
    let path = |normals: &[f64], sign: f64| -> (f64, f64) {
        let mut ln_s = ln_spot + first_drift + first_stddev * sign * normals[0];
        let (mut sum, mut sum_ln) = (ln_s.exp(), ln_s);
        for &z in &normals[1..] {
            ln_s += step_drift + step_stddev * sign * z;
            sum += ln_s.exp();
            sum_ln += ln_s;
        }
        let arithmetic = sum * inv_m;
        let geometric = (sum_ln * inv_m).exp();
        (
            discount * (theta * (arithmetic - strike)).max(0.0),
            discount * (theta * (geometric - strike)).max(0.0),
        )
    };
    let stats = simulate(settings, m, |normals| {
        let (y_plus, x_plus) = path(normals, 1.0);
        if settings.antithetic {
            let (y_minus, x_minus) = path(normals, -1.0);
            (0.5 * (y_plus + y_minus), 0.5 * (x_plus + x_minus))
        } else {
            (y_plus, x_plus)
        }
    });
    let control_mean = geometric_average_price(kind, inputs, twap)?;
    finish(&stats, settings, control_mean)
}

/// Running moments of (X, Y) pairs: Welford's update, Chan–Golub–LeVeque's merge.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    count: f64,
    mean_x: f64,
    mean_y: f64,
    m2_x: f64,
    m2_y: f64,
    co_xy: f64,
}

impl Moments {
    #[inline]
    fn push(&mut self, x: f64, y: f64) {
        self.count += 1.0;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx / self.count;
        self.mean_y += dy / self.count;
        self.m2_x += dx * (x - self.mean_x);
        self.m2_y += dy * (y - self.mean_y);
        self.co_xy += dx * (y - self.mean_y);
    }

    fn merge(&self, other: &Moments) -> Moments {
        if other.count == 0.0 {
            return *self;
        }
        if self.count == 0.0 {
            return *other;
        }
        let count = self.count + other.count;
        let dx = other.mean_x - self.mean_x;
        let dy = other.mean_y - self.mean_y;
        let weight = self.count * other.count / count;
        Moments {
            count,
            mean_x: self.mean_x + dx * other.count / count,
            mean_y: self.mean_y + dy * other.count / count,
            m2_x: self.m2_x + other.m2_x + dx * dx * weight,
            m2_y: self.m2_y + other.m2_y + dy * dy * weight,
            co_xy: self.co_xy + other.co_xy + dx * dy * weight,
        }
    }
}

/// Runs `settings.samples()` samples in fixed chunks, each with its own stream, in parallel; `sample`
/// maps `dimension` standard normals to one (Y, X) sample. Chunks are merged in index order.
fn simulate<F>(settings: &McSettings, dimension: usize, sample: F) -> Moments
where
    F: Fn(&[f64]) -> (f64, f64) + Sync,
{
    let samples = settings.samples();
    let chunks = samples.div_ceil(CHUNK_SAMPLES);
    let per_chunk: Vec<Moments> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
            rng.set_stream(chunk as u64);
            let begin = chunk * CHUNK_SAMPLES;
            let end = (begin + CHUNK_SAMPLES).min(samples);
            let mut normals = vec![0.0; dimension];
            let mut moments = Moments::default();
            for _ in begin..end {
                for z in normals.iter_mut() {
                    *z = rng.sample(StandardNormal);
                }
                let (y, x) = sample(&normals);
                moments.push(x, y);
            }
            moments
        })
        .collect();
    per_chunk
        .iter()
        .fold(Moments::default(), |total, chunk| total.merge(chunk))
}

/// The plain or control-variate estimate from the merged moments.
fn finish(m: &Moments, settings: &McSettings, control_mean: f64) -> Result<McResult, PricingError> {
    let n = m.count;
    debug_assert!(n >= 2.0);
    let var_y = (m.m2_y / (n - 1.0)).max(0.0);
    let (price, variance, factor) = if settings.control_variate {
        let var_x = m.m2_x / (n - 1.0);
        if var_x > 0.0 {
            let cov = m.co_xy / (n - 1.0);
            let beta = cov / var_x;
            // Var(Y − βX) at the optimal β = Var(Y)(1 − ρ²), written without forming ρ.
            let var_cv = (var_y - beta * cov).max(0.0);
            let factor = if var_cv > 0.0 {
                var_y / var_cv
            } else {
                f64::INFINITY
            };
            (
                m.mean_y - beta * (m.mean_x - control_mean),
                var_cv,
                Some(factor),
            )
        } else {
            (m.mean_y, var_y, Some(1.0))
        }
    } else {
        (m.mean_y, var_y, None)
    };
    let price = require_finite("inputs", price)?;
    Ok(McResult {
        price,
        std_error: (variance / n).sqrt(),
        paths: settings.paths,
        variance_reduction_factor: factor,
    })
}
