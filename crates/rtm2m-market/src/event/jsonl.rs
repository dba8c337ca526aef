//! JSON Lines: reading events with line numbers, writing them canonically.
//!
//! Reading stops at the first malformed line: the iterator yields that error (with its 1-based line number)
//! and then ends. Blank lines (only spaces or tabs) are skipped; `\r\n` line ends are accepted; a line longer
//! than [`MAX_LINE_BYTES`] is an error, so memory per line is bounded.

use super::{Event, EventError};
use std::io::{BufRead, Read, Write};

/// The longest line read, in bytes (without its line end): 4 MiB, room for a book of 10,000 levels a side.
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// Iterator over the events of a JSON Lines stream; see [`read_events`].
#[derive(Debug)]
pub struct EventReader<R> {
    reader: R,
    line: u64,
    done: bool,
    buffer: Vec<u8>,
}

/// Reads events, one JSON object per line, from `reader`.
///
/// Each item is a validated event or the error of the first malformed line (`line 7: bid: must be a finite
/// number`), after which the iterator ends.
pub fn read_events<R: BufRead>(reader: R) -> EventReader<R> {
    EventReader {
        reader,
        line: 0,
        done: false,
        buffer: Vec::new(),
    }
}

impl<R: BufRead> EventReader<R> {
    /// The 1-based number of the last line read (0 before the first).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Reads the next line into the buffer; `Ok(false)` at the end of the stream.
    fn next_line(&mut self) -> Result<bool, EventError> {
        self.buffer.clear();
        self.line += 1;
        let limit = MAX_LINE_BYTES as u64 + 2;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buffer)
            .map_err(|e| {
                EventError::new("input", format!("cannot be read: {e}")).at_line(self.line)
            })?;
        if read == 0 {
            return Ok(false);
        }
        if self.buffer.last() == Some(&b'\n') {
            self.buffer.pop();
            if self.buffer.last() == Some(&b'\r') {
                self.buffer.pop();
            }
        }
        if self.buffer.len() > MAX_LINE_BYTES {
            return Err(
                EventError::new("line", format!("is longer than {MAX_LINE_BYTES} bytes"))
                    .at_line(self.line),
            );
        }
        Ok(true)
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    type Item = Result<Event, EventError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let outcome = match self.next_line() {
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Ok(true) => {
                    if self.buffer.iter().all(|b| matches!(b, b' ' | b'\t')) {
                        continue;
                    }
                    match std::str::from_utf8(&self.buffer) {
                        Ok(text) => Event::from_json(text).map_err(|e| e.at_line(self.line)),
                        Err(e) => Err(EventError::new(
                            "line",
                            format!("is not valid UTF-8 (byte {})", e.valid_up_to() + 1),
                        )
                        .at_line(self.line)),
                    }
                }
                Err(e) => Err(e),
            };
            if outcome.is_err() {
                self.done = true;
            }
            return Some(outcome);
        }
        None
    }
}

/// Writes one event as its canonical JSON line (with `\n`), after validating it.
pub fn write_event<W: Write>(writer: &mut W, event: &Event) -> Result<(), EventError> {
    let mut line = event.to_json()?;
    line.push('\n');
    writer
        .write_all(line.as_bytes())
        .map_err(|e| EventError::new("output", format!("cannot be written: {e}")))
}

/// Writes events as canonical JSON lines; returns how many were written. Stops at the first invalid event,
/// whose error carries its 1-based position in `events` as the line number.
pub fn write_events<'a, W: Write>(
    writer: &mut W,
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<u64, EventError> {
    let mut count = 0u64;
    for event in events {
        write_event(writer, event).map_err(|e| e.at_line(count + 1))?;
        count += 1;
    }
    Ok(count)
}
