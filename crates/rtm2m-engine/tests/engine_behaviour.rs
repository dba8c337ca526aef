//! The engine against hand-computed margins and against the margin library's own from-scratch report, its
//! rejections, and the invariants of incremental work (property tests): stored margins equal a recomputation
//! from scratch, and the state hash depends neither on the thread count nor on snapshot/restore points.

use proptest::prelude::*;
use rtm2m_engine::event::{input_to_json, Fill, Input, InputKind, Transfer};
use rtm2m_engine::synthetic::{
    account_events, index_event, index_walk, population, ChainSpec, Universe,
};
use rtm2m_engine::{Computed, Engine, Genesis, Output, Status, Verdict};
use rtm2m_margin::engine::{margin_portfolio, Model, Rtm2mParams};
use rtm2m_margin::market::MarketSnapshot;
use rtm2m_market::event::{Mark, OptionQuote, OptionType};
use rtm2m_market::{Event, Timestamp};

fn ts(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("valid time")
}

fn market(seq: u64, at: Timestamp, e: Event) -> Input {
    Input {
        seq,
        ts: at,
        kind: InputKind::Market(e),
    }
}

fn apply_all(e: &mut Engine, inputs: &[Input]) -> Vec<Output> {
    let mut out = Vec::new();
    for i in inputs {
        let v = e.apply(i, None, &mut out);
        assert_eq!(
            v,
            Verdict::Applied,
            "{}: {:?}",
            input_to_json(i),
            out.last()
        );
    }
    out
}

const PERP_ACCOUNT: &str = r#"{"accounts": [{"id": "perp", "cash_usd": 0,
  "collateral": [{"asset": "USDC", "amount": 50000}],
  "positions": [{"instrument": "BTC-PERPETUAL", "size": 1, "entry_price_usd": 98000}]}]}"#;

