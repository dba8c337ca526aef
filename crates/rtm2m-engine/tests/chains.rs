//! The Deribit chains of `../shared/data` through the Feb-2026 crash as a replayable stream: the converter
//! keeps the facts of the data, and replaying the stream twice, with 1 and 2 threads, gives byte-identical
//! outputs and the same state hash.

use rtm2m_engine::chains::{convert, shared_snapshots_dir, ChainStream};
use rtm2m_engine::event::InputKind;
use rtm2m_engine::synthetic::{population, Universe};
use rtm2m_engine::{Engine, Genesis, Output, Status, Verdict};
use rtm2m_market::Event;

fn stream() -> Option<ChainStream> {
    let Some(dir) = shared_snapshots_dir(env!("CARGO_MANIFEST_DIR")) else {
        eprintln!("note: ../shared absent, skipping the Feb-2026 chain tests");
        return None;
    };
    Some(convert(&dir).expect("the shared chains convert"))
}

#[test]
fn converted_stream_keeps_the_facts_of_the_snapshots() {
    let Some(s) = stream() else { return };
    // A calm snapshot (2026-01-05) and 11 through the crash (2026-02-04 21:33 to 2026-02-07 04:23).
    assert_eq!(s.snapshots.len(), 11);
    assert_eq!(s.snapshots[0].to_string(), "2026-01-05T15:33:29.748387000Z");
    assert_eq!(
        s.snapshots[10].to_string(),
        "2026-02-07T04:23:30.460791000Z"
    );
    // BTC index 73.1k → 63.9k (−12.6%) at the low, ETH 2,140 → 1,874; the largest move between consecutive
    // snapshots is −6.0% (shared/data/README.md).
    let btc = |k: usize| s.index_usd[k]["BTC"];
    let eth = |k: usize| s.index_usd[k]["ETH"];
    let low = (1..11)
        .min_by(|&a, &b| btc(a).total_cmp(&btc(b)))
        .expect("snapshots");
    assert!((btc(1) / 73_100.0 - 1.0).abs() < 0.001, "{}", btc(1));
    assert!((btc(low) / 63_900.0 - 1.0).abs() < 0.001, "{}", btc(low));
    assert!((btc(low) / btc(1) - 1.0 + 0.126).abs() < 0.001);
    assert!((eth(1) / 2_140.0 - 1.0).abs() < 0.001, "{}", eth(1));
    assert!((eth(low) / 1_874.0 - 1.0).abs() < 0.001, "{}", eth(low));
    let worst_step = (2..11)
        .map(|k| btc(k) / btc(k - 1) - 1.0)
        .fold(0.0f64, f64::min);
    assert!((worst_step + 0.060).abs() < 0.001, "{worst_step}");
    // Seqs count from 1 without gaps; every snapshot ends with its index events.
    for (k, e) in s.events.iter().enumerate() {
        assert_eq!(e.seq, k as u64 + 1);
    }
    let quotes = s
        .events
        .iter()
        .filter(|e| matches!(e.kind, InputKind::Market(Event::OptionQuote(_))))
        .count();
    // About 1,300–1,900 rows per snapshot (README), less those without a mark IV.
    assert!(quotes > 11 * 1_200 && quotes < 11 * 1_900, "{quotes}");
}

fn replay(g: &Genesis, s: &ChainStream, threads: usize) -> (Vec<u8>, String) {
    let (mut e, out0) = Engine::new(g, threads).expect("engine");
    let mut bytes = Vec::new();
    for o in &out0 {
        o.write_line(&mut bytes);
    }
    let mut out = Vec::new();
    for ev in &s.events {
        out.clear();
        let v = e.apply(ev, None, &mut out);
        assert_eq!(v, Verdict::Applied, "{:?}", out.last());
        for o in &out {
            o.write_line(&mut bytes);
        }
    }
    e.verify_incremental()
        .expect("incremental equals from scratch");
    (bytes, e.state_hash_hex())
}

#[test]
fn crash_stream_replays_byte_identically_with_one_and_two_threads() {
    let Some(s) = stream() else { return };
    // Accounts on the instruments of the first crash snapshot, with premiums at its marks.
    let first_crash: Vec<_> = s
        .events
        .iter()
        .filter(|e| e.ts == s.snapshots[1])
        .cloned()
        .collect();
    let mut universe = Universe::from_events(&first_crash);
    let (mut pricer, _) = Engine::new(
        &Genesis::from_json(r#"{"accounts": []}"#).expect("empty"),
        1,
    )
    .expect("engine");
    let mut out = Vec::new();
    for (k, ev) in first_crash.iter().enumerate() {
        let mut ev = ev.clone();
        ev.seq = k as u64 + 1;
        pricer.apply(&ev, None, &mut out);
    }
    universe.value_with(&pricer);
    let g = population(300, 3_000, &universe, 2026);
    let (a, hash_a) = replay(&g, &s, 1);
    let (b, hash_b) = replay(&g, &s, 1);
    let (c, hash_c) = replay(&g, &s, 2);
    assert!(a == b, "two replays differ");
    assert!(a == c, "1 and 2 threads differ");
    assert_eq!(hash_a, hash_b);
    assert_eq!(hash_a, hash_c);
    // The crash moves margins: status transitions and liquidation alerts are emitted during it.
    let text = String::from_utf8(a).expect("utf-8");
    let outputs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let alerts = outputs
        .iter()
        .filter(|o| o["type"] == "liquidation_alert")
        .count();
    let marks = outputs.iter().filter(|o| o["type"] == "mark").count();
    assert_eq!(marks, 22, "one mark per underlying per snapshot");
    assert!(alerts > 0, "no liquidation alert through a 12.6% crash");
    let _ = (Status::Healthy, Output::to_json);
}
