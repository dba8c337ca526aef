//! Option quotes as the surface keeps them, and their implied volatilities.
//!
//! Deribit quotes coin-settled options in coin per option: the USD premium is `price_coin × F` on the
//! expiry's forward `F` (r = 0; see `docs/conventions.md`), so the implied volatility of a coin premium is the
//! Black-76 implied volatility of `price_coin·F` on `F`. Options quoted in USD (or a USD stablecoin) are
//! read as USD premiums. A quote that has no implied volatility is kept with its reason and left out of the
//! fit; it is never turned into a NaN.

use crate::SurfaceError;
use rtm2m_market::event::{OptionQuote, OptionType};
use rtm2m_market::Timestamp;
use rtm2m_pricing::{implied_vol_normalised, IvError, OptionKind};
use serde::Serialize;

/// The unit of a quote's prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceUnit {
    /// Coin of the underlying per option (Deribit's inverse options): USD premium / forward.
    Coin,
    /// USD (or a USD stablecoin) per option.
    Usd,
}

/// One instrument's latest quote, as the surface keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentQuote {
    /// When the quote was observed.
    pub ts: Timestamp,
    /// The venue's instrument name.
    pub instrument: String,
    /// The underlying asset (`BTC`).
    pub underlying: String,
    /// Expiry instant.
    pub expiry: Timestamp,
    /// Strike, USD.
    pub strike: f64,
    /// Call or put.
    pub kind: OptionKind,
    /// The unit of `bid`, `ask` and `venue_mark_price`.
    pub unit: PriceUnit,
    /// Best bid, in `unit` per option.
    pub bid: Option<f64>,
    /// Best ask, in `unit` per option.
    pub ask: Option<f64>,
    /// Size at the best bid, contracts.
    pub bid_size: Option<f64>,
    /// Size at the best ask, contracts.
    pub ask_size: Option<f64>,
    /// The venue's own mark IV (fraction), carried for comparison; never an input of the fit.
    pub venue_mark_iv: Option<f64>,
    /// The venue's forward for this expiry, USD, with its name (`BTC-27MAR26`, `SYN.BTC-7FEB26`).
    pub venue_forward: Option<(f64, Option<String>)>,
    /// The venue's spot index, USD.
    pub index_price: Option<f64>,
}

/// USD stablecoins whose option premiums are read as USD.
const USD_CURRENCIES: [&str; 3] = ["USD", "USDC", "USDT"];

impl InstrumentQuote {
    /// The quote of an `option_quote` event; an error names the field when the surface cannot use it.
    pub fn from_event(q: &OptionQuote) -> Result<InstrumentQuote, SurfaceError> {
        let unit = if q.price_currency == q.underlying {
            PriceUnit::Coin
        } else if USD_CURRENCIES.contains(&q.price_currency.as_str()) {
            PriceUnit::Usd
        } else {
            return Err(SurfaceError::Input {
                field: "price_currency",
                reason: format!(
                    "`{}` is neither the underlying `{}` nor a USD currency",
                    q.price_currency, q.underlying
                ),
            });
        };
        if !(q.strike.is_finite() && q.strike > 0.0) {
            return Err(SurfaceError::Input {
                field: "strike",
                reason: "must be a positive number".into(),
            });
        }
        Ok(InstrumentQuote {
            ts: q.ts,
            instrument: q.instrument.clone(),
            underlying: q.underlying.clone(),
            expiry: q.expiry,
            strike: q.strike,
            kind: match q.option_type {
                OptionType::Call => OptionKind::Call,
                OptionType::Put => OptionKind::Put,
            },
            unit,
            bid: q.bid,
            ask: q.ask,
            bid_size: q.bid_size,
            ask_size: q.ask_size,
            venue_mark_iv: q.mark_iv,
            venue_forward: q
                .underlying_price
                .filter(|f| f.is_finite() && *f > 0.0)
                .map(|f| (f, q.underlying_instrument.clone())),
            index_price: q.index_price.filter(|s| s.is_finite() && *s > 0.0),
        })
    }

