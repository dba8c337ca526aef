//! Struct-of-arrays batch pricing: price and five Greeks for many options at once.
//!
//! The kernel is one branch-free function per option (`lane`), written so that the compiler turns the loop
//! over it into SIMD code: every branch is a select, and `exp`, `ln` and `erfcx` are evaluated by polynomial
//! and Chebyshev code in this module instead of libm calls. The same source is compiled three times —
//! portable (x86-64 baseline or any other architecture), AVX2 + FMA, and AVX-512 — and the widest variant
//! the CPU supports is chosen at run time. Large batches are split over a thread pool.
//!
//! The scalar [`crate::black_scholes`] stays the readable reference: the batch results agree with it to a
//! few units in the 13th significant digit of the premium (tests and a property test hold this), and rows
//! the kernel does not cover (invalid inputs, σ√T = 0) are delegated to it.
//!
//! [`normalised_black_batch`] is the same kind of kernel for the normalised Black price alone, at many points
//! of one option kind (a risk array's spot and vol moves), without fused multiply-adds so that its portable
//! and AVX2 builds agree to the bit; the scalar [`crate::black::normalised_black`] is its reference.

use crate::black::{black_scholes, scales_in_range, BsInputs};
use crate::implied_vol::implied_vol_black_scholes;
use crate::special::{two_product, ERFCX_CENTRE, ERFCX_POWERS, FRAC_1_SQRT_2PI};
use crate::{IvError, OptionKind, PricingError};
use rayon::prelude::*;
use std::f64::consts::{FRAC_1_SQRT_2, LOG2_E};

/// Options in struct-of-arrays layout. All columns must have the same length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptionBatch {
    /// +1 for a call, −1 for a put.
    pub sign: Vec<f64>,
    /// Spot S.
    pub spot: Vec<f64>,
    /// Strike K.
    pub strike: Vec<f64>,
    /// Time to expiry T in years.
    pub expiry_years: Vec<f64>,
    /// Volatility σ (fraction, annualised).
    pub vol: Vec<f64>,
    /// Rate r (continuous, per year).
    pub rate: Vec<f64>,
    /// Dividend / carry yield q (continuous, per year).
    pub dividend: Vec<f64>,
}

impl OptionBatch {
    /// An empty batch with room for `n` options.
    pub fn with_capacity(n: usize) -> Self {
        OptionBatch {
            sign: Vec::with_capacity(n),
            spot: Vec::with_capacity(n),
            strike: Vec::with_capacity(n),
            expiry_years: Vec::with_capacity(n),
            vol: Vec::with_capacity(n),
            rate: Vec::with_capacity(n),
            dividend: Vec::with_capacity(n),
        }
    }

    /// Appends one option.
    pub fn push(&mut self, kind: OptionKind, inputs: &BsInputs) {
        self.sign.push(kind.sign());
        self.spot.push(inputs.spot);
        self.strike.push(inputs.strike);
        self.expiry_years.push(inputs.expiry_years);
        self.vol.push(inputs.vol);
        self.rate.push(inputs.rate);
        self.dividend.push(inputs.dividend);
    }

    /// Number of options.
    pub fn len(&self) -> usize {
        self.sign.len()
    }

    /// True when the batch holds no option.
    pub fn is_empty(&self) -> bool {
        self.sign.is_empty()
    }

    /// The option at `index` as scalar inputs.
    pub fn get(&self, index: usize) -> (OptionKind, BsInputs) {
        let kind = if self.sign[index] > 0.0 {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        let inputs = BsInputs {
            spot: self.spot[index],
            strike: self.strike[index],
            expiry_years: self.expiry_years[index],
            vol: self.vol[index],
            rate: self.rate[index],
            dividend: self.dividend[index],
        };
        (kind, inputs)
    }

    fn check_lengths(&self) -> Result<(), PricingError> {
        let n = self.sign.len();
        let columns = [
            ("spot", self.spot.len()),
            ("strike", self.strike.len()),
            ("expiry_years", self.expiry_years.len()),
            ("vol", self.vol.len()),
            ("rate", self.rate.len()),
            ("dividend", self.dividend.len()),
        ];
        for (field, len) in columns {
            if len != n {
                return Err(PricingError::InvalidInput {
                    field,
                    reason: "column length differs from `sign`",
                });
            }
        }
        Ok(())
    }
}

/// Random, realistic crypto options for benchmarks and tests (seeded, so reproducible): spot 60,000, strikes
/// uniform in ±60% log-moneyness, vol 30–150%, T from one day to one year, r and q in 0–5%, calls and puts.
pub fn random_crypto_options(n: usize, seed: u64) -> OptionBatch {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut batch = OptionBatch::with_capacity(n);
    for _ in 0..n {
        let kind = if rng.random_bool(0.5) {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        let spot = 60_000.0;
        let inputs = BsInputs {
            spot,
            strike: spot * rng.random_range(-0.6..0.6_f64).exp(),
            expiry_years: rng.random_range(1.0..365.0) / 365.0,
            vol: rng.random_range(0.3..1.5),
            rate: rng.random_range(0.0..0.05),
            dividend: rng.random_range(0.0..0.05),
        };
        batch.push(kind, &inputs);
    }
    batch
}

/// Outputs of [`price_batch`], struct-of-arrays, same units as [`crate::Greeks`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GreeksBatch {
    /// Premium.
    pub price: Vec<f64>,
    /// ∂V/∂S.
    pub delta: Vec<f64>,
    /// ∂²V/∂S².
    pub gamma: Vec<f64>,
    /// ∂V/∂σ per 1.00 of vol.
    pub vega: Vec<f64>,
    /// −∂V/∂T per year.
    pub theta: Vec<f64>,
    /// ∂V/∂r per 1.00 of rate, spot held.
    pub rho: Vec<f64>,
    /// The rows whose inputs were rejected, in increasing row order, with the reason (their outputs are NaN).
    /// Kept sparse: resetting a per-row column would cost a pass over memory for every batch.
    pub errors: Vec<(usize, PricingError)>,
}

impl GreeksBatch {
    /// The reason row `row` was rejected, if it was.
    pub fn error(&self, row: usize) -> Option<PricingError> {
        self.errors
            .binary_search_by_key(&row, |(r, _)| *r)
            .ok()
            .map(|k| self.errors[k].1)
    }

