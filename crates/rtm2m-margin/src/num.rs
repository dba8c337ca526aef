//! Numbers as venues write them in their vector files: JSON numbers, decimal strings (`".238"`,
//! `"-0.0035"`), and 18-decimal fixed point integers (`1500000000000000000000` = 1500).

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// A real number read from either a JSON number or a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Num(pub f64);

impl Num {
    /// The value.
    #[inline]
    pub fn get(self) -> f64 {
        self.0
    }
}

struct NumVisitor;

impl Visitor<'_> for NumVisitor {
    type Value = Num;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a decimal string")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
        Ok(Num(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
        Ok(Num(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
        Ok(Num(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
        v.trim()
            .parse::<f64>()
            .map(Num)
            .map_err(|_| E::custom(format!("not a decimal number: {v:?}")))
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

/// One in 18-decimal fixed point.
pub const WAD: f64 = 1e18;

/// An 18-decimal fixed-point integer (read by JSON as an integer or, past 2⁶⁴, as a float) as a real number.
#[inline]
pub fn from_wad(raw: f64) -> f64 {
    raw / WAD
}

/// An 18-decimal fixed-point integer truncated to a multiple of 10¹⁰ (1e-8 in real terms) before
/// conversion, as Derive's standard-manager tests strip dust from strikes.
pub fn from_wad_truncated_1e8(raw: f64) -> f64 {
    if !(0.0..3.4e38).contains(&raw) {
        return raw / WAD;
    }
    // An f64 holding an integer converts to u128 exactly; the truncation is then exact.
    let units = raw as u128;
    let truncated = units / 10_000_000_000 * 10_000_000_000;
    truncated as f64 / WAD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_reads_numbers_and_leading_dot_strings() {
        let v: Vec<Num> =
            serde_json::from_str(r#"[1, -2.5, "0.25", ".5", "-0.0035"]"#).expect("valid");
        let got: Vec<f64> = v.iter().map(|n| n.get()).collect();
        assert_eq!(got, vec![1.0, -2.5, 0.25, 0.5, -0.0035]);
    }

    #[test]
    fn wad_truncation_strips_dust_below_1e_8() {
        // 36999999999999997902848 is how a float-converted 37000e18 reads back.
        assert!((from_wad_truncated_1e8(36999999999999997902848.0) - 36999.99999999).abs() < 1e-10);
        assert_eq!(from_wad_truncated_1e8(1.5e21), 1500.0);
    }
}
