//! Group commit on threads of its own: the engine's thread hands over [`Group`]s through a bounded queue
//! (it blocks when the journal falls behind: back-pressure, no unbounded buffering). Three threads in a
//! pipeline, each with a bounded queue of one group ahead of it: one writes each output's JSON line, one
//! commits the group in one transaction, one calls the commit hook (which writes the outputs and the
//! acknowledgement) on committed groups only, in order, so nothing is acknowledged before it is durable. The
//! commit thread waits on the disk (`fsync`) for a share of its time; the other two work meanwhile.
use crate::{Group, Journal, JournalError};
use std::sync::mpsc::{sync_channel, SyncSender};

use std::thread::JoinHandle;

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
}

/// A group with the JSON line of each of its outputs.
type Lined = (Group, Vec<String>);

impl Writer {
    /// Starts the threads, with a queue of `depth` groups ahead of the first.
    pub fn spawn(mut journal: Journal, depth: usize, mut hook: CommitHook) -> Writer {
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
        let commit = std::thread::Builder::new()
            .name("rtm2m-journal".into())
            .spawn(move || {
                for (group, bodies) in commits {
                    journal.commit_with_bodies(&group, &bodies)?;
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
        if lines.is_err() {
            return Err(panicked("journal line thread"));
        }
        let journal = commit?;
        publish?;
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
