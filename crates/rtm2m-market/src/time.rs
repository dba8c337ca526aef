//! Time as events carry it: UTC instants with nanosecond resolution, and their one canonical text form.
//!
//! A [`Timestamp`] is a count of nanoseconds since 1970-01-01T00:00:00Z (the Unix epoch) in an `i64`, so it
//! spans 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z. Leap seconds do not exist in
//! this count (POSIX time): a `:60` second is rejected rather than guessed.
//!
//! Text form: RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`). On input any offset is accepted and
//! converted to UTC, the fraction may have 1 to 9 digits, and the date/time separator may be `T`, `t` or a
//! space (RFC 3339 §5.6 allows the space). On output the form is always `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`:
//! UTC, exactly nine fraction digits. One fixed-width form means equal instants are equal strings and
//! sorting the strings sorts the instants.

use std::fmt;
use std::str::FromStr;
use thiserror::Error;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Why a text could not be read as a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}")]
pub struct TimestampError {
    /// What is wrong with the text, in words (e.g. `month 13 is not in 1..=12`).
    pub reason: String,
}

fn fail<T>(reason: impl Into<String>) -> Result<T, TimestampError> {
    Err(TimestampError {
        reason: reason.into(),
    })
}

/// A UTC instant: nanoseconds since the Unix epoch (1970-01-01T00:00:00Z), leap seconds not counted.
///
/// `Display` writes the canonical form (`2023-03-01T00:01:00.000000000Z`); `FromStr` reads any RFC 3339
/// text (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The instant `nanos` nanoseconds after the Unix epoch (before it when negative).
    pub const fn from_unix_nanos(nanos: i64) -> Timestamp {
        Timestamp(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// The instant `seconds` after the Unix epoch, or `None` outside the representable range.
    pub fn from_unix_seconds(seconds: i64) -> Option<Timestamp> {
        seconds.checked_mul(NANOS_PER_SECOND).map(Timestamp)
    }

    /// The instant `millis` milliseconds after the Unix epoch, or `None` outside the representable range.
    pub fn from_unix_millis(millis: i64) -> Option<Timestamp> {
        millis.checked_mul(1_000_000).map(Timestamp)
    }

    /// This instant moved by `seconds` (earlier when negative), or `None` past the representable range.
    pub fn checked_add_seconds(self, seconds: i64) -> Option<Timestamp> {
        seconds
            .checked_mul(NANOS_PER_SECOND)
            .and_then(|n| self.0.checked_add(n))
            .map(Timestamp)
    }

    /// The instant of a calendar date and time of day read at `offset_seconds` east of UTC (0 for UTC,
    /// 10800 for UTC+3), or an error naming the part out of range.
    pub fn from_utc_civil(
        date: CivilDate,
        time: CivilTime,
        offset_seconds: i32,
    ) -> Result<Timestamp, TimestampError> {
        date.check()?;
        time.check()?;
        let days = days_from_civil(i64::from(date.year), date.month, date.day);
        let seconds = i128::from(days) * i128::from(SECONDS_PER_DAY)
            + i128::from(time.hour) * 3600
            + i128::from(time.minute) * 60
            + i128::from(time.second)
            - i128::from(offset_seconds);
        let nanos = seconds * i128::from(NANOS_PER_SECOND) + i128::from(time.nanos);
        match i64::try_from(nanos) {
            Ok(n) => Ok(Timestamp(n)),
            Err(_) => {
                fail("is outside 1677-09-21 to 2262-04-11, the range of nanoseconds in an i64")
            }
        }
    }

    /// Reads RFC 3339 text with an explicit offset (`Z` or `±HH:MM`), converting it to UTC.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        let (date, time, rest) = parse_date_time(text)?;
        let offset_seconds = parse_offset(rest)?;
        Timestamp::from_utc_civil(date, time, offset_seconds)
    }

    /// Reads a date and time with no zone designator (`YYYY-MM-DD[T ]HH:MM:SS[.fraction]`) as local time at
    /// `offset_seconds` east of UTC (`10800` for UTC+3), converting it to UTC.
    ///
    /// For venue files that write local times without saying so; the caller knows the offset.
    pub fn parse_naive(text: &str, offset_seconds: i32) -> Result<Timestamp, TimestampError> {
        let (date, time, rest) = parse_date_time(text)?;
        if !rest.is_empty() {
            return fail(format!(
                "unexpected `{rest}` after the time (expected no zone designator)"
            ));
        }
        Timestamp::from_utc_civil(date, time, offset_seconds)
    }

    /// The UTC calendar date and time of day of this instant.
    pub fn to_utc_civil(self) -> (CivilDate, CivilTime) {
        let seconds = self.0.div_euclid(NANOS_PER_SECOND);
        let nanos = self.0.rem_euclid(NANOS_PER_SECOND);
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let date = CivilDate {
            // An i64 of nanoseconds spans years 1677..=2262, so the year fits an i32.
            year: i32::try_from(year).expect("years of an i64 nanosecond count fit in i32"),
            month,
            day,
        };
        let time = CivilTime {
            hour: (second_of_day / 3600) as u32,
            minute: (second_of_day % 3600 / 60) as u32,
            second: (second_of_day % 60) as u32,
            nanos: nanos as u32,
        };
        (date, time)
    }
}