    fn resize(&mut self, n: usize) {
        for column in [
            &mut self.price,
            &mut self.delta,
            &mut self.gamma,
            &mut self.vega,
            &mut self.theta,
            &mut self.rho,
        ] {
            // Every row is overwritten by the kernel: no need to clear what is already there.
            column.resize(n, 0.0);
        }
        self.errors.clear();
    }
}

/// The instruction set the batch kernel runs with on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelIsa {
    /// AVX-512F (8 lanes of f64).
    Avx512,
    /// AVX2 with FMA (4 lanes).
    Avx2Fma,
    /// The portable build of the target (SSE2 on x86-64).
    Portable,
}

/// Detects the widest kernel this CPU supports.
pub fn detected_isa() -> KernelIsa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return KernelIsa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return KernelIsa::Avx2Fma;
        }
    }
    KernelIsa::Portable
}

/// Rows per parallel task: large enough to amortise scheduling, small enough to balance.
const PARALLEL_CHUNK: usize = 8192;

/// Prices every option of `batch` into `out` (resized to fit), on up to `threads` threads (0 = all cores).
///
/// Rows with invalid inputs get NaN outputs and their error in `out.errors`; other rows are never affected.
pub fn price_batch(
    batch: &OptionBatch,
    out: &mut GreeksBatch,
    threads: usize,
) -> Result<(), PricingError> {
    price_batch_with(batch, out, threads, detected_isa())
}

/// As [`price_batch`], with the kernel's instruction set forced (falls back to portable if unsupported).
pub fn price_batch_with(
    batch: &OptionBatch,
    out: &mut GreeksBatch,
    threads: usize,
    isa: KernelIsa,
) -> Result<(), PricingError> {
    batch.check_lengths()?;
    let n = batch.len();
    out.resize(n);
    let isa = if isa_supported(isa) {
        isa
    } else {
        KernelIsa::Portable
    };
    let run =
        |start: usize, mut outputs: OutputSlices<'_>, errors: &mut Vec<(usize, PricingError)>| {
            // Blocks small enough to stay in L1/L2 between the kernel and the patch-up of uncovered rows.
            let len = outputs.price.len();
            let mut offset = 0;
            while offset < len {
                let end = (offset + CACHE_BLOCK).min(len);
                let inputs = InputSlices::new(batch, start + offset, end - offset);
                let mut block = outputs.range(offset, end);
                if !run_kernel(isa, &inputs, block.reborrow()) {
                    patch_uncovered_rows(&inputs, &mut block, start + offset, errors);
                }
                offset = end;
            }
        };
    if threads == 1 || n < 2 * PARALLEL_CHUNK {
        let mut errors = std::mem::take(&mut out.errors);
        run(0, OutputSlices::whole(out), &mut errors);
        out.errors = errors;
    } else {
        let mut job = || {
            let per_chunk: Vec<Vec<(usize, PricingError)>> = out
                .price
                .par_chunks_mut(PARALLEL_CHUNK)
                .zip(out.delta.par_chunks_mut(PARALLEL_CHUNK))
                .zip(out.gamma.par_chunks_mut(PARALLEL_CHUNK))
                .zip(out.vega.par_chunks_mut(PARALLEL_CHUNK))
                .zip(out.theta.par_chunks_mut(PARALLEL_CHUNK))
                .zip(out.rho.par_chunks_mut(PARALLEL_CHUNK))
                .enumerate()
                .map(|(chunk, (((((price, delta), gamma), vega), theta), rho))| {
                    let outputs = OutputSlices {
                        price,
                        delta,
                        gamma,
                        vega,
                        theta,
                        rho,
                    };
                    let mut errors = Vec::new();
                    run(chunk * PARALLEL_CHUNK, outputs, &mut errors);
                    errors
                })
                .collect();
            out.errors = per_chunk.into_iter().flatten().collect();
        };
        if threads == 0 {
            job();
        } else {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|_| PricingError::InvalidInput {
                    field: "threads",
                    reason: "cannot start a thread pool",
                })?;
            pool.install(job);
        }
    }
    Ok(())
}

