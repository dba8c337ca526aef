#!/usr/bin/env python3
"""Independent high-precision reference for rtm2m-pricing: generalised Black–Scholes prices, Greeks and
implied volatilities, written as CSV files under crates/rtm2m-pricing/tests/golden/.

The reference is independent of the library's formulas on purpose:
  * prices come from the textbook formula  V = e^{-rT}·θ·[F·Φ(θd₁) − K·Φ(θd₂)],  F = S·e^{(r−q)T},
    evaluated in mpmath far beyond double precision, so cancellation and tail loss are irrelevant;
  * every Greek is a numerical derivative (mpmath `diff`, central differences at raised precision) of that
    price function, NOT a closed-form Greek. The closed forms (Haug, "The Complete Guide to Option Pricing
    Formulas", 2nd ed., §2.1–2.2) appear here only as a self-check that the differentiation kept its digits;
  * an implied volatility is the exact root, for the double-precision premium the library is given.

Output (all values from 60-digit arithmetic, written with 25 significant digits):
  bs_greeks.csv       type,spot,strike,expiry_years,vol,rate,dividend,price,delta,gamma,vega,theta,rho,
                      vanna,volga,charm
  iv_cases.csv        type,price,spot,strike,expiry_years,rate,dividend,vol_true,vega
  iv_no_solution.csv  type,price,spot,strike,expiry_years,rate,dividend,expected

Conventions (as in crates/rtm2m-pricing/src/conventions.rs): delta = ∂V/∂S, gamma = ∂²V/∂S²,
vega = ∂V/∂σ per 1.00 of vol, theta = −∂V/∂T per year, rho = ∂V/∂r with spot held, vanna = ∂²V/∂S∂σ,
volga = ∂²V/∂σ², charm = −∂²V/∂S∂T per year.

Deterministic: one seeded random.Random; every transformation of a random draw is done in mpmath (not the
platform's libm), so the files are byte-identical on every machine.

Run:  python3 tools/reference/gen_golden.py      (needs `pip install mpmath`; about a minute or two)
"""
import pathlib
import random
import sys

import mpmath as mp
from mpmath import libmp

SEED = 0x72746D326D  # "rtm2m"
REFERENCE_DPS = 40  # digits the reference is promised to
GUARD_DPS = 60  # digits the reference is computed with
WRITTEN_DIGITS = 25  # significant digits written to the files
INPUT_DIGITS = 10  # inputs are doubles that are short decimals: compact files, exact on both sides

GREEK_CASES = 3000
IV_CASES_CORE = 1500  # same domain as bs_greeks.csv
IV_CASES_WIDE = 1000  # log-moneyness up to ±6 standard deviations
IV_CASES_DEEP_ITM = 500  # in the money by 2.5 to 6 standard deviations
NO_SOLUTION_BELOW = 50
NO_SOLUTION_ABOVE = 50

# A premium below this fraction of spot is not a testable implied-volatility case: it is dropped. So is a
# premium whose time value (its distance to the discounted intrinsic value) or whose distance to the upper
# bound is below this fraction of spot or below IV_ULPS_RESOLVED ulps of the premium: within the 64 ulps of
# premium that the accuracy test allows, such a premium cannot be told from one with no implied vol at all.
PRICE_MIN_REL_SPOT = mp.mpf("1e-12")
IV_ULPS_RESOLVED = 64

GOLDEN = pathlib.Path(__file__).resolve().parents[2] / "crates" / "rtm2m-pricing" / "tests" / "golden"

# The domain (see tools/reference/README.md).
EXPIRY_MIN, EXPIRY_MAX = mp.mpf(1) / 8760, mp.mpf(3)  # one hour to three years
VOL_MIN, VOL_MAX = mp.mpf("0.05"), mp.mpf(3)
SPOT_MIN, SPOT_MAX = mp.mpf("1e-2"), mp.mpf("1e6")
RATE_MIN, RATE_MAX = mp.mpf(0), mp.mpf("0.1")
DIVIDEND_MIN, DIVIDEND_MAX = mp.mpf("-0.05"), mp.mpf("0.1")
Z_CORE = mp.mpf("2.5")
Z_WIDE = mp.mpf(6)
EDGE_PROBABILITY = 0.08


