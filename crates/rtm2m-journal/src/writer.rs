//! Group commit on threads of its own: the engine's thread hands over [`Group`]s through a bounded queue
//! (it blocks when the journal falls behind: back-pressure, no unbounded buffering). Three threads in a
//! pipeline, each with a bounded queue of one group ahead of it: one writes each output's JSON line, one
//! commits the group in one transaction, one calls the commit hook (which writes the outputs and the
//! acknowledgement) on committed groups only, in order, so nothing is acknowledged before it is durable. The
//! commit thread waits on the disk (`fsync`) for a share of its time; the other two work meanwhile. A fourth
//! thread copies the WAL into the database (SQLite's checkpoint) while the next group commits, which the
//! commit that filled the WAL would otherwise do before the next could start.
use crate::{Group, Journal, JournalError, WalCheckpointer};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// SQLite's default `wal_autocheckpoint`, given back to the journal when the writer finishes.
const AUTOCHECKPOINT_PAGES: u32 = 1000;

/// Bytes of rows committed since the WAL was last emptied past which the commit thread waits for the
/// checkpointer to catch up (the WAL starts over only when a transaction begins with all of it copied: a
/// bound on its size under sustained load).
const WAL_BYTES_MAX: u64 = 64 << 20;

/// The writer thread has stopped (a commit or the hook failed): [`Writer::finish`] returns why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the journal writer stopped")]
pub struct Stopped;

/// The hook called after each commit with the group and the JSON line of each of its outputs.
pub type CommitHook = Box<dyn FnMut(&Group, &[String]) -> Result<(), String> + Send>;

/// A running group-commit pipeline.
#[derive(Debug)]
pub struct Writer {
    queue: Option<SyncSender<Group>>,
    /// Writes the outputs' JSON lines.
    lines: Option<JoinHandle<()>>,
    /// Commits; gives the journal back.
    commit: Option<JoinHandle<Result<Journal, JournalError>>>,
    /// Calls the hook.
    publish: Option<JoinHandle<Result<(), JournalError>>>,
    /// Checkpoints the WAL.
    checkpoint: Option<JoinHandle<Result<(), JournalError>>>,
}

/// What the commit thread and the checkpoint thread share: commits are numbered from 1.
#[derive(Debug, Default)]
struct Progress {
    /// The last commit.
    committed: u64,
    /// The last commit a checkpoint was started after.
    attempted: u64,
    /// The last commit entirely copied into the database.
    copied: u64,
    /// The commit the commit thread waits to see copied (0: none).
    awaited: u64,
    /// No more commits.
    done: bool,
    /// The checkpoint thread stopped on an error.
    failed: bool,
}

/// Applies its change to the shared [`Progress`] when dropped: when its thread ends, panics included, so
/// that the other thread never waits on it for ever.
struct OnExit<'a>(&'a Checkpoints, fn(&mut Progress));

impl Drop for OnExit<'_> {
    fn drop(&mut self) {
        self.0.update(self.1);
    }
}

/// [`Progress`] with its condition variable.
#[derive(Debug, Default)]
struct Checkpoints {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Checkpoints {
    fn update(&self, f: impl FnOnce(&mut Progress)) {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut p);
        self.changed.notify_all();
    }