    /// The live bid: present, finite, positive, and not at size zero.
    pub fn live_bid(&self) -> Option<f64> {
        live(self.bid, self.bid_size)
    }

    /// The live ask: present, finite, positive, and not at size zero.
    pub fn live_ask(&self) -> Option<f64> {
        live(self.ask, self.ask_size)
    }

    /// A premium in `unit` as USD on the forward `forward`.
    pub fn to_usd(&self, price: f64, forward: f64) -> f64 {
        match self.unit {
            PriceUnit::Coin => price * forward,
            PriceUnit::Usd => price,
        }
    }
}

fn live(price: Option<f64>, size: Option<f64>) -> Option<f64> {
    let p = price.filter(|p| p.is_finite() && *p > 0.0)?;
    match size {
        Some(s) if s.is_nan() || s <= 0.0 => None,
        _ => Some(p),
    }
}

/// Why a quote is not in the fit of its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// The expiry is not after the valuation time.
    Expired,
    /// Neither a bid nor an ask.
    NoQuote,
    /// A bid but no ask.
    BidOnly,
    /// An ask but no bid.
    AskOnly,
    /// A side is quoted at size zero (the side is treated as missing).
    ZeroSize,
    /// The bid is above the ask.
    Crossed,
    /// The bid is below the option's intrinsic value on the forward: no implied volatility.
    BidBelowIntrinsic,
    /// The ask is at or above the no-arbitrage upper bound: no implied volatility.
    AskAboveUpperBound,
    /// The mid has no implied volatility.
    MidWithoutIv,
    /// The expiry has no forward (no future, no parity pair, no neighbour to interpolate from).
    NoForward,
}

impl Exclusion {
    /// The reason as written in reports (`bid_only`, `crossed`, ...).
    pub fn code(self) -> &'static str {
        match self {
            Exclusion::Expired => "expired",
            Exclusion::NoQuote => "no_quote",
            Exclusion::BidOnly => "bid_only",
            Exclusion::AskOnly => "ask_only",
            Exclusion::ZeroSize => "zero_size",
            Exclusion::Crossed => "crossed",
            Exclusion::BidBelowIntrinsic => "bid_below_intrinsic",
            Exclusion::AskAboveUpperBound => "ask_above_upper_bound",
            Exclusion::MidWithoutIv => "mid_without_iv",
            Exclusion::NoForward => "no_forward",
        }
    }
}

/// A quote's implied volatilities on a forward and expiry (fractions), and whether the fit may use it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuoteIvs {
    /// `k = ln(K/F)`.
    pub k: f64,
    /// Implied volatility of the live bid, when it has one.
    pub bid_iv: Option<f64>,
    /// Implied volatility of the live ask, when it has one.
    pub ask_iv: Option<f64>,
    /// Implied volatility of the mid ([`Mid`]: the midpoint of the bid and ask implied volatilities, or the
    /// implied volatility of a mid price).
    pub mid_iv: Option<f64>,
    /// `None` when the fit may use the quote, else why not.
    pub exclusion: Option<Exclusion>,
    /// Normalised vega `φ(d₁)/φ(0)` at the mid volatility (0 without one).
    pub vega_rel: f64,
}

/// The implied volatility of a USD premium (normalised Black on the forward, r = 0).
fn iv_of(
    kind: OptionKind,
    price_usd: f64,
    forward: f64,
    strike: f64,
    sqrt_t: f64,
) -> Result<f64, IvError> {
    // β = V/√(F·K), x = ln(F/K) (Jäckel 2015, eq. 2.3).
    let beta = price_usd / (forward.sqrt() * strike.sqrt());
    let x = (forward / strike).ln();
    Ok(implied_vol_normalised(beta, x, kind)? / sqrt_t)
}

