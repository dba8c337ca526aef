//! Seeded synthetic data for tests and benchmarks: an option chain with futures and perpetuals as input
//! events, index random walks, account populations (options, futures, perpetuals, collateral) and streams of
//! fills, deposits and withdrawals. Everything is a function of its arguments and seed (ChaCha8), so a test
//! or a benchmark sees the same data on every machine.

use crate::config::{default_assets, EngineParams, Genesis};
use crate::event::{Fill, Input, InputKind, Transfer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rtm2m_margin::account::{Account, Collateral, Position};
use rtm2m_margin::instrument::{Instrument, InstrumentKind};
use rtm2m_market::event::{IndexStatus, IndexUpdate, Mark, OptionQuote, OptionType};
use rtm2m_market::{Event, Timestamp};
use std::collections::BTreeMap;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Deribit's expiry code (`27MAR26`) of the day of `ts` (UTC).
pub fn expiry_code(ts: Timestamp) -> String {
    let (d, _) = ts.to_utc_civil();
    format!(
        "{}{}{:02}",
        d.day,
        MONTHS[d.month as usize - 1],
        d.year % 100
    )
}

/// One underlying of a synthetic chain.
#[derive(Debug, Clone, PartialEq)]
pub struct UnderlyingSpec {
    /// Coin, e.g. `BTC`.
    pub name: String,
    /// Index, USD.
    pub index_usd: f64,
    /// At-the-money vol, annualised fraction.
    pub atm_vol: f64,
    /// Strike spacing, USD.
    pub strike_step_usd: f64,
}

/// A synthetic chain: expiries at 08:00 UTC `expiry_days` after the day of `start`, strikes around the
/// forward, a smile, a contango of 5% a year, dated futures on the monthly expiries, a perpetual.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSpec {
    /// Underlyings.
    pub underlyings: Vec<UnderlyingSpec>,
    /// Time of the quotes.
    pub start: Timestamp,
    /// Days from the start's day to each expiry.
    pub expiry_days: Vec<i64>,
    /// Strikes per expiry (calls and puts on each).
    pub strikes_per_expiry: usize,
}

impl ChainSpec {
    /// BTC at 90,000 (50% vol) and ETH at 3,000 (70%), 11 expiries from 1 day to 9 months, 40 strikes each:
    /// 1,760 options, about the size of Deribit's chain.
    pub fn default_at(start: Timestamp) -> ChainSpec {
        ChainSpec {
            underlyings: vec![
                UnderlyingSpec {
                    name: "BTC".into(),
                    index_usd: 90_000.0,
                    atm_vol: 0.5,
                    strike_step_usd: 1000.0,
                },
                UnderlyingSpec {
                    name: "ETH".into(),
                    index_usd: 3_000.0,
                    atm_vol: 0.7,
                    strike_step_usd: 25.0,
                },
            ],
            start,
            expiry_days: vec![1, 2, 3, 7, 14, 21, 30, 60, 90, 180, 270],
            strikes_per_expiry: 40,
        }
    }

