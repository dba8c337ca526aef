//! Forwards per expiry: from a future where one exists, otherwise from put–call parity at the strikes with
//! the tightest implied forward spread (as Deribit builds its synthetic `SYN.*` forwards), otherwise
//! interpolated from the neighbours' basis.

use crate::quotes::{InstrumentQuote, PriceUnit};
use rtm2m_pricing::OptionKind;
use serde::Serialize;

/// Where an expiry's forward comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardSource {
    /// A dated future on the same expiry (its price from a `mark` event or the quotes' underlying).
    Future,
    /// The venue's own synthetic forward (Deribit's `SYN.*`), when preferred over our parity.
    VenueSynthetic,
    /// Put–call parity on this expiry's quotes.
    PutCallParity,
    /// The basis `ln(F/S)` interpolated in time between neighbouring expiries (or the forward itself
    /// when there is no index).
    Interpolated,
}

/// A forward with its source and, for parity, the relative width of the implied forward spread.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Forward {
    /// The forward, USD per coin.
    pub price: f64,
    /// Where it comes from.
    pub source: ForwardSource,
    /// Parity only: `(F_ask − F_bid)/F` at the tightest strike.
    pub spread_rel: Option<f64>,
}

/// At most this many strikes are averaged by the parity forward.
const PARITY_STRIKES_MAX: usize = 3;
/// Strikes whose implied forward spread is within this factor of the tightest are averaged.
const PARITY_SPREAD_FACTOR: f64 = 2.0;

/// The forward implied by put–call parity on one expiry's quotes (r = 0, so `C − P = F − K` in USD).
///
/// For coin-quoted premiums `c`, `p` (USD premium / F) parity reads `F·(c − p) = F − K`, so
/// `F = K/(1 − (c − p))`; for USD premiums `F = K + C − P`. Buying the call and selling the put costs the
/// ask of one and the bid of the other, so each strike with both sides of both options gives an interval
/// `[F_bid, F_ask]`; the forward is the mean of the mid-points of the strikes whose interval is narrowest
/// (at most three, within a factor two of the narrowest and overlapping it), weighted by the inverse squared
/// width.
/// `None` when no strike has a two-sided call and put.
pub fn parity_forward(quotes: &[&InstrumentQuote]) -> Option<Forward> {
    // (relative width, mid forward, F_bid, F_ask)
    let mut candidates: Vec<(f64, f64, f64, f64)> = Vec::new();
    for call in quotes.iter().filter(|q| q.kind == OptionKind::Call) {
        let Some(put) = quotes
            .iter()
            .find(|p| p.kind == OptionKind::Put && p.strike == call.strike && p.unit == call.unit)
        else {
            continue;
        };
        let (Some(cb), Some(ca), Some(pb), Some(pa)) = (
            call.live_bid(),
            call.live_ask(),
            put.live_bid(),
            put.live_ask(),
        ) else {
            continue;
        };
        if cb > ca || pb > pa {
            continue;
        }
        let k = call.strike;
        let forward_of = |c_minus_p: f64| match call.unit {
            PriceUnit::Coin => {
                let denominator = 1.0 - c_minus_p;
                (denominator > 0.0).then(|| k / denominator)
            }
            PriceUnit::Usd => {
                let f = k + c_minus_p;
                (f > 0.0).then_some(f)
            }
        };
        let (Some(lo), Some(hi)) = (forward_of(cb - pa), forward_of(ca - pb)) else {
            continue;
        };
        let Some(mid) = forward_of(0.5 * (cb + ca) - 0.5 * (pb + pa)) else {
            continue;
        };
        if !(lo.is_finite() && hi.is_finite() && mid.is_finite()) {
            continue;
        }
        candidates.push(((hi - lo) / mid, mid, lo, hi));
    }
    if candidates.is_empty() {
        return None;
    }
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (tightest, _, lo, hi) = candidates[0];
    let (mut sum, mut weight_sum) = (0.0, 0.0);
    for &(width, mid, l, h) in candidates.iter().take(PARITY_STRIKES_MAX) {
        // Only strikes that agree with the tightest: their intervals must overlap it (a strike whose
        // interval misses it quotes an arbitrage against it, or a stale price).
        if width > PARITY_SPREAD_FACTOR * tightest.max(1e-9) || h < lo || l > hi {
            continue;
        }
        let weight = 1.0 / (width.max(1e-9) * width.max(1e-9));
        sum += weight * mid;
        weight_sum += weight;
    }
    Some(Forward {
        price: sum / weight_sum,
        source: ForwardSource::PutCallParity,
        spread_rel: Some(tightest),
    })
}