# ---------------------------------------------------------------------------------------------------------
# Sampling


def to_double(x):
    """The double nearest to the mpf x (mpf's own float() truncates)."""
    return libmp.to_float(mp.mpf(x)._mpf_, rnd="n")


def short_double(x):
    """x rounded to INPUT_DIGITS significant digits, as a double: short in the file, exact in both programs."""
    return float(mp.nstr(x, INPUT_DIGITS))


def uniform(rng, lo, hi):
    return lo + (hi - lo) * mp.mpf(rng.random())


def log_uniform(rng, lo, hi):
    return mp.exp(uniform(rng, mp.log(lo), mp.log(hi)))


def with_edges(rng, edges, draw):
    """One of the edge values now and then, a draw from the body otherwise."""
    if rng.random() < EDGE_PROBABILITY:
        return edges[rng.randrange(len(edges))]
    return draw()


def draw_market(rng, z_max, z_min=None, forced=None):
    """One option: (sign, S, K, T, σ, r, q) as doubles. K = F·e^{−z·σ√T}, so ln(F/K) = z standard deviations.

    With z_min, |z| is drawn from [z_min, z_max] and the sign makes the option in the money.
    `forced` overrides single draws (for the corner grid)."""
    forced = forced or {}
    sign = forced.get("sign", 1 if rng.random() < 0.5 else -1)
    spot = forced.get("spot") or with_edges(rng, [SPOT_MIN, SPOT_MAX], lambda: log_uniform(rng, SPOT_MIN, SPOT_MAX))
    expiry = forced.get("expiry") or with_edges(
        rng, [EXPIRY_MIN, EXPIRY_MAX], lambda: log_uniform(rng, EXPIRY_MIN, EXPIRY_MAX)
    )
    vol = forced.get("vol") or with_edges(rng, [VOL_MIN, VOL_MAX], lambda: log_uniform(rng, VOL_MIN, VOL_MAX))
    rate = with_edges(rng, [RATE_MIN, RATE_MAX], lambda: uniform(rng, RATE_MIN, RATE_MAX))
    dividend = with_edges(
        rng, [DIVIDEND_MIN, mp.mpf(0), DIVIDEND_MAX], lambda: uniform(rng, DIVIDEND_MIN, DIVIDEND_MAX)
    )
    if "z" in forced:
        z = forced["z"]
    elif z_min is None:
        z = with_edges(rng, [-z_max, mp.mpf(0), z_max], lambda: uniform(rng, -z_max, z_max))
    else:
        z = sign * with_edges(rng, [z_min, z_max], lambda: uniform(rng, z_min, z_max))
    spot, expiry, vol = short_double(spot), short_double(expiry), short_double(vol)
    rate, dividend = short_double(rate), short_double(dividend)
    forward = mp.mpf(spot) * mp.exp((mp.mpf(rate) - mp.mpf(dividend)) * mp.mpf(expiry))
    strike = short_double(forward * mp.exp(-z * mp.mpf(vol) * mp.sqrt(mp.mpf(expiry))))
    return sign, spot, strike, expiry, vol, rate, dividend


# ---------------------------------------------------------------------------------------------------------
# The model, at whatever precision mpmath is set to


def bs_price(sign, spot, strike, expiry, vol, rate, dividend):
    """Generalised Black–Scholes (Black & Scholes 1973; Merton 1973), textbook form, no reductions."""
    stddev = vol * mp.sqrt(expiry)
    forward = spot * mp.exp((rate - dividend) * expiry)
    d1 = mp.log(forward / strike) / stddev + stddev / 2
    d2 = d1 - stddev
    return mp.exp(-rate * expiry) * sign * (forward * mp.ncdf(sign * d1) - strike * mp.ncdf(sign * d2))