    /// The market events of the chain at `ts` with the given index per underlying (option quotes, marks of
    /// the perpetuals and futures, then one index per underlying), seqs from `first_seq`.
    pub fn events(&self, ts: Timestamp, index_usd: &[f64], first_seq: u64) -> Vec<Input> {
        let mut seq = first_seq;
        let mut out = Vec::new();
        let mut push = |out: &mut Vec<Input>, e: Event| {
            out.push(Input {
                seq,
                ts,
                kind: InputKind::Market(e),
            });
            seq += 1;
        };
        let day0 = self.start.unix_nanos().div_euclid(86_400_000_000_000) * 86_400;
        for (u, spec) in self.underlyings.iter().enumerate() {
            let s = index_usd[u];
            for &d in &self.expiry_days {
                let expiry_s = day0 + d * 86_400 + 8 * 3600;
                let Some(expiry) = Timestamp::from_unix_seconds(expiry_s) else {
                    continue;
                };
                let years = (expiry_s as f64 - ts.unix_nanos() as f64 / 1e9) / 31_536_000.0;
                if years <= 0.0 {
                    continue;
                }
                let code = expiry_code(expiry);
                let forward = s * (0.05 * years).exp();
                let spread = 3.0 * spec.atm_vol * years.sqrt().max(0.05);
                let mut strikes: Vec<f64> = (0..self.strikes_per_expiry)
                    .map(|k| {
                        let x = -spread
                            + 2.0 * spread * k as f64 / (self.strikes_per_expiry - 1).max(1) as f64;
                        ((forward * x.exp()) / spec.strike_step_usd).round() * spec.strike_step_usd
                    })
                    .filter(|k| *k > 0.0)
                    .collect();
                strikes.dedup();
                for k in strikes {
                    let m = (k / forward).ln();
                    let vol = spec.atm_vol
                        * (1.0 - 0.1 * m + 0.4 * m * m)
                        * (1.0 + 0.05 / (years * 12.0).sqrt());
                    for (cp, t) in [("C", OptionType::Call), ("P", OptionType::Put)] {
                        push(
                            &mut out,
                            Event::OptionQuote(OptionQuote {
                                ts,
                                venue: "deribit".into(),
                                instrument: format!("{}-{code}-{}-{cp}", spec.name, k as i64),
                                underlying: spec.name.clone(),
                                expiry,
                                strike: k,
                                option_type: t,
                                price_currency: spec.name.clone(),
                                bid: None,
                                ask: None,
                                bid_size: None,
                                ask_size: None,
                                bid_iv: None,
                                ask_iv: None,
                                mark_iv: Some((vol * 1e4).round() / 1e4),
                                mark_price: None,
                                underlying_price: Some(forward),
                                underlying_instrument: Some(format!("{}-{code}", spec.name)),
                                index_price: Some(s),
                                open_interest: None,
                            }),
                        );
                    }
                }
                if d >= 30 {
                    push(
                        &mut out,
                        Event::Mark(Mark {
                            ts,
                            venue: "deribit".into(),
                            instrument: format!("{}-{code}", spec.name),
                            price_currency: "USD".into(),
                            price: forward,
                        }),
                    );
                }
            }
            push(
                &mut out,
                Event::Mark(Mark {
                    ts,
                    venue: "deribit".into(),
                    instrument: format!("{}-PERPETUAL", spec.name),
                    price_currency: "USD".into(),
                    price: s * 1.0002,
                }),
            );
        }
        for (u, spec) in self.underlyings.iter().enumerate() {
            push(&mut out, index_event(ts, &spec.name, index_usd[u]));
        }
        out
    }

    /// The chain at `start` with the specs' index prices, seqs from 1.
    pub fn initial_events(&self) -> Vec<Input> {
        let index: Vec<f64> = self.underlyings.iter().map(|u| u.index_usd).collect();
        self.events(self.start, &index, 1)
    }
}

/// An `index` event (status ok, confidence half-width 0.01% of the price).
pub fn index_event(ts: Timestamp, underlying: &str, price: f64) -> Event {
    Event::Index(IndexUpdate {
        ts,
        underlying: underlying.into(),
        price,
        confidence: price * 1e-4,
        status: IndexStatus::Ok,
    })
}

/// `count` index ticks alternating over `underlyings` (name, starting price), each a random step of
/// `step_vol` (fraction, normal-ish) every `interval_ns`, from `ts0` and `first_seq`.
pub fn index_walk(
    underlyings: &[(String, f64)],
    count: usize,
    step_vol: f64,
    ts0: Timestamp,
    interval_ns: i64,
    first_seq: u64,
    seed: u64,
) -> Vec<Input> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut prices: Vec<f64> = underlyings.iter().map(|u| u.1).collect();
    (0..count)
        .map(|k| {
            let u = k % underlyings.len();
            // Sum of 4 uniforms: a bounded, roughly normal step.
            let z: f64 = (0..4).map(|_| rng.random::<f64>() - 0.5).sum::<f64>() * 1.7;
            prices[u] *= 1.0 + step_vol * z;
            let ts = Timestamp::from_unix_nanos(ts0.unix_nanos() + (k as i64 + 1) * interval_ns);
            Input {
                seq: first_seq + k as u64,
                ts,
                kind: InputKind::Market(index_event(ts, &underlyings[u].0, prices[u])),
            }
        })
        .collect()
}

