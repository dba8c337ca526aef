//! # rtm2m-journal
//!
//! Durability for the engine: an append-only journal of the input events the engine applied, in one
//! SQLite database (WAL mode), with a CRC-32 on every row, group commit, atomic snapshots of the engine's
//! state, recovery (latest valid snapshot + journal tail, a corrupt tail detected and cut), deterministic
//! replay, and the output history (margins, status transitions, liquidation alerts, rejections) queryable
//! with `sqlite3`. It must never acknowledge an event before the transaction holding it is committed, and
//! never journal a rejected event as applied.
//!
//! The schema, the durability guarantees and example queries are in `docs/journal.md`.
//!
//! ## Contents
//! - [`Journal`]: open, initialise with the accounts file, commit a [`Group`], recover, replay, query.
//! - [`writer`]: the group-commit thread (bounded queue) that commits groups and reports each commit.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod writer;

use rtm2m_engine::event::Output;
use rtm2m_engine::{Engine, EngineError, Genesis, Parallelism, Verdict};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// The journal's file name inside the data directory.
pub const DB_FILE: &str = "journal.sqlite";

const FORMAT: &str = "rtm2m-journal 1";

/// SQLite page size of a new journal, bytes.
const PAGE_SIZE: usize = 16384;

/// Snapshots kept (older ones are deleted when a new one is written).
pub const SNAPSHOTS_KEPT: usize = 2;

/// What went wrong with the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite refused an operation.
    #[error("{path}: sqlite: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The data directory cannot be created or read.
    #[error("{path}: {reason}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The journal is not in the expected state (no accounts file, another format, another accounts file).
    #[error("{path}: {reason}")]
    State {
        /// The database.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The engine refused the journal's contents (accounts file, snapshot).
    #[error("{path}: {source}")]
    Engine {
        /// The database.
        path: PathBuf,
        /// The engine's error.
        #[source]
        source: EngineError,
    },
}

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// `synchronous=FULL`: each commit is fsynced before it returns; an acknowledged event survives a power
    /// loss or an OS crash.
    Full,
    /// `synchronous=NORMAL` (WAL): commits are written to the OS but fsynced only at checkpoints; an
    /// acknowledged event survives a crash of the process (SIGKILL) but may be lost with the OS.
    Normal,
}

/// One applied input, as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    /// Stream seq.
    pub seq: u64,
    /// Event time, ns since the epoch.
    pub ts_ns: i64,
    /// Event type.
    pub kind: &'static str,
    /// The input line as read (UTF-8 JSON).
    pub body: String,
}

/// What one commit writes: the inputs applied since the last commit, the outputs they caused (each with the
/// last applied seq when it was emitted), the highest seq processed (applied or rejected), and optionally a
/// snapshot of the state after the last input.
#[derive(Debug, Default)]
pub struct Group {
    /// Applied inputs, in order.
    pub inputs: Vec<InputRecord>,
    /// Outputs with the last applied seq at their emission.
    pub outputs: Vec<(u64, Output)>,
    /// Highest seq processed, applied or rejected (a resumed run skips up to it).
    pub processed_seq: u64,
    /// Line of the input file processed last (a resumed run on the same file skips the unreadable lines up
    /// to it, which carry no seq).
    pub processed_line: u64,
    /// (last applied seq, state bytes, state hash).
    pub snapshot: Option<(u64, Vec<u8>, [u8; 32])>,
}

impl Group {
    /// True when it writes nothing new.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty() && self.outputs.is_empty() && self.snapshot.is_none()
    }
}