def numerical_greeks(sign, s, k, t, v, r, q):
    """Price and the eight Greeks by numerical differentiation of bs_price (mpmath central differences:
    `diff` raises the working precision to (prec + 20)·(order + 1) bits and steps 2^−(prec+10) relative)."""
    def price(s_=s, t_=t, v_=v, r_=r):
        return bs_price(sign, s_, k, t_, v_, r_, q)

    return {
        "price": price(),
        "delta": mp.diff(lambda x: price(s_=x), s, relative=True),
        "gamma": mp.diff(lambda x: price(s_=x), s, 2, relative=True),
        "vega": mp.diff(lambda x: price(v_=x), v, relative=True),
        "theta": -mp.diff(lambda x: price(t_=x), t, relative=True),
        # The rate may be exactly zero: an absolute step (2^−(prec+10) against |r| ≤ 0.1).
        "rho": mp.diff(lambda x: price(r_=x), r),
        "vanna": mp.diff(lambda x, y: price(s_=x, v_=y), (s, v), (1, 1), relative=True),
        "volga": mp.diff(lambda x: price(v_=x), v, 2, relative=True),
        "charm": -mp.diff(lambda x, y: price(s_=x, t_=y), (s, t), (1, 1), relative=True),
    }


def closed_form_greeks(sign, s, k, t, v, r, q):
    """Haug (2007), §2.1 (generalised Black–Scholes–Merton with carry b = r − q) and §2.2 (Greeks).
    Used only to check the numerical derivatives; never written to a file."""
    sqrt_t = mp.sqrt(t)
    stddev = v * sqrt_t
    carry = r - q
    d1 = (mp.log(s / k) + (carry + v * v / 2) * t) / stddev
    d2 = d1 - stddev
    df_q, df_r = mp.exp(-q * t), mp.exp(-r * t)
    pdf_d1 = mp.npdf(d1)
    cdf_d1, cdf_d2 = mp.ncdf(sign * d1), mp.ncdf(sign * d2)
    vega = s * df_q * pdf_d1 * sqrt_t
    return {
        "price": sign * (s * df_q * cdf_d1 - k * df_r * cdf_d2),
        "delta": sign * df_q * cdf_d1,
        "gamma": df_q * pdf_d1 / (s * stddev),
        "vega": vega,
        "theta": -s * df_q * pdf_d1 * v / (2 * sqrt_t) - sign * r * k * df_r * cdf_d2 + sign * q * s * df_q * cdf_d1,
        "rho": sign * k * t * df_r * cdf_d2,
        "vanna": -df_q * pdf_d1 * d2 / v,
        "volga": vega * d1 * d2 / v,
        "charm": sign * q * df_q * cdf_d1 - df_q * pdf_d1 * (2 * carry * t - d2 * stddev) / (2 * t * stddev),
    }


def bs_vega(s, k, t, v, r, q):
    """∂V/∂σ per 1.00 of vol (the same for calls and puts); only sets the implied-vol test's tolerance."""
    stddev = v * mp.sqrt(t)
    d1 = (mp.log(s / k) + (r - q + v * v / 2) * t) / stddev
    return s * mp.exp(-q * t) * mp.npdf(d1) * mp.sqrt(t)


def discounted_intrinsic(sign, s, k, t, r, q):
    return mp.exp(-r * t) * max(sign * (s * mp.exp((r - q) * t) - k), 0)


def upper_bound(sign, s, k, t, r, q):
    """The premium reached as σ → ∞: S·e^{−qT} for a call, K·e^{−rT} for a put."""
    return s * mp.exp(-q * t) if sign > 0 else k * mp.exp(-r * t)


# ---------------------------------------------------------------------------------------------------------
# Files


