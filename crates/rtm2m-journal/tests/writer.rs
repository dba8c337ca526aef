//! The group-commit pipeline ([`Writer`]): groups are committed in the order handed over, and the hook sees
//! each committed group once, in order, after its commit and never before; a failing commit or hook stops
//! the pipeline, and `finish` says why.

use rtm2m_engine::event::{Output, RejectedOut};
use rtm2m_journal::writer::Writer;
use rtm2m_journal::{Group, InputRecord, Journal, SyncMode};
use std::sync::{Arc, Mutex};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rtm2m-writer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A journal in `d`, initialised with no accounts.
fn journal(d: &std::path::Path) -> Journal {
    let mut j = Journal::open(d, SyncMode::Full).expect("open");
    j.init("{\"accounts\": []}", &[]).expect("init");
    j
}

/// A group of the inputs `seqs` (deposits, as the journal records them) and one rejection output per input.
fn group(seqs: std::ops::RangeInclusive<u64>) -> Group {
    let last = *seqs.end();
    let inputs: Vec<InputRecord> = seqs
        .clone()
        .map(|s| InputRecord {
            seq: s,
            ts_ns: s as i64 * 1_000_000,
            kind: "deposit",
            body: format!("{{\"seq\":{s}}}"),
        })
        .collect();
    let outputs = seqs
        .map(|s| {
            (
                s,
                Output::Rejected(RejectedOut {
                    v: 1,
                    seq: Some(s),
                    ts: None,
                    line: Some(s),
                    event_type: Some("deposit".into()),
                    field: "amount".into(),
                    reason: format!("test {s}"),
                }),
            )
        })
        .collect();
    Group {
        inputs,
        outputs,
        processed_seq: last,
        processed_line: last,
        snapshot: None,
    }
}

/// What the hook saw: per call, the group's processed seq and its output lines.
type Seen = Arc<Mutex<Vec<(u64, Vec<String>)>>>;

/// A hook that records what it sees and fails at its `fail_at`-th call (from 1), if any.
fn recording(seen: &Seen, fail_at: Option<usize>) -> rtm2m_journal::writer::CommitHook {
    let seen = Arc::clone(seen);
    Box::new(move |g: &Group, bodies: &[String]| {
        let mut s = seen.lock().expect("lock");
        if fail_at == Some(s.len() + 1) {
            return Err("disk full".into());
        }
        s.push((g.processed_seq, bodies.to_vec()));
        Ok(())
    })
}

#[test]
fn groups_are_committed_in_order_and_the_hook_sees_each_committed_group_once_in_order() {
    let d = dir("order");
    let seen: Seen = Arc::default();
    let writer = Writer::spawn(journal(&d), 1, recording(&seen, None));
    for k in 0..40u64 {
        writer
            .send(group(k * 10 + 1..=k * 10 + 10))
            .expect("the writer runs");
    }
    let j = writer.finish().expect("finish");
    assert_eq!(
        j.input_seqs().expect("seqs"),
        (1..=400).collect::<Vec<u64>>()
    );
    assert_eq!(j.processed_seq().expect("processed"), 400);
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 40);
    for (k, (processed, bodies)) in seen.iter().enumerate() {
        assert_eq!(*processed, k as u64 * 10 + 10);
        assert_eq!(bodies.len(), 10);
        for (i, b) in bodies.iter().enumerate() {
            let s = k as u64 * 10 + i as u64 + 1;
            let v: serde_json::Value = serde_json::from_str(b).expect("a JSON line");
            assert_eq!(v["seq"], s, "{b}");
            assert_eq!(v["reason"], format!("test {s}"), "{b}");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_failing_hook_stops_the_pipeline_after_the_commit_and_finish_says_why() {
    let d = dir("hook");
    let seen: Seen = Arc::default();
    let writer = Writer::spawn(journal(&d), 1, recording(&seen, Some(3)));
    // The queues hold a few groups: sends go on succeeding for a while, then fail.
    let mut stopped = false;
    for k in 0..200u64 {
        if writer.send(group(k * 10 + 1..=k * 10 + 10)).is_err() {
            stopped = true;
            break;
        }
    }
    assert!(
        stopped,
        "the writer stops taking groups after the hook failed"
    );
    let err = writer.finish().expect_err("the hook failed");
    assert!(err.to_string().contains("after commit: disk full"), "{err}");
    assert_eq!(seen.lock().expect("lock").len(), 2);
    // The third group was committed before its hook failed; what was acknowledged (the first two) is there.
    let j = Journal::open(&d, SyncMode::Full).expect("reopen");
    let seqs = j.input_seqs().expect("seqs");
    assert!(seqs.len() >= 30, "{}", seqs.len());
    assert_eq!(seqs[..30], (1..=30).collect::<Vec<u64>>()[..]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_failing_commit_stops_the_pipeline_before_its_hook_and_finish_says_why() {
    let d = dir("commit");
    let seen: Seen = Arc::default();
    let writer = Writer::spawn(journal(&d), 1, recording(&seen, None));
    writer.send(group(1..=10)).expect("the writer runs");
    writer.send(group(11..=20)).expect("the writer runs");
    // Seq 15 again: the inputs' primary key refuses it and the transaction rolls back.
    let _ = writer.send(group(15..=25));
    let _ = writer.send(group(26..=30));
    let err = writer.finish().expect_err("the commit failed");
    assert!(
        err.to_string().to_lowercase().contains("constraint"),
        "{err}"
    );
    let seen = seen.lock().expect("lock");
    assert_eq!(
        seen.iter().map(|(p, _)| *p).collect::<Vec<u64>>(),
        vec![10, 20],
        "the hook saw only the committed groups"
    );
    let j = Journal::open(&d, SyncMode::Full).expect("reopen");
    assert_eq!(
        j.input_seqs().expect("seqs"),
        (1..=20).collect::<Vec<u64>>()
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// The size of the journal's WAL file in `d` (its high-water mark: SQLite reuses it from the start).
fn wal_size(d: &std::path::Path) -> u64 {
    std::fs::metadata(d.join("journal.sqlite-wal")).map_or(0, |m| m.len())
}

#[test]
fn under_sustained_commits_the_wal_stays_near_its_bound_and_every_row_is_kept() {
    // 30 groups of 1,000 inputs and outputs of about 300 bytes each, about 18 MB of rows, with the WAL
    // bounded at 1 MiB: the checkpoint thread copies it while the next groups commit, and the commit thread
    // waits for it past the bound, so the WAL starts over instead of holding every group.
    let d = dir("wal-bound");
    let seen: Seen = Arc::default();
    let writer = Writer::with_wal_bound(journal(&d), 1, recording(&seen, None), 1 << 20);
    let pad = "x".repeat(300);
    for k in 0..30u64 {
        let mut g = group(k * 1000 + 1..=(k + 1) * 1000);
        for i in &mut g.inputs {
            i.body = format!("{{\"seq\":{},\"pad\":\"{pad}\"}}", i.seq);
        }
        writer.send(g).expect("send");
    }
    let journal = writer.finish().expect("finish");
    let wal = wal_size(&d);
    assert!(
        wal < 3 << 20,
        "the WAL grew to {wal} bytes, against a bound of 1 MiB and about 0.6 MB a group"
    );
    assert_eq!(journal.processed_seq().expect("seq"), 30_000);
    assert_eq!(journal.input_seqs().expect("inputs").len(), 30_000);
    assert_eq!(seen.lock().expect("lock").len(), 30);
    drop(journal);
    let _ = std::fs::remove_dir_all(&d);
}