/// One published margin of an account.
#[derive(Debug, Clone, PartialEq)]
pub struct MarginRow {
    /// Seq of the input that caused it.
    pub seq: u64,
    /// Status.
    pub status: String,
    /// Equity, USD.
    pub equity_usd: f64,
    /// IM, USD.
    pub im_usd: f64,
    /// MM, USD.
    pub mm_usd: f64,
}

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    /// The engine as of the last committed input.
    pub engine: Engine,
    /// Seq of the snapshot it started from (None: from the accounts file).
    pub snapshot_seq: Option<u64>,
    /// Inputs replayed after the snapshot.
    pub replayed: u64,
    /// Rows cut from a corrupt tail: (first bad seq, why), when any.
    pub cut: Option<(u64, String)>,
    /// Snapshots found unusable (seq, why).
    pub bad_snapshots: Vec<(u64, String)>,
    /// Highest seq processed (applied or rejected).
    pub processed_seq: u64,
}

fn crc_input(seq: u64, ts_ns: i64, kind: &str, body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&ts_ns.to_le_bytes());
    h.update(kind.as_bytes());
    h.update(&[0]);
    h.update(body);
    h.finalize()
}

/// A connection that copies the WAL's committed pages into the database (SQLite's checkpoint), so that the
/// committing connection does not have to.
pub(crate) struct WalCheckpointer {
    conn: Connection,
    path: PathBuf,
}

impl WalCheckpointer {
    /// Copies every page committed so far, without waiting for the writer; true when the WAL is then
    /// entirely in the database (the next transaction starts it over).
    pub fn checkpoint(&self) -> Result<bool, JournalError> {
        let (busy, log, copied): (i64, i64, i64) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(|source| JournalError::Sqlite {
                path: self.path.clone(),
                source,
            })?;
        Ok(busy == 0 && log == copied)
    }
}

