//! Deribit instrument names and their times to expiry.

use rtm2m_pricing::OptionKind;

/// What a Deribit instrument is, with its time to expiry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeribitInstrument {
    /// Inverse perpetual: no expiry.
    Perpetual,
    /// Inverse dated future.
    Future {
        /// Time to expiry, years (365-day year).
        expiry_years: f64,
    },
    /// Inverse (coin-settled) European option.
    Option {
        /// Call or put.
        kind: OptionKind,
        /// Strike, USD.
        strike_usd: f64,
        /// Time to expiry, years (365-day year).
        expiry_years: f64,
        /// Mark implied vol, fraction.
        vol: f64,
    },
}

/// Deribit expiries are at 08:00 UTC.
const EXPIRY_SECONDS_OF_DAY: i64 = 8 * 3600;

/// Parses `BTC-PERPETUAL`, `BTC-28JUN24` or `BTC-28JUN24-70000-C` at time `now_ms` (Unix milliseconds). An option
/// takes `vol` (its mark IV, fraction). Returns `None` for a name of no known shape.
pub fn parse_instrument(name: &str, now_ms: i64, vol: Option<f64>) -> Option<DeribitInstrument> {
    let parts: Vec<&str> = name.split('-').collect();
    match parts.as_slice() {
        [_, "PERPETUAL"] => Some(DeribitInstrument::Perpetual),
        [_, date] => Some(DeribitInstrument::Future {
            expiry_years: years_until(date, now_ms)?,
        }),
        [_, date, strike, kind] => {
            let kind = match *kind {
                "C" => OptionKind::Call,
                "P" => OptionKind::Put,
                _ => return None,
            };
            Some(DeribitInstrument::Option {
                kind,
                strike_usd: strike.replace('d', ".").parse().ok()?,
                expiry_years: years_until(date, now_ms)?,
                vol: vol?,
            })
        }
        _ => None,
    }
}

/// Years (of 365 days) from `now_ms` to 08:00 UTC of a `DDMMMYY` date, floored at 0.
fn years_until(date: &str, now_ms: i64) -> Option<f64> {
    let expiry_seconds = expiry_unix_seconds(date)?;
    let seconds = expiry_seconds.saturating_mul(1000).saturating_sub(now_ms) as f64 / 1000.0;
    Some(seconds.max(0.0) / (365.0 * 86_400.0))
}

fn expiry_unix_seconds(date: &str) -> Option<i64> {
    let n = date.len();
    if !(6..=7).contains(&n) || !date.is_ascii() {
        return None;
    }
    let day: i64 = date[..n - 5].parse().ok()?;
    let month = match &date[n - 5..n - 2] {
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
        _ => return None,
    };
    let year: i64 = 2000 + date[n - 2..].parse::<i64>().ok()?;
    if !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + EXPIRY_SECONDS_OF_DAY)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // Hinnant, "chrono-Compatible Low-Level Date Algorithms", days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deribit_future_expires_at_eight_utc() {
        // 2024-06-28 08:00 UTC.
        assert_eq!(expiry_unix_seconds("28JUN24"), Some(1_719_561_600));
        assert_eq!(expiry_unix_seconds("5JUL24"), Some(1_720_166_400));
    }

    #[test]
    fn names_of_every_shape_parse() {
        assert_eq!(
            parse_instrument("BTC-PERPETUAL", 0, None),
            Some(DeribitInstrument::Perpetual)
        );
        assert!(matches!(
            parse_instrument("BTC-28JUN24-70000-C", 0, Some(0.5)),
            Some(DeribitInstrument::Option { .. })
        ));
        assert_eq!(parse_instrument("BTC-28XXX24", 0, None), None);
        assert_eq!(parse_instrument("BTC-28JUN24-70000-C", 0, None), None);
    }
}
