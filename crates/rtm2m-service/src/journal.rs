//! The journal of applied inputs in the data directory: `journal/inputs-NNNNNN.jsonl`, one canonical input
//! line per applied event (the engine's format, with the seq the engine applied it under), appended by one
//! thread in group commits: every batch waiting is written, then one `fdatasync`, then the batches'
//! acknowledgements are released. A file is closed past [`FILE_BYTES_MAX`] and the oldest files beyond
//! [`FILES_KEPT`] are deleted, so the journal's disk use is bounded.
//!
//! `rtm2m-journal` (the SQLite journal of the engine) is not used here yet: its crate exposes nothing at the
//! time of writing. The files are plain engine input, so `rtm2m` can replay them (`serve --replay FILE`).

use crate::error::{io_error, ServiceError};
use crate::metrics::Metrics;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

/// A journal file is closed once larger than this, bytes.
pub const FILE_BYTES_MAX: u64 = 64 << 20;

/// Journal files kept; older ones are deleted.
pub const FILES_KEPT: usize = 8;

/// Batches waiting for the journal thread (the writer blocks beyond: back-pressure, not loss).
pub const QUEUE_BATCHES: usize = 1024;

/// A callback run once a batch is durable.
pub type Done = Box<dyn FnOnce() + Send>;

/// A batch of input lines and what to do once they are durable.
pub struct Batch {
    /// Lines, each ending in `\n`.
    pub bytes: Vec<u8>,
    /// Run after the `fdatasync` (acknowledgements to the API).
    pub done: Vec<Done>,
    /// When the batch was handed over.
    pub enqueued: Instant,
}

/// The sending side of the journal thread.
#[derive(Clone)]
pub struct Journal {
    tx: SyncSender<Batch>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

fn file_number(p: &Path) -> Option<u64> {
    p.file_name()?
        .to_str()?
        .strip_prefix("inputs-")?
        .strip_suffix(".jsonl")?
        .parse()
        .ok()
}

fn existing(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.path()))
                .filter_map(|p| Some((file_number(&p)?, p)))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

struct Writer {
    dir: PathBuf,
    number: u64,
    file: File,
    bytes: u64,
}

impl Writer {
    fn open(dir: &Path, number: u64) -> std::io::Result<Writer> {
        let path = dir.join(format!("inputs-{number:06}.jsonl"));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let bytes = file.metadata()?.len();
        Ok(Writer {
            dir: dir.to_owned(),
            number,
            file,
            bytes,
        })
    }

    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.bytes > FILE_BYTES_MAX {
            self.file.sync_data()?;
            *self = Writer::open(&self.dir, self.number + 1)?;
            let files = existing(&self.dir);
            if files.len() > FILES_KEPT {
                for (_, p) in &files[..files.len() - FILES_KEPT] {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        self.file.write_all(bytes)?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

impl Journal {
    /// Opens (creating) `data_dir/journal` and starts the journal thread; a new file is begun at each start.
    pub fn start(data_dir: &Path, metrics: Arc<Metrics>) -> Result<Journal, ServiceError> {
        let dir = data_dir.join("journal");
        std::fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
        let next = existing(&dir).last().map_or(1, |(n, _)| n + 1);
        let writer = Writer::open(&dir, next).map_err(io_error(format!(
            "opening a journal file in {}",
            dir.display()
        )))?;
        let (tx, rx) = sync_channel(QUEUE_BATCHES);
        std::thread::Builder::new()
            .name("rtm2m-journal".into())
            .spawn(move || run(writer, rx, &metrics))
            .map_err(io_error("starting the journal thread"))?;
        Ok(Journal { tx })
    }

    /// Hands a batch over (blocks while the queue is full).
    pub fn append(&self, batch: Batch) {
        if let Err(e) = self.tx.send(batch) {
            // The journal thread is gone (it stopped on an I/O error): acknowledge anyway, the error was
            // reported when it stopped.
            for d in e.0.done {
                d();
            }
        }
    }
}

fn run(mut w: Writer, rx: Receiver<Batch>, metrics: &Metrics) {
    let mut failed = false;
    while let Ok(first) = rx.recv() {
        let mut batches = vec![first];
        while let Ok(b) = rx.try_recv() {
            batches.push(b);
            if batches.len() >= 256 {
                break;
            }
        }
        if !failed {
            let mut result = Ok(());
            for b in &batches {
                if !b.bytes.is_empty() {
                    result = result.and_then(|_| w.append(&b.bytes));
                }
            }
            result = result.and_then(|_| w.file.sync_data());
            if let Err(e) = result {
                eprintln!("rtm2m: journal: {e}: journaling stops, the service goes on");
                failed = true;
            }
        }
        for b in batches {
            metrics.journal_commit.observe(b.enqueued.elapsed());
            for d in b.done {
                d();
            }
        }
    }
}