/// Instruments an account population can hold, with the index of each underlying.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Universe {
    /// Options by underlying.
    pub options: BTreeMap<String, Vec<String>>,
    /// Dated futures by underlying.
    pub futures: BTreeMap<String, Vec<String>>,
    /// Perpetuals by underlying.
    pub perpetuals: BTreeMap<String, String>,
    /// Index by underlying, USD.
    pub index_usd: BTreeMap<String, f64>,
    /// Value of one unit by instrument, USD (options: the premium a fill would pay), when known.
    pub value_usd: BTreeMap<String, f64>,
}

impl Universe {
    /// The instruments quoted or marked in `events` (in first-seen order), and the last index of each
    /// underlying.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Input>) -> Universe {
        let mut u = Universe::default();
        let mut seen = std::collections::HashSet::new();
        for e in events {
            let InputKind::Market(m) = &e.kind else {
                continue;
            };
            let name = match m {
                Event::OptionQuote(q) => &q.instrument,
                Event::Mark(k) => &k.instrument,
                Event::Index(ix) => {
                    u.index_usd.insert(ix.underlying.clone(), ix.price);
                    continue;
                }
                _ => continue,
            };
            if !seen.insert(name.clone()) {
                continue;
            }
            let Ok(i) = Instrument::parse(name) else {
                continue;
            };
            match i.kind {
                InstrumentKind::Option { .. } => {
                    u.options.entry(i.underlying).or_default().push(i.name)
                }
                InstrumentKind::Future { .. } => {
                    u.futures.entry(i.underlying).or_default().push(i.name)
                }
                InstrumentKind::Perpetual => {
                    u.perpetuals.insert(i.underlying, i.name);
                }
                InstrumentKind::Spot => {}
            }
        }
        u
    }

    /// Records the value of every instrument of the universe that `engine` has valued (premiums for the
    /// population's cash).
    pub fn value_with(&mut self, engine: &crate::Engine) {
        let names: Vec<String> = self
            .options
            .values()
            .chain(self.futures.values())
            .flatten()
            .chain(self.perpetuals.values())
            .cloned()
            .collect();
        for n in names {
            if let Some(Ok((price, _))) = engine.valuation(&n) {
                self.value_usd.insert(n, price);
            }
        }
    }
}

/// A seeded population of `accounts` accounts holding about `positions` positions in all (options 70%,
/// futures 15%, perpetuals 15%), each on one or both underlyings of `universe`, with USDC and coin
/// collateral and cash sized so that most accounts start healthy and about one in ten runs thin. Option
/// premiums (from `universe.value_usd`, 0 when unknown) are in the cash: received for shorts, paid for longs.
pub fn population(accounts: usize, positions: usize, universe: &Universe, seed: u64) -> Genesis {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let underlyings: Vec<&String> = universe.index_usd.keys().collect();
    let per = (positions as f64 / accounts.max(1) as f64).max(1.0);
    let mut list = Vec::with_capacity(accounts);
    let mut left = positions;
    for k in 0..accounts {
        let remaining_accounts = accounts - k;
        let target = if remaining_accounts == 1 {
            left
        } else {
            let x = (per * (0.5 + rng.random::<f64>())).round() as usize;
            x.clamp(1, left.saturating_sub(remaining_accounts - 1).max(1))
        };
        left = left.saturating_sub(target);
        let home = underlyings[rng.random_range(0..underlyings.len())];
        let both = rng.random_bool(0.3);
        let mut held = std::collections::BTreeSet::new();
        let mut pos = Vec::new();
        let mut notional = 0.0;
        let mut premium = 0.0;
        let mut tries = 0;
        while pos.len() < target && tries < target * 10 {
            tries += 1;
            let u = if both && rng.random_bool(0.4) {
                underlyings[rng.random_range(0..underlyings.len())]
            } else {
                home
            };
            let s = universe.index_usd[u];
            let coin = 90_000.0 / s; // sizes in BTC-equivalent notional
            let r: f64 = rng.random();
            let (name, entry) = if r < 0.7 {
                let Some(opts) = universe.options.get(u).filter(|o| !o.is_empty()) else {
                    continue;
                };
                (opts[rng.random_range(0..opts.len())].clone(), None)
            } else if r < 0.85 {
                let Some(f) = universe.futures.get(u).filter(|f| !f.is_empty()) else {
                    continue;
                };
                (
                    f[rng.random_range(0..f.len())].clone(),
                    Some(s * (1.0 + 0.04 * (rng.random::<f64>() - 0.5))),
                )
            } else {
                let Some(p) = universe.perpetuals.get(u) else {
                    continue;
                };
                (
                    p.clone(),
                    Some(s * (1.0 + 0.04 * (rng.random::<f64>() - 0.5))),
                )
            };
            if !held.insert(name.clone()) {
                continue;
            }
            let size = coin
                * (0.05 + 2.0 * rng.random::<f64>()).round_to(0.01)
                * if rng.random_bool(0.55) { -1.0 } else { 1.0 };
            notional += size.abs() * s;
            if entry.is_none() {
                // The premium: paid for a long option, received for a short one.
                premium += size * universe.value_usd.get(&name).copied().unwrap_or(0.0);
            }
            pos.push(Position {
                instrument: name,
                size,
                entry_price_usd: entry,
            });
        }
        let thin = rng.random_bool(0.1);
        let cover = if thin {
            0.04 + 0.04 * rng.random::<f64>()
        } else {
            0.2 + 0.4 * rng.random::<f64>()
        };
        let mut collateral = vec![Collateral {
            asset: "USDC".into(),
            amount: (notional * cover * 0.6).round(),
        }];
        if rng.random_bool(0.3) {
            collateral.push(Collateral {
                asset: home.clone(),
                amount: ((notional * cover * 0.3) / universe.index_usd[home]).round_to(0.001),
            });
        }
        list.push(Account {
            id: format!("acct-{k:07}"),
            cash_usd: (notional * cover * 0.1 - premium).round(),
            collateral,
            positions: pos,
            ..Account::default()
        });
    }
    Genesis {
        underlyings: underlyings.iter().map(|s| (*s).clone()).collect(),
        assets: default_assets(),
        params: EngineParams {
            margin_publish_rel: 0.001,
            ..EngineParams::default()
        },
        accounts: list,
    }
}

