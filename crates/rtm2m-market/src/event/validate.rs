//! The range and consistency rules of every event, applied after parsing and before writing.

use super::{
    Bar, Book, Event, EventError, Funding, IndexUpdate, Level, Mark, OptionQuote, OracleUpdate,
    Pair, Quote, Trade, MAX_BOOK_LEVELS,
};

type Check = Result<(), EventError>;

fn err(field: &str, reason: impl Into<String>) -> Check {
    Err(EventError::new(field, reason))
}

/// Text for an error message: at most 40 characters, control characters escaped.
pub(crate) fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(40).flat_map(char::escape_debug).collect();
    if text.chars().nth(40).is_some() {
        out.push('…');
    }
    out
}

pub(crate) fn finite(field: &str, x: f64) -> Check {
    if x.is_finite() {
        Ok(())
    } else {
        err(field, "must be a finite number")
    }
}

pub(crate) fn non_negative(field: &str, x: f64) -> Check {
    finite(field, x)?;
    if x >= 0.0 {
        Ok(())
    } else {
        err(field, format!("must be ≥ 0, found {x}"))
    }
}

pub(crate) fn positive(field: &str, x: f64) -> Check {
    finite(field, x)?;
    if x > 0.0 {
        Ok(())
    } else {
        err(field, format!("must be > 0, found {x}"))
    }
}

fn optional(field: &str, x: Option<f64>, rule: fn(&str, f64) -> Check) -> Check {
    x.map_or(Ok(()), |x| rule(field, x))
}

/// Venue names: 1 to 32 characters of `a-z 0-9 . _ -`, so that one venue has one spelling.
pub(crate) fn venue(field: &str, name: &str) -> Check {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    if name.is_empty() {
        return err(field, "must not be empty");
    }
    if name.len() > 32 || !name.chars().all(ok) {
        return err(
            field,
            format!(
                "`{}` must be 1 to 32 lower-case letters, digits, `.`, `_` or `-`",
                shown(name)
            ),
        );
    }
    Ok(())
}

/// Instrument, underlying, publisher and feed names: 1 to `max_len` printable ASCII characters, no spaces.
pub(crate) fn name(field: &str, text: &str, max_len: usize) -> Check {
    if text.is_empty() {
        return err(field, "must not be empty");
    }
    if text.len() > max_len || !text.chars().all(|c| c.is_ascii_graphic()) {
        return err(
            field,
            format!(
                "`{}` must be 1 to {max_len} printable ASCII characters without spaces",
                shown(text)
            ),
        );
    }
    Ok(())
}

/// Currency and asset codes: 1 to 16 upper-case ASCII letters or digits (`BTC`, `USDT`).
pub(crate) fn code(field: &str, text: &str) -> Check {
    let ok = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit();
    if text.is_empty() || text.len() > 16 || !text.chars().all(ok) {
        return err(
            field,
            format!(
                "`{}` must be 1 to 16 upper-case letters or digits (e.g. BTC, USDT)",
                shown(text)
            ),
        );
    }
    Ok(())
}

pub(crate) fn pair(field: &str, pair: &Pair) -> Check {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 16
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    if ok(&pair.base) && ok(&pair.quote) {
        Ok(())
    } else {
        err(
            field,
            format!(
                "`{}/{}` is not BASE/QUOTE in upper-case letters or digits (e.g. BTC/USDT)",
                shown(&pair.base),
                shown(&pair.quote)
            ),
        )
    }
}

/// Bid and ask prices with their sizes: each ≥ 0, a size only with its price, bid ≤ ask.
fn two_sided(
    bid: Option<f64>,
    ask: Option<f64>,
    bid_size: Option<f64>,
    ask_size: Option<f64>,
) -> Check {
    optional("bid", bid, non_negative)?;
    optional("ask", ask, non_negative)?;
    optional("bid_size", bid_size, non_negative)?;
    optional("ask_size", ask_size, non_negative)?;
    if bid.is_none() && bid_size.is_some() {
        return err("bid_size", "is given without a bid");
    }
    if ask.is_none() && ask_size.is_some() {
        return err("ask_size", "is given without an ask");
    }
    if let (Some(bid), Some(ask)) = (bid, ask) {
        if bid > ask {
            return err("bid", format!("{bid} is above the ask {ask}"));
        }
    }
    Ok(())
}

fn quote(e: &Quote) -> Check {
    venue("venue", &e.venue)?;
    pair("symbol", &e.symbol)?;
    two_sided(e.bid, e.ask, e.bid_size, e.ask_size)?;
    if e.bid.is_none() && e.ask.is_none() {
        return err("bid", "a quote needs a bid, an ask or both");
    }
    Ok(())
}

fn trade(e: &Trade) -> Check {
    venue("venue", &e.venue)?;
    pair("symbol", &e.symbol)?;
    non_negative("price", e.price)?;
    non_negative("size", e.size)
}

