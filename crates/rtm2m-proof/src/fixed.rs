//! USD amounts as the commitments carry them: integers of 10^-18 USD.
//!
//! Conversion rule (docs/proofs.md § Amounts): an amount is read from its decimal text, exactly; digits past
//! the 18th decimal are rounded to nearest, ties to even (IEEE 754's default rule). An `f64` is first written
//! as its shortest round-trip decimal (ryu, the form JSON writers emit), so `0.1` is 10^17 units, not the
//! 100000000000000005.55… units of the binary double. The result must fit an `i128` (|amount| < 1.7·10^20 USD);
//! it is ABI-encoded as a two's-complement `int256`.

use std::fmt;

/// Number of decimals of a [`Fixed18`].
pub const DECIMALS: u32 = 18;

/// Units in one USD (10^18).
pub const UNITS_PER_USD: i128 = 1_000_000_000_000_000_000;

/// A USD amount in units of 10^-18 USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fixed18(i128);

impl Fixed18 {
    /// Zero.
    pub const ZERO: Fixed18 = Fixed18(0);

    /// From a count of 10^-18 USD units.
    pub const fn from_units(units: i128) -> Fixed18 {
        Fixed18(units)
    }

    /// The count of 10^-18 USD units.
    pub const fn units(self) -> i128 {
        self.0
    }

    /// Reads decimal text: optional sign, digits with an optional point, an optional exponent (`1.5e-7`).
    /// The error says why the text is not an amount.
    pub fn parse(text: &str) -> Result<Fixed18, String> {
        parse_decimal(text).map(Fixed18)
    }

    /// From a finite `f64` USD value, through its shortest round-trip decimal text.
    pub fn from_f64(value_usd: f64) -> Result<Fixed18, String> {
        if !value_usd.is_finite() {
            return Err(format!("{value_usd} is not a finite amount"));
        }
        let mut buffer = ryu::Buffer::new();
        Fixed18::parse(buffer.format_finite(value_usd))
    }

    /// The ABI word: `int256`, big-endian two's complement.
    pub fn to_word(self) -> [u8; 32] {
        let fill = if self.0 < 0 { 0xff } else { 0x00 };
        let mut word = [fill; 32];
        word[16..].copy_from_slice(&self.0.to_be_bytes());
        word
    }

    /// The amount as an `f64` USD value (nearest double; for display only).
    pub fn to_f64_usd(self) -> f64 {
        self.0 as f64 / UNITS_PER_USD as f64
    }
}

impl fmt::Display for Fixed18 {
    /// Exact decimal USD, trailing zeros of the fraction dropped (`-12.5`, `0.000000000000000001`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let whole = magnitude / UNITS_PER_USD as u128;
        let fraction = magnitude % UNITS_PER_USD as u128;
        if fraction == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{fraction:018}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// Longest decimal text read, bytes: a bound on work for hostile input.
const MAX_TEXT_BYTES: usize = 128;

fn parse_decimal(text: &str) -> Result<i128, String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "has {} characters, at most {MAX_TEXT_BYTES}",
            text.len()
        ));
    }
    let describe = || format!("`{text}` is not a decimal number");
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => {
            let exponent: i32 = rest[at + 1..].parse().map_err(|_| describe())?;
            (&rest[..at], exponent)
        }
        None => (rest, 0),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((w, f)) => (w, f),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(describe());
    }
    // value = digits × 10^(exponent − |fraction|); in units, × 10^18 more.
    let digits: String = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    let shift = i64::from(exponent) - fraction.len() as i64 + i64::from(DECIMALS);
    let out_of_range = || format!("`{text}` USD is out of range (|amount| < 1.7e20 USD)");
    let magnitude: u128 = if shift >= 0 {
        // At most 39 significant digits fit a u128; checked below in any case.
        if digits.len() as i64 + shift > 39 {
            return Err(out_of_range());
        }
        let mut value = parse_digits(digits).ok_or_else(out_of_range)?;
        for _ in 0..shift {
            value = value.checked_mul(10).ok_or_else(out_of_range)?;
        }
        value
    } else {
        let dropped = usize::try_from(-shift).unwrap_or(usize::MAX);
        if dropped > digits.len() {
            // Below half a unit: the first dropped digit is an implicit leading zero.
            0
        } else {
            let (kept, tail) = digits.split_at(digits.len() - dropped);
            let kept_value = if kept.is_empty() {
                0
            } else {
                parse_digits(kept).ok_or_else(out_of_range)?
            };
            let first = tail.as_bytes()[0];
            let rest_nonzero = tail.bytes().skip(1).any(|b| b != b'0');
            let round_up = first > b'5' || (first == b'5' && (rest_nonzero || kept_value % 2 == 1));
            if round_up {
                kept_value.checked_add(1).ok_or_else(out_of_range)?
            } else {
                kept_value
            }
        }
    };
    let value = i128::try_from(magnitude).map_err(|_| out_of_range())?;
    Ok(if negative { -value } else { value })
}