def fmt(x):
    """WRITTEN_DIGITS significant digits, always in exponent form."""
    return mp.nstr(x, WRITTEN_DIGITS, min_fixed=0, max_fixed=0)


def kind_name(sign):
    return "call" if sign > 0 else "put"


def mpf_inputs(*doubles):
    return [mp.mpf(x) for x in doubles]


GREEK_NAMES = ["price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm"]


def make_bs_greeks(rng):
    """bs_greeks.csv: a corner grid (every expiry, vol and moneyness edge, both kinds), then random draws."""
    corners = [
        {"sign": sign, "expiry": t, "vol": v, "z": z}
        for sign in (1, -1)
        for t in (EXPIRY_MIN, EXPIRY_MAX)
        for v in (VOL_MIN, VOL_MAX)
        for z in (-Z_CORE, mp.mpf(0), Z_CORE)
    ]
    rows, worst_self_check = [], mp.mpf(0)
    for i in range(GREEK_CASES):
        forced = corners[i] if i < len(corners) else None
        sign, *inputs = draw_market(rng, Z_CORE, forced=forced)
        with mp.workdps(GUARD_DPS):
            args = mpf_inputs(*inputs)
            numeric = numerical_greeks(sign, *args)
            closed = closed_form_greeks(sign, *args)
            for name in GREEK_NAMES:
                rel = abs(numeric[name] - closed[name]) / abs(closed[name])
                worst_self_check = max(worst_self_check, rel)
                assert rel < mp.mpf("1e-20"), (name, sign, inputs, numeric[name], closed[name])
            assert numeric["price"] > 0
            rows.append([kind_name(sign)] + [repr(x) for x in inputs] + [fmt(numeric[n]) for n in GREEK_NAMES])
    header = "type,spot,strike,expiry_years,vol,rate,dividend," + ",".join(GREEK_NAMES)
    return header, rows, worst_self_check


def implied_vol_exact(sign, price, s, k, t, r, q, guess):
    """The σ with bs_price(σ) = price exactly (price an mpf of a double), by secant iteration on ln V, which
    is smooth and of moderate slope in σ over the whole domain (unlike V itself for tiny premiums)."""
    target = mp.log(price)
    return mp.findroot(lambda v: mp.log(bs_price(sign, s, k, t, v, r, q)) - target, (guess, guess * (1 + mp.mpf("1e-6"))))


def make_iv_cases(rng):
    """iv_cases.csv: premiums rounded to doubles, with the exact implied vol of each double."""
    blocks = [(IV_CASES_CORE, Z_CORE, None), (IV_CASES_WIDE, Z_WIDE, None), (IV_CASES_DEEP_ITM, Z_WIDE, Z_CORE)]
    rows, dropped, worst_residual, smallest_price_rel = [], 0, mp.mpf(0), mp.inf
    for count, z_max, z_min in blocks:
        kept = 0
        while kept < count:
            sign, spot, strike, expiry, vol, rate, dividend = draw_market(rng, z_max, z_min)
            with mp.workdps(GUARD_DPS):
                s, k, t, v, r, q = mpf_inputs(spot, strike, expiry, vol, rate, dividend)
                price = to_double(bs_price(sign, s, k, t, v, r, q))
                p = mp.mpf(price)
                # Testable only if the premium, its time value and its distance to the upper bound are all
                # resolved by a double of this size.
                floor = PRICE_MIN_REL_SPOT * s
                resolved = max(floor, IV_ULPS_RESOLVED * mp.mpf(2) ** -52 * p)
                time_value = p - discounted_intrinsic(sign, s, k, t, r, q)
                headroom = upper_bound(sign, s, k, t, r, q) - p
                if p < floor or time_value < resolved or headroom < resolved:
                    dropped += 1
                    continue
                with mp.workdps(REFERENCE_DPS + 10):
                    vol_true = implied_vol_exact(sign, p, s, k, t, r, q, v)
                residual = abs(bs_price(sign, s, k, t, vol_true, r, q) / p - 1)
                assert residual < mp.mpf(10) ** -(REFERENCE_DPS - 2), (sign, spot, strike, expiry, vol, residual)
                worst_residual = max(worst_residual, residual)
                smallest_price_rel = min(smallest_price_rel, p / s)
                vega = bs_vega(s, k, t, vol_true, r, q)
                rows.append(
                    [kind_name(sign), "%.17g" % price]
                    + [repr(x) for x in (spot, strike, expiry, rate, dividend)]
                    + [fmt(vol_true), fmt(vega)]
                )
                kept += 1
    header = "type,price,spot,strike,expiry_years,rate,dividend,vol_true,vega"
    return header, rows, dropped, worst_residual, smallest_price_rel