/// How the mid of a two-sided quote is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mid {
    /// The midpoint of the bid and ask implied volatilities (no inversion of a mid price).
    IvMidpoint,
    /// The implied volatility of `(bid + ask)/2`.
    Price,
    /// The implied volatility of `(bid·ask_size + ask·bid_size)/(bid_size + ask_size)` when both sizes are
    /// known, else of `(bid + ask)/2`.
    SizeWeightedPrice,
}

/// Implied volatilities of `q` on `forward` at `expiry_years`, with the exclusion reason.
pub fn quote_ivs(q: &InstrumentQuote, forward: f64, expiry_years: f64, mid: Mid) -> QuoteIvs {
    let k = (q.strike / forward).ln();
    let mut out = QuoteIvs {
        k,
        bid_iv: None,
        ask_iv: None,
        mid_iv: None,
        exclusion: None,
        vega_rel: 0.0,
    };
    if expiry_years.is_nan() || expiry_years <= 0.0 {
        out.exclusion = Some(Exclusion::Expired);
        return out;
    }
    let sqrt_t = expiry_years.sqrt();
    let (bid, ask) = (q.live_bid(), q.live_ask());
    let zero_size = q.bid_size == Some(0.0) || q.ask_size == Some(0.0);
    let iv = |p: f64| iv_of(q.kind, q.to_usd(p, forward), forward, q.strike, sqrt_t);
    let bid_iv = bid.map(iv);
    let ask_iv = ask.map(iv);
    out.bid_iv = bid_iv.and_then(Result::ok);
    out.ask_iv = ask_iv.and_then(Result::ok);
    out.exclusion = match (bid, ask) {
        (None, None) if zero_size => Some(Exclusion::ZeroSize),
        (None, None) => Some(Exclusion::NoQuote),
        (Some(_), None) if zero_size => Some(Exclusion::ZeroSize),
        (None, Some(_)) if zero_size => Some(Exclusion::ZeroSize),
        (Some(_), None) => Some(Exclusion::BidOnly),
        (None, Some(_)) => Some(Exclusion::AskOnly),
        (Some(b), Some(a)) if b > a => Some(Exclusion::Crossed),
        (Some(b), Some(a)) => {
            if out.bid_iv.is_none() {
                Some(match bid_iv {
                    Some(Err(IvError::AboveUpperBound)) => Exclusion::AskAboveUpperBound,
                    _ => Exclusion::BidBelowIntrinsic,
                })
            } else if out.ask_iv.is_none() {
                Some(Exclusion::AskAboveUpperBound)
            } else {
                let price = match (mid, q.bid_size, q.ask_size) {
                    (Mid::IvMidpoint, _, _) => None,
                    (Mid::SizeWeightedPrice, Some(bs), Some(as_)) if bs > 0.0 && as_ > 0.0 => {
                        Some((b * as_ + a * bs) / (bs + as_))
                    }
                    _ => Some(0.5 * (b + a)),
                };
                match price.map(iv) {
                    None => {
                        out.mid_iv = out.bid_iv.zip(out.ask_iv).map(|(b, a)| 0.5 * (b + a));
                        None
                    }
                    Some(Ok(v)) => {
                        out.mid_iv = Some(v);
                        None
                    }
                    Some(Err(_)) => Some(Exclusion::MidWithoutIv),
                }
            }
        }
    };
    if let Some(v) = out.mid_iv.or(out.ask_iv).or(out.bid_iv) {
        let s = v * sqrt_t;
        if s > 0.0 {
            let d1 = -k / s + 0.5 * s;
            out.vega_rel = (-0.5 * d1 * d1).exp();
        }
    }
    out
}