fn parse_digits(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |acc, b| {
        acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const E18: i128 = UNITS_PER_USD;

    #[test]
    fn decimal_text_converts_exactly() {
        assert_eq!(Fixed18::parse("0.1").unwrap().units(), E18 / 10);
        assert_eq!(
            Fixed18::parse("-12.5").unwrap().units(),
            -12 * E18 - E18 / 2
        );
        assert_eq!(Fixed18::parse("1e3").unwrap().units(), 1000 * E18);
        assert_eq!(Fixed18::parse("1.5E-7").unwrap().units(), 150_000_000_000);
        assert_eq!(Fixed18::parse("+.25").unwrap().units(), E18 / 4);
        assert_eq!(Fixed18::parse("7.").unwrap().units(), 7 * E18);
        assert_eq!(Fixed18::parse("-0.0").unwrap().units(), 0);
        assert_eq!(Fixed18::parse("0.000000000000000001").unwrap().units(), 1);
    }

    #[test]
    fn digits_past_the_eighteenth_decimal_round_half_to_even() {
        // 19 decimals: the 19th digit decides.
        assert_eq!(Fixed18::parse("0.0000000000000000014").unwrap().units(), 1);
        assert_eq!(Fixed18::parse("0.0000000000000000016").unwrap().units(), 2);
        assert_eq!(Fixed18::parse("0.0000000000000000015").unwrap().units(), 2);
        assert_eq!(Fixed18::parse("0.0000000000000000025").unwrap().units(), 2);
        assert_eq!(
            Fixed18::parse("0.00000000000000000250001").unwrap().units(),
            3
        );
        assert_eq!(
            Fixed18::parse("-0.0000000000000000035").unwrap().units(),
            -4
        );
        assert_eq!(Fixed18::parse("0.0000000000000000005").unwrap().units(), 0);
        assert_eq!(Fixed18::parse("0.00000000000000000051").unwrap().units(), 1);
        assert_eq!(Fixed18::parse("1e-40").unwrap().units(), 0);
    }

    #[test]
    fn doubles_convert_through_their_shortest_decimal() {
        // The double nearest 0.1 is 0.1000000000000000055511…: its shortest text is "0.1".
        assert_eq!(Fixed18::from_f64(0.1).unwrap().units(), E18 / 10);
        assert_eq!(
            Fixed18::from_f64(1e20).unwrap().units(),
            100 * E18 * 1_000_000_000_000_000_000
        );
        assert_eq!(
            Fixed18::from_f64(-2.5e-7).unwrap().units(),
            -250_000_000_000
        );
        assert!(Fixed18::from_f64(f64::NAN).is_err());
        assert!(Fixed18::from_f64(f64::INFINITY).is_err());
    }

    #[test]
    fn bad_text_and_out_of_range_amounts_are_refused() {
        for bad in [
            "", "-", ".", "1.2.3", "abc", "1e", "0x10", "1,5", "NaN", "inf", " 1",
        ] {
            assert!(Fixed18::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Fixed18::parse("2e20").is_err());
        assert!(Fixed18::parse("1e999999999").is_err());
        assert!(Fixed18::parse("170141183460469231731.687303715884105727").is_ok());
        assert!(Fixed18::parse("170141183460469231731.687303715884105728").is_err());
    }

    #[test]
    fn words_are_twos_complement_int256() {
        assert_eq!(Fixed18::from_units(-1).to_word(), [0xff; 32]);
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(Fixed18::from_units(1).to_word(), one);
    }

    #[test]
    fn display_is_exact_decimal() {
        assert_eq!(Fixed18::parse("-12.50").unwrap().to_string(), "-12.5");
        assert_eq!(Fixed18::from_units(1).to_string(), "0.000000000000000001");
        assert_eq!(Fixed18::parse("42").unwrap().to_string(), "42");
    }
}