def make_iv_no_solution(rng):
    """iv_no_solution.csv: premiums with no implied vol, each by a clear margin (≥ 1e-6 relative)."""
    rows = []
    for i in range(NO_SOLUTION_BELOW + NO_SOLUTION_ABOVE):
        below = i < NO_SOLUTION_BELOW
        # In the money by 0.2 to 6 standard deviations (below intrinsic needs a positive intrinsic value);
        # any moneyness for the upper bound.
        if below:
            sign, spot, strike, expiry, vol, rate, dividend = draw_market(rng, Z_WIDE, mp.mpf("0.2"))
        else:
            sign, spot, strike, expiry, vol, rate, dividend = draw_market(rng, Z_WIDE)
        with mp.workdps(GUARD_DPS):
            s, k, t, r, q = mpf_inputs(spot, strike, expiry, rate, dividend)
            margin = log_uniform(rng, mp.mpf("1e-6"), mp.mpf("0.5"))
            if below:
                intrinsic = discounted_intrinsic(sign, s, k, t, r, q)
                # A few premiums are negative (below any intrinsic value) and one is zero.
                if i % 10 == 9:
                    price = -margin * s
                elif i == 0:
                    price = mp.mpf(0)
                else:
                    price = intrinsic * (1 - margin)
                assert mp.mpf(to_double(price)) < intrinsic * (1 - mp.mpf("1e-6")) or price <= 0
                expected = "below_intrinsic"
            else:
                price = upper_bound(sign, s, k, t, r, q) * (1 + margin)
                expected = "above_upper_bound"
            rows.append(
                [kind_name(sign), "%.17g" % to_double(price)]
                + [repr(x) for x in (spot, strike, expiry, rate, dividend)]
                + [expected]
            )
    header = "type,price,spot,strike,expiry_years,rate,dividend,expected"
    return header, rows


def write_csv(name, header, rows):
    path = GOLDEN / name
    text = header + "\n" + "".join(",".join(row) + "\n" for row in rows)
    path.write_text(text, encoding="ascii", newline="\n")
    return path.stat().st_size


def main():
    mp.mp.dps = REFERENCE_DPS
    GOLDEN.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    header, rows, worst_self_check = make_bs_greeks(rng)
    size = write_csv("bs_greeks.csv", header, rows)
    iv_header, iv_rows, dropped, worst_residual, smallest = make_iv_cases(rng)
    size += write_csv("iv_cases.csv", iv_header, iv_rows)
    ns_header, ns_rows = make_iv_no_solution(rng)
    size += write_csv("iv_no_solution.csv", ns_header, ns_rows)
    print(
        f"gen_golden: {len(rows)} Greek cases (numerical vs closed-form Greeks agree to "
        f"{mp.nstr(worst_self_check, 2)} rel), {len(iv_rows)} implied-vol cases ({dropped} untestable draws "
        f"dropped, smallest premium {mp.nstr(smallest, 2)}·S, root residual {mp.nstr(worst_residual, 2)}), "
        f"{len(ns_rows)} no-solution cases; {size / 1e6:.2f} MB in {GOLDEN}"
    )


if __name__ == "__main__":
    sys.exit(main())