/// The journal of one data directory.
#[derive(Debug)]
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS inputs(
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outputs(
    id INTEGER PRIMARY KEY,
    after_seq INTEGER NOT NULL,
    seq INTEGER,
    ts_ns INTEGER,
    type TEXT NOT NULL,
    account TEXT,
    status TEXT,
    equity_usd REAL,
    im_usd REAL,
    mm_usd REAL,
    body TEXT NOT NULL,
    crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots(
    seq INTEGER PRIMARY KEY,
    state_hash BLOB NOT NULL,
    body BLOB NOT NULL,
    crc INTEGER NOT NULL);
";

impl Journal {
    /// Opens (creating when absent) the journal in `dir`.
    pub fn open(dir: &Path, sync: SyncMode) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(dir).map_err(|e| JournalError::Io {
            path: dir.to_owned(),
            reason: format!("cannot create the data directory: {e}"),
        })?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| JournalError::Sqlite {
            path: path.clone(),
            source,
        })?;
        let j = Journal { conn, path };
        let sync = match sync {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        };
        // 16 KiB pages (set before the first write: a new journal only): a fourth of the page headers,
        // WAL frames and B-tree splits of the 4 KiB default for rows of a few hundred bytes appended in
        // order.
        j.conn
            .execute_batch(&format!(
                "PRAGMA page_size={PAGE_SIZE}; PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; \
                 PRAGMA cache_size=-65536;"
            ))
            .map_err(|e| j.sql(e))?;
        j.conn.execute_batch(SCHEMA).map_err(|e| j.sql(e))?;
        match j.meta("format")? {
            None => {
                j.conn
                    .execute(
                        "INSERT INTO meta(key, value) VALUES ('format', ?1)",
                        params![FORMAT.as_bytes()],
                    )
                    .map_err(|e| j.sql(e))?;
            }
            Some(f) if f == FORMAT.as_bytes() => {}
            Some(f) => {
                return Err(j.state(format!(
                    "journal format {:?} is not {FORMAT:?}",
                    String::from_utf8_lossy(&f)
                )))
            }
        }
        Ok(j)
    }

    fn sql(&self, source: rusqlite::Error) -> JournalError {
        JournalError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn state(&self, reason: impl Into<String>) -> JournalError {
        JournalError::State {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn engine_err(&self, source: EngineError) -> JournalError {
        JournalError::Engine {
            path: self.path.clone(),
            source,
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets how many pages a commit may leave in the WAL before it checkpoints them itself (SQLite's
    /// `wal_autocheckpoint`; 0: never, a [`WalCheckpointer`] does).
    pub(crate) fn set_autocheckpoint(&self, pages: u32) -> Result<(), JournalError> {
        self.conn
            .pragma_update_and_check(None, "wal_autocheckpoint", pages, |_| Ok(()))
            .map_err(|e| self.sql(e))
    }

    /// A second connection to this journal, to checkpoint its WAL from another thread.
    pub(crate) fn checkpointer(&self) -> Result<WalCheckpointer, JournalError> {
        let conn = Connection::open(&self.path).map_err(|e| self.sql(e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| self.sql(e))?;
        Ok(WalCheckpointer {
            conn,
            path: self.path.clone(),
        })
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, JournalError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// The accounts file the journal was started with.
    pub fn genesis(&self) -> Result<Option<String>, JournalError> {
        Ok(self
            .meta("genesis")?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Records the accounts file and the outputs of the starting accounts; an error when the journal was
    /// started with another accounts file.
    pub fn init(&mut self, accounts_json: &str, outputs: &[Output]) -> Result<(), JournalError> {
        match self.genesis()? {
            Some(g) if g == accounts_json => Ok(()),
            Some(_) => Err(self.state(
                "the data directory was started with another accounts file (replay it or use a new directory)",
            )),
            None => {
                let tx = self.conn.transaction().map_err(|e| JournalError::Sqlite {
                    path: self.path.clone(),
                    source: e,
                })?;
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES ('genesis', ?1)",
                    params![accounts_json.as_bytes()],
                )
                .map_err(|e| JournalError::Sqlite {
                    path: self.path.clone(),
                    source: e,
                })?;
                let bodies: Vec<String> = outputs.iter().map(Output::to_json).collect();
                insert_outputs(&tx, outputs.iter().zip(&bodies).map(|(o, b)| (0, o, b.as_str())))
                    .map_err(|e| JournalError::Sqlite {
                        path: self.path.clone(),
                        source: e,
                    })?;
                tx.commit().map_err(|e| JournalError::Sqlite {
                    path: self.path.clone(),
                    source: e,
                })
            }
        }
    }

    /// Commits one group in one transaction; when this returns Ok the group is durable (per the
    /// [`SyncMode`]).
    pub fn commit(&mut self, group: &Group) -> Result<(), JournalError> {
        let bodies: Vec<String> = group.outputs.iter().map(|(_, o)| o.to_json()).collect();
        self.commit_with_bodies(group, &bodies)
    }

    /// [`Journal::commit`] with the JSON line of each output already made (`bodies[k]` of
    /// `group.outputs[k]`).
    pub fn commit_with_bodies(
        &mut self,
        group: &Group,
        bodies: &[String],
    ) -> Result<(), JournalError> {
        debug_assert_eq!(bodies.len(), group.outputs.len());
        let path = self.path.clone();
        let sql = |source| JournalError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        insert_inputs(&tx, &group.inputs).map_err(sql)?;
        insert_outputs(
            &tx,
            group
                .outputs
                .iter()
                .zip(bodies)
                .map(|((a, o), b)| (*a, o, b.as_str())),
        )
        .map_err(sql)?;
        for (key, value) in [
            ("processed_seq", group.processed_seq),
            ("processed_line", group.processed_line),
        ] {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value.to_le_bytes().to_vec()],
            )
            .map_err(sql)?;
        }
        if let Some((seq, body, hash)) = &group.snapshot {
            tx.execute(
                "INSERT OR REPLACE INTO snapshots(seq, state_hash, body, crc) VALUES (?1, ?2, ?3, ?4)",
                params![*seq as i64, hash.to_vec(), body, crc32fast::hash(body)],
            )
            .map_err(sql)?;
            tx.execute(
                "DELETE FROM snapshots WHERE seq NOT IN
                 (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?1)",
                params![SNAPSHOTS_KEPT as i64],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    /// Highest seq processed (applied or rejected) by committed groups.
    pub fn processed_seq(&self) -> Result<u64, JournalError> {
        self.meta_u64("processed_seq")
    }

    /// Line of the input file processed last by committed groups.
    pub fn processed_line(&self) -> Result<u64, JournalError> {
        self.meta_u64("processed_line")
    }

    fn meta_u64(&self, key: &str) -> Result<u64, JournalError> {
        Ok(self
            .meta(key)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map_or(0, u64::from_le_bytes))
    }

    /// Seqs of every journaled input, in order.
    pub fn input_seqs(&self) -> Result<Vec<u64>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq FROM inputs ORDER BY seq")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .map_err(|e| self.sql(e))?;
        rows.map(|r| r.map(|x| x as u64).map_err(|e| self.sql(e)))
            .collect()
    }

    /// Seqs of the rejected inputs recorded (those whose seq could be read), in order.
    pub fn rejected_seqs(&self) -> Result<Vec<u64>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq FROM outputs WHERE type = 'rejected' AND seq IS NOT NULL ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .map_err(|e| self.sql(e))?;
        rows.map(|r| r.map(|x| x as u64).map_err(|e| self.sql(e)))
            .collect()
    }

    /// Every output line recorded, in emission order, each with its newline.
    pub fn for_each_output(&self, mut f: impl FnMut(&str)) -> Result<(), JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM outputs ORDER BY id")
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.sql(e))?;
        while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
            let body: String = r.get(0).map_err(|e| self.sql(e))?;
            f(&body);
        }
        Ok(())
    }

    /// Margin history of `account`: each published margin, in order.
    pub fn margin_history(&self, account: &str) -> Result<Vec<MarginRow>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, status, equity_usd, im_usd, mm_usd FROM outputs
                 WHERE type = 'margin' AND account = ?1 ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![account], |r| {
                Ok(MarginRow {
                    seq: r.get::<_, i64>(0)? as u64,
                    status: r.get(1)?,
                    equity_usd: r.get(2)?,
                    im_usd: r.get(3)?,
                    mm_usd: r.get(4)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.map(|r| r.map_err(|e| self.sql(e))).collect()
    }

    /// Cuts the journal at `seq`: inputs from it on, the outputs emitted from it on, and snapshots past it.
    fn cut_from(&mut self, seq: u64) -> Result<(), JournalError> {
        let path = self.path.clone();
        let sql = |source| JournalError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute("DELETE FROM inputs WHERE seq >= ?1", params![seq as i64])
            .map_err(sql)?;
        tx.execute(
            "DELETE FROM outputs WHERE id >= (SELECT MIN(id) FROM outputs WHERE after_seq >= ?1)",
            params![seq as i64],
        )
        .map_err(sql)?;
        tx.execute("DELETE FROM snapshots WHERE seq >= ?1", params![seq as i64])
            .map_err(sql)?;
        // The line position is no longer known: unreadable lines may be reported again on resume.
        tx.execute("DELETE FROM meta WHERE key = 'processed_line'", [])
            .map_err(sql)?;
        let processed: i64 = tx
            .query_row(
                "SELECT MAX(COALESCE((SELECT MAX(seq) FROM inputs), 0),
                            COALESCE((SELECT MAX(seq) FROM outputs WHERE type = 'rejected'), 0))",
                [],
                |r| r.get(0),
            )
            .map_err(sql)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('processed_seq', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![(processed as u64).to_le_bytes().to_vec()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Finds the first input row whose checksum or content is bad (a torn or corrupt tail).
    fn first_bad_input(&self, after: u64) -> Result<Option<(u64, String)>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, ts_ns, type, body, crc FROM inputs WHERE seq > ?1 ORDER BY seq")
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query(params![after as i64]).map_err(|e| self.sql(e))?;
        while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
            let seq = r.get::<_, i64>(0).map_err(|e| self.sql(e))? as u64;
            let ts_ns: i64 = r.get(1).map_err(|e| self.sql(e))?;
            let kind: String = r.get(2).map_err(|e| self.sql(e))?;
            let body: Vec<u8> = match r.get_ref(3).map_err(|e| self.sql(e))? {
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                    t.to_vec()
                }
                _ => return Ok(Some((seq, "body is not text".into()))),
            };
            let crc = r.get::<_, i64>(4).map_err(|e| self.sql(e))?;
            if crc != i64::from(crc_input(seq, ts_ns, &kind, &body)) {
                return Ok(Some((seq, "checksum mismatch".into())));
            }
        }
        Ok(None)
    }

    /// Rebuilds the engine: the latest snapshot that decodes and whose hash checks, then every journaled
    /// input after it; a corrupt tail is cut first. The engine runs on the worker threads `parallelism` asks
    /// for (a thread count converts: 0 for one per core, pinned).
    pub fn recover(
        &mut self,
        parallelism: impl Into<Parallelism>,
    ) -> Result<Recovered, JournalError> {
        let parallelism: Parallelism = parallelism.into();
        let genesis_text = self
            .genesis()?
            .ok_or_else(|| self.state("the journal has no accounts file (never run)"))?;
        let cut = self.first_bad_input(0)?;
        if let Some((seq, _)) = &cut {
            self.cut_from(*seq)?;
        }
        let mut bad_snapshots = Vec::new();
        let mut start: Option<(u64, Engine)> = None;
        {
            let mut stmt = self
                .conn
                .prepare("SELECT seq, state_hash, body, crc FROM snapshots ORDER BY seq DESC")
                .map_err(|e| self.sql(e))?;
            let mut rows = stmt.query([]).map_err(|e| self.sql(e))?;
            while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
                let seq = r.get::<_, i64>(0).map_err(|e| self.sql(e))? as u64;
                let hash: Vec<u8> = r.get(1).map_err(|e| self.sql(e))?;
                let body: Vec<u8> = r.get(2).map_err(|e| self.sql(e))?;
                let crc: i64 = r.get(3).map_err(|e| self.sql(e))?;
                if crc != i64::from(crc32fast::hash(&body)) {
                    bad_snapshots.push((seq, "checksum mismatch".into()));
                    continue;
                }
                match Engine::restore(&body, parallelism) {
                    Ok(e)
                        if e.state_hash().as_slice() == hash.as_slice() && e.last_seq() == seq =>
                    {
                        start = Some((seq, e));
                        break;
                    }
                    Ok(_) => bad_snapshots.push((
                        seq,
                        "restored state does not hash to the recorded hash".into(),
                    )),
                    Err(e) => bad_snapshots.push((seq, e.to_string())),
                }
            }
        }
        let (snapshot_seq, mut engine) = match start {
            Some((seq, e)) => (Some(seq), e),
            None => {
                let g = Genesis::from_json(&genesis_text).map_err(|e| self.engine_err(e))?;
                (
                    None,
                    Engine::new(&g, parallelism)
                        .map_err(|e| self.engine_err(e))?
                        .0,
                )
            }
        };
        let mut replayed = 0;
        let mut out = Vec::new();
        self.for_each_input(snapshot_seq.unwrap_or(0), |seq, body| {
            out.clear();
            match engine.apply_line(None, body, &mut out) {
                Verdict::Applied => {
                    replayed += 1;
                    Ok(())
                }
                Verdict::Rejected { .. } => Err(format!(
                    "journaled input {seq} is rejected on replay: {}",
                    out.last().map(Output::to_json).unwrap_or_default()
                )),
            }
        })?;
        let processed_seq = self.processed_seq()?.max(engine.last_seq());
        Ok(Recovered {
            engine,
            snapshot_seq,
            replayed,
            cut,
            bad_snapshots,
            processed_seq,
        })
    }

    fn for_each_input(
        &self,
        after: u64,
        mut f: impl FnMut(u64, &str) -> Result<(), String>,
    ) -> Result<(), JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, body FROM inputs WHERE seq > ?1 ORDER BY seq")
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query(params![after as i64]).map_err(|e| self.sql(e))?;
        while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
            let seq = r.get::<_, i64>(0).map_err(|e| self.sql(e))? as u64;
            let body: String = r.get(1).map_err(|e| self.sql(e))?;
            f(seq, &body).map_err(|reason| self.state(reason))?;
        }
        Ok(())
    }

    /// Replays the whole journal from the accounts file on the worker threads `parallelism` asks for (a
    /// thread count converts), calling `sink` with every output in the order the run emitted them (recorded
    /// rejections merged back at their place); returns the engine at the end.
    pub fn replay(
        &self,
        parallelism: impl Into<Parallelism>,
        mut sink: impl FnMut(&Output),
    ) -> Result<Engine, JournalError> {
        let genesis_text = self
            .genesis()?
            .ok_or_else(|| self.state("the journal has no accounts file (never run)"))?;
        let g = Genesis::from_json(&genesis_text).map_err(|e| self.engine_err(e))?;
        let (mut engine, outputs) = Engine::new(&g, parallelism).map_err(|e| self.engine_err(e))?;
        for o in &outputs {
            sink(o);
        }
        // Recorded rejections: (after_seq, body), in emission order.
        let mut rejections: Vec<(u64, String)> = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT after_seq, body FROM outputs WHERE type = 'rejected' ORDER BY id")
                .map_err(|e| self.sql(e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
                })
                .map_err(|e| self.sql(e))?;
            for r in rows {
                rejections.push(r.map_err(|e| self.sql(e))?);
            }
        }
        let mut next = 0;
        let emit_rejections =
            |upto: u64, next: &mut usize, sink: &mut dyn FnMut(&Output)| -> Result<(), String> {
                while *next < rejections.len() && rejections[*next].0 < upto {
                    let o = rejected_from_json(&rejections[*next].1)?;
                    sink(&o);
                    *next += 1;
                }
                Ok(())
            };
        let mut out = Vec::new();
        self.for_each_input(0, |seq, body| {
            emit_rejections(seq, &mut next, &mut sink)?;
            out.clear();
            match engine.apply_line(None, body, &mut out) {
                Verdict::Applied => {
                    for o in &out {
                        sink(o);
                    }
                    Ok(())
                }
                Verdict::Rejected { .. } => {
                    Err(format!("journaled input {seq} is rejected on replay"))
                }
            }
        })?;
        emit_rejections(u64::MAX, &mut next, &mut sink).map_err(|r| self.state(r))?;
        Ok(engine)
    }
}

/// A recorded `rejected` output read back.
fn rejected_from_json(text: &str) -> Result<Output, String> {
    #[derive(serde::Deserialize)]
    struct Wire {
        v: u32,
        #[serde(default)]
        seq: Option<u64>,
        #[serde(default)]
        ts: Option<rtm2m_market::Timestamp>,
        #[serde(default)]
        line: Option<u64>,
        #[serde(default)]
        event_type: Option<String>,
        field: String,
        reason: String,
    }
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut v = v;
    if let Some(o) = v.as_object_mut() {
        o.remove("type");
    }
    let w: Wire = serde_json::from_value(v).map_err(|e| format!("recorded rejection: {e}"))?;
    Ok(Output::Rejected(rtm2m_engine::event::RejectedOut {
        v: w.v,
        seq: w.seq,
        ts: w.ts,
        line: w.line,
        event_type: w.event_type,
        field: w.field,
        reason: w.reason,
    }))
}

/// Rows per multi-row `INSERT` (one statement binds this many rows: SQLite runs one program for them
/// instead of one per row).
const ROWS_PER_INSERT: usize = 32;

/// `INSERT OR FAIL INTO table(columns) VALUES (?, …), …` for `rows` rows of `columns`. `OR FAIL` instead
/// of the default `ABORT`: a failing row then leaves the statement's earlier rows in place instead of
/// undoing them, so SQLite keeps no statement journal (a copy of every page a statement touches, which
/// cost 15% of the journal thread); a failed commit rolls the whole transaction back all the same.
fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    let one = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT OR FAIL INTO {table}({}) VALUES {}",
        columns.join(", "),
        vec![one; rows].join(", ")
    )
}

