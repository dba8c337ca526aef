//! A one-pass reader of the account-event lines this crate writes itself (`input_to_json`): compact JSON,
//! plain strings, known fields each at most once. It reads a subset of what serde_json reads, into the
//! same values, in about a fifth of the instructions; anything outside the subset (whitespace, escapes,
//! `null`, an unknown or repeated field, a number serde_json would read another way) gives `None`, and the
//! caller falls back to serde_json. The property tests of `event.rs` hold it to serde_json's result.

use crate::event::AccountEventWire;
use rtm2m_market::Timestamp;
use std::borrow::Cow;

/// Reads `text` as an [`AccountEventWire`], or `None` when it is outside the subset.
pub(crate) fn scan_account_event(text: &str) -> Option<AccountEventWire<'_>> {
    let mut r = Reader {
        text,
        b: text.as_bytes(),
        at: 0,
    };
    let mut seen = 0u16;
    let (mut kind, mut v, mut seq, mut ts, mut account) = (None, None, None, None, None);
    let mut w = AccountEventWire {
        kind: Cow::Borrowed(""),
        v: None,
        seq: 0,
        ts: Timestamp::from_unix_nanos(0),
        account: String::new(),
        instrument: None,
        size: None,
        price_usd: None,
        fee_usd: None,
        asset: None,
        amount: None,
    };
    r.byte(b'{')?;
    loop {
        let key = r.string()?;
        r.byte(b':')?;
        // A `match` on the literal names compiles to length and word compares, no call.
        let bit = match key {
            "type" => 0,
            "v" => 1,
            "seq" => 2,
            "ts" => 3,
            "account" => 4,
            "instrument" => 5,
            "asset" => 6,
            "size" => 7,
            "price_usd" => 8,
            "fee_usd" => 9,
            "amount" => 10,
            _ => return None,
        };
        if seen & (1 << bit) != 0 {
            return None;
        }
        seen |= 1 << bit;
        match bit {
            0 => kind = Some(r.string()?),
            1 => v = Some(r.unsigned()?),
            2 => seq = Some(r.unsigned()?),
            3 => ts = Some(Timestamp::parse_rfc3339(r.string()?).ok()?),
            4 => account = Some(r.string()?),
            5 => w.instrument = Some(r.string()?.to_owned()),
            6 => w.asset = Some(r.string()?.to_owned()),
            7 => w.size = Some(r.number()?),
            8 => w.price_usd = Some(r.number()?),
            9 => w.fee_usd = Some(r.number()?),
            _ => w.amount = Some(r.number()?),
        }
        match r.next()? {
            b',' => continue,
            b'}' if r.at == r.b.len() => break,
            _ => return None,
        }
    }
    w.kind = Cow::Borrowed(kind?);
    w.v = v;
    w.seq = seq?;
    w.ts = ts?;
    w.account = account?.to_owned();
    Some(w)
}