/// One long BTC perpetual at 100,000 against USDC: every requirement by hand (docs/margin.md §5).
#[test]
fn long_perpetual_margin_matches_the_hand_computation() {
    let g = Genesis::from_json(PERP_ACCOUNT).expect("valid accounts file");
    let (mut e, out0) = Engine::new(&g, 1).expect("engine");
    // Before any index tick the perpetual has no valuation.
    assert!(matches!(e.margin_of("perp"), Some(Computed::Unpriced(_))));
    assert!(out0
        .iter()
        .any(|o| matches!(o, Output::Status(s) if s.to == Status::Unpriced)));
    let t = ts("2026-01-05T08:00:00Z");
    let mark = Event::Mark(Mark {
        ts: t,
        venue: "deribit".into(),
        instrument: "BTC-PERPETUAL".into(),
        price_currency: "USD".into(),
        price: 100_000.0,
    });
    let mut ix = index_event(t, "BTC", 100_000.0);
    if let Event::Index(i) = &mut ix {
        i.confidence = 0.0;
    }
    let out = apply_all(&mut e, &[market(1, t, mark), market(2, t, ix)]);
    let (f, status) = e.figures_of("perp").expect("priced after the tick");
    // Worst loss: an 18% fall of a 100,000 USD perpetual (the core's edge; tails are dampened to the same).
    let loss = 0.18 * 100_000.0;
    // Delta add-on k_δ·|Δ|·S = 0.002·1·100,000; basis/roll floor 1% of notional; no gamma.
    let addon = 0.002 * 100_000.0;
    let basis = 0.01 * 100_000.0;
    // USDC haircut: 2.33·0.004·√(2/365) + 0.1·√(50,000/1e9), no concentration term for a stablecoin.
    let h = 2.33 * 0.004 * (2.0f64 / 365.0).sqrt() + 0.1 * (50_000.0f64 / 1e9).sqrt();
    let mm = loss + addon + basis + h * 50_000.0;
    let im = 1.3 * loss + addon + basis + 1.25 * h * 50_000.0;
    let equity = 50_000.0 + (100_000.0 - 98_000.0);
    assert!((f.scenario_loss_usd - loss).abs() < 1e-6, "{f:?}");
    assert!((f.mm_usd - mm).abs() < 1e-6, "MM {} vs {mm}", f.mm_usd);
    assert!((f.im_usd - im).abs() < 1e-6, "IM {} vs {im}", f.im_usd);
    assert_eq!(f.equity_usd, equity);
    assert_eq!(status, Status::Healthy);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Margin(m) if &*m.account == "perp")));

    // Selling half at 101,000 realises 0.5·(101,000 − 98,000) = 1,500 into cash, minus a 2 USD fee.
    let fill = Input {
        seq: 3,
        ts: t,
        kind: InputKind::Fill(Fill {
            account: "perp".into(),
            instrument: "BTC-PERPETUAL".into(),
            size: -0.5,
            price_usd: 101_000.0,
            fee_usd: 2.0,
        }),
    };
    apply_all(&mut e, &[fill]);
    let a = e.account("perp").expect("account");
    assert_eq!(a.cash_usd, 1_500.0 - 2.0);
    assert_eq!(a.positions[0].size, 0.5);
    assert_eq!(a.positions[0].entry_price_usd, Some(98_000.0));
    let (f, _) = e.figures_of("perp").expect("priced");
    assert_eq!(f.equity_usd, 1_498.0 + 50_000.0 + 0.5 * 2_000.0);

    // Withdrawing 45,000 USDC would leave equity 7,498 below IM ≈ 12,299: refused, nothing changes.
    let before = e.state_hash();
    let mut out = Vec::new();
    let w = Input {
        seq: 4,
        ts: t,
        kind: InputKind::Withdrawal(Transfer {
            account: "perp".into(),
            asset: "USDC".into(),
            amount: 45_000.0,
        }),
    };
    assert_eq!(
        e.apply(&w, Some(9), &mut out),
        Verdict::Rejected { stale_seq: false }
    );
    assert!(
        matches!(&out[..], [Output::Rejected(r)] if r.field == "amount" && r.line == Some(9)
        && r.reason.contains("below the initial margin"))
    );
    assert_eq!(e.state_hash(), before);

    // Selling 1 more at 101,000 closes the long half (+1,500) and opens a short half at 101,000.
    let flip = Input {
        seq: 5,
        ts: t,
        kind: InputKind::Fill(Fill {
            account: "perp".into(),
            instrument: "BTC-PERPETUAL".into(),
            size: -1.0,
            price_usd: 101_000.0,
            fee_usd: 0.0,
        }),
    };
    apply_all(&mut e, &[flip]);
    let a = e.account("perp").expect("account");
    assert_eq!(a.cash_usd, 2_998.0);
    assert_eq!(
        (a.positions[0].size, a.positions[0].entry_price_usd),
        (-0.5, Some(101_000.0))
    );
    // A rally to 190,000: equity 52,998 − 0.5·(190,000 − 101,000) = 8,498 against MM ≈ 0.18·95,000 +
    // 0.002·95,000 + 0.01·95,000 + haircut ≈ 18,310: liquidatable, with an alert.
    let t2 = ts("2026-01-05T08:00:01Z");
    let mut out = Vec::new();
    assert_eq!(
        e.apply(
            &market(6, t2, index_event(t2, "BTC", 190_000.0)),
            None,
            &mut out
        ),
        Verdict::Applied
    );
    let (f, status) = e.figures_of("perp").expect("priced");
    // The perpetual's basis is held: mark = index·(100,000/100,000).
    assert_eq!(f.equity_usd, 52_998.0 - 0.5 * (190_000.0 - 101_000.0));
    let mm = 0.18 * 95_000.0 + 0.002 * 95_000.0 + 0.01 * 95_000.0 + h * 50_000.0;
    assert!((f.mm_usd - mm).abs() < 1e-6, "MM {} vs {mm}", f.mm_usd);
    assert_eq!(status, Status::Liquidatable, "{f:?}");
    assert!(out.iter().any(
        |o| matches!(o, Output::LiquidationAlert(a) if &*a.account == "perp"
        && (a.shortfall_usd - (f.mm_usd - f.equity_usd)).abs() < 1e-9)
    ));
    assert!(out.iter().any(
        |o| matches!(o, Output::Status(s) if s.from == Some(Status::Healthy)
        && s.to == Status::Liquidatable)
    ));
    e.verify_incremental()
        .expect("incremental equals from scratch");
}

