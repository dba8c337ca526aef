//! `rtm2m bench engine`: the real-time engine on a seeded synthetic population (`--accounts`, `--positions`)
//! holding a synthetic chain the size of Deribit's (1,760 options on BTC and ETH, futures, perpetuals):
//! (1) index tick → every exposed account re-margined, p50/p99 latency; (2) one fill → its account
//! re-margined, p50/p99; (3) sustained durable ingest (journal with `synchronous=FULL`, group commit,
//! outputs written to a file) in events per second; and the peak resident memory.

use super::bench::BenchArgs;
use super::run::{ingest, IngestOptions, LOOKAHEAD};
use anyhow::Context;
use cpu_time::{ProcessTime, ThreadTime};
use rtm2m_engine::event::{input_to_json, InputKind, Output};
use rtm2m_engine::synthetic::{account_events, index_walk, population, ChainSpec, Universe};
use rtm2m_engine::{Engine, Genesis, Parallelism};
use rtm2m_journal::writer::Writer;
use rtm2m_journal::{Group, Journal, SyncMode};
use rtm2m_market::Timestamp;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

/// Peak resident set size of this process, MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The CPU time the hypervisor gave to something else while this machine's virtual CPUs were ready to
/// run ("steal"), summed over the CPUs, from the first line of a `/proc/stat` text (proc(5): the eighth
/// number after `cpu`), in clock ticks; `None` when the text has no such line.
fn steal_ticks(stat: &str) -> Option<u64> {
    let mut fields = stat.lines().next()?.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    fields.nth(7)?.parse().ok()
}

/// This machine's steal time since boot, ms (Linux; `None` elsewhere).
fn steal_ms() -> Option<f64> {
    let ticks = steal_ticks(&std::fs::read_to_string("/proc/stat").ok()?)?;
    Some(ticks as f64 * 1e3 / rustix::param::clock_ticks_per_second() as f64)
}