impl Timestamp {
    /// The RFC 3339 text of [`fmt::Display`] (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, 30 bytes), written digit by
    /// digit, for years 0–9999 (`None` outside them).
    pub fn rfc3339_bytes(self) -> Option<[u8; 30]> {
        let (date, time) = self.to_utc_civil();
        if !(0..=9999).contains(&date.year) {
            return None;
        }
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        let mut put = |at: usize, width: usize, mut value: u64| {
            for k in (at..at + width).rev() {
                b[k] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, date.year as u64);
        put(5, 2, u64::from(date.month));
        put(8, 2, u64::from(date.day));
        put(11, 2, u64::from(time.hour));
        put(14, 2, u64::from(time.minute));
        put(17, 2, u64::from(time.second));
        put(20, 9, u64::from(time.nanos));
        Some(b)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(b) = self.rfc3339_bytes() {
            return f.write_str(std::str::from_utf8(&b).expect("ASCII digits and separators"));
        }
        let (date, time) = self.to_utc_civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
            date.year, date.month, date.day, time.hour, time.minute, time.second, time.nanos
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<Timestamp, TimestampError> {
        Timestamp::parse_rfc3339(text)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.rfc3339_bytes() {
            Some(b) => serializer
                .serialize_str(std::str::from_utf8(&b).expect("ASCII digits and separators")),
            None => serializer.collect_str(self),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// A proleptic Gregorian calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilDate {
    /// Year, e.g. 2023.
    pub year: i32,
    /// Month, 1 (January) to 12.
    pub month: u32,
    /// Day of the month, from 1.
    pub day: u32,
}

impl CivilDate {
    fn check(self) -> Result<(), TimestampError> {
        if !(1..=12).contains(&self.month) {
            return fail(format!("month {} is not in 1..=12", self.month));
        }
        let last = days_in_month(i64::from(self.year), self.month);
        if !(1..=last).contains(&self.day) {
            return fail(format!(
                "day {} is not in 1..={last} for {:04}-{:02}",
                self.day, self.year, self.month
            ));
        }
        Ok(())
    }
}

/// A time of day, without leap seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
    /// Fraction of the second in nanoseconds, 0 to 999,999,999.
    pub nanos: u32,
}

impl CivilTime {
    fn check(self) -> Result<(), TimestampError> {
        if self.hour > 23 {
            return fail(format!("hour {} is not in 0..=23", self.hour));
        }
        if self.minute > 59 {
            return fail(format!("minute {} is not in 0..=59", self.minute));
        }
        if self.second == 60 {
            return fail("leap second 60 cannot be represented (POSIX time has none)");
        }
        if self.second > 59 {
            return fail(format!("second {} is not in 0..=59", self.second));
        }
        if self.nanos >= 1_000_000_000 {
            return fail(format!(
                "fraction {} ns is not below one second",
                self.nanos
            ));
        }
        Ok(())
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(year) => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
///
/// H. Hinnant, "chrono-Compatible Low-Level Date Algorithms", `days_from_civil` (eras of 400 years).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01: Hinnant's `civil_from_days`, the inverse of
/// [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Reads `count` ASCII digits at the front of `text`.
fn digits<'a>(text: &'a str, count: usize, what: &str) -> Result<(u32, &'a str), TimestampError> {
    let bytes = text.as_bytes();
    if bytes.len() < count || !bytes[..count].iter().all(u8::is_ascii_digit) {
        return fail(format!(
            "expected {count} digits of {what} at `{}`",
            shorten(text)
        ));
    }
    let value = bytes[..count]
        .iter()
        .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
    Ok((value, &text[count..]))
}

fn literal<'a>(text: &'a str, expected: char, what: &str) -> Result<&'a str, TimestampError> {
    match text.strip_prefix(expected) {
        Some(rest) => Ok(rest),
        None => fail(format!(
            "expected `{expected}` {what} at `{}`",
            shorten(text)
        )),
    }
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(12).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// Reads `YYYY-MM-DD[Tt ]HH:MM:SS[.fraction]` and returns what follows.
fn parse_date_time(text: &str) -> Result<(CivilDate, CivilTime, &str), TimestampError> {
    let (year, rest) = digits(text, 4, "year")?;
    let rest = literal(rest, '-', "after the year")?;
    let (month, rest) = digits(rest, 2, "month")?;
    let rest = literal(rest, '-', "after the month")?;
    let (day, rest) = digits(rest, 2, "day")?;
    let rest = match rest.chars().next() {
        Some('T' | 't' | ' ') => &rest[1..],
        _ => {
            return fail(format!(
                "expected `T` between date and time at `{}`",
                shorten(rest)
            ))
        }
    };
    let (hour, rest) = digits(rest, 2, "hour")?;
    let rest = literal(rest, ':', "after the hour")?;
    let (minute, rest) = digits(rest, 2, "minute")?;
    let rest = literal(rest, ':', "after the minute")?;
    let (second, mut rest) = digits(rest, 2, "second")?;
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let count = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if count == 0 {
            return fail("expected digits after the decimal point of the seconds");
        }
        if count > 9 {
            return fail(format!(
                "fraction of a second has {count} digits; at most 9 (nanoseconds) are kept"
            ));
        }
        let (value, after) = digits(fraction, count, "fraction")?;
        nanos = value * 10u32.pow(9 - count as u32);
        rest = after;
    }
    let date = CivilDate {
        year: year as i32,
        month,
        day,
    };
    let time = CivilTime {
        hour,
        minute,
        second,
        nanos,
    };
    Ok((date, time, rest))
}

/// Reads an RFC 3339 offset (`Z`, `z` or `±HH:MM`) that must end the text: seconds east of UTC.
fn parse_offset(text: &str) -> Result<i32, TimestampError> {
    let sign = match text.chars().next() {
        Some('Z' | 'z') if text.len() == 1 => return Ok(0),
        Some('+') => 1,
        Some('-') => -1,
        None => return fail("missing the UTC offset (`Z` or `±HH:MM`)"),
        _ => {
            return fail(format!(
                "expected the UTC offset (`Z` or `±HH:MM`) at `{}`",
                shorten(text)
            ))
        }
    };
    let (hours, rest) = digits(&text[1..], 2, "offset hours")?;
    let rest = literal(rest, ':', "in the offset")?;
    let (minutes, rest) = digits(rest, 2, "offset minutes")?;
    if !rest.is_empty() {
        return fail(format!("unexpected `{}` after the offset", shorten(rest)));
    }
    if hours > 23 || minutes > 59 {
        return fail(format!("offset {hours:02}:{minutes:02} is out of range"));
    }
    Ok(sign * (hours as i32 * 3600 + minutes as i32 * 60))
}

/// A Deribit expiry code (`24SEP21`, `7FEB26`: day, three-letter month, two-digit year) at Deribit's
/// expiry time, 08:00 UTC.
pub fn parse_deribit_expiry(code: &str) -> Result<Timestamp, TimestampError> {
    let day_digits = code.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&day_digits) || code.len() != day_digits + 5 || !code.is_ascii() {
        return fail(format!(
            "expiry code `{}` is not DMMMYY (e.g. 24SEP21)",
            shorten(code)
        ));
    }
    let (day_text, rest) = code.split_at(day_digits);
    let (month_text, year_text) = rest.split_at(3);
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let Some(month_index) = MONTHS.iter().position(|m| *m == month_text) else {
        return fail(format!("month `{month_text}` is not JAN..DEC"));
    };
    let day: u32 = day_text.parse().map_err(|_| TimestampError {
        reason: format!("day `{day_text}` is not a number"),
    })?;
    let (year, _) = digits(year_text, 2, "year")?;
    let date = CivilDate {
        year: 2000 + year as i32,
        month: month_index as u32 + 1,
        day,
    };
    let time = CivilTime {
        hour: 8,
        minute: 0,
        second: 0,
        nanos: 0,
    };
    Timestamp::from_utc_civil(date, time, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).expect("a valid test timestamp")
    }

