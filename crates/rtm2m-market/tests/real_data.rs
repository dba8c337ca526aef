//! Importers on the real files of `../shared/data`. Every expected figure was read from the raw files
//! (row counts with `wc -l`, values at given lines with a CSV reader), not from this crate's output.

use rtm2m_market::event::{read_events, write_events, Event, OptionType};
use rtm2m_market::import::{import_file, merge_by_time, Format, Imported};
use rtm2m_market::Timestamp;
use std::path::{Path, PathBuf};

fn data_dir() -> Option<PathBuf> {
    let shared = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    if shared.is_dir() {
        Some(shared.join("data"))
    } else {
        eprintln!("note: ../shared absent, skipping the real-data importer tests");
        None
    }
}

fn import(dir: &Path, relative: &str) -> Imported {
    let path = dir.join(relative);
    let format = Format::detect(&path).expect("a known file name");
    import_file(format, &path).unwrap_or_else(|e| panic!("{e}"))
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("a valid test timestamp")
}

/// The event made from data row `row` (1-based, header excluded) when each row makes `per_row` events.
fn at(imported: &Imported, row: usize, per_row: usize) -> &Event {
    &imported.events[(row - 1) * per_row]
}

#[test]
fn binanceus_bars_are_stamped_at_the_end_of_each_minute() {
    let Some(dir) = data_dir() else { return };
    let usdc = import(
        &dir,
        "spot_1m_binanceus_kraken_2023-03/binanceus_BTCUSDC_1m_20230301_20230321.csv",
    );
    // 30,241 lines = header + 21 days × 1,440 minutes.
    assert_eq!(
        (
            usdc.report.rows,
            usdc.report.events,
            usdc.report.skipped_rows()
        ),
        (30_240, 30_240, 0)
    );
    let Event::Bar(first) = &usdc.events[0] else {
        panic!("bars")
    };
    assert_eq!(first.ts, ts("2023-03-01T00:01:00Z"));
    assert_eq!(first.symbol.to_string(), "BTC/USDC");
    assert_eq!(
        (first.open, first.high, first.low, first.close, first.volume),
        (23143.82, 23152.65, 23140.02, 23152.65, 0.26395)
    );
    assert_eq!(first.trade_count, None);
    let Event::Bar(last) = usdc.events.last().expect("bars") else {
        panic!("bars")
    };
    assert_eq!(last.ts, ts("2023-03-22T00:00:00Z"));
    assert_eq!(last.close, 28181.27);
    // Line 19,586: the 14:24 minute of 2023-03-14 printed a high of 31,000 during the USDC de-peg recovery.
    let Event::Bar(spike) = at(&usdc, 19_585, 1) else {
        panic!("bars")
    };
    assert_eq!(
        (spike.ts, spike.high),
        (ts("2023-03-14T14:25:00Z"), 31000.0)
    );
    // 12,971 minutes without a trade repeat the price with volume 0 (counted in the raw file).
    let idle = usdc
        .events
        .iter()
        .filter(|e| matches!(e, Event::Bar(b) if b.volume == 0.0))
        .count();
    assert_eq!(idle, 12_971);
}

#[test]
fn kraken_bars_read_unix_seconds_trade_counts_and_xbt_as_btc() {
    let Some(dir) = data_dir() else { return };
    let kraken = import(
        &dir,
        "spot_1m_binanceus_kraken_2023-03/kraken_XBTUSDC_1m_20230301_20230321.csv",
    );
    assert_eq!((kraken.report.rows, kraken.report.events), (15_719, 15_719));
    let Event::Bar(first) = &kraken.events[0] else {
        panic!("bars")
    };
    // 1677628800 is 2023-03-01T00:00:00Z (`date -u -d @1677628800`); the bar ends a minute later.
    assert_eq!(first.ts, ts("2023-03-01T00:01:00Z"));
    assert_eq!(first.symbol.to_string(), "BTC/USDC");
    assert_eq!((first.volume, first.trade_count), (0.02125883, Some(2)));
    // Line 5000: 1678413300 = 2023-03-10T01:55:00Z, one price all minute, 3 trades.
    let Event::Bar(bar) = at(&kraken, 5000, 1) else {
        panic!("bars")
    };
    assert_eq!(bar.ts, ts("2023-03-10T01:56:00Z"));
    assert_eq!(
        (bar.open, bar.close, bar.trade_count),
        (20123.96, 20123.96, Some(3))
    );
    let Event::Bar(last) = kraken.events.last().expect("bars") else {
        panic!("bars")
    };
    // 1679443080 = 2023-03-21T23:58:00Z.
    assert_eq!(last.ts, ts("2023-03-21T23:59:00Z"));
    // Sum of the trade-count column over the file.
    let trades: u64 = kraken
        .events
        .iter()
        .map(|e| match e {
            Event::Bar(b) => b.trade_count.expect("Kraken gives counts"),
            _ => 0,
        })
        .sum();
    assert_eq!(trades, 113_541);
}