/// A cursor over the line.
struct Reader<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.b.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// A string with no escape and no control character (which JSON forbids raw).
    fn string(&mut self) -> Option<&'a str> {
        self.byte(b'"')?;
        let start = self.at;
        let len = self.b[start..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        self.at = start + len;
        self.byte(b'"')?;
        // Both ends are ASCII quotes, so the slice falls on character boundaries.
        Some(&self.text[start..start + len])
    }

    /// Digits only, no leading zero, no overflow: what serde_json reads as a `u64` without a detour.
    fn unsigned(&mut self) -> Option<u64> {
        let start = self.at;
        let digits = self.digits();
        if digits == 0 || (digits > 1 && self.b[start] == b'0') {
            return None;
        }
        if matches!(self.b.get(self.at), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.text[start..self.at].parse().ok()
    }

    /// A JSON number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), correctly rounded, as serde_json
    /// reads it with `float_roundtrip`.
    fn number(&mut self) -> Option<f64> {
        let start = self.at;
        if self.b.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        let int_digits = self.digits();
        if int_digits == 0 || (int_digits > 1 && self.b[int_start] == b'0') {
            return None;
        }
        if self.b.get(self.at) == Some(&b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.b.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.b.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // serde_json refuses a number beyond f64's range (`1e999`): such a line is left to it.
        self.text[start..self.at]
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite())
    }

    /// Skips ASCII digits; returns how many.
    fn digits(&mut self) -> usize {
        let n = self.b[self.at..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        self.at += n;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{input_to_json, Fill, Input, InputKind, Transfer};
    use proptest::prelude::*;

    /// serde_json's reading of `text`, the reference.
    fn serde(text: &str) -> Option<AccountEventWire<'_>> {
        serde_json::from_str(text).ok()
    }

    /// The same wire, with every number compared by its bits (`-0` is not `0`).
    fn bits(w: &AccountEventWire<'_>) -> String {
        let b = |x: Option<f64>| x.map(f64::to_bits);
        format!(
            "{w:?} {:?}",
            [b(w.size), b(w.price_usd), b(w.fee_usd), b(w.amount)]
        )
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "0",
                "-0",
                "0.0",
                "-0.0",
                "1",
                "-1.5",
                "1e5",
                "1E5",
                "1e+5",
                "1e-5",
                "2.5E-3",
                "01",
                "-01",
                "1.",
                ".5",
                "-",
                "1e",
                "1e+",
                "+1",
                "1e999",
                "-1e999",
                "1e-999",
                "18446744073709551615",
                "18446744073709551616",
                "-9223372036854775809",
                "9007199254740993",
                "0.1000000000000000055511151231257827",
                "1.7976931348623157e308",
                "4.9e-324",
                "2.4703282292062328e-324",
                "null",
                "\"7\"",
                "true",
                "inf",
                "NaN",
            ])
            .prop_map(str::to_owned),
            any::<f64>().prop_map(|x| format!("{x}")),
            any::<f64>().prop_map(|x| format!("{x:e}")),
            (-1e7f64..1e7).prop_map(|x| format!("{x}")),
            any::<i64>().prop_map(|x| format!("{x}")),
        ]
    }

    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "\"fill\"",
                "\"deposit\"",
                "\"withdrawal\"",
                "\"acct-1\"",
                "\"BTC-PERPETUAL\"",
                "\"USDC\"",
                "\"\"",
                "\"a\\\"b\"",
                "\"tab\tin\"",
                "\"é€\"",
                "\"nullable\"",
                "null",
                "7",
                "\"2026-01-05T15:00:01Z\"",
                "\"2026-01-05T15:00:01.000000000Z\"",
                "\"2026-01-05T15:00:01+02:00\"",
                "\"2026-13-05T15:00:01Z\"",
                "\"yesterday\"",
            ])
            .prop_map(str::to_owned),
            "[a-zA-Z0-9 _-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        ]
    }

    fn unsigned() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "0",
                "1",
                "01",
                "7.0",
                "7e0",
                "-1",
                "18446744073709551615",
                "18446744073709551616",
                "\"1\"",
                "null",
            ])
            .prop_map(str::to_owned),
            any::<u64>().prop_map(|x| x.to_string()),
        ]
    }

    /// Lines of fields in any order, each value of its own kind or another's, sometimes repeated,
    /// unknown, spaced or followed by something.
    fn line() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            string().prop_map(|v| ("type", v)),
            unsigned().prop_map(|v| ("v", v)),
            unsigned().prop_map(|v| ("seq", v)),
            string().prop_map(|v| ("ts", v)),
            string().prop_map(|v| ("account", v)),
            string().prop_map(|v| ("instrument", v)),
            string().prop_map(|v| ("asset", v)),
            number().prop_map(|v| ("size", v)),
            number().prop_map(|v| ("price_usd", v)),
            number().prop_map(|v| ("fee_usd", v)),
            number().prop_map(|v| ("amount", v)),
            number().prop_map(|v| ("extra", v)),
            string().prop_map(|v| ("size", v)),
        ];
        let head = (string(), unsigned(), string(), string())
            .prop_map(|(t, s, ts, a)| vec![("type", t), ("seq", s), ("ts", ts), ("account", a)]);
        let tail = prop::sample::select(vec!["", "", "", " ", "\n", "x", ",", "}"]);
        let sep = prop::sample::select(vec![",", ",", ",", ", ", " ,"]);
        (head, prop::collection::vec(field, 0..6), tail, sep).prop_map(|(head, rest, tail, sep)| {
            let body: Vec<String> = head
                .into_iter()
                .chain(rest)
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            format!("{{{}}}{tail}", body.join(sep))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn what_the_scanner_reads_serde_json_reads_the_same(text in line()) {
            if let Some(w) = scan_account_event(&text) {
                let reference = serde(&text);
                prop_assert!(reference.is_some(), "serde_json refuses {}", text);
                prop_assert_eq!(bits(&w), bits(&reference.unwrap()), "{}", text);
            }
        }

        #[test]
        fn the_scanner_reads_every_account_event_this_crate_writes(
            size in any::<f64>().prop_filter("finite", |x| x.is_finite()),
            price in 0.0f64..1e9,
            seq in any::<u64>(),
            kind in 0usize..3,
        ) {
            let ts = Timestamp::from_unix_nanos(1_767_625_201_123_456_789);
            let kind = match kind {
                0 => InputKind::Fill(Fill {
                    account: "acct-0000001".into(),
                    instrument: "BTC-8JAN26-95000-P".into(),
                    size,
                    price_usd: price,
                    fee_usd: 0.5,
                }),
                1 => InputKind::Deposit(Transfer { account: "a".into(), asset: "USDC".into(), amount: price }),
                _ => InputKind::Withdrawal(Transfer { account: "a".into(), asset: "BTC".into(), amount: size }),
            };
            let text = input_to_json(&Input { seq, ts, kind });
            let w = scan_account_event(&text);
            prop_assert!(w.is_some(), "not scanned: {}", text);
            prop_assert_eq!(bits(&w.unwrap()), bits(&serde(&text).unwrap()), "{}", text);
        }
    }

    #[test]
    fn the_scanner_leaves_what_it_does_not_know_to_serde_json() {
        for text in [
            r#"{"type":"fill", "seq":1,"ts":"2026-01-05T15:00:01Z","account":"a"}"#,
            r#"{"type":"fill","seq":1,"ts":"2026-01-05T15:00:01Z","account":"a\"b"}"#,
            r#"{"type":"fill","seq":1,"seq":2,"ts":"2026-01-05T15:00:01Z","account":"a"}"#,
            r#"{"type":"fill","seq":1,"ts":"2026-01-05T15:00:01Z","account":"a","size":null}"#,
            r#"{"type":"fill","seq":1,"ts":"2026-01-05T15:00:01Z","account":"a","size":01}"#,
            r#"{"type":"fill","seq":1,"ts":"2026-01-05T15:00:01Z","account":"a","size":-1e999}"#,
            r#"{"type":"fill","seq":1,"ts":"2026-01-05T15:00:01Z","account":"a","x":1}"#,
            r#"{"type":"fill","seq":1,"ts":"2026-01-05T15:00:01Z","account":"a"} "#,
        ] {
            assert!(scan_account_event(text).is_none(), "{text}");
        }
        let w = scan_account_event(
            r#"{"type":"fill","v":1,"seq":7,"ts":"2026-01-05T15:00:01Z","account":"a","size":-0.5,"price_usd":9e4}"#,
        )
        .expect("scanned");
        assert_eq!((w.kind.as_ref(), w.v, w.seq), ("fill", Some(1), 7));
        assert_eq!(
            (w.size, w.price_usd, w.fee_usd),
            (Some(-0.5), Some(90000.0), None)
        );
        assert_eq!(
            w.ts,
            Timestamp::parse_rfc3339("2026-01-05T15:00:01Z").unwrap()
        );
    }
}
