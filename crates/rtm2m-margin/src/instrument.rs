//! Instruments by name, in Deribit's naming, and the calendar arithmetic their expiries need.
//!
//! | name | instrument |
//! |---|---|
//! | `BTC-27MAR26-100000-C` | coin-settled European call (premium and payoff in BTC) |
//! | `BTC_USDC-27MAR26-100000-P` | USD-settled (linear) European put |
//! | `BTC-27MAR26` | dated future, linear in USD per coin |
//! | `BTC-PERPETUAL`, `BTC_USDC-PERPETUAL` | perpetual, linear in USD per coin |
//! | `BTC_USDC` | spot coin |
//!
//! Expiries are at 08:00 UTC of the named day (Deribit's convention); strikes may write a decimal point as `d`
//! (`2d5` = 2.5). Times are whole seconds since the Unix epoch, UTC.

use rtm2m_pricing::OptionKind;

/// How an option settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Settlement {
    /// Pays `max(θ(S_T − K), 0)/S_T` coin (Deribit's BTC and ETH options).
    Coin,
    /// Pays `max(θ(S_T − K), 0)` USD (Deribit's `_USDC` options).
    Usd,
}

/// What an instrument is.
#[derive(Debug, Clone, PartialEq)]
pub enum InstrumentKind {
    /// European option.
    Option {
        /// Expiry code as named, e.g. `27MAR26`; also the key of the expiry's forward.
        expiry_code: String,
        /// Expiry, seconds since the epoch (08:00 UTC of the named day).
        expiry_unix_s: i64,
        /// Strike, USD per coin.
        strike_usd: f64,
        /// Call or put.
        kind: OptionKind,
        /// Coin or USD settlement.
        settlement: Settlement,
    },
    /// Dated future on the expiry's forward, USD per coin.
    Future {
        /// Expiry code, the key of its forward.
        expiry_code: String,
        /// Expiry, seconds since the epoch.
        expiry_unix_s: i64,
    },
    /// Perpetual future, USD per coin.
    Perpetual,
    /// The coin itself.
    Spot,
}

/// A parsed instrument name.
#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    /// The name as given.
    pub name: String,
    /// Underlying coin, e.g. `BTC`.
    pub underlying: String,
    /// What it is.
    pub kind: InstrumentKind,
}

/// Seconds in a day.
pub const SECONDS_PER_DAY: i64 = 86_400;
/// Seconds in the 365-day year of ACT/365 (`docs/conventions.md`).
pub const SECONDS_PER_YEAR: f64 = 31_536_000.0;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-compatible low-level date
/// algorithms", `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parses a Deribit expiry code `DDMMMYY` (`27MAR26`, `5JAN26`) to 08:00 UTC of that day, seconds since epoch.
pub fn parse_expiry_code(code: &str) -> Result<i64, String> {
    let digits = code.chars().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&digits) || code.len() != digits + 5 || !code.is_ascii() {
        return Err(format!("expiry {code:?} is not DDMMMYY"));
    }
    let day: u32 = code[..digits]
        .parse()
        .map_err(|_| format!("expiry {code:?}: bad day"))?;
    let month = match &code[digits..digits + 3] {
        "JAN" => 1,
        "FEB" => 2,
        "MAR" => 3,
        "APR" => 4,
        "MAY" => 5,
        "JUN" => 6,
        "JUL" => 7,
        "AUG" => 8,
        "SEP" => 9,
        "OCT" => 10,
        "NOV" => 11,
        "DEC" => 12,
        other => return Err(format!("expiry {code:?}: unknown month {other:?}")),
    };
    let year: i64 = code[digits + 3..]
        .parse::<i64>()
        .map_err(|_| format!("expiry {code:?}: bad year"))?
        + 2000;
    if day == 0 || day > days_in_month(year, month) {
        return Err(format!("expiry {code:?}: no such day"));
    }
    Ok(days_from_civil(year, month, day) * SECONDS_PER_DAY + 8 * 3600)
}

/// Parses an RFC 3339 UTC time (`2026-01-05T15:33:29Z`, `2026-01-05T15:33:29.748+00:00`) to whole seconds
/// since the epoch (fractions of a second are dropped).
pub fn parse_utc(text: &str) -> Result<i64, String> {
    let bad = || format!("time {text:?} is not YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00)");
    let t = text.trim();
    let t = t
        .strip_suffix('Z')
        .or_else(|| t.strip_suffix("+00:00"))
        .ok_or_else(bad)?;
    let t = t.split('.').next().ok_or_else(bad)?;
    let b = t.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| t[r].parse::<i64>().map_err(|_| bad());
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > i64::from(days_in_month(year, month as u32)) {
        return Err(bad());
    }
    if h > 23 || m > 59 || s > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(year, month as u32, day as u32) * SECONDS_PER_DAY + h * 3600 + m * 60 + s)
}