const BOOK: &str = r#"{"accounts": [
 {"id": "mixed", "cash_usd": 20000, "accrued_funding_usd": -12.5,
  "collateral": [{"asset": "USDC", "amount": 150000}, {"asset": "BTC", "amount": 0.5}],
  "positions": [{"instrument": "BTC-27MAR26-100000-C", "size": -2},
                {"instrument": "BTC-27MAR26-80000-P", "size": -1.5},
                {"instrument": "BTC-27MAR26-80000-C", "size": 1},
                {"instrument": "BTC-27MAR26", "size": 0.7, "entry_price_usd": 93000},
                {"instrument": "ETH-27MAR26-3500-C", "size": 12},
                {"instrument": "ETH-PERPETUAL", "size": -8, "entry_price_usd": 3150},
                {"instrument": "BTC_USDC-27MAR26-90000-P", "size": -1}]}]}"#;

const MARKET: &str = r#"{"as_of": "2026-01-05T15:33:29Z",
 "assets": {"BTC": {"price_usd": 93640.28, "ewma_vol": 0.5, "depth_usd": 4e7},
            "ETH": {"price_usd": 3210.5, "ewma_vol": 0.7, "depth_usd": 2e7},
            "USDC": {"price_usd": 1.0, "ewma_vol": 0.004, "depth_usd": 1e9, "stablecoin": true},
            "USDT": {"price_usd": 1.0, "ewma_vol": 0.004, "depth_usd": 1e9, "stablecoin": true}},
 "underlyings": {"BTC": {"forwards": {"27MAR26": 94702.02}},
                 "ETH": {"perp_usd": 3212.0, "forwards": {"27MAR26": 3240.75}}},
 "mark_ivs": {"BTC-27MAR26-100000-C": 0.4315, "BTC-27MAR26-80000-P": 0.5120, "BTC-27MAR26-80000-C": 0.5120,
              "ETH-27MAR26-3500-C": 0.6630, "BTC_USDC-27MAR26-90000-P": 0.4710}}"#;

fn quote(t: Timestamp, name: &str, iv: f64, forward: f64, index: f64) -> Event {
    let i = rtm2m_margin::instrument::Instrument::parse(name).expect("name");
    let (strike, kind, underlying) = match i.kind {
        rtm2m_margin::instrument::InstrumentKind::Option {
            strike_usd, kind, ..
        } => (strike_usd, kind, i.underlying),
        _ => panic!("an option"),
    };
    Event::OptionQuote(OptionQuote {
        ts: t,
        venue: "deribit".into(),
        instrument: name.into(),
        underlying: underlying.clone(),
        expiry: ts("2026-03-27T08:00:00Z"),
        strike,
        option_type: if kind == rtm2m_pricing::OptionKind::Call {
            OptionType::Call
        } else {
            OptionType::Put
        },
        price_currency: underlying,
        bid: None,
        ask: None,
        bid_size: None,
        ask_size: None,
        bid_iv: None,
        ask_iv: None,
        mark_iv: Some(iv),
        mark_price: None,
        underlying_price: Some(forward),
        underlying_instrument: None,
        index_price: Some(index),
        open_interest: None,
    })
}