/// A seeded stream of `count` account events at `ts` (seqs from `first_seq`): fills (80%) of ±0.01–0.5
/// BTC-equivalent on instruments of `universe` at prices near the index, deposits (15%) and withdrawals (5%,
/// small, so most pass the margin check) of USDC.
pub fn account_events(
    genesis: &Genesis,
    universe: &Universe,
    count: usize,
    ts: Timestamp,
    first_seq: u64,
    seed: u64,
) -> Vec<Input> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut names: Vec<(&String, &String)> = Vec::new();
    for (u, o) in &universe.options {
        names.extend(o.iter().map(|n| (u, n)));
    }
    for (u, f) in &universe.futures {
        names.extend(f.iter().map(|n| (u, n)));
    }
    for (u, p) in &universe.perpetuals {
        names.push((u, p));
    }
    (0..count)
        .map(|k| {
            let account = genesis.accounts[rng.random_range(0..genesis.accounts.len())]
                .id
                .clone();
            let r: f64 = rng.random();
            let kind = if r < 0.8 && !names.is_empty() {
                let (u, name) = names[rng.random_range(0..names.len())];
                let s = universe.index_usd[u];
                let option = name.ends_with("-C") || name.ends_with("-P");
                let size = (90_000.0 / s)
                    * (0.01 + 0.49 * rng.random::<f64>()).round_to(0.01)
                    * if rng.random_bool(0.5) { -1.0 } else { 1.0 };
                let price_usd = if option {
                    s * 0.02 * rng.random::<f64>()
                } else {
                    s * (1.0 + 0.002 * (rng.random::<f64>() - 0.5))
                };
                InputKind::Fill(Fill {
                    account,
                    instrument: name.clone(),
                    size,
                    price_usd: price_usd.round_to(0.01),
                    fee_usd: 0.5,
                })
            } else if r < 0.95 {
                InputKind::Deposit(Transfer {
                    account,
                    asset: "USDC".into(),
                    amount: (1000.0 * rng.random::<f64>()).round() + 1.0,
                })
            } else {
                InputKind::Withdrawal(Transfer {
                    account,
                    asset: "USDC".into(),
                    amount: (100.0 * rng.random::<f64>()).round() + 1.0,
                })
            };
            Input {
                seq: first_seq + k as u64,
                ts,
                kind,
            }
        })
        .collect()
}

trait RoundTo {
    fn round_to(self, step: f64) -> f64;
}

impl RoundTo for f64 {
    fn round_to(self, step: f64) -> f64 {
        ((self / step).round() * step).max(step)
    }
}
