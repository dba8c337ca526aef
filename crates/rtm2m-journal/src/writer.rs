//! Group commit on a thread of its own: the engine's thread hands over [`Group`]s through a bounded queue
//! (it blocks when the journal falls behind: back-pressure, no unbounded buffering); the writer commits each
//! group in one transaction and then calls the commit hook (which writes the outputs and the
//! acknowledgement), so nothing is acknowledged before it is durable.

use crate::{Group, Journal, JournalError};
use std::sync::mpsc::{sync_channel, SyncSender};

use std::thread::JoinHandle;

/// The writer thread has stopped (a commit or the hook failed): [`Writer::finish`] returns why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the journal writer stopped")]
pub struct Stopped;

/// The hook called after each commit with the group and the JSON line of each of its outputs.
pub type CommitHook = Box<dyn FnMut(&Group, &[String]) -> Result<(), String> + Send>;

/// A running group-commit thread.
#[derive(Debug)]
pub struct Writer {
    queue: Option<SyncSender<Group>>,
    thread: Option<JoinHandle<Result<Journal, JournalError>>>,
}

impl Writer {
    /// Starts the thread with a queue of `depth` groups.
    pub fn spawn(mut journal: Journal, depth: usize, mut hook: CommitHook) -> Writer {
        let (tx, rx) = sync_channel::<Group>(depth.max(1));
        let thread = std::thread::Builder::new()
            .name("rtm2m-journal".into())
            .spawn(move || {
                for group in rx {
                    let bodies: Vec<String> =
                        group.outputs.iter().map(|(_, o)| o.to_json()).collect();
                    journal.commit_with_bodies(&group, &bodies)?;
                    hook(&group, &bodies).map_err(|reason| JournalError::Io {
                        path: journal.path().to_owned(),
                        reason: format!("after commit: {reason}"),
                    })?;
                }
                Ok(journal)
            })
            .expect("the journal thread starts");
        Writer {
            queue: Some(tx),
            thread: Some(thread),
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

    /// Waits for every group handed over to be committed; returns the journal, or the first error.
    pub fn finish(mut self) -> Result<Journal, JournalError> {
        drop(self.queue.take());
        self.thread
            .take()
            .expect("a writer is finished once")
            .join()
            .unwrap_or_else(|_| {
                Err(JournalError::State {
                    path: "journal thread".into(),
                    reason: "panicked".into(),
                })
            })
    }
}