fn parse_strike(text: &str) -> Result<f64, String> {
    let parsed = if text.contains('d') {
        text.replace('d', ".").parse::<f64>()
    } else {
        text.parse::<f64>()
    };
    let strike = parsed.map_err(|_| format!("strike {text:?} is not a number"))?;
    if strike.is_finite() && strike > 0.0 {
        Ok(strike)
    } else {
        Err(format!("strike {text:?} must be positive"))
    }
}

impl Instrument {
    /// Parses a Deribit-style name; the error says why the name is not an instrument.
    pub fn parse(name: &str) -> Result<Instrument, String> {
        // Up to four dash-separated parts (no Vec: this runs for every instrument of every market update);
        // a fifth makes the name match none of the shapes below.
        let mut fields = [""; 5];
        let mut count = 0;
        for part in name.split('-') {
            fields[count] = part;
            count += 1;
            if count == fields.len() {
                break;
            }
        }
        let parts = &fields[..count];
        let (coin, linear) = match parts[0].split_once('_') {
            Some((coin, "USDC" | "USDT" | "USD")) => (coin, true),
            Some(_) => return Err(format!("{name:?}: unknown quote currency")),
            None => (parts[0], false),
        };
        if coin.is_empty() || !coin.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("{name:?}: bad underlying {coin:?}"));
        }
        let kind = match parts {
            [_] if linear => InstrumentKind::Spot,
            [_, "PERPETUAL"] => InstrumentKind::Perpetual,
            [_, code] if !linear => InstrumentKind::Future {
                expiry_code: (*code).to_owned(),
                expiry_unix_s: parse_expiry_code(code)?,
            },
            [_, code, strike, cp] => InstrumentKind::Option {
                expiry_code: (*code).to_owned(),
                expiry_unix_s: parse_expiry_code(code)?,
                strike_usd: parse_strike(strike)?,
                kind: match *cp {
                    "C" => OptionKind::Call,
                    "P" => OptionKind::Put,
                    other => return Err(format!("{name:?}: option type {other:?} is not C or P")),
                },
                settlement: if linear {
                    Settlement::Usd
                } else {
                    Settlement::Coin
                },
            },
            _ => {
                return Err(format!(
                    "{name:?} is not an option, future, perpetual or spot name"
                ))
            }
        };
        Ok(Instrument {
            name: name.to_owned(),
            underlying: coin.to_owned(),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_codes_are_eight_utc_of_the_named_day() {
        // 2026-03-27 is day 20539 since 1970-01-01 (56 years incl. 14 leap days = 20454, + 85 days into 2026).
        assert_eq!(parse_expiry_code("27MAR26"), Ok(20_539 * 86_400 + 28_800));
        assert_eq!(parse_utc("1970-01-02T00:00:01Z"), Ok(86_401));
        assert_eq!(
            parse_utc("2026-03-27T08:00:00.5+00:00"),
            parse_expiry_code("27MAR26")
        );
        assert!(parse_expiry_code("30FEB26").is_err());
    }

    #[test]
    fn names_parse_to_kinds() {
        let i = Instrument::parse("ETH_USDC-5JAN26-3d5-P").expect("valid");
        assert_eq!(i.underlying, "ETH");
        assert!(matches!(
            i.kind,
            InstrumentKind::Option { strike_usd, settlement: Settlement::Usd, kind: OptionKind::Put, .. }
                if strike_usd == 3.5
        ));
        assert_eq!(
            Instrument::parse("BTC-PERPETUAL").expect("valid").kind,
            InstrumentKind::Perpetual
        );
        assert_eq!(
            Instrument::parse("BTC_USDC").expect("valid").kind,
            InstrumentKind::Spot
        );
        assert!(Instrument::parse("BTC-27MAR26-100000-X").is_err());
        assert!(Instrument::parse("BTC-27MAR26--1-C").is_err());
        for too_long in ["BTC-27MAR26-100000-C-1", "BTC-27MAR26-100000-C-1-2-3"] {
            let e = Instrument::parse(too_long).expect_err("five or more parts");
            assert!(
                e.contains("is not an option, future, perpetual or spot name"),
                "{e}"
            );
        }
        assert_eq!(
            Instrument::parse("BTC-27MAR26-100000-C")
                .expect("valid")
                .kind,
            InstrumentKind::Option {
                expiry_code: "27MAR26".into(),
                expiry_unix_s: 20_539 * 86_400 + 28_800,
                strike_usd: 100_000.0,
                kind: OptionKind::Call,
                settlement: Settlement::Coin,
            }
        );
    }
}