/// The engine's incremental margin of a mixed book equals the margin library's from-scratch report on the
/// same market (the library sums the scenarios per instrument, the engine per distinct point: the same
/// numbers to rounding).
#[test]
fn mixed_book_margin_equals_the_margin_library_report() {
    let g = Genesis::from_json(BOOK).expect("valid");
    let (mut e, _) = Engine::new(&g, 2).expect("engine");
    let t = ts("2026-01-05T15:33:29Z");
    let (sb, se) = (93_640.28, 3_210.5);
    let mut inputs = Vec::new();
    for (name, iv) in [
        ("BTC-27MAR26-100000-C", 0.4315),
        ("BTC-27MAR26-80000-P", 0.5120),
        ("BTC-27MAR26-80000-C", 0.5120),
        ("BTC_USDC-27MAR26-90000-P", 0.4710),
    ] {
        inputs.push(quote(t, name, iv, 94_702.02, sb));
    }
    inputs.push(quote(t, "ETH-27MAR26-3500-C", 0.6630, 3_240.75, se));
    inputs.push(Event::Mark(Mark {
        ts: t,
        venue: "deribit".into(),
        instrument: "ETH-PERPETUAL".into(),
        price_currency: "USD".into(),
        price: 3_212.0,
    }));
    for (u, s) in [("BTC", sb), ("ETH", se)] {
        let mut ix = index_event(t, u, s);
        if let Event::Index(i) = &mut ix {
            i.confidence = 0.0;
        }
        inputs.push(ix);
    }
    let inputs: Vec<Input> = inputs
        .into_iter()
        .enumerate()
        .map(|(k, ev)| market(k as u64 + 1, t, ev))
        .collect();
    apply_all(&mut e, &inputs);
    let (f, _) = e.figures_of("mixed").expect("priced");
    let portfolio = rtm2m_margin::account::Portfolio::from_json(BOOK).expect("portfolio");
    let m = MarketSnapshot::from_json(MARKET).expect("market");
    let reports = margin_portfolio(
        &portfolio,
        &m,
        &Model::Rtm2m(Box::new(Rtm2mParams::rtm2m_default())),
    )
    .expect("market builds");
    let r = reports[0].as_ref().expect("margined");
    let close = |a: f64, b: f64, what: &str| {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "{what}: engine {a} vs library {b}"
        );
    };
    close(f.equity_usd, r.equity_usd, "equity");
    close(f.mm_usd, r.mm_usd, "MM");
    close(f.im_usd, r.im_usd, "IM");
    close(
        f.scenario_loss_usd,
        r.requirements.scenario_loss_usd,
        "worst loss",
    );
    assert!(f.mm_usd > 10_000.0, "a real requirement: {f:?}");
}