    proptest! {
        #[test]
        fn digit_by_digit_text_equals_the_formatted_fields(nanos in any::<i64>()) {
            let t = Timestamp::from_unix_nanos(nanos);
            let (date, time) = t.to_utc_civil();
            let formatted = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
                date.year, date.month, date.day, time.hour, time.minute, time.second, time.nanos
            );
            prop_assert_eq!(t.to_string(), formatted.clone());
            if let Some(b) = t.rfc3339_bytes() {
                prop_assert_eq!(std::str::from_utf8(&b).unwrap(), formatted.as_str());
            } else {
                prop_assert!(!(0..=9999).contains(&date.year));
            }
            prop_assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{formatted}\""));
        }
    }

    #[test]
    fn well_known_instants_have_their_published_unix_times() {
        // Unix times as published (e.g. `date -u -d ... +%s`): independent of this code.
        assert_eq!(ts("1970-01-01T00:00:00Z").unix_nanos(), 0);
        assert_eq!(
            ts("2000-01-01T00:00:00Z").unix_nanos(),
            946_684_800 * NANOS_PER_SECOND
        );
        assert_eq!(
            ts("2023-03-01T00:00:00Z").unix_nanos(),
            1_677_628_800 * NANOS_PER_SECOND
        );
        assert_eq!(
            ts("2024-02-29T12:00:00Z").unix_nanos(),
            1_709_208_000 * NANOS_PER_SECOND
        );
        assert_eq!(ts("1969-12-31T23:59:59Z").unix_nanos(), -NANOS_PER_SECOND);
        assert_eq!(ts("2262-04-11T23:47:16.854775807Z").unix_nanos(), i64::MAX);
        assert_eq!(ts("1677-09-21T00:12:43.145224192Z").unix_nanos(), i64::MIN);
    }

    #[test]
    fn offsets_convert_to_utc_and_output_is_canonical() {
        assert_eq!(ts("2020-01-01T03:00:00+03:00"), ts("2020-01-01T00:00:00Z"));
        assert_eq!(ts("2019-12-31T21:30:00-02:30"), ts("2020-01-01T00:00:00Z"));
        assert_eq!(
            ts("2026-01-05T15:33:29.748387+00:00").to_string(),
            "2026-01-05T15:33:29.748387000Z"
        );
        assert_eq!(
            ts("2023-03-01 00:00:00+00:00").to_string(),
            "2023-03-01T00:00:00.000000000Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(-1).to_string(),
            "1969-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn naive_local_time_shifts_by_the_given_offset() {
        let t = Timestamp::parse_naive("2020-01-01 03:00:00.000", 3 * 3600).expect("valid");
        assert_eq!(t, ts("2020-01-01T00:00:00Z"));
        assert!(Timestamp::parse_naive("2020-01-01 03:00:00Z", 0).is_err());
    }

    #[test]
    fn impossible_dates_and_times_are_rejected_with_the_part_at_fault() {
        let reason = |t: &str| Timestamp::parse_rfc3339(t).unwrap_err().reason;
        assert!(reason("2023-02-29T00:00:00Z").contains("day 29"));
        assert!(reason("2023-13-01T00:00:00Z").contains("month 13"));
        assert!(reason("2023-01-01T24:00:00Z").contains("hour 24"));
        assert!(reason("2016-12-31T23:59:60Z").contains("leap second"));
        assert!(reason("2023-01-01T00:00:00").contains("offset"));
        assert!(reason("2023-01-01T00:00:00.1234567891Z").contains("10 digits"));
        assert!(reason("2263-01-01T00:00:00Z").contains("range"));
        assert!(reason("2023-01-01T00:00:00+24:00").contains("out of range"));
        assert!(reason("2023-01-01X00:00:00Z").contains("`T`"));
        assert!(reason("").contains("year"));
    }

    #[test]
    fn deribit_expiry_codes_expire_at_eight_utc() {
        let expiry = parse_deribit_expiry("24SEP21").expect("valid code");
        assert_eq!(expiry, ts("2021-09-24T08:00:00Z"));
        assert_eq!(
            parse_deribit_expiry("7FEB26").expect("valid code"),
            ts("2026-02-07T08:00:00Z")
        );
        assert!(parse_deribit_expiry("31FEB26").is_err());
        assert!(parse_deribit_expiry("24SEPT21").is_err());
        assert!(parse_deribit_expiry("24Sé21").is_err());
    }

    #[test]
    fn every_day_for_a_millennium_round_trips_through_the_calendar() {
        // Consecutive day numbers must give consecutive, valid dates.
        let mut previous = civil_from_days(days_from_civil(1700, 1, 1) - 1);
        for days in days_from_civil(1700, 1, 1)..days_from_civil(2700, 1, 1) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d >= 1 && d <= days_in_month(y, m));
            let next_of_previous = if previous.2 < days_in_month(previous.0, previous.1) {
                (previous.0, previous.1, previous.2 + 1)
            } else if previous.1 < 12 {
                (previous.0, previous.1 + 1, 1)
            } else {
                (previous.0 + 1, 1, 1)
            };
            assert_eq!((y, m, d), next_of_previous);
            previous = (y, m, d);
        }
    }
}
