//! Recovery from the journal: a snapshot plus the tail gives the state of an uninterrupted engine; a corrupt
//! input row (torn or damaged tail) is detected by its checksum and cut; a corrupt snapshot is passed over
//! for an older one or the accounts file; the margin history is queryable.

use rtm2m_engine::event::{input_to_json, Input, Output};
use rtm2m_engine::synthetic::{account_events, index_walk, population, ChainSpec, Universe};
use rtm2m_engine::{Engine, Genesis, Verdict};
use rtm2m_journal::{Group, InputRecord, Journal, SyncMode};
use rtm2m_market::Timestamp;

fn world() -> (Genesis, Vec<Input>) {
    let start = Timestamp::parse_rfc3339("2026-01-05T15:00:00Z").expect("time");
    let spec = ChainSpec {
        expiry_days: vec![7, 60],
        strikes_per_expiry: 6,
        ..ChainSpec::default_at(start)
    };
    let chain = spec.initial_events();
    let universe = Universe::from_events(&chain);
    let g = population(30, 200, &universe, 4);
    let mut events = chain;
    let walk = index_walk(
        &[("BTC".into(), 90_000.0), ("ETH".into(), 3_000.0)],
        20,
        0.01,
        start,
        1_000_000_000,
        0,
        4,
    );
    let accts = account_events(&g, &universe, 400, start, 0, 5);
    for (k, a) in accts.into_iter().enumerate() {
        let mut a = a;
        a.ts = walk[k / 20].ts;
        events.push(a);
        if k % 20 == 19 {
            events.push(walk[k / 20].clone());
        }
    }
    for (k, e) in events.iter_mut().enumerate() {
        e.seq = k as u64 + 1;
        if let rtm2m_engine::InputKind::Market(rtm2m_market::Event::Index(i)) = &mut e.kind {
            i.ts = e.ts;
        }
    }
    (g, events)
}

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rtm2m-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Journals `events` in groups of 50 with a snapshot after `snapshot_at` inputs; returns the hash after each
/// applied seq.
fn journal(
    d: &std::path::Path,
    g: &Genesis,
    events: &[Input],
    snapshot_at: &[usize],
) -> Vec<String> {
    let text = g.to_json();
    let mut j = Journal::open(d, SyncMode::Normal).expect("open");
    let (mut e, out0) = Engine::new(g, 1).expect("engine");
    j.init(&text, &out0).expect("init");
    let mut hashes = vec![e.state_hash_hex()];
    let mut group = Group::default();
    let mut out: Vec<Output> = Vec::new();
    for (k, ev) in events.iter().enumerate() {
        out.clear();
        let line = input_to_json(ev);
        if e.apply_line(None, &line, &mut out) == Verdict::Applied {
            group.inputs.push(InputRecord {
                seq: ev.seq,
                ts_ns: ev.ts.unix_nanos(),
                kind: ev.type_name(),
                body: line,
            });
        }
        group.processed_seq = ev.seq;
        group
            .outputs
            .extend(out.drain(..).map(|o| (e.last_seq(), o)));
        hashes.push(e.state_hash_hex());
        if snapshot_at.contains(&(k + 1)) {
            let bytes = e.snapshot();
            let h = rtm2m_engine::codec::state_hash_of(&bytes);
            group.snapshot = Some((e.last_seq(), bytes, h));
        }
        if (k + 1) % 50 == 0 || k + 1 == events.len() {
            j.commit(&group).expect("commit");
            group = Group {
                processed_seq: ev.seq,
                ..Group::default()
            };
        }
    }
    hashes
}

