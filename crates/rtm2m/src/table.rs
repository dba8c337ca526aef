//! CSV tables of the CLI contract: strict reading with line-numbered errors, shortest round-trip writing.
//!
//! The formats are deliberately plain (comma-separated, one header line, no quoting): every field is a
//! number or an option type. A malformed file is rejected whole, before any output is written, with
//! `line N: field: reason`.

use std::fmt;
use std::io::{self, BufRead, Write};

/// A malformed input file: the CLI exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// 1-based line number in the input.
    pub line: usize,
    /// The column (or `header`, `row`) at fault.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

impl std::error::Error for InputError {}

/// One parsed data row: its line number and its fields, the first being the option type.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line number.
    pub line: usize,
    /// `true` for a call, `false` for a put.
    pub is_call: bool,
    /// The numeric fields after `type`, in header order.
    pub numbers: Vec<f64>,
}

/// Reads a table whose header must be exactly `columns` (the first being `type`), from any reader.
///
/// Blank lines are skipped; `\r\n` line ends are accepted. Numeric fields accept what Rust's `f64` parser
/// accepts (including `inf` and `NaN`, which the pricing layer then rejects row by row).
pub fn read_table(reader: impl BufRead, columns: &[&str]) -> Result<Vec<Row>, anyhow::Error> {
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (index, line) in reader.lines().enumerate() {
        let line_number = index + 1;
        let line = line.map_err(|e| InputError {
            line: line_number,
            field: "file".into(),
            reason: format!("cannot be read: {e}"),
        })?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if !header_seen {
            header_seen = true;
            if fields != columns {
                return Err(InputError {
                    line: line_number,
                    field: "header".into(),
                    reason: format!("expected `{}`, found `{}`", columns.join(","), line),
                }
                .into());
            }
            continue;
        }
        if fields.len() != columns.len() {
            return Err(InputError {
                line: line_number,
                field: "row".into(),
                reason: format!("expected {} fields, found {}", columns.len(), fields.len()),
            }
            .into());
        }
        let is_call = match fields[0].to_ascii_lowercase().as_str() {
            "call" | "c" => true,
            "put" | "p" => false,
            other => {
                return Err(InputError {
                    line: line_number,
                    field: columns[0].into(),
                    reason: format!("expected `call` or `put`, found `{other}`"),
                }
                .into())
            }
        };
        let mut numbers = Vec::with_capacity(columns.len() - 1);
        for (value, name) in fields[1..].iter().zip(&columns[1..]) {
            let number: f64 = value.parse().map_err(|_| InputError {
                line: line_number,
                field: (*name).into(),
                reason: format!("not a number: `{value}`"),
            })?;
            numbers.push(number);
        }
        rows.push(Row {
            line: line_number,
            is_call,
            numbers,
        });
    }
    if !header_seen {
        return Err(InputError {
            line: 1,
            field: "header".into(),
            reason: format!("missing; expected `{}`", columns.join(",")),
        }
        .into());
    }
    Ok(rows)
}

/// Writes `value` in the shortest form that parses back to the same f64 (empty for NaN).
pub fn write_number(out: &mut impl Write, value: f64) -> io::Result<()> {
    if value.is_nan() {
        Ok(())
    } else if value.is_infinite() {
        out.write_all(if value > 0.0 { b"inf" } else { b"-inf" })
    } else {
        let mut buffer = ryu::Buffer::new();
        out.write_all(buffer.format_finite(value).as_bytes())
    }
}

/// Opens `path` for buffered reading, or standard input when `path` is `None` or `-`.
pub fn open_input(path: Option<&std::path::Path>) -> Result<Box<dyn BufRead>, anyhow::Error> {
    match path {
        None => Ok(Box::new(io::BufReader::new(io::stdin()))),
        Some(p) if p.as_os_str() == "-" => Ok(Box::new(io::BufReader::new(io::stdin()))),
        Some(p) => {
            let file = std::fs::File::open(p).map_err(|e| InputError {
                line: 0,
                field: "input".into(),
                reason: format!("cannot open {}: {e}", p.display()),
            })?;
            Ok(Box::new(io::BufReader::new(file)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [&str; 3] = ["type", "spot", "strike"];

    #[test]
    fn wrong_column_count_names_the_line() {
        let err =
            read_table("type,spot,strike\ncall,1,2\nput,3\n".as_bytes(), &COLUMNS).unwrap_err();
        assert_eq!(err.to_string(), "line 3: row: expected 3 fields, found 2");
    }

    #[test]
    fn non_numeric_field_names_the_column() {
        let err = read_table("type,spot,strike\ncall,1,abc\n".as_bytes(), &COLUMNS).unwrap_err();
        assert_eq!(err.to_string(), "line 2: strike: not a number: `abc`");
    }

    #[test]
    fn bad_header_and_type_are_rejected() {
        let err = read_table("type,strike,spot\n".as_bytes(), &COLUMNS).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("line 1: header: expected `type,spot,strike`"));
        let err = read_table("type,spot,strike\nbinary,1,2\n".as_bytes(), &COLUMNS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: type: expected `call` or `put`, found `binary`"
        );
    }

    #[test]
    fn crlf_and_blank_lines_are_accepted() {
        let rows = read_table(
            "type,spot,strike\r\n\r\ncall,1.5,2\r\n".as_bytes(),
            &COLUMNS,
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![Row {
                line: 3,
                is_call: true,
                numbers: vec![1.5, 2.0]
            }]
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = read_table(&bytes[..], &COLUMNS);
        }

        #[test]
        fn arbitrary_lines_never_panic(lines in proptest::collection::vec("[a-z0-9,.e+-]{0,30}", 0..10)) {
            let text = format!("type,spot,strike\n{}", lines.join("\n"));
            let _ = read_table(text.as_bytes(), &COLUMNS);
        }

        #[test]
        fn numbers_round_trip_through_the_writer(value in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL) {
            let mut out = Vec::new();
            write_number(&mut out, value).unwrap();
            let back: f64 = std::str::from_utf8(&out).unwrap().parse().unwrap();
            proptest::prop_assert_eq!(back.to_bits(), value.to_bits());
        }
    }
}