/// Runs `rtm2m bench engine`.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.accounts > 0, "--accounts: must be at least 1");
    anyhow::ensure!(
        args.positions >= args.accounts,
        "--positions: must be at least --accounts"
    );
    // One worker per core unless told (as `rtm2m run`).
    let threads = args.threads.unwrap_or(0);
    let start = Timestamp::parse_rfc3339("2026-01-05T15:00:00Z").context("start time")?;
    let spec = ChainSpec::default_at(start);
    let chain = spec.initial_events();
    let mut universe = Universe::from_events(&chain);
    let mut out: Vec<Output> = Vec::new();
    {
        let empty = Genesis::from_json(r#"{"accounts": []}"#)?;
        let (mut e, _) = Engine::new(&empty, threads)?;
        for ev in &chain {
            e.apply(ev, None, &mut out);
        }
        universe.value_with(&e);
    }
    let t = Instant::now();
    let genesis = population(args.accounts, args.positions, &universe, 7);
    let (mut engine, _) = Engine::new(
        &genesis,
        Parallelism {
            threads,
            pin: !args.no_pin,
        },
    )?;
    let threads = engine.threads();
    let cores = engine.worker_cores();
    let pinned = engine.threads() > 1 && cores.iter().all(|c| c.len() == 1);
    let setup_s = t.elapsed().as_secs_f64();
    out.clear();
    let t = Instant::now();
    for ev in &chain {
        engine.apply(ev, None, &mut out);
    }
    let first_margin_s = t.elapsed().as_secs_f64();
    eprintln!(
        "engine: {} accounts, {} positions, {} instruments, {} scenarios, {threads} threads ({}); set up in {setup_s:.2} s, chain and first margins in {first_margin_s:.2} s",
        engine.account_count(),
        engine.position_count(),
        engine.instrument_count(),
        engine.scenario_count(),
        if pinned {
            format!("pinned to cores {cores:?}")
        } else {
            "not pinned".to_owned()
        }
    );

    // (1) Index ticks, alternating BTC and ETH, 0.05% steps.
    let tick_count = (args.repeat.max(1) * 40).max(100);
    let walk = index_walk(
        &[("BTC".into(), 90_000.0), ("ETH".into(), 3_000.0)],
        tick_count,
        0.0005,
        start,
        100_000_000,
        engine.last_seq() + 1,
        11,
    );
    let mut tick_ms = Vec::with_capacity(walk.len());
    let mut tick_cpu_ms = Vec::with_capacity(walk.len());
    let mut remargined = 0u64;
    // The host's steal time read around every tick (outside the timed part): on a virtual machine, a tick
    // during which the host ran something else on our CPUs is late by that much, whatever the engine did.
    // It counts in clock ticks (10 ms), so a tick is only known to have been touched by it.
    let (mut steal_total_ms, mut calm_ms) = (Some(0.0), Vec::with_capacity(walk.len()));
    for ev in &walk {
        out.clear();
        let steal_before = steal_ms();
        let cpu = ProcessTime::now();
        let t = Instant::now();
        engine.apply(ev, None, &mut out);
        let wall_ms = t.elapsed().as_secs_f64() * 1e3;
        tick_cpu_ms.push(cpu.elapsed().as_secs_f64() * 1e3);
        tick_ms.push(wall_ms);
        match (steal_before, steal_ms(), steal_total_ms) {
            (Some(a), Some(b), Some(total)) => {
                steal_total_ms = Some(total + (b - a));
                if b == a {
                    calm_ms.push(wall_ms);
                }
            }
            _ => steal_total_ms = None,
        }
        if let Some(Output::Mark(m)) = out.first() {
            remargined += m.accounts_remargined;
        }
    }
    tick_ms.sort_by(f64::total_cmp);
    calm_ms.sort_by(f64::total_cmp);
    let stolen_ticks = steal_total_ms.map(|_| tick_ms.len() - calm_ms.len());
    tick_cpu_ms.sort_by(f64::total_cmp);
    let accounts_per_tick = remargined as f64 / walk.len() as f64;

    // (2) Single fills.
    let clock = engine.clock().unwrap_or(start);
    let after_ticks = Timestamp::from_unix_nanos(clock.unix_nanos() + 1_000_000_000);
    let fills: Vec<_> = account_events(
        &genesis,
        &universe,
        50_000,
        after_ticks,
        engine.last_seq() + 1,
        12,
    )
    .into_iter()
    .filter(|e| matches!(e.kind, InputKind::Fill(_)))
    .collect();
    let mut fill_us = Vec::with_capacity(fills.len());
    for ev in &fills {
        out.clear();
        let t = Instant::now();
        engine.apply(ev, None, &mut out);
        fill_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    fill_us.sort_by(f64::total_cmp);

    // (3) Durable ingest of account events through the journal, as `rtm2m run` does it.
    let ingest_count = 1_000_000;
    let lines: Vec<String> = account_events(
        &genesis,
        &universe,
        ingest_count,
        Timestamp::from_unix_nanos(after_ticks.unix_nanos() + 1_000_000_000),
        engine.last_seq() + 1,
        13,
    )
    .iter()
    .map(input_to_json)
    .collect();
    let dir = std::env::temp_dir().join(format!("rtm2m-bench-engine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut journal = Journal::open(&dir, SyncMode::Full)?;
    journal.init("{\"bench\": true}", &[])?;
    let out_path = dir.join("out.jsonl");
    let mut out_file = BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&out_path).context("bench output file")?,
    );
    let hook = Box::new(move |_: &Group, bodies: &[String]| -> Result<(), String> {
        for b in bodies {
            out_file
                .write_all(b.as_bytes())
                .map_err(|e| e.to_string())?;
            out_file.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        out_file.flush().map_err(|e| e.to_string())
    });
    let writer = Writer::spawn(journal, 1, hook);
    let opts = IngestOptions {
        group_events: 20_000,
        group_time: Duration::from_millis(5),
        snapshot_every: 0,
        processed_seq: 0,
        processed_line: 0,
        progress: false,
        lookahead: LOOKAHEAD,
    };
    let t = Instant::now();
    // The journal's threads' CPU time: the process's during the ingest less the engine thread's.
    let process_cpu = ProcessTime::now();
    let engine_cpu = ThreadTime::now();
    let stats = ingest(
        &mut engine,
        &writer,
        lines
            .into_iter()
            .enumerate()
            .map(|(k, l)| Ok((k as u64 + 1, l))),
        &opts,
    );
    let engine_cpu_s = engine_cpu.elapsed().as_secs_f64();
    let finished = writer.finish();
    let ingest_s = t.elapsed().as_secs_f64();
    let journal_cpu_s = (process_cpu.elapsed().as_secs_f64() - engine_cpu_s).max(0.0);
    let stats = stats?;
    finished?;
    let _ = std::fs::remove_dir_all(&dir);
    let events_per_s = stats.lines as f64 / ingest_s;
    let engine_us_per_event = engine_cpu_s * 1e6 / stats.lines as f64;
    let journal_us_per_event = journal_cpu_s * 1e6 / stats.lines as f64;
    let rss = peak_rss_mib();

    let (t50, t99) = (percentile(&tick_ms, 0.5), percentile(&tick_ms, 0.99));
    let (f50, f99) = (percentile(&fill_us, 0.5), percentile(&fill_us, 0.99));
    let (c50, c99) = (
        percentile(&tick_cpu_ms, 0.5),
        percentile(&tick_cpu_ms, 0.99),
    );
    println!(
        "index tick -> all exposed accounts re-margined: {} ticks, {accounts_per_tick:.0} accounts each: p50 {t50:.2} ms, p99 {t99:.2} ms, max {:.2} ms",
        tick_ms.len(),
        tick_ms.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  CPU time of a tick, all threads (less sensitive to other jobs on the machine): p50 {c50:.2} ms, p99 {c99:.2} ms"
    );
    let calm_p99 = stolen_ticks.map(|_| percentile(&calm_ms, 0.99));
    match (steal_total_ms, stolen_ticks, calm_p99) {
        (Some(stolen), Some(n), Some(p99)) if n > 0 && p99.is_finite() => println!(
            "  the host took {stolen:.0} ms of this machine's CPU (steal) during {n} of the {} ticks; p99 of the other {}: {p99:.2} ms",
            tick_ms.len(),
            calm_ms.len()
        ),
        (Some(stolen), Some(n), _) if n > 0 => println!(
            "  the host took {stolen:.0} ms of this machine's CPU (steal) during all {n} ticks"
        ),
        (Some(_), Some(_), _) => println!("  no host steal time during the ticks"),
        _ => {}
    }
    println!(
        "single fill -> its account re-margined: {} fills: p50 {f50:.2} us, p99 {f99:.2} us",
        fill_us.len()
    );
    println!(
        "durable ingest (synchronous=FULL, {} commits, outputs to a file): {} events ({} applied, {} rejected) in {ingest_s:.2} s: {events_per_s:.0} events/s",
        stats.groups, stats.lines, stats.applied, stats.rejected
    );
    println!(
        "  CPU time per event: engine thread {engine_us_per_event:.2} us, journal threads {journal_us_per_event:.2} us"
    );
    println!(
        "peak RSS: {}",
        rss.map_or("unknown".into(), |r| format!("{r:.0} MiB"))
    );
    if args.json {
        let summary = serde_json::json!({
            "name": "engine",
            "accounts": engine.account_count(),
            "positions": engine.position_count(),
            "instruments": engine.instrument_count(),
            "scenarios": engine.scenario_count(),
            "threads": threads,
            "pinned": pinned,
            "tick_accounts": accounts_per_tick,
            "tick_p50_ms": t50,
            "tick_p99_ms": t99,
            "tick_cpu_p50_ms": c50,
            "tick_cpu_p99_ms": c99,
            "tick_steal_ms": steal_total_ms,
            "ticks_with_steal": stolen_ticks,
            "tick_p99_without_steal_ms": calm_p99.filter(|p| p.is_finite()),
            "fill_p50_us": f50,
            "fill_p99_us": f99,
            "ingest_events_per_s": events_per_s,
            "ingest_engine_cpu_us_per_event": engine_us_per_event,
            "ingest_journal_cpu_us_per_event": journal_us_per_event,
            "peak_rss_mib": rss,
        });
        println!("{summary}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::steal_ticks;

    #[test]
    fn steal_is_the_eighth_number_of_the_cpu_line() {
        // The first lines of the development machine's /proc/stat (proc(5): user nice system idle iowait
        // irq softirq steal guest guest_nice).
        let stat = "cpu  8023040 2795 667570 5517360 141864 0 15326 47291 0 0\n\
                    cpu0 3730708 1695 321417 3059550 64552 0 5449 23450 0 0\n\
                    cpu1 4292331 1100 346153 2457809 77311 0 9876 23840 0 0\n";
        assert_eq!(steal_ticks(stat), Some(47291));
        assert_eq!(steal_ticks("cpu0 1 2 3 4 5 6 7 8 9 10\n"), None);
        assert_eq!(steal_ticks("cpu  1 2 3 4 5 6 7\n"), None);
        assert_eq!(steal_ticks(""), None);
    }
}