#[test]
fn deribit_ticker_rows_give_a_quote_and_a_book_with_ivs_as_fractions() {
    let Some(dir) = data_dir() else { return };
    let btc = import(
        &dir,
        "deribit_ticker_2021-02-09/btc_option_data_20210209.csv",
    );
    assert_eq!((btc.report.rows, btc.report.events), (520, 1040));
    // Line 2: BTC-24SEP21-7000-P at 1612877925407 ms, IVs 107.13 / 125.66 / 116.39 percent.
    let Event::OptionQuote(q) = at(&btc, 1, 2) else {
        panic!("quote first")
    };
    assert_eq!(q.instrument, "BTC-24SEP21-7000-P");
    assert_eq!(q.ts, ts("2021-02-09T13:38:45.407Z"));
    assert_eq!(q.expiry, ts("2021-09-24T08:00:00Z"));
    assert_eq!((q.strike, q.option_type), (7000.0, OptionType::Put));
    assert_eq!(
        (q.bid, q.ask, q.bid_size, q.ask_size),
        (Some(0.001), Some(0.003), Some(0.1), Some(0.1))
    );
    assert_eq!(
        (q.bid_iv, q.ask_iv, q.mark_iv),
        (Some(1.0713), Some(1.2566), Some(1.1639))
    );
    assert_eq!(q.underlying_price, Some(49869.55));
    assert_eq!(q.underlying_instrument.as_deref(), Some("BTC-24SEP21"));
    assert_eq!(
        (q.index_price, q.open_interest),
        (Some(45793.62), Some(143.4))
    );
    // Line 4: BTC-26MAR21-8000-P has no bid (0 at size 0, bid_iv 0) and three ask levels.
    let Event::OptionQuote(q) = at(&btc, 3, 2) else {
        panic!("quote first")
    };
    assert_eq!(q.instrument, "BTC-26MAR21-8000-P");
    assert_eq!((q.bid, q.bid_size, q.bid_iv), (None, None, None));
    assert_eq!(
        (q.ask, q.ask_iv, q.mark_iv),
        (Some(0.0005), Some(2.0181), Some(2.1573))
    );
    let Event::Book(book) = &btc.events[5] else {
        panic!("book second")
    };
    assert!(book.bids.is_empty());
    let asks: Vec<(f64, f64)> = book.asks.iter().map(|l| (l.price, l.size)).collect();
    assert_eq!(asks, [(0.0005, 0.1), (0.0025, 0.8), (0.189, 1.6)]);
    // Counted in the raw file: 214 rows without a bid, 110 without an ask, 1,044 book levels, 260 calls.
    let quotes: Vec<_> = btc
        .events
        .iter()
        .filter_map(|e| match e {
            Event::OptionQuote(q) => Some(q),
            _ => None,
        })
        .collect();
    assert_eq!(quotes.iter().filter(|q| q.bid.is_none()).count(), 214);
    assert_eq!(quotes.iter().filter(|q| q.ask.is_none()).count(), 110);
    assert_eq!(
        quotes
            .iter()
            .filter(|q| q.option_type == OptionType::Call)
            .count(),
        260
    );
    let levels: usize = btc
        .events
        .iter()
        .map(|e| match e {
            Event::Book(b) => b.bids.len() + b.asks.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(levels, 1044);

    for (file, rows) in [
        ("btc_option_data.csv", 976),
        ("eth_option_data.csv", 996),
        ("eth_option_data_20210209.csv", 542),
    ] {
        let imported = import(&dir, &format!("deribit_ticker_2021-02-09/{file}"));
        assert_eq!(
            (imported.report.rows, imported.report.events),
            (rows, 2 * rows),
            "{file}"
        );
    }
}

#[test]
fn deribit_snapshots_give_one_option_quote_per_row_with_empty_sides_absent() {
    let Some(dir) = data_dir() else { return };
    let snapshot = import(
        &dir,
        "deribit_svcj_snapshots/deribit_options_snapshot_20260206T043012Z.csv",
    );
    assert_eq!((snapshot.report.rows, snapshot.report.events), (1884, 1884));
    let quotes: Vec<_> = snapshot
        .events
        .iter()
        .filter_map(|e| match e {
            Event::OptionQuote(q) => Some(q),
            _ => None,
        })
        .collect();
    // Counted in the raw file: 157 empty bids, 19 empty asks, 930 BTC rows.
    assert_eq!(quotes.iter().filter(|q| q.bid.is_none()).count(), 157);
    assert_eq!(quotes.iter().filter(|q| q.ask.is_none()).count(), 19);
    assert_eq!(quotes.iter().filter(|q| q.underlying == "BTC").count(), 930);
    // Line 100.
    let q = quotes[98];
    assert_eq!(q.instrument, "BTC-8FEB26-50000-C");
    assert_eq!(q.ts, ts("2026-02-06T04:30:12.553805Z"));
    assert_eq!(q.expiry, ts("2026-02-08T08:00:00Z"));
    assert_eq!(
        (q.bid, q.ask, q.mark_price),
        (Some(0.1975), Some(0.269), Some(0.22880633))
    );
    assert_eq!(q.mark_iv, Some(1.6473));
    assert_eq!(q.underlying_price, Some(64765.25428571428));
    assert_eq!(q.underlying_instrument.as_deref(), Some("SYN.BTC-8FEB26"));
    assert_eq!(q.price_currency, "BTC");
    assert_eq!((q.index_price, q.open_interest), (Some(64821.3), Some(0.0)));
    assert_eq!((q.bid_size, q.bid_iv), (None, None));

    // `wc -l` of the other eleven snapshots, less the header.
    let rows = [
        ("20260105T153329Z", 1288),
        ("20260204T213308Z", 1688),
        ("20260205T042952Z", 1700),
        ("20260205T093647Z", 1652),
        ("20260205T155132Z", 1782),
        ("20260205T212937Z", 1840),
        ("20260206T093516Z", 1720),
        ("20260206T155121Z", 1734),
        ("20260206T213057Z", 1750),
        ("20260207T042330Z", 1750),
    ];
    for (stamp, count) in rows {
        let imported = import(
            &dir,
            &format!("deribit_svcj_snapshots/deribit_options_snapshot_{stamp}.csv"),
        );
        assert_eq!(
            (imported.report.rows, imported.report.events),
            (count, count),
            "{stamp}"
        );
    }
}

#[test]
fn deribit_perpetual_and_term_futures_give_marks() {
    let Some(dir) = data_dir() else { return };
    let perpetual = import(&dir, "deribit_svcj_snapshots/perpetual_futures_prices.csv");
    assert_eq!((perpetual.report.rows, perpetual.report.events), (838, 838));
    let Event::Mark(first) = &perpetual.events[0] else {
        panic!("marks")
    };
    assert_eq!(first.ts, ts("2025-12-30T17:31:15.944181Z"));
    assert_eq!(
        (
            first.instrument.as_str(),
            first.price_currency.as_str(),
            first.price
        ),
        ("BTC-PERPETUAL", "USD", 88539.0)
    );
    let Event::Mark(last) = perpetual.events.last().expect("marks") else {
        panic!("marks")
    };
    assert_eq!(last.ts, ts("2026-04-15T10:24:47.955964Z"));
    assert_eq!(
        (last.instrument.as_str(), last.price),
        ("ETH-PERPETUAL", 2316.55)
    );

    let term = import(&dir, "deribit_svcj_snapshots/term_futures_marks.csv");
    assert_eq!((term.report.rows, term.report.events), (5854, 5854));
    let Event::Mark(first) = &term.events[0] else {
        panic!("marks")
    };
    assert_eq!(
        (first.instrument.as_str(), first.price),
        ("BTC-25DEC26", 92595.0)
    );
}

#[test]
fn funding_histories_convert_local_times_to_utc() {
    let Some(dir) = data_dir() else { return };
    let binance = import(
        &dir,
        "funding_rates_supervik/BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv",
    );
    assert_eq!((binance.report.rows, binance.report.events), (4383, 4383));
    let rate_at = |imported: &Imported, row: usize| match at(imported, row, 1) {
        Event::Funding(f) => (f.ts, f.rate, f.period_s),
        other => panic!("expected funding, found {other:?}"),
    };
    // Line 2: `2020-01-01 03:00:00.000` at UTC+3 is midnight UTC.
    assert_eq!(
        rate_at(&binance, 1),
        (ts("2020-01-01T00:00:00Z"), -0.00012359, 28_800)
    );
    // Line 5 carries Binance's millisecond lag: `2020-01-02 03:00:00.002`.
    assert_eq!(
        rate_at(&binance, 4),
        (ts("2020-01-02T00:00:00.002Z"), 0.00003662, 28_800)
    );
    assert_eq!(
        rate_at(&binance, 4383),
        (ts("2023-12-31T16:00:00Z"), 0.00033597, 28_800)
    );
    // KuCoin's `07:00` at UTC+3 is its 04:00 UTC settlement.
    let kucoin = import(
        &dir,
        "funding_rates_supervik/BTC-USDT_kucoin_2021-01-01_2024-01-01_funding_history.csv",
    );
    assert_eq!(
        rate_at(&kucoin, 1),
        (ts("2021-01-01T04:00:00Z"), 0.0001, 28_800)
    );
    // Gate and dYdX write UTC; dYdX funds hourly: 730 days × 24 rows.
    let gate = import(
        &dir,
        "funding_rates_supervik/BTC-USDT_gate_2020-01-01_2024-01-01_funding_history.csv",
    );
    assert_eq!(
        rate_at(&gate, 1),
        (ts("2020-01-01T00:00:00Z"), 0.0001, 28_800)
    );
    let dydx = import(
        &dir,
        "funding_rates_supervik/ETH-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv",
    );
    assert_eq!((dydx.report.rows, dydx.report.events), (17_520, 17_520));
    assert_eq!(
        rate_at(&dydx, 10_000),
        (ts("2023-02-21T15:00:00Z"), -0.0000001884, 3_600)
    );
    // The visible caps of the README: Binance BTC ±0.3%, every rate inside.
    let extremes = binance
        .events
        .iter()
        .fold((0.0f64, 0.0f64), |(lo, hi), e| match e {
            Event::Funding(f) => (lo.min(f.rate), hi.max(f.rate)),
            _ => (lo, hi),
        });
    assert_eq!(extremes, (-0.003, 0.003));
}

#[test]
fn every_file_imports_and_its_events_round_trip_through_jsonl() {
    let Some(dir) = data_dir() else { return };
    let mut batches = Vec::new();
    let mut files = 0;
    for folder in std::fs::read_dir(&dir).expect("data folder") {
        let folder = folder.expect("entry").path();
        if !folder.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&folder).expect("folder") {
            let path = file.expect("entry").path();
            if let Some(format) = Format::detect(&path) {
                let imported = import_file(format, &path).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(imported.report.skipped_rows(), 0, "{}", imported.report);
                batches.push(imported.events);
                files += 1;
            }
        }
    }
    // 11 snapshots (`ls`; the README's "12" counts one more than the folder holds) + 2 futures files
    // + 4 tickers + 4 bar files + 14 funding histories.
    assert_eq!(files, 35);
    let total: usize = batches.iter().map(Vec::len).sum();
    let merged = merge_by_time(batches);
    assert_eq!(merged.len(), total);
    assert!(merged.windows(2).all(|w| w[0].ts() <= w[1].ts()));
    let mut bytes = Vec::new();
    write_events(&mut bytes, &merged).expect("imported events are valid");
    let read: Vec<Event> = read_events(&bytes[..])
        .collect::<Result<_, _>>()
        .expect("written events read back");
    assert!(read == merged, "round trip changed an event");
}