#[test]
fn invalid_inputs_are_rejected_with_their_field_and_never_applied() {
    let g = Genesis::from_json(PERP_ACCOUNT).expect("valid");
    let (mut e, _) = Engine::new(&g, 1).expect("engine");
    let mut out = Vec::new();
    assert_eq!(
        e.apply_line(Some(1), r#"{"type":"deposit","seq":1,"ts":"2026-01-05T08:00:10Z","account":"perp","asset":"USDC","amount":5}"#, &mut out),
        Verdict::Applied
    );
    let before = e.state_hash();
    let cases = [
        ("{not json", "json", "key must be a string"),
        (
            r#"{"type":"fill","ts":"2026-01-05T08:00:10Z"}"#,
            "seq",
            "required",
        ),
        (
            r#"{"type":"teleport","seq":9,"ts":"2026-01-05T08:00:10Z"}"#,
            "type",
            "not an event type",
        ),
        (
            r#"{"type":"deposit","seq":1,"ts":"2026-01-05T08:00:10Z","account":"perp","asset":"USDC","amount":5}"#,
            "seq",
            "not after the last applied seq 1",
        ),
        (
            r#"{"type":"deposit","seq":2,"ts":"2026-01-05T08:00:00Z","account":"perp","asset":"USDC","amount":5}"#,
            "ts",
            "beyond the reorder window",
        ),
        (
            r#"{"type":"deposit","seq":3,"ts":"2026-01-05T08:00:10Z","account":"nobody","asset":"USDC","amount":5}"#,
            "account",
            "unknown account nobody",
        ),
        (
            r#"{"type":"deposit","seq":4,"ts":"2026-01-05T08:00:10Z","account":"perp","asset":"GOV","amount":5}"#,
            "asset",
            "not configured",
        ),
        (
            r#"{"type":"deposit","seq":5,"ts":"2026-01-05T08:00:10Z","account":"perp","asset":"USDC","amount":-5}"#,
            "amount",
            "must be > 0",
        ),
        (
            r#"{"type":"fill","seq":6,"ts":"2026-01-05T08:00:10Z","account":"perp","instrument":"BTC-27MAR26-1-C","size":1,"price_usd":1}"#,
            "instrument",
            "unknown instrument",
        ),
        (
            r#"{"type":"fill","seq":7,"ts":"2026-01-05T08:00:10Z","account":"perp","instrument":"BTC-PERPETUAL","price_usd":1}"#,
            "size",
            "missing field",
        ),
        (
            r#"{"type":"fill","seq":8,"ts":"2026-01-05T08:00:10Z","account":"perp","instrument":"BTC-PERPETUAL","size":1,"price_usd":1,"colour":"red"}"#,
            "colour",
            "unknown field",
        ),
        (
            r#"{"type":"trade","v":1,"seq":9,"ts":"2026-01-05T08:00:10Z","venue":"kraken","symbol":"BTC/USD","price":1,"size":1}"#,
            "type",
            "not consumed",
        ),
        (
            r#"{"type":"index","v":1,"seq":10,"ts":"2026-01-05T08:00:10Z","underlying":"DOGE","price":1,"confidence":0,"status":"ok"}"#,
            "underlying",
            "not configured",
        ),
        (
            r#"{"type":"withdrawal","seq":11,"ts":"2026-01-05T08:00:10Z","account":"perp","asset":"USDC","amount":1e9}"#,
            "amount",
            "holds 50005",
        ),
    ];
    for (k, (line, field, reason)) in cases.iter().enumerate() {
        out.clear();
        let v = e.apply_line(Some(k as u64 + 2), line, &mut out);
        assert!(matches!(v, Verdict::Rejected { .. }), "{line}");
        match &out[..] {
            [Output::Rejected(r)] => {
                assert_eq!(r.field, *field, "{line}: {}", r.reason);
                assert!(r.reason.contains(reason), "{line}: {}", r.reason);
                assert_eq!(r.line, Some(k as u64 + 2));
            }
            other => panic!("{line}: {other:?}"),
        }
        assert_eq!(e.state_hash(), before, "{line} changed the state");
    }
}

fn small_world(accounts: usize, positions: usize, seed: u64) -> (Genesis, Vec<Input>, Universe) {
    let start = ts("2026-01-05T15:00:00Z");
    let spec = ChainSpec {
        expiry_days: vec![2, 30, 90],
        strikes_per_expiry: 8,
        ..ChainSpec::default_at(start)
    };
    let chain = spec.initial_events();
    let universe = Universe::from_events(&chain);
    let g = population(accounts, positions, &universe, seed);
    (g, chain, universe)
}

/// A stream mixing index ticks, fills, deposits and withdrawals after the chain.
fn stream(g: &Genesis, chain: &[Input], universe: &Universe, seed: u64, n: usize) -> Vec<Input> {
    stream_with(g, chain, universe, seed, n, 0.01, 3)
}

/// The chain, then `n` index ticks of a walk with steps of about `step`, each after `per_tick` account
/// events (fills, deposits, withdrawals).
fn stream_with(
    g: &Genesis,
    chain: &[Input],
    universe: &Universe,
    seed: u64,
    n: usize,
    step: f64,
    per_tick: usize,
) -> Vec<Input> {
    let start = chain[0].ts;
    let mut events = chain.to_vec();
    let ticks = index_walk(
        &[("BTC".into(), 90_000.0), ("ETH".into(), 3_000.0)],
        n,
        step,
        start,
        1_000_000_000,
        0,
        seed,
    );
    let accts = account_events(g, universe, n * per_tick, start, 0, seed + 1);
    let mut seq = chain.len() as u64;
    for k in 0..n {
        for a in accts[per_tick * k..per_tick * (k + 1)]
            .iter()
            .chain(std::iter::once(&ticks[k]))
        {
            seq += 1;
            let mut a = a.clone();
            a.seq = seq;
            a.ts = ticks[k].ts;
            if let InputKind::Market(Event::Index(i)) = &mut a.kind {
                i.ts = ticks[k].ts;
            }
            events.push(a);
        }
    }
    events
}

fn run(
    g: &Genesis,
    events: &[Input],
    threads: usize,
    restart_at: Option<usize>,
) -> (String, Vec<String>) {
    let (mut e, out0) = Engine::new(g, threads).expect("engine");
    let mut lines: Vec<String> = out0.iter().map(Output::to_json).collect();
    let mut out = Vec::new();
    for (k, ev) in events.iter().enumerate() {
        if restart_at == Some(k) {
            let bytes = e.snapshot();
            e = Engine::restore(&bytes, threads).expect("restore");
        }
        out.clear();
        e.apply(ev, None, &mut out);
        lines.extend(out.iter().map(Output::to_json));
    }
    e.verify_incremental()
        .expect("every stored margin equals a recomputation from scratch");
    (e.state_hash_hex(), lines)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// Incremental re-margining equals recomputation from scratch after any stream, and outputs and the
    /// state hash do not depend on the thread count nor on where the state was snapshotted and restored.
    #[test]
    fn outputs_and_hash_are_independent_of_threads_and_restarts(seed in 0u64..1000, cut in 0usize..200) {
        let (g, chain, universe) = small_world(40, 300, seed);
        let events = stream(&g, &chain, &universe, seed, 12);
        let (h1, o1) = run(&g, &events, 1, None);
        let (h2, o2) = run(&g, &events, 2, None);
        let (h3, o3) = run(&g, &events, 2, Some(chain.len() + cut % (events.len() - chain.len())));
        prop_assert_eq!(&h1, &h2);
        prop_assert_eq!(&h1, &h3);
        prop_assert!(o1 == o2, "outputs differ between 1 and 2 threads");
        prop_assert!(o1 == o3, "outputs differ after a snapshot/restore");
    }
}

/// A tick reuses an account's last screen when its worst scenario cannot have changed (small index moves):
/// after every event of a stream of small ticks, fills, deposits and withdrawals, every stored margin equals
/// the readable reference recomputed from scratch to the bit, and the memos were in use.
#[test]
fn reused_screens_give_the_reference_margins_after_every_event() {
    let (g, chain, universe) = small_world(300, 3_000, 17);
    let events = stream_with(&g, &chain, &universe, 5, 60, 0.0005, 1);
    let (mut e, _) = Engine::new(&g, 2).expect("engine");
    let mut out = Vec::new();
    let mut most = 0;
    for (k, ev) in events.iter().enumerate() {
        out.clear();
        e.apply(ev, None, &mut out);
        if k >= chain.len() {
            e.verify_incremental()
                .unwrap_or_else(|m| panic!("after event {k}: {m}"));
            most = most.max(e.screen_memos());
        }
    }
    assert!(most > 200, "only {most} of 300 accounts held a screen memo");
}

#[test]
fn input_lines_round_trip_through_their_canonical_json() {
    let (g, chain, universe) = small_world(5, 20, 3);
    let events = stream(&g, &chain, &universe, 3, 3);
    for ev in &events {
        let line = input_to_json(ev);
        let back = rtm2m_engine::parse_input(&line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
        assert_eq!(&back, ev, "{line}");
    }
}