    /// Waits until commit `n` is copied into the database; false when the checkpoint thread failed.
    fn wait_copied(&self, n: u64) -> bool {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        p.awaited = n;
        self.changed.notify_all();
        while p.copied < n && !p.failed {
            p = self.changed.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        p.awaited = 0;
        !p.failed
    }

    /// The checkpoint thread: after each commit (and again while the commit thread waits on an
    /// incomplete copy), copies the WAL into the database.
    fn run(&self, wal: WalCheckpointer) -> Result<(), JournalError> {
        // Ended before the commits did: an error (or a panic) the commit thread must not wait on.
        let _failed = OnExit(self, |p| p.failed |= !p.done);
        loop {
            let target = {
                let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
                while p.committed == p.attempted && p.awaited <= p.copied && !p.done {
                    p = self.changed.wait(p).unwrap_or_else(|e| e.into_inner());
                }
                if p.done && p.committed == p.attempted {
                    return Ok(());
                }
                p.committed
            };
            let complete = wal.checkpoint()?;
            self.update(|p| {
                p.attempted = target;
                if complete {
                    p.copied = p.copied.max(target);
                }
            });
            if !complete {
                // A reader holds older pages: try again shortly rather than spin.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

/// A group with the JSON line of each of its outputs.
type Lined = (Group, Vec<String>);

impl Writer {
    /// Starts the threads, with a queue of `depth` groups ahead of the first.
    ///
    /// The WAL is copied into the database by a thread of its own (`rtm2m-checkpoint`, a second connection)
    /// while the next group is committed, instead of by the commit that fills it; when that thread cannot be
    /// set up, commits checkpoint as SQLite does by default.
    pub fn spawn(journal: Journal, depth: usize, hook: CommitHook) -> Writer {
        Writer::with_wal_bound(journal, depth, hook, WAL_BYTES_MAX)
    }

    /// [`Writer::spawn`], the commit thread waiting for the checkpoint thread once about `wal_bytes` of rows
    /// were committed since the WAL last started over (64 MiB by default): the WAL's size under sustained
    /// load.
    pub fn with_wal_bound(
        mut journal: Journal,
        depth: usize,
        mut hook: CommitHook,
        wal_bytes: u64,
    ) -> Writer {
        let (tx, rx) = sync_channel::<Group>(depth.max(1));
        let (to_commit, commits) = sync_channel::<Lined>(1);
        let (to_publish, published) = sync_channel::<Lined>(1);
        let path = journal.path().to_owned();
        let lines = std::thread::Builder::new()
            .name("rtm2m-lines".into())
            .spawn(move || {
                for group in rx {
                    let bodies: Vec<String> =
                        group.outputs.iter().map(|(_, o)| o.to_json()).collect();
                    // The commit thread stopped: its error is what `finish` reports.
                    if to_commit.send((group, bodies)).is_err() {
                        return;
                    }
                }
            })
            .expect("the journal's line thread starts");
        let checkpoints = Arc::new(Checkpoints::default());
        let checkpoint = journal
            .checkpointer()
            .and_then(|wal| journal.set_autocheckpoint(0).map(|()| wal))
            .ok()
            .map(|wal| {
                let shared = Arc::clone(&checkpoints);
                std::thread::Builder::new()
                    .name("rtm2m-checkpoint".into())
                    .spawn(move || shared.run(wal))
                    .expect("the journal's checkpoint thread starts")
            });
        let checkpointed = checkpoint.is_some();
        let commit = std::thread::Builder::new()
            .name("rtm2m-journal".into())
            .spawn(move || {
                let _done = OnExit(&checkpoints, |p| p.done = true);
                let (mut n, mut unchecked) = (0u64, 0u64);
                for (group, bodies) in commits {
                    journal.commit_with_bodies(&group, &bodies)?;
                    n += 1;
                    if checkpointed {
                        checkpoints.update(|p| p.committed = n);
                        unchecked += group_bytes(&group, &bodies);
                        if unchecked > wal_bytes {
                            if !checkpoints.wait_copied(n) {
                                // The checkpoint thread's error is what `finish` reports.
                                break;
                            }
                            unchecked = 0;
                        }
                    }
                    // The hook's thread stopped: its error is what `finish` reports.
                    if to_publish.send((group, bodies)).is_err() {
                        break;
                    }
                }
                Ok(journal)
            })
            .expect("the journal thread starts");
        let publish = std::thread::Builder::new()
            .name("rtm2m-publish".into())
            .spawn(move || {
                for (group, bodies) in published {
                    hook(&group, &bodies).map_err(|reason| JournalError::Io {
                        path: path.clone(),
                        reason: format!("after commit: {reason}"),
                    })?;
                }
                Ok(())
            })
            .expect("the journal's hook thread starts");
        Writer {
            queue: Some(tx),
            lines: Some(lines),
            commit: Some(commit),
            publish: Some(publish),
            checkpoint,
        }
    }

    /// Hands a group over (blocks while the queue is full). An error means the writer stopped: call
    /// [`Writer::finish`] for its reason.
    pub fn send(&self, group: Group) -> Result<(), Stopped> {
        self.queue
            .as_ref()
            .expect("a writer not finished has a queue")
            .send(group)
            .map_err(|_| Stopped)
    }

    /// Hands a group over if the queue has room; gives it back when the writer is still busy (the caller
    /// keeps adding to it: group commit), or an error when the writer stopped.
    pub fn try_send(&self, group: Group) -> Result<Result<(), Group>, Stopped> {
        match self
            .queue
            .as_ref()
            .expect("a writer not finished has a queue")
            .try_send(group)
        {
            Ok(()) => Ok(Ok(())),
            Err(std::sync::mpsc::TrySendError::Full(g)) => Ok(Err(g)),
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => Err(Stopped),
        }
    }

    /// Waits for every group handed over to be committed and its hook called; returns the journal, or the
    /// first error (a commit's before the hook's).
    pub fn finish(mut self) -> Result<Journal, JournalError> {
        drop(self.queue.take());
        let lines = self.lines.take().expect("a writer is finished once").join();
        let commit = joined(self.commit.take(), "journal thread");
        let publish = joined(self.publish.take(), "journal hook thread");
        let checkpoint = match self.checkpoint.take() {
            Some(thread) => joined(Some(thread), "journal checkpoint thread"),
            None => Ok(()),
        };
        if lines.is_err() {
            return Err(panicked("journal line thread"));
        }
        let journal = commit?;
        publish?;
        checkpoint?;
        journal.set_autocheckpoint(AUTOCHECKPOINT_PAGES)?;
        Ok(journal)
    }
}

/// What a thread of the writer returned (`what` names it when it panicked).
fn joined<T>(
    thread: Option<JoinHandle<Result<T, JournalError>>>,
    what: &str,
) -> Result<T, JournalError> {
    thread
        .expect("a writer is finished once")
        .join()
        .unwrap_or_else(|_| Err(panicked(what)))
}

/// The error of a thread of the writer that panicked.
fn panicked(what: &str) -> JournalError {
    JournalError::State {
        path: what.into(),
        reason: "panicked".into(),
    }
}

/// About the bytes a group adds to the WAL: its rows' text and a few dozen bytes of columns each, and its
/// snapshot.
fn group_bytes(group: &Group, bodies: &[String]) -> u64 {
    let inputs: usize = group.inputs.iter().map(|i| i.body.len() + 48).sum();
    let outputs: usize = bodies.iter().map(|b| b.len() + 96).sum();
    let snapshot = group.snapshot.as_ref().map_or(0, |(_, body, _)| body.len());
    (inputs + outputs + snapshot) as u64
}
