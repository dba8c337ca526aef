//! Units and conventions, in one place.
//!
//! Every number that crosses an API of this crate follows the rules below. Names carry units where a
//! mix-up is likely (`expiry_years`, `vega_usd_per_vol_point`, `theta_usd_per_day`, `price_coin`).
//!
//! ## Inputs
//! - **Time** `expiry_years`: years as a real number. The caller picks the day count; rtm2m's surface and
//!   margin code use ACT/365 (calendar days / 365, the convention that reproduces Deribit's mark IVs, with
//!   Deribit expiries at 08:00 UTC).
//! - **Volatility** `vol`: annualised, as a fraction (0.80 = 80%, "80 vol points").
//! - **Rates** `rate` (r) and `dividend` (q): continuously compounded, per year, as fractions. The carry is
//!   `b = r − q`; for crypto, q stands for the coin's own funding or staking yield. The forward is
//!   `F = S·e^{(r−q)T}` and the discount factor `D = e^{−rT}`.
//! - **Normalised Black**: `x = ln(F/K)`, `s = σ√T`, `θ = +1` for calls and `−1` for puts;
//!   `V = D·√(F·K)·b(x, s, θ)` (Jäckel, "Let's Be Rational", 2015).
//!
//! ## Greeks of [`crate::Greeks`] (generalised Black–Scholes, USD-settled)
//! | Greek | definition | unit |
//! |---|---|---|
//! | `price` | premium | currency of S and K |
//! | `delta` | ∂V/∂S | per unit of underlying |
//! | `gamma` | ∂²V/∂S² | per unit of underlying per unit of S |
//! | `vega` | ∂V/∂σ | per 1.00 of vol (divide by 100 for "per vol point") |
//! | `theta` | dV/dt = −∂V/∂T | per year, as calendar time passes (divide by 365 for per day) |
//! | `rho` | ∂V/∂r, spot held | per 1.00 of rate |
//! | `vanna` | ∂²V/∂S∂σ | delta per 1.00 of vol |
//! | `volga` | ∂²V/∂σ² | vega per 1.00 of vol |
//! | `charm` | dΔ/dt = −∂²V/∂S∂T | delta per year, as calendar time passes |
//!
//! The CLI's `rtm2m price` prints `price,delta,gamma,vega,theta,rho` in exactly these units.
//!
//! ## Coin-settled (inverse) options, as Deribit quotes them ([`crate::inverse`])
//! - The option pays `max(θ(S_T − K), 0)/S_T` coin: the USD payoff converted at the settlement price.
//!   Its premium **in coin** is the Black-76 USD premium on the forward divided by the forward:
//!   `price_coin = Black76(F, K, T, σ, D = 1)/F` (Deribit uses r = 0 and prices on the forward of the expiry,
//!   a future or a synthetic forward from put–call parity).
//! - **Greeks in Deribit's conventions**: `delta = θ·Φ(θd₁)` on the forward, *not* premium-adjusted (the
//!   premium-adjusted coin delta `delta − price_coin` is given separately for risk); `gamma = φ(d₁)/(F·σ√T)`
//!   per USD of forward; vega in **USD per 1 vol point** (`F·φ(d₁)·√T/100`); theta in **USD per calendar day**
//!   on a 365-day year (`−F·φ(d₁)·σ/(2√T)/365`); all computed on the forward with r = 0.
//! - Deribit expiries are at 08:00 UTC; `T = (expiry − now)/365 days`.
//!
//! ## Degenerate and impossible inputs
//! - `T = 0` or `σ = 0`: the limits as σ√T → 0⁺ (intrinsic value on the forward, discounted; gamma = +∞
//!   exactly at the money).
//! - `S ≤ 0`, `K ≤ 0`, `σ < 0`, `T < 0`, or any non-finite input: a [`crate::PricingError`] naming the field.
//! - Implied volatility of a premium with no solution: [`crate::IvError::BelowIntrinsic`] or
//!   [`crate::IvError::AboveUpperBound`], never NaN.