fn isa_supported(isa: KernelIsa) -> bool {
    match isa {
        KernelIsa::Portable => true,
        wanted => {
            let best = detected_isa();
            matches!(
                (wanted, best),
                (KernelIsa::Avx2Fma, KernelIsa::Avx2Fma | KernelIsa::Avx512)
                    | (KernelIsa::Avx512, KernelIsa::Avx512)
            )
        }
    }
}

/// Options per cache block of the single-threaded loop.
const CACHE_BLOCK: usize = 2048;

/// Rows outside the kernel's domain (invalid inputs or σ√T = 0) are re-priced by the scalar reference.
fn patch_uncovered_rows(
    inputs: &InputSlices<'_>,
    out: &mut OutputSlices<'_>,
    first_row: usize,
    errors: &mut Vec<(usize, PricingError)>,
) {
    for i in 0..inputs.sign.len() {
        let (sign, spot, strike) = (inputs.sign[i], inputs.spot[i], inputs.strike[i]);
        let (expiry_years, vol) = (inputs.expiry_years[i], inputs.vol[i]);
        let (rate, dividend) = (inputs.rate[i], inputs.dividend[i]);
        let sign_valid = sign == 1.0 || sign == -1.0;
        let covered = spot > 0.0
            && strike > 0.0
            && expiry_years > 0.0
            && vol > 0.0
            && (spot + strike + expiry_years + vol + rate + dividend).is_finite()
            && sign_valid
            && scales_in_range(spot, strike, expiry_years, vol, rate, dividend);
        if covered {
            continue;
        }
        let kind = if sign > 0.0 {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        let option = BsInputs {
            spot,
            strike,
            expiry_years,
            vol,
            rate,
            dividend,
        };
        let result = if sign_valid {
            black_scholes(kind, &option)
        } else {
            Err(PricingError::InvalidInput {
                field: "type",
                reason: "must be +1 (call) or -1 (put)",
            })
        };
        let values = match result {
            Ok(g) => [g.price, g.delta, g.gamma, g.vega, g.theta, g.rho],
            Err(e) => {
                errors.push((first_row + i, e));
                [f64::NAN; 6]
            }
        };
        out.price[i] = values[0];
        out.delta[i] = values[1];
        out.gamma[i] = values[2];
        out.vega[i] = values[3];
        out.theta[i] = values[4];
        out.rho[i] = values[5];
    }
}

struct InputSlices<'a> {
    sign: &'a [f64],
    spot: &'a [f64],
    strike: &'a [f64],
    expiry_years: &'a [f64],
    vol: &'a [f64],
    rate: &'a [f64],
    dividend: &'a [f64],
}

impl<'a> InputSlices<'a> {
    fn new(b: &'a OptionBatch, start: usize, len: usize) -> Self {
        let r = start..start + len;
        InputSlices {
            sign: &b.sign[r.clone()],
            spot: &b.spot[r.clone()],
            strike: &b.strike[r.clone()],
            expiry_years: &b.expiry_years[r.clone()],
            vol: &b.vol[r.clone()],
            rate: &b.rate[r.clone()],
            dividend: &b.dividend[r],
        }
    }
}

struct OutputSlices<'a> {
    price: &'a mut [f64],
    delta: &'a mut [f64],
    gamma: &'a mut [f64],
    vega: &'a mut [f64],
    theta: &'a mut [f64],
    rho: &'a mut [f64],
}

impl<'a> OutputSlices<'a> {
    fn whole(out: &'a mut GreeksBatch) -> Self {
        OutputSlices {
            price: &mut out.price,
            delta: &mut out.delta,
            gamma: &mut out.gamma,
            vega: &mut out.vega,
            theta: &mut out.theta,
            rho: &mut out.rho,
        }
    }

    fn range(&mut self, start: usize, end: usize) -> OutputSlices<'_> {
        OutputSlices {
            price: &mut self.price[start..end],
            delta: &mut self.delta[start..end],
            gamma: &mut self.gamma[start..end],
            vega: &mut self.vega[start..end],
            theta: &mut self.theta[start..end],
            rho: &mut self.rho[start..end],
        }
    }

    fn reborrow(&mut self) -> OutputSlices<'_> {
        self.range(0, self.price.len())
    }
}