#[test]
fn snapshot_plus_tail_recovers_the_uninterrupted_state() {
    let (g, events) = world();
    let d = dir("tail");
    let hashes = journal(&d, &g, &events, &[150, 300]);
    let mut j = Journal::open(&d, SyncMode::Normal).expect("open");
    let r = j.recover(2).expect("recover");
    assert!(events.len() > 400);
    assert_eq!(r.snapshot_seq, Some(300));
    // Only applied inputs are journaled (a refused withdrawal is recorded as an output).
    let tail = j
        .input_seqs()
        .expect("seqs")
        .into_iter()
        .filter(|&s| s > 300)
        .count();
    assert_eq!(r.replayed as usize, tail);
    assert!(tail > 100);
    assert!(r.cut.is_none() && r.bad_snapshots.is_empty());
    assert_eq!(r.engine.state_hash_hex(), hashes[events.len()]);
    assert_eq!(r.processed_seq, events.len() as u64);
    // History: the margins published for an account, in order, match the outputs of the run.
    let id = g.accounts[0].id.clone();
    let rows = j.margin_history(&id).expect("history");
    assert!(!rows.is_empty());
    assert!(rows.windows(2).all(|w| w[0].seq <= w[1].seq));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn corrupt_input_row_is_detected_and_the_tail_cut() {
    let (g, events) = world();
    let d = dir("cut");
    let hashes = journal(&d, &g, &events, &[250]);
    // Damage the body of input 400 behind the journal's back (its checksum no longer holds).
    let conn = rusqlite::Connection::open(d.join(rtm2m_journal::DB_FILE)).expect("sqlite");
    conn.execute(
        "UPDATE inputs SET body = replace(body, '\"v\":1', '\"v\":1 ') WHERE seq = 400",
        [],
    )
    .expect("damage");
    drop(conn);
    let mut j = Journal::open(&d, SyncMode::Normal).expect("open");
    let r = j.recover(1).expect("recover");
    assert_eq!(r.cut.as_ref().map(|c| c.0), Some(400), "{:?}", r.cut);
    assert_eq!(r.engine.last_seq(), 399);
    assert_eq!(r.engine.state_hash_hex(), hashes[399]);
    assert_eq!(r.processed_seq, 399);
    assert_eq!(j.input_seqs().expect("seqs").last(), Some(&399));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn corrupt_snapshot_falls_back_to_an_older_one() {
    let (g, events) = world();
    let d = dir("snap");
    let hashes = journal(&d, &g, &events, &[100, 250]);
    let conn = rusqlite::Connection::open(d.join(rtm2m_journal::DB_FILE)).expect("sqlite");
    conn.execute(
        "UPDATE snapshots SET body = zeroblob(length(body)) WHERE seq = 250",
        [],
    )
    .expect("damage");
    drop(conn);
    let mut j = Journal::open(&d, SyncMode::Normal).expect("open");
    let r = j.recover(1).expect("recover");
    assert_eq!(r.snapshot_seq, Some(100));
    assert_eq!(r.bad_snapshots.len(), 1);
    assert_eq!(r.engine.state_hash_hex(), hashes[events.len()]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_commit_that_fails_writes_none_of_its_group() {
    // Inserts use `OR FAIL` (no statement journal): a failing row must still leave nothing of its group.
    let (g, events) = world();
    let d = dir("failed-commit");
    journal(&d, &g, &events[..100], &[]);
    let mut j = Journal::open(&d, SyncMode::Normal).expect("open");
    let (seqs, outputs_before) = (j.input_seqs().expect("seqs"), count_outputs(&j));
    let last = *seqs.last().expect("journaled inputs");
    // 40 new rows (more than one 32-row statement), then one whose seq is already journaled.
    let mut group = Group {
        processed_seq: last + 41,
        ..Group::default()
    };
    for (k, seq) in (last + 1..=last + 40).chain([last]).enumerate() {
        group.inputs.push(InputRecord {
            seq,
            ts_ns: k as i64,
            kind: "deposit",
            body: format!("{{\"row\":{k}}}"),
        });
    }
    assert!(j.commit(&group).is_err(), "a duplicate seq is refused");
    assert_eq!(j.input_seqs().expect("seqs"), seqs);
    assert_eq!(count_outputs(&j), outputs_before);
    assert_eq!(
        j.processed_seq().expect("processed"),
        last.max(events[99].seq)
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn count_outputs(j: &Journal) -> usize {
    let mut n = 0;
    j.for_each_output(|_| n += 1).expect("outputs");
    n
}