/// Inserts `rows` with `bind(statement, first parameter index, row)` binding one row's columns: full
/// batches of [`ROWS_PER_INSERT`] in one statement each, the rest one row at a time.
fn insert_rows<T>(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    columns: &[&str],
    rows: &[T],
    bind: impl Fn(&mut rusqlite::CachedStatement<'_>, usize, &T) -> Result<(), rusqlite::Error>,
) -> Result<(), rusqlite::Error> {
    let mut batches = rows.chunks_exact(ROWS_PER_INSERT);
    if batches.len() > 0 {
        let mut stmt = tx.prepare_cached(&insert_sql(table, columns, ROWS_PER_INSERT))?;
        for batch in &mut batches {
            for (k, row) in batch.iter().enumerate() {
                bind(&mut stmt, k * columns.len() + 1, row)?;
            }
            stmt.raw_execute()?;
        }
    }
    let rest = batches.remainder();
    if !rest.is_empty() {
        let mut stmt = tx.prepare_cached(&insert_sql(table, columns, 1))?;
        for row in rest {
            bind(&mut stmt, 1, row)?;
            stmt.raw_execute()?;
        }
    }
    Ok(())
}

fn insert_inputs(
    tx: &rusqlite::Transaction<'_>,
    inputs: &[InputRecord],
) -> Result<(), rusqlite::Error> {
    insert_rows(
        tx,
        "inputs",
        &["seq", "ts_ns", "type", "body", "crc"],
        inputs,
        |stmt, at, i| {
            let crc = crc_input(i.seq, i.ts_ns, i.kind, i.body.as_bytes());
            stmt.raw_bind_parameter(at, i.seq as i64)?;
            stmt.raw_bind_parameter(at + 1, i.ts_ns)?;
            stmt.raw_bind_parameter(at + 2, i.kind)?;
            stmt.raw_bind_parameter(at + 3, i.body.as_str())?;
            stmt.raw_bind_parameter(at + 4, crc)
        },
    )
}

fn insert_outputs<'a>(
    tx: &rusqlite::Transaction<'_>,
    outputs: impl Iterator<Item = (u64, &'a Output, &'a str)>,
) -> Result<(), rusqlite::Error> {
    let rows: Vec<(u64, &Output, &str)> = outputs.collect();
    insert_rows(
        tx,
        "outputs",
        &[
            "after_seq",
            "seq",
            "ts_ns",
            "type",
            "account",
            "status",
            "equity_usd",
            "im_usd",
            "mm_usd",
            "body",
            "crc",
        ],
        &rows,
        |stmt, at, &(after, o, body)| {
            let (status, equity, im, mm) = o.figures();
            let ts = match o {
                Output::Mark(m) => Some(m.ts),
                Output::Margin(m) => m.ts,
                Output::Status(s) => s.ts,
                Output::LiquidationAlert(a) => a.ts,
                Output::Rejected(r) => r.ts,
            };
            stmt.raw_bind_parameter(at, after as i64)?;
            stmt.raw_bind_parameter(at + 1, o.seq().map(|s| s as i64))?;
            stmt.raw_bind_parameter(at + 2, ts.map(|t| t.unix_nanos()))?;
            stmt.raw_bind_parameter(at + 3, o.type_name())?;
            stmt.raw_bind_parameter(at + 4, o.account())?;
            stmt.raw_bind_parameter(at + 5, status.map(|s| s.name()))?;
            stmt.raw_bind_parameter(at + 6, equity)?;
            stmt.raw_bind_parameter(at + 7, im)?;
            stmt.raw_bind_parameter(at + 8, mm)?;
            stmt.raw_bind_parameter(at + 9, body)?;
            stmt.raw_bind_parameter(at + 10, crc32fast::hash(body.as_bytes()))
        },
    )
}