/// Fills the missing forwards of one underlying's expiries (sorted by `expiry_years`) by interpolating the
/// basis `ln(F/S)` linearly in time between the nearest expiries that have one, and extrapolating with the
/// nearest one's annualised basis (with zero basis at `T = 0`). Without an index `S`, `ln F` itself is
/// interpolated and held flat beyond the ends. Expiries that still have none (no expiry has a forward) stay
/// `None`.
pub fn interpolate_forwards(
    expiry_years: &[f64],
    forwards: &mut [Option<Forward>],
    index: Option<f64>,
) {
    debug_assert_eq!(expiry_years.len(), forwards.len());
    let known: Vec<(f64, f64)> = expiry_years
        .iter()
        .zip(forwards.iter())
        .filter_map(|(&t, f)| f.map(|f| (t, f.price.ln())))
        .collect();
    if known.is_empty() {
        return;
    }
    let ln_s = index.filter(|s| *s > 0.0 && s.is_finite()).map(f64::ln);
    for (i, f) in forwards.iter_mut().enumerate() {
        if f.is_some() {
            continue;
        }
        let t = expiry_years[i];
        let after = known.iter().position(|&(tk, _)| tk > t);
        let ln_f = match (ln_s, after) {
            // Between two known expiries: linear in T (the basis ln F − ln S, or ln F alike).
            (_, Some(j)) if j > 0 => {
                let (t0, y0) = known[j - 1];
                let (t1, y1) = known[j];
                let u = (t - t0) / (t1 - t0);
                y0 + u * (y1 - y0)
            }
            (Some(ln_s), Some(_)) => {
                // Before the first: the first one's annualised basis.
                let (t1, y1) = known[0];
                ln_s + (y1 - ln_s) * t / t1
            }
            (Some(ln_s), None) => {
                let (tn, yn) = known[known.len() - 1];
                ln_s + (yn - ln_s) * t / tn
            }
            (None, Some(_)) => known[0].1,
            (None, None) => known[known.len() - 1].1,
        };
        *f = Some(Forward {
            price: ln_f.exp(),
            source: ForwardSource::Interpolated,
            spread_rel: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtm2m_market::Timestamp;
    use rtm2m_pricing::inverse::inverse_option;

    fn quote(kind: OptionKind, strike: f64, bid: f64, ask: f64) -> InstrumentQuote {
        InstrumentQuote {
            ts: Timestamp::UNIX_EPOCH,
            instrument: format!("BTC-X-{strike}-{kind:?}"),
            underlying: "BTC".into(),
            expiry: Timestamp::UNIX_EPOCH,
            strike,
            kind,
            unit: PriceUnit::Coin,
            bid: Some(bid),
            ask: Some(ask),
            bid_size: None,
            ask_size: None,
            venue_mark_iv: None,
            venue_forward: None,
            index_price: None,
        }
    }

    #[test]
    fn parity_recovers_the_forward_that_priced_coin_premiums() {
        let (f, t) = (71_234.5, 0.1);
        let mut quotes = Vec::new();
        for (strike, half_spread) in [(60_000.0, 0.004), (70_000.0, 0.0005), (80_000.0, 0.002)] {
            for kind in [OptionKind::Call, OptionKind::Put] {
                let p = inverse_option(kind, f, strike, t, 0.6)
                    .expect("valid")
                    .price_coin;
                quotes.push(quote(kind, strike, p - half_spread, p + half_spread));
            }
        }
        let refs: Vec<&InstrumentQuote> = quotes.iter().collect();
        let fwd = parity_forward(&refs).expect("pairs exist");
        assert_eq!(fwd.source, ForwardSource::PutCallParity);
        // Symmetric spreads leave the mid on the exact parity forward.
        assert!((fwd.price - f).abs() < 1e-6 * f, "{} vs {f}", fwd.price);
        // The tightest strike is 70k: c − p spans 4·0.0005 coin, dF/d(c − p) = F²/K, so the width is
        // 0.002·F/K = 0.0020353 relative; the other strikes are more than twice as wide and left out.
        let width = fwd.spread_rel.expect("parity gives a width");
        assert!((width - 0.002 * f / 70_000.0).abs() < 1e-6, "{width}");
    }

    #[test]
    fn missing_forwards_interpolate_the_basis_in_time() {
        let t = [0.1, 0.2, 0.4, 0.8];
        let s = 100.0;
        let at = |t: f64, rate: f64| Forward {
            price: s * (rate * t).exp(),
            source: ForwardSource::Future,
            spread_rel: None,
        };
        let mut f = [None, Some(at(0.2, 0.05)), None, Some(at(0.8, 0.10))];
        interpolate_forwards(&t, &mut f, Some(s));
        let ln_basis = |x: &Option<Forward>| (x.expect("filled").price / s).ln();
        // Before the first known: its annualised basis 5%: 0.005 at T = 0.1.
        assert!((ln_basis(&f[0]) - 0.005).abs() < 1e-12);
        // Between 0.2 (0.01) and 0.8 (0.08): at 0.4, one third of the way: 0.01 + 0.07/3.
        assert!((ln_basis(&f[2]) - (0.01 + 0.07 / 3.0)).abs() < 1e-12);
        assert_eq!(f[2].expect("filled").source, ForwardSource::Interpolated);
    }
}