/// Runs the kernel over one block; returns true when every row was inside the kernel's domain.
fn run_kernel(isa: KernelIsa, inputs: &InputSlices<'_>, outputs: OutputSlices<'_>) -> bool {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa_supported` confirmed at run time that this CPU has AVX-512F.
        KernelIsa::Avx512 => unsafe { kernel_avx512(inputs, outputs) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa_supported` confirmed at run time that this CPU has AVX2 and FMA.
        KernelIsa::Avx2Fma => unsafe { kernel_avx2_fma(inputs, outputs) },
        _ => kernel_loop::<false>(inputs, outputs),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn kernel_avx512(inputs: &InputSlices<'_>, outputs: OutputSlices<'_>) -> bool {
    kernel_loop::<true>(inputs, outputs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn kernel_avx2_fma(inputs: &InputSlices<'_>, outputs: OutputSlices<'_>) -> bool {
    kernel_loop::<true>(inputs, outputs)
}

#[inline(always)]
fn kernel_loop<const FMA: bool>(i: &InputSlices<'_>, o: OutputSlices<'_>) -> bool {
    let n = o.price.len();
    let (sign, spot, strike) = (&i.sign[..n], &i.spot[..n], &i.strike[..n]);
    let (expiry, vol, rate, dividend) = (
        &i.expiry_years[..n],
        &i.vol[..n],
        &i.rate[..n],
        &i.dividend[..n],
    );
    let (price, delta, gamma) = (&mut o.price[..n], &mut o.delta[..n], &mut o.gamma[..n]);
    let (vega, theta, rho) = (&mut o.vega[..n], &mut o.theta[..n], &mut o.rho[..n]);
    let mut uncovered = 0_u64;
    for k in 0..n {
        let g = lane::<FMA>(
            sign[k],
            spot[k],
            strike[k],
            expiry[k],
            vol[k],
            rate[k],
            dividend[k],
        );
        price[k] = g[0];
        delta[k] = g[1];
        gamma[k] = g[2];
        vega[k] = g[3];
        theta[k] = g[4];
        rho[k] = g[5];
    }
    // The domain check in a loop of its own (the kernel's registers are all taken), branch-free so that it
    // vectorises: positive S, K, T, σ, finite inputs in range, and θ = ±1 (NaN fails every comparison).
    for k in 0..n {
        let finite = (spot[k] + strike[k] + expiry[k] + vol[k] + rate[k] + dividend[k]).abs()
            < f64::INFINITY;
        let inside = (spot[k] > 0.0)
            & (strike[k] > 0.0)
            & (expiry[k] > 0.0)
            & (vol[k] > 0.0)
            & finite
            & (sign[k].abs() == 1.0)
            & scales_in_range(spot[k], strike[k], expiry[k], vol[k], rate[k], dividend[k]);
        uncovered |= u64::from(!inside);
    }
    uncovered == 0
}

/// `a·b + c`, fused when the kernel is compiled for FMA hardware.
#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Price, delta, gamma, vega, theta, rho of one option, branch-free (selects only).
///
/// With `x = ln(F/K)`, `s = σ√T`, `a = |x|`: the two tail arguments `u_near = |a/s − s/2|` and
/// `u_far = a/s + s/2` are `|d₁|, |d₂|` in some order, and one Gaussian factor
/// `G = ½·e^{−(a²/s² + s²/4)/2}` gives both tails: `Φ(−u_near) = G·e^{a/2}·erfcx(u_near/√2)`,
/// `Φ(−u_far) = G·e^{−a/2}·erfcx(u_far/√2)`. The out-of-the-money call on `−a` is
/// `b = G·(E_near − E_far)` when `d₁ ≤ 0` and `e^{−a/2} − G·(E_near + E_far)` otherwise (the identity behind
/// Jäckel 2015, eq. 3.2); parity adds the intrinsic value.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lane<const FMA: bool>(
    sign: f64,
    spot: f64,
    strike: f64,
    expiry_years: f64,
    vol: f64,
    rate: f64,
    dividend: f64,
) -> [f64; 6] {
    let sqrt_t = expiry_years.sqrt();
    let s = vol * sqrt_t;
    let carry_t = (rate - dividend) * expiry_years;
    // One division for 1/s and 1/S (gamma needs the latter).
    let inverse_s_spot = 1.0 / (s * spot);
    let inv_s = spot * inverse_s_spot;
    let inv_spot = s * inverse_s_spot;
    // ln(S/K) without the rounding of the quotient (as `special::ln_ratio`): ln q + (S − q·K)/S.
    let quotient = spot / strike;
    let residual = if FMA {
        (-quotient).mul_add(strike, spot)
    } else {
        let (high, low) = two_product(quotient, strike);
        (spot - high) - low
    };
    let x = ln::<FMA>(quotient) + residual * inv_spot + carry_t;
    let a = x.abs();
    let half_s = 0.5 * s;
    let a_over_s = a * inv_s;
    let d1_reduced = half_s - a_over_s; // d₁ of the out-of-the-money call on −a
    let u_near = d1_reduced.abs();
    let u_far = a_over_s + half_s;
    let (e_near, e_far) = erfcx_pair_lane::<FMA>(u_near * FRAC_1_SQRT_2, u_far * FRAC_1_SQRT_2);
    let gauss = 0.5 * exp::<FMA>(-0.5 * madd::<FMA>(a_over_s, a_over_s, half_s * half_s));
    let df_q = exp::<FMA>(-dividend * expiry_years);
    let df_r = exp::<FMA>(-rate * expiry_years);
    let spot_q = spot * df_q;
    let discounted_strike = strike * df_r;
    // e^{±x/2} = √(S·e^{−qT}/(K·e^{−rT}))^{±1}: the divider and square-root unit are idle otherwise, while
    // another exp would load the multiply-add ports that bound this kernel.
    let root_forward_ratio = (spot_q / discounted_strike).sqrt(); // e^{x/2}
    let root_inverse_ratio = 1.0 / root_forward_ratio; // e^{−x/2}
    let growth = root_forward_ratio.max(root_inverse_ratio); // e^{a/2}
    let decay = root_forward_ratio.min(root_inverse_ratio); // e^{−a/2}
    let tail_near = gauss * growth * e_near; // Φ(−u_near)
    let tail_far = gauss * decay * e_far; // Φ(−u_far)
    let otm = if d1_reduced <= 0.0 {
        gauss * (e_near - e_far)
    } else {
        decay - gauss * (e_near + e_far)
    };
    let in_the_money = sign * x > 0.0;
    let normalised = if in_the_money {
        otm + (growth - decay)
    } else {
        otm
    };

    // d₁ = x/s + s/2 and d₂ = x/s − s/2: for x ≥ 0, d₁ = u_far and d₂ = −d1_reduced; for x < 0,
    // d₁ = d1_reduced and d₂ = −u_far.
    let positive_x = x >= 0.0;
    let d1 = if positive_x { u_far } else { d1_reduced };
    let d2 = if positive_x { -d1_reduced } else { -u_far };
    let tail_d1 = if positive_x { tail_far } else { tail_near }; // Φ(−|d₁|)
    let tail_d2 = if positive_x { tail_near } else { tail_far }; // Φ(−|d₂|)
    let cdf_sd1 = if sign * d1 <= 0.0 {
        tail_d1
    } else {
        1.0 - tail_d1
    }; // Φ(θd₁)
    let cdf_sd2 = if sign * d2 <= 0.0 {
        tail_d2
    } else {
        1.0 - tail_d2
    }; // Φ(θd₂)
       // φ(d₁) = 2G·e^{∓a/2}/√(2π), from e^{−d₁²/2} = e^{−(h² + t²)/2}·e^{x/2}.
    let pdf_d1 = 2.0 * FRAC_1_SQRT_2PI * gauss * if positive_x { decay } else { growth };

    // D·√(F·K) = e^{−rT}·e^{(r−q)T/2}·√(S·K) = √(e^{−qT}·S · e^{−rT}·K)
    let price = (spot_q * discounted_strike).sqrt() * normalised;
    let spot_pdf = spot_q * pdf_d1;
    let vega = spot_pdf * sqrt_t;
    let gamma = spot_pdf * inv_s * inv_spot * inv_spot;
    let delta = sign * df_q * cdf_sd1;
    // σ/(2√T) = σ²/(2s)
    let theta = -spot_pdf * (0.5 * vol * vol * inv_s) - sign * rate * discounted_strike * cdf_sd2
        + sign * dividend * spot * df_q * cdf_sd1;
    let rho = sign * discounted_strike * expiry_years * cdf_sd2;
    [price, delta, gamma, vega, theta, rho]
}

/// `(erfcx(y1), erfcx(y2))` for `y ≥ 0` from the same polynomial as [`crate::special::erfcx`], branch-free,
/// with one division for both arguments' `t = (y − K)/(y + K)` and `1/(1 + 2y)`.
#[inline(always)]
fn erfcx_pair_lane<const FMA: bool>(y1: f64, y2: f64) -> (f64, f64) {
    // Large y: t → 1 and the polynomial tends to 2/√π. Past 1e15 the caller's Gaussian factor is exactly 0,
    // so the clamp only keeps the products below finite.
    let (y1, y2) = (y1.min(1.0e15), y2.min(1.0e15));
    let (p1, p2) = (madd::<FMA>(2.0, y1, 1.0), madd::<FMA>(2.0, y2, 1.0));
    let (q1, q2) = ((y1 + ERFCX_CENTRE) * p1, (y2 + ERFCX_CENTRE) * p2);
    let inverse_both = 1.0 / (q1 * q2);
    let (inverse1, inverse2) = (q2 * inverse_both, q1 * inverse_both);
    let t1 = (y1 - ERFCX_CENTRE) * p1 * inverse1;
    let t2 = (y2 - ERFCX_CENTRE) * p2 * inverse2;
    let e1 = erfcx_series_lane::<FMA>(t1) * ((y1 + ERFCX_CENTRE) * inverse1);
    let e2 = erfcx_series_lane::<FMA>(t2) * ((y2 + ERFCX_CENTRE) * inverse2);
    (e1, e2)
}

/// [`crate::special::erfcx_series`] with fused multiply-adds where the hardware has them.
#[inline(always)]
fn erfcx_series_lane<const FMA: bool>(t: f64) -> f64 {
    let a = &ERFCX_POWERS;
    let t2 = t * t;
    let t4 = t2 * t2;
    let t8 = t4 * t4;
    let t16 = t8 * t8;
    let p = |k: usize| madd::<FMA>(a[k + 1], t, a[k]);
    let q = |k: usize| madd::<FMA>(p(k + 2), t2, p(k));
    let r = |k: usize| madd::<FMA>(q(k + 4), t4, q(k));
    let low = madd::<FMA>(r(8), t8, r(0));
    let high = madd::<FMA>(a[24], t8, r(16));
    madd::<FMA>(high, t16, low)
}

const EXP_MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer in the low bits
const LN_2_HIGH: f64 = 0.693_147_180_369_123_8; // ln 2 with its low 32 bits cleared (Cody–Waite split)
const LN_2_LOW: f64 = 1.908_214_929_270_587_7e-10;

/// `e^x`, branch-free: `x = n·ln2 + r`, |r| ≤ ln2/2, Taylor series of degree 13 for e^r (truncation below
/// 2e-16 relative), times 2^n assembled in the exponent bits. Underflows to 0 below −745, saturates to +∞
/// above 709.8.
#[inline(always)]
fn exp<const FMA: bool>(x: f64) -> f64 {
    let x = x.clamp(-746.0, 710.0);
    let shifted = madd::<FMA>(x, LOG2_E, EXP_MAGIC);
    let n = shifted - EXP_MAGIC;
    let r = madd::<FMA>(-n, LN_2_LOW, madd::<FMA>(-n, LN_2_HIGH, x));
    // Horner on the Taylor coefficients 1/k!.
    let mut p = 1.0 / 6_227_020_800.0;
    for inverse_factorial in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = madd::<FMA>(p, r, inverse_factorial);
    }
    // 2^n as two factors so that n down to −1075 (subnormal results) and up to 1024 (∞) both work.
    let n_bits = shifted.to_bits().wrapping_sub(EXP_MAGIC.to_bits()) as i64;
    let half = n_bits >> 1;
    let first = f64::from_bits(((half + 1023) as u64) << 52);
    let second = f64::from_bits(((n_bits - half + 1023) as u64) << 52);
    p * first * second
}

/// `ln x` for finite `x > 0` (normal range), branch-free: `x = m·2^e` with `m ∈ [√½, √2)`,
/// `ln m = 2·atanh(f)`, `f = (m − 1)/(m + 1)`, |f| ≤ 0.1716, series to f²³ (truncation below 1e-17).
#[inline(always)]
fn ln<const FMA: bool>(x: f64) -> f64 {
    let bits = x.to_bits();
    let exponent_field = (bits >> 52) & 0x7ff;
    let mantissa = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = mantissa > std::f64::consts::SQRT_2;
    let m = if big { 0.5 * mantissa } else { mantissa };
    // exponent as f64 without an int→float conversion instruction: 2^52 + field, read as a double.
    let exponent = f64::from_bits(0x4330_0000_0000_0000 | exponent_field)
        - (4_503_599_627_370_496.0 + 1023.0)
        + if big { 1.0 } else { 0.0 };
    let f = (m - 1.0) / (m + 1.0);
    let f2 = f * f;
    let mut p = 1.0 / 23.0;
    for odd in [21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
        p = madd::<FMA>(p, f2, 1.0 / odd);
    }
    madd::<FMA>(
        exponent,
        LN_2_HIGH,
        madd::<FMA>(exponent, LN_2_LOW, 2.0 * f * p),
    )
}

/// Normalised Black prices `b(x_k, s_k, θ)` (Jäckel 2015, eq. 2.3; [`crate::black::normalised_black`]) of one
/// option kind at many points `x_k = ln(F_k/K_k)`, `s_k = σ_k√T_k ≥ 0`, into `out`, with each point's
/// `e^{x_k/2}` (= √(F_k/K_k), to a few ulps; not checked) given in `root_ratio`: the points of one option's risk
/// array are its forward moved by factors `1 + m`, so `e^{x/2} = e^{x₀/2}·√(1 + m)` is a product of shared
/// factors where the kernel would otherwise spend an exponential.
///
/// Branch-free, with this module's polynomial `exp` and `erfcx`, in the two-region form of [`price_batch`]:
/// the out-of-the-money part is the difference of its two terms `e^{∓|x|/2}·Φ(·)` below the money
/// (`d₁ ≤ 0`) and `e^{−|x|/2}` minus the complement beyond, where the scalar function switches to the `erf`
/// series for `s < 0.7`. So it agrees with the scalar reference to a few units in the 14th significant digit
/// of the larger of the price and those terms (to the last digits far out of the money, to ~1e-16 of
/// `e^{−|x|/2}` near the money). Products and sums are never fused, so the AVX2 build and the portable one
/// give the same bits. Points with `s = 0` (and finite `x`) are priced by the scalar function; points with a
/// negative or non-finite `s`, a non-finite `x` or a `root_ratio` outside (0, ∞) get NaN.
///
/// Errors when `x`, `s` or `root_ratio` is not as long as `out`.
pub fn normalised_black_batch(
    kind: OptionKind,
    x: &[f64],
    s: &[f64],
    root_ratio: &[f64],
    out: &mut [f64],
) -> Result<(), PricingError> {
    let n = out.len();
    for (field, len) in [
        ("x", x.len()),
        ("s", s.len()),
        ("root_ratio", root_ratio.len()),
    ] {
        if len != n {
            return Err(PricingError::InvalidInput {
                field,
                reason: "length differs from the output's",
            });
        }
    }
    let theta = kind.sign();
    let covered = {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                unsafe { normalised_kernel_avx2(theta, x, s, root_ratio, out) }
            } else {
                normalised_kernel(theta, x, s, root_ratio, out)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            normalised_kernel(theta, x, s, root_ratio, out)
        }
    };
    if !covered {
        for k in 0..n {
            if !normalised_inside(x[k], s[k], root_ratio[k]) {
                out[k] = if x[k].is_finite() && s[k] == 0.0 {
                    crate::black::normalised_black(x[k], 0.0, kind)
                } else {
                    f64::NAN
                };
            }
        }
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn normalised_kernel_avx2(theta: f64, x: &[f64], s: &[f64], r: &[f64], out: &mut [f64]) -> bool {
    normalised_kernel(theta, x, s, r, out)
}

/// The points the kernel prices itself: finite `x`, `s` in (0, ∞), `e^{x/2}` in (0, ∞).
#[inline(always)]
fn normalised_inside(x: f64, s: f64, root_ratio: f64) -> bool {
    (x.abs() < f64::INFINITY)
        & (s > 0.0)
        & (s < f64::INFINITY)
        & (root_ratio > 0.0)
        & (root_ratio < f64::INFINITY)
}

/// Runs [`normalised_lane`] over every point; true when every point was inside its domain.
#[inline(always)]
fn normalised_kernel(theta: f64, x: &[f64], s: &[f64], r: &[f64], out: &mut [f64]) -> bool {
    let n = out.len();
    let (x, s, r) = (&x[..n], &s[..n], &r[..n]);
    for k in 0..n {
        out[k] = normalised_lane(theta, x[k], s[k], r[k]);
    }
    let mut uncovered = 0_u64;
    for k in 0..n {
        uncovered |= u64::from(!normalised_inside(x[k], s[k], r[k]));
    }
    uncovered == 0
}

/// `b(x, s, θ)` for `s > 0`, branch-free: the out-of-the-money call on `−|x|` with `h = −|x|/s`, `t = s/2`,
/// `d₁,₂ = h ± t`, `G = ½·e^{−(h² + t²)/2}` (as the scalar `otm_call_parts`), `G·(erfcx(−d₁/√2) −
/// erfcx(−d₂/√2))` for `d₁ ≤ 0`, `e^{−|x|/2} − G·(erfcx(d₁/√2) + erfcx(−d₂/√2))` beyond; parity adds the
/// intrinsic value `2·sinh(|x|/2)` in the money.
#[inline(always)]
fn normalised_lane(theta: f64, x: f64, s: f64, root_ratio: f64) -> f64 {
    let a = x.abs();
    let inverse_ratio = 1.0 / root_ratio;
    let growth = root_ratio.max(inverse_ratio); // e^{a/2}
    let decay = root_ratio.min(inverse_ratio); // e^{−a/2}
    let h = -a / s;
    let t = 0.5 * s;
    let d1 = h + t;
    let d2 = h - t; // < 0
    let gauss = 0.5 * exp::<false>(-0.5 * (h * h + t * t));
    let (e_near, e_far) = erfcx_pair_lane::<false>(d1.abs() * FRAC_1_SQRT_2, -d2 * FRAC_1_SQRT_2);
    let otm = if d1 <= 0.0 {
        gauss * (e_near - e_far)
    } else {
        (decay - gauss * (e_near + e_far)).max(0.0)
    };
    // e^{a/2} − e^{−a/2}: a plain difference from |x| = 1 on (as the scalar path), the sinh series below,
    // where the difference would cancel.
    let intrinsic = if a >= 1.0 {
        growth - decay
    } else {
        2.0 * sinh_small(0.5 * a)
    };
    if theta * x > 0.0 {
        intrinsic + otm
    } else {
        otm
    }
}

/// `sinh y` for `0 ≤ y < ½` from its Maclaurin series to `y¹⁵/15!` (truncation below 5e-17 relative).
#[inline(always)]
fn sinh_small(y: f64) -> f64 {
    let y2 = y * y;
    let mut p = 1.0 / 1_307_674_368_000.0; // 1/15!
    for inverse_factorial in [
        1.0 / 6_227_020_800.0,
        1.0 / 39_916_800.0,
        1.0 / 362_880.0,
        1.0 / 5_040.0,
        1.0 / 120.0,
        1.0 / 6.0,
        1.0,
    ] {
        p = p * y2 + inverse_factorial;
    }
    y * p
}

/// Premiums whose implied volatilities are wanted, struct-of-arrays. All columns have the same length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IvBatch {
    /// +1 for a call, −1 for a put.
    pub sign: Vec<f64>,
    /// Premium, in the currency of spot and strike.
    pub price: Vec<f64>,
    /// Spot S.
    pub spot: Vec<f64>,
    /// Strike K.
    pub strike: Vec<f64>,
    /// Time to expiry T in years.
    pub expiry_years: Vec<f64>,
    /// Rate r.
    pub rate: Vec<f64>,
    /// Dividend / carry yield q.
    pub dividend: Vec<f64>,
}

/// Implied volatilities of every premium of `batch` into `out`, on up to `threads` threads (0 = all cores).
pub fn implied_vol_batch(
    batch: &IvBatch,
    out: &mut Vec<Result<f64, IvError>>,
    threads: usize,
) -> Result<(), PricingError> {
    let n = batch.sign.len();
    for (field, len) in [
        ("price", batch.price.len()),
        ("spot", batch.spot.len()),
        ("strike", batch.strike.len()),
        ("expiry_years", batch.expiry_years.len()),
        ("rate", batch.rate.len()),
        ("dividend", batch.dividend.len()),
    ] {
        if len != n {
            return Err(PricingError::InvalidInput {
                field,
                reason: "column length differs from `sign`",
            });
        }
    }
    out.clear();
    out.resize(n, Ok(0.0));
    let solve = |start: usize, chunk: &mut [Result<f64, IvError>]| {
        for (offset, slot) in chunk.iter_mut().enumerate() {
            let k = start + offset;
            let kind = if batch.sign[k] > 0.0 {
                OptionKind::Call
            } else {
                OptionKind::Put
            };
            *slot = implied_vol_black_scholes(
                kind,
                batch.price[k],
                batch.spot[k],
                batch.strike[k],
                batch.expiry_years[k],
                batch.rate[k],
                batch.dividend[k],
            );
        }
    };
    if threads == 1 || n < 2 * PARALLEL_CHUNK {
        solve(0, out);
        return Ok(());
    }
    let mut job = || {
        out.par_chunks_mut(PARALLEL_CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| solve(c * PARALLEL_CHUNK, chunk))
    };
    if threads == 0 {
        job();
    } else {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|_| PricingError::InvalidInput {
                field: "threads",
                reason: "cannot start a thread pool",
            })?
            .install(job);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_exp_and_ln_match_libm_to_a_few_ulps() {
        for k in 0..20_000 {
            let x = -740.0 + 1449.0 * (k as f64 / 20_000.0);
            let (want, got) = (x.exp(), exp::<false>(x));
            if want > f64::MIN_POSITIVE {
                assert!(
                    ((got - want) / want).abs() < 4.0 * f64::EPSILON,
                    "exp({x}) = {got:e}, libm {want:e}"
                );
            }
            let y = 10f64.powf(-300.0 + 600.0 * (k as f64 / 20_000.0));
            let (want, got) = (y.ln(), ln::<false>(y));
            assert!(
                (got - want).abs() <= 4.0 * f64::EPSILON * want.abs().max(1.0),
                "ln({y:e})"
            );
        }
        assert_eq!(exp::<false>(-800.0), 0.0);
        assert_eq!(exp::<false>(800.0), f64::INFINITY);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn normalised_kernel_avx2_and_portable_give_the_same_bits() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let n = 4_099; // not a multiple of the vector width: the remainder loop is checked too
        let s: Vec<f64> = (0..n)
            .map(|k| 1e-3 + 3.0 * ((k * 7919) % n) as f64 / n as f64)
            .collect();
        let x: Vec<f64> = (0..n)
            .map(|k| 20.0 * ((k * 104_729) % n) as f64 / n as f64 - 10.0)
            .collect();
        let r: Vec<f64> = x.iter().map(|x| (0.5 * x).exp()).collect();
        for theta in [1.0, -1.0] {
            let (mut portable, mut wide) = (vec![0.0; n], vec![0.0; n]);
            assert!(normalised_kernel(theta, &x, &s, &r, &mut portable));
            // SAFETY: the CPU has AVX2 (checked above).
            assert!(unsafe { normalised_kernel_avx2(theta, &x, &s, &r, &mut wide) });
            for k in 0..n {
                assert_eq!(
                    portable[k].to_bits(),
                    wide[k].to_bits(),
                    "x {} s {}",
                    x[k],
                    s[k]
                );
            }
        }
    }
}
