//! CSV rows as importers read them: columns found by header name, fields parsed with line-numbered errors.

use crate::event::EventError;
use crate::time::Timestamp;
use std::io::Read;

type Result<T> = std::result::Result<T, EventError>;

/// A CSV file read record by record, the header (if any) already checked.
pub(crate) struct Csv<R: Read> {
    reader: csv::Reader<R>,
    record: csv::StringRecord,
    header: Vec<String>,
}

fn csv_error(error: &csv::Error, fallback_line: u64) -> EventError {
    let line = error.position().map_or(fallback_line, csv::Position::line);
    let reason = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields, found {len}"),
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_owned(),
        csv::ErrorKind::Io(e) => format!("cannot be read: {e}"),
        _ => error.to_string(),
    };
    EventError::new("row", reason).at_line(line)
}

impl<R: Read> Csv<R> {
    /// A file whose first line is a header naming at least the `required` columns (any order, others ignored).
    pub(crate) fn with_header(reader: R, required: &[&str]) -> Result<Csv<R>> {
        let mut csv = Csv::open(reader);
        if !csv
            .reader
            .read_record(&mut csv.record)
            .map_err(|e| csv_error(&e, 1))?
        {
            return Err(EventError::new("header", "the file is empty").at_line(1));
        }
        csv.header = csv.record.iter().map(|h| h.trim().to_owned()).collect();
        for column in required {
            if !csv.header.iter().any(|h| h == column) {
                return Err(
                    EventError::new("header", format!("has no column `{column}`")).at_line(1),
                );
            }
        }
        Ok(csv)
    }

    /// A file whose first line must be exactly `columns`.
    pub(crate) fn with_exact_header(reader: R, columns: &[&str]) -> Result<Csv<R>> {
        let csv = Csv::with_header(reader, columns)?;
        if csv.header != columns {
            return Err(EventError::new(
                "header",
                format!(
                    "expected `{}`, found `{}`",
                    columns.join(","),
                    csv.header.join(",")
                ),
            )
            .at_line(1));
        }
        Ok(csv)
    }

    /// A file with no header: every line is a record of `count` fields.
    pub(crate) fn without_header(reader: R, count: usize) -> Csv<R> {
        let mut csv = Csv::open(reader);
        csv.header = (0..count).map(|i| format!("column {}", i + 1)).collect();
        csv
    }

    fn open(reader: R) -> Csv<R> {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .from_reader(reader);
        Csv {
            reader,
            record: csv::StringRecord::new(),
            header: Vec::new(),
        }
    }

    /// The index of a header column (present: checked when the file was opened).
    pub(crate) fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .expect("required columns are checked when the file is opened")
    }

    /// The index of a column the format may lack (older files of the same source).
    pub(crate) fn optional_column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The next data row, or `None` at the end of the file.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row<'_>>> {
        let line = self.reader.position().line();
        if !self
            .reader
            .read_record(&mut self.record)
            .map_err(|e| csv_error(&e, line))?
        {
            return Ok(None);
        }
        if self.record.len() != self.header.len() {
            return Err(EventError::new(
                "row",
                format!(
                    "expected {} fields, found {}",
                    self.header.len(),
                    self.record.len()
                ),
            )
            .at_line(self.record.position().map_or(line, csv::Position::line)));
        }
        Ok(Some(Row {
            line: self.record.position().map_or(line, csv::Position::line),
            record: &self.record,
            header: &self.header,
        }))
    }
}

/// One data row with its 1-based line number.
pub(crate) struct Row<'a> {
    /// 1-based line number where the row starts.
    pub(crate) line: u64,
    record: &'a csv::StringRecord,
    header: &'a [String],
}

impl Row<'_> {
    /// An error in column `column` of this row.
    pub(crate) fn fault(&self, column: usize, reason: impl Into<String>) -> EventError {
        let field = self.header.get(column).map_or("row", String::as_str);
        EventError::new(field, reason).at_line(self.line)
    }

    /// The raw text of a column, trimmed.
    pub(crate) fn text(&self, column: usize) -> &str {
        self.record.get(column).unwrap_or("").trim()
    }

    /// A text column that may be empty (absent).
    pub(crate) fn opt_text(&self, column: usize) -> Option<String> {
        Some(self.text(column))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    }

    /// A required text column.
    pub(crate) fn required_text(&self, column: usize) -> Result<&str> {
        match self.text(column) {
            "" => Err(self.fault(column, "is empty")),
            text => Ok(text),
        }
    }

    /// A number that may be empty (absent).
    pub(crate) fn opt_f64(&self, column: usize) -> Result<Option<f64>> {
        let text = self.text(column);
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(self.fault(column, format!("`{text}` is not a finite number"))),
        }
    }

    /// A number that must be there.
    pub(crate) fn f64(&self, column: usize) -> Result<f64> {
        self.opt_f64(column)?
            .ok_or_else(|| self.fault(column, "is empty"))
    }

    /// A whole number that must be there.
    pub(crate) fn i64(&self, column: usize) -> Result<i64> {
        let text = self.required_text(column)?;
        text.parse::<i64>()
            .map_err(|_| self.fault(column, format!("`{text}` is not a whole number")))
    }

    /// An RFC 3339 time.
    pub(crate) fn timestamp(&self, column: usize) -> Result<Timestamp> {
        let text = self.required_text(column)?;
        Timestamp::parse_rfc3339(text).map_err(|e| self.fault(column, format!("`{text}`: {e}")))
    }

    /// A `True`/`False` flag (Python's spelling, as the collectors write it).
    pub(crate) fn flag(&self, column: usize) -> Result<bool> {
        match self.text(column) {
            "True" | "true" => Ok(true),
            "False" | "false" => Ok(false),
            other => Err(self.fault(column, format!("`{other}` is not True or False"))),
        }
    }
}