/// The first two-sided option quote, in stream order, of the middle expiry among the expiries that have
/// two-sided quotes in `events`: the quote the one-expiry refit benchmarks move a tick and back. `None`
/// when no quote is two-sided.
pub fn middle_expiry_quote(events: &[rtm2m_market::event::Event]) -> Option<&OptionQuote> {
    let two_sided = || {
        events.iter().filter_map(|e| match e {
            rtm2m_market::event::Event::OptionQuote(q) if q.bid.is_some() && q.ask.is_some() => {
                Some(q)
            }
            _ => None,
        })
    };
    let mut expiries: Vec<Timestamp> = two_sided().map(|q| q.expiry).collect();
    expiries.sort();
    expiries.dedup();
    let middle = *expiries.get(expiries.len() / 2)?;
    two_sided().find(|q| q.expiry == middle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtm2m_pricing::inverse::inverse_option;

    fn quote(bid: Option<f64>, ask: Option<f64>) -> InstrumentQuote {
        InstrumentQuote {
            ts: Timestamp::UNIX_EPOCH,
            instrument: "BTC-27MAR26-80000-C".into(),
            underlying: "BTC".into(),
            expiry: Timestamp::UNIX_EPOCH,
            strike: 80_000.0,
            kind: OptionKind::Call,
            unit: PriceUnit::Coin,
            bid,
            ask,
            bid_size: Some(1.0),
            ask_size: Some(2.0),
            venue_mark_iv: None,
            venue_forward: None,
            index_price: None,
        }
    }

    #[test]
    fn coin_premiums_invert_to_the_volatility_that_priced_them() {
        let (f, t) = (70_000.0, 0.25);
        let bid = inverse_option(OptionKind::Call, f, 80_000.0, t, 0.50)
            .expect("valid")
            .price_coin;
        let ask = inverse_option(OptionKind::Call, f, 80_000.0, t, 0.54)
            .expect("valid")
            .price_coin;
        let q = quote(Some(bid), Some(ask));
        let ivs = quote_ivs(&q, f, t, Mid::Price);
        assert!(ivs.exclusion.is_none());
        assert!((ivs.bid_iv.expect("bid iv") - 0.50).abs() < 1e-12);
        assert!((ivs.ask_iv.expect("ask iv") - 0.54).abs() < 1e-12);
        let mid = ivs.mid_iv.expect("mid iv");
        assert!(mid > 0.50 && mid < 0.54);
    }

    #[test]
    fn quotes_without_implied_volatility_carry_their_reason() {
        let (f, t) = (90_000.0, 0.25);
        // Intrinsic of the 80k call on a 90k forward is 10k USD = 0.111 coin: a bid of 0.05 is below it.
        let ivs = quote_ivs(&quote(Some(0.05), Some(0.2)), f, t, Mid::Price);
        assert_eq!(ivs.exclusion, Some(Exclusion::BidBelowIntrinsic));
        assert!(ivs.ask_iv.is_some() && ivs.bid_iv.is_none() && ivs.mid_iv.is_none());
        let ivs = quote_ivs(&quote(Some(0.2), Some(0.15)), f, t, Mid::Price);
        assert_eq!(ivs.exclusion, Some(Exclusion::Crossed));
        assert_eq!(
            quote_ivs(&quote(None, Some(0.15)), f, t, Mid::Price).exclusion,
            Some(Exclusion::AskOnly)
        );
        assert_eq!(
            quote_ivs(&quote(None, None), f, t, Mid::Price).exclusion,
            Some(Exclusion::NoQuote)
        );
        assert_eq!(
            quote_ivs(&quote(Some(0.12), Some(0.15)), f, 0.0, Mid::Price).exclusion,
            Some(Exclusion::Expired)
        );
        // A call's coin premium can never reach 1 coin (the forward): no ask IV.
        assert_eq!(
            quote_ivs(&quote(Some(0.12), Some(1.5)), f, t, Mid::Price).exclusion,
            Some(Exclusion::AskAboveUpperBound)
        );
        let mut zero = quote(Some(0.12), Some(0.15));
        zero.bid_size = Some(0.0);
        assert_eq!(
            quote_ivs(&zero, f, t, Mid::Price).exclusion,
            Some(Exclusion::ZeroSize)
        );
    }
}