fn bar(e: &Bar) -> Check {
    venue("venue", &e.venue)?;
    pair("symbol", &e.symbol)?;
    if e.interval_s == 0 {
        return err("interval_s", "must be > 0");
    }
    non_negative("open", e.open)?;
    non_negative("high", e.high)?;
    non_negative("low", e.low)?;
    non_negative("close", e.close)?;
    non_negative("volume", e.volume)?;
    if e.low > e.open.min(e.close) {
        return err(
            "low",
            format!(
                "{} is above the open {} or the close {}",
                e.low, e.open, e.close
            ),
        );
    }
    if e.high < e.open.max(e.close) {
        return err(
            "high",
            format!(
                "{} is below the open {} or the close {}",
                e.high, e.open, e.close
            ),
        );
    }
    Ok(())
}

fn option_quote(e: &OptionQuote) -> Check {
    venue("venue", &e.venue)?;
    name("instrument", &e.instrument, 64)?;
    name("underlying", &e.underlying, 32)?;
    positive("strike", e.strike)?;
    code("price_currency", &e.price_currency)?;
    two_sided(e.bid, e.ask, e.bid_size, e.ask_size)?;
    optional("bid_iv", e.bid_iv, non_negative)?;
    optional("ask_iv", e.ask_iv, non_negative)?;
    optional("mark_iv", e.mark_iv, non_negative)?;
    optional("mark_price", e.mark_price, non_negative)?;
    optional("underlying_price", e.underlying_price, positive)?;
    if let Some(instrument) = &e.underlying_instrument {
        name("underlying_instrument", instrument, 64)?;
    }
    optional("index_price", e.index_price, positive)?;
    optional("open_interest", e.open_interest, non_negative)
}

fn levels(side: &str, levels: &[Level], descending: bool) -> Check {
    if levels.len() > MAX_BOOK_LEVELS {
        return err(
            side,
            format!("has {} levels; at most {MAX_BOOK_LEVELS}", levels.len()),
        );
    }
    for (i, level) in levels.iter().enumerate() {
        let at = format!("{side}[{i}]");
        non_negative(&format!("{at}.price"), level.price)?;
        positive(&format!("{at}.size"), level.size)?;
        if i > 0 {
            let previous = levels[i - 1].price;
            let in_order = if descending {
                level.price < previous
            } else {
                level.price > previous
            };
            if !in_order {
                let order = if descending {
                    "descending"
                } else {
                    "ascending"
                };
                return err(
                    &at,
                    format!(
                        "price {} after {previous}: {side} must be strictly {order}",
                        level.price
                    ),
                );
            }
        }
    }
    Ok(())
}

fn book(e: &Book) -> Check {
    venue("venue", &e.venue)?;
    name("instrument", &e.instrument, 64)?;
    if let Some(currency) = &e.price_currency {
        code("price_currency", currency)?;
    }
    levels("bids", &e.bids, true)?;
    levels("asks", &e.asks, false)?;
    if let (Some(bid), Some(ask)) = (e.bids.first(), e.asks.first()) {
        if bid.price > ask.price {
            return err(
                "bids[0]",
                format!("best bid {} is above the best ask {}", bid.price, ask.price),
            );
        }
    }
    Ok(())
}

fn funding(e: &Funding) -> Check {
    venue("venue", &e.venue)?;
    pair("symbol", &e.symbol)?;
    finite("rate", e.rate)?;
    if e.period_s == 0 {
        return err("period_s", "must be > 0");
    }
    Ok(())
}

fn index(e: &IndexUpdate) -> Check {
    name("underlying", &e.underlying, 32)?;
    non_negative("price", e.price)?;
    non_negative("confidence", e.confidence)
}

fn oracle_update(e: &OracleUpdate) -> Check {
    name("publisher", &e.publisher, 128)?;
    name("feed", &e.feed, 64)?;
    finite("price", e.price)?;
    non_negative("confidence", e.confidence)?;
    let expected = e.scheme.signature_len();
    if e.signature.len() != expected {
        return err(
            "signature",
            format!(
                "has {} bytes; a {} signature has {expected}",
                e.signature.len(),
                super::wire::scheme_name(e.scheme)
            ),
        );
    }
    Ok(())
}

fn mark(e: &Mark) -> Check {
    venue("venue", &e.venue)?;
    name("instrument", &e.instrument, 64)?;
    code("price_currency", &e.price_currency)?;
    non_negative("price", e.price)
}

pub(crate) fn event(e: &Event) -> Check {
    match e {
        Event::Quote(e) => quote(e),
        Event::Trade(e) => trade(e),
        Event::Bar(e) => bar(e),
        Event::OptionQuote(e) => option_quote(e),
        Event::Book(e) => book(e),
        Event::Funding(e) => funding(e),
        Event::Index(e) => index(e),
        Event::OracleUpdate(e) => oracle_update(e),
        Event::Mark(e) => mark(e),
    }
}
