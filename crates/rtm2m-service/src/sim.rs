//! The seeded market simulator behind the embedded default (`docs/service.md` §6). Every draw comes from
//! one ChaCha8 stream seeded by `simulator.seed`; the wall clock gives only the events' timestamps.
//!
//! - Index: a Merton jump-diffusion per underlying (correlated Brownian parts, ρ = 0.8; Poisson jumps,
//!   common to both coins, N(−3%, 4%) in log), with volatility regimes: `calm` and `stressed` (volatility
//!   × 2.5, jumps × 3, steeper skew), switching as a Markov chain. Market time runs `speed` times faster
//!   than wall time so that a demo moves.
//! - Venues: five spot venues quote and trade each coin around the true price (USD and USDT pairs);
//!   `flakybit` misbehaves — it freezes (then goes stale), prints 3% off (an outlier), or prints zero — and
//!   `rtm2m-oracle`'s capped median excludes it, naming the reason, before the index reaches the engine.
//! - Options: a fixed chain (expiries from 1 day to 6 months, strikes around the first forward) quoted with
//!   SVI-shaped smiles, Gatheral's raw SVI with the level set by the regime's at-the-money vol; mark, bid and
//!   ask IVs, forwards at a 5% carry; dated futures and perpetual marks.
//! - Accounts: fills, deposits and withdrawals at `account_events_per_s`; a keeper tops up accounts some
//!   ticks after their liquidation alert, so that the population keeps cycling through the statuses.

use crate::config::SimConfig;
use crate::view::{IndexView, SviParams};
use crate::writer::FeedBatch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};
use rtm2m_engine::event::{Fill, Transfer};
use rtm2m_engine::synthetic::expiry_code;
use rtm2m_engine::{Input, InputKind};
use rtm2m_market::event::{Mark, OptionQuote, OptionType, Quote, Trade};
use rtm2m_market::{Event, Pair, Timestamp};
use rtm2m_oracle::index::{IndexConfig, IndexEngine, IndexReport};
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

const YEAR_S: f64 = 31_536_000.0;

/// Expiries of the simulated chain, days after the start's day (08:00 UTC).
pub const EXPIRY_DAYS: [i64; 8] = [1, 2, 7, 14, 30, 60, 90, 180];

/// Strikes per expiry.
pub const STRIKES_PER_EXPIRY: usize = 15;

/// USD carry of the forwards, per year.
pub const CARRY: f64 = 0.05;

/// Volatility regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regime {
    /// Base volatility.
    Calm,
    /// Volatility × 2.5, jump intensity × 3, steeper skew.
    Stressed,
}

#[derive(Debug, Clone)]
struct Coin {
    name: String,
    price: f64,
    vol: f64,
    step: f64,
    /// Strikes per expiry code.
    strikes: BTreeMap<String, Vec<f64>>,
}

/// How the misbehaving venue behaves now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mood {
    Fine,
    Frozen,
    Off,
    Zero,
}

#[derive(Debug, Clone)]
struct Venue {
    name: &'static str,
    quote: &'static str,
    bias: f64,
    flaky: bool,
}

const VENUES: [Venue; 5] = [
    Venue {
        name: "coinbase",
        quote: "USD",
        bias: 0.0,
        flaky: false,
    },
    Venue {
        name: "kraken",
        quote: "USD",
        bias: 0.0001,
        flaky: false,
    },
    Venue {
        name: "binance",
        quote: "USDT",
        bias: -0.0001,
        flaky: false,
    },
    Venue {
        name: "okx",
        quote: "USDT",
        bias: 0.00005,
        flaky: false,
    },
    Venue {
        name: "flakybit",
        quote: "USD",
        bias: 0.0,
        flaky: true,
    },
];

/// The simulator's state.
#[derive(Debug)]
pub struct Simulator {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    coins: Vec<Coin>,
    expiries: Vec<(String, Timestamp)>,
    regime: Regime,
    mood: Mood,
    frozen: Vec<(f64, f64)>,
    oracle: IndexEngine,
    tick: u64,
    accounts: Vec<String>,
    topups: VecDeque<(u64, String, f64)>,
    scheduled: std::collections::HashSet<String>,
    activity_carry: f64,
}

fn nanos(ts: Timestamp) -> i64 {
    ts.unix_nanos()
}

impl Simulator {
    /// A simulator starting at `start` with BTC at 90,000 USD (50% vol) and ETH at 3,000 (70%).
    pub fn new(cfg: &SimConfig, start: Timestamp) -> Simulator {
        let day0 = nanos(start).div_euclid(86_400_000_000_000) * 86_400;
        let expiries: Vec<(String, Timestamp)> = EXPIRY_DAYS
            .iter()
            .filter_map(|d| Timestamp::from_unix_seconds(day0 + d * 86_400 + 8 * 3600))
            .map(|t| (expiry_code(t), t))
            .collect();
        let mut coins = vec![
            Coin {
                name: "BTC".into(),
                price: 90_000.0,
                vol: 0.5,
                step: 1000.0,
                strikes: BTreeMap::new(),
            },
            Coin {
                name: "ETH".into(),
                price: 3_000.0,
                vol: 0.7,
                step: 25.0,
                strikes: BTreeMap::new(),
            },
        ];
        for c in &mut coins {
            for (code, exp) in &expiries {
                let t = ((nanos(*exp) - nanos(start)) as f64 / 1e9 / YEAR_S).max(1.0 / 365.0);
                let f = c.price * (CARRY * t).exp();
                let width = 2.5 * c.vol * t.sqrt();
                let mut ks: Vec<f64> = (0..STRIKES_PER_EXPIRY)
                    .map(|i| {
                        let x = -width + 2.0 * width * i as f64 / (STRIKES_PER_EXPIRY - 1) as f64;
                        ((f * x.exp()) / c.step).round() * c.step
                    })
                    .filter(|k| *k > 0.0)
                    .collect();
                ks.dedup();
                c.strikes.insert(code.clone(), ks);
            }
        }
        let tick_ns = cfg.tick_ms as i64 * 1_000_000;
        let oracle = IndexEngine::new(IndexConfig {
            cycle_ns: tick_ns,
            staleness_ns: 6 * tick_ns,
            ..IndexConfig::default()
        })
        .expect("the simulator's index configuration is valid");
        Simulator {
            cfg: cfg.clone(),
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            coins,
            expiries,
            regime: Regime::Calm,
            mood: Mood::Fine,
            frozen: vec![(0.0, 0.0); 2],
            oracle,
            tick: 0,
            accounts: Vec::new(),
            topups: VecDeque::new(),
            scheduled: std::collections::HashSet::new(),
            activity_carry: 0.0,
        }
    }

    /// The current regime.
    pub fn regime(&self) -> Regime {
        self.regime
    }

    /// The accounts whose activity the simulator makes (the population's ids).
    pub fn set_accounts(&mut self, ids: Vec<String>) {
        self.accounts = ids;
    }

    /// The SVI parameters of a smile: ATM vol from the regime and term structure, skew ρ, wings b ∝ σ√T,
    /// and the level a set so that w(0) = σ_atm²·T (Gatheral 2004, raw SVI).
    pub fn svi(&self, coin: usize, expiry_years: f64) -> SviParams {
        let c = &self.coins[coin];
        let t = expiry_years.max(1e-4);
        let stress = if self.regime == Regime::Stressed {
            1.6
        } else {
            1.0
        };
        let atm = c.vol * stress * (1.0 + 0.08 / (t * 12.0).sqrt());
        let rho = if self.regime == Regime::Stressed {
            -0.55
        } else {
            -0.3
        };
        let b = 0.4 * atm * t.sqrt();
        let sigma = 0.15 * t.sqrt() + 0.02;
        let a = atm * atm * t - b * sigma;
        SviParams {
            a,
            b,
            rho,
            m: 0.0,
            sigma,
        }
    }

    fn step_prices(&mut self, dt: f64) {
        let switch: f64 = self.rng.random();
        self.regime = match self.regime {
            Regime::Calm if switch < 0.004 => Regime::Stressed,
            Regime::Stressed if switch < 0.02 => Regime::Calm,
            r => r,
        };
        let (vol_x, jump_x) = if self.regime == Regime::Stressed {
            (2.5, 3.0)
        } else {
            (1.0, 1.0)
        };
        let z1: f64 = StandardNormal.sample(&mut self.rng);
        let e: f64 = StandardNormal.sample(&mut self.rng);
        let z2 = 0.8 * z1 + (1.0f64 - 0.64).sqrt() * e;
        let lambda = 60.0 * jump_x; // jumps per year of market time
        let jump = if self.rng.random::<f64>() < lambda * dt {
            Normal::new(-0.03, 0.04)
                .expect("finite parameters")
                .sample(&mut self.rng)
        } else {
            0.0
        };
        for (c, z) in self.coins.iter_mut().zip([z1, z2]) {
            let s = c.vol * vol_x;
            // Merton (1976): d ln S = −½σ²dt + σ dW + J dN (the jump compensator is left out: a demo).
            let r = -0.5 * s * s * dt
                + s * dt.sqrt() * z
                + jump * if c.name == "BTC" { 1.0 } else { 1.3 };
            c.price *= r.exp();
        }
    }

    fn venue_events(&mut self, ts: Timestamp, out: &mut Vec<Event>) {
        if self.tick.is_multiple_of(40) {
            let r: f64 = self.rng.random();
            self.mood = if r < 0.55 {
                Mood::Fine
            } else if r < 0.75 {
                Mood::Frozen
            } else if r < 0.95 {
                Mood::Off
            } else {
                Mood::Zero
            };
        }
        for (ci, c) in self.coins.iter().enumerate() {
            for v in &VENUES {
                let noise: f64 = StandardNormal.sample(&mut self.rng);
                let mut mid = c.price * (1.0 + v.bias + 0.0002 * noise);
                let half = c.price * 0.0001 * (1.0 + self.rng.random::<f64>());
                if v.flaky {
                    match self.mood {
                        Mood::Fine => {}
                        Mood::Frozen => {
                            if self.frozen[ci].0 == 0.0 {
                                self.frozen[ci] = (mid - half, mid + half);
                            }
                            let (bid, ask) = self.frozen[ci];
                            out.push(quote(ts, v, &c.name, bid, ask));
                            continue;
                        }
                        Mood::Off => mid *= 1.03,
                        Mood::Zero => mid = 0.0,
                    }
                    self.frozen[ci] = (0.0, 0.0);
                }
                out.push(quote(ts, v, &c.name, mid - half, mid + half));
                if self.rng.random::<f64>() < 0.5 {
                    let side: f64 = self.rng.random();
                    out.push(Event::Trade(Trade {
                        ts,
                        venue: v.name.into(),
                        symbol: Pair {
                            base: c.name.clone(),
                            quote: v.quote.into(),
                        },
                        price: if side < 0.5 { mid - half } else { mid + half },
                        size: 0.01 + self.rng.random::<f64>(),
                        side: None,
                    }));
                }
            }
        }
    }

    fn chain(
        &self,
        ts: Timestamp,
        out: &mut Vec<Event>,
        smiles: &mut Vec<(String, String, SviParams)>,
    ) {
        for (ci, c) in self.coins.iter().enumerate() {
            for (code, exp) in &self.expiries {
                let t = (nanos(*exp) - nanos(ts)) as f64 / 1e9 / YEAR_S;
                if t < 1.0 / (365.0 * 24.0) {
                    continue;
                }
                let f = c.price * (CARRY * t).exp();
                let svi = self.svi(ci, t);
                smiles.push((c.name.clone(), code.clone(), svi));
                for &k in &c.strikes[code] {
                    let x = (k / f).ln();
                    let vol = (svi.total_variance(x).max(1e-8) / t).sqrt();
                    let spread = 0.005 + 0.01 * x.abs();
                    for (cp, ty) in [("C", OptionType::Call), ("P", OptionType::Put)] {
                        out.push(Event::OptionQuote(OptionQuote {
                            ts,
                            venue: "simex".into(),
                            instrument: format!("{}-{code}-{}-{cp}", c.name, k as i64),
                            underlying: c.name.clone(),
                            expiry: *exp,
                            strike: k,
                            option_type: ty,
                            price_currency: c.name.clone(),
                            bid: None,
                            ask: None,
                            bid_size: None,
                            ask_size: None,
                            bid_iv: Some(((vol - spread).max(0.01) * 1e4).round() / 1e4),
                            ask_iv: Some(((vol + spread) * 1e4).round() / 1e4),
                            mark_iv: Some((vol * 1e4).round() / 1e4),
                            mark_price: None,
                            underlying_price: Some(f),
                            underlying_instrument: Some(format!("{}-{code}", c.name)),
                            index_price: Some(c.price),
                            open_interest: None,
                        }));
                    }
                }
                if t > 25.0 / 365.0 {
                    out.push(Event::Mark(Mark {
                        ts,
                        venue: "simex".into(),
                        instrument: format!("{}-{code}", c.name),
                        price_currency: "USD".into(),
                        price: f,
                    }));
                }
            }
            out.push(Event::Mark(Mark {
                ts,
                venue: "simex".into(),
                instrument: format!("{}-PERPETUAL", c.name),
                price_currency: "USD".into(),
                price: c.price * 1.0002,
            }));
        }
    }

    /// The first market data: the chain and one index per underlying at `ts` (no venue aggregation yet).
    pub fn initial(&mut self, ts: Timestamp) -> (Vec<Event>, Vec<(String, String, SviParams)>) {
        let mut out = Vec::new();
        let mut smiles = Vec::new();
        self.chain(ts, &mut out, &mut smiles);
        for c in &self.coins {
            out.push(rtm2m_engine::synthetic::index_event(ts, &c.name, c.price));
        }
        let mut reports = Vec::new();
        let mut venue = Vec::new();
        self.venue_events(ts, &mut venue);
        for e in &venue {
            let _ = self.oracle.on_event(e, &mut reports);
        }
        (out, smiles)
    }

    fn account_activity(&mut self, ts: Timestamp, dt_wall_s: f64, out: &mut Vec<InputKind>) {
        if self.accounts.is_empty() {
            return;
        }
        self.activity_carry += self.cfg.account_events_per_s * dt_wall_s;
        while self.activity_carry >= 1.0 {
            self.activity_carry -= 1.0;
            let account = self.accounts[self.rng.random_range(0..self.accounts.len())].clone();
            let r: f64 = self.rng.random();
            let ci = self.rng.random_range(0..self.coins.len());
            let c = &self.coins[ci];
            let coin_size = 90_000.0 / c.price;
            if r < 0.45 {
                let perp = self.rng.random_bool(0.6);
                let (name, f) = if perp {
                    (format!("{}-PERPETUAL", c.name), c.price)
                } else {
                    let (code, exp) = &self.expiries[self.expiries.len() - 1];
                    let t = (nanos(*exp) - nanos(ts)) as f64 / 1e9 / YEAR_S;
                    (format!("{}-{code}", c.name), c.price * (CARRY * t).exp())
                };
                let size = coin_size
                    * (0.01 + 0.2 * self.rng.random::<f64>())
                    * if self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
                out.push(InputKind::Fill(Fill {
                    account,
                    instrument: name,
                    size: (size * 1e3).round() / 1e3,
                    price_usd: (f * (1.0 + 0.0005 * (self.rng.random::<f64>() - 0.5)) * 100.0)
                        .round()
                        / 100.0,
                    fee_usd: 0.5,
                }));
            } else if r < 0.8 {
                let live: Vec<&(String, Timestamp)> = self
                    .expiries
                    .iter()
                    .filter(|(_, e)| (nanos(*e) - nanos(ts)) as f64 / 1e9 > 86_400.0)
                    .collect();
                if live.is_empty() {
                    continue;
                }
                let (code, exp) = live[self.rng.random_range(0..live.len())];
                let ks = &c.strikes[code];
                let k = ks[self.rng.random_range(0..ks.len())];
                let call = self.rng.random_bool(0.5);
                let t = (nanos(*exp) - nanos(ts)) as f64 / 1e9 / YEAR_S;
                let f = c.price * (CARRY * t).exp();
                let svi = self.svi(ci, t);
                let vol = (svi.total_variance((k / f).ln()).max(1e-8) / t).sqrt();
                let kind = if call {
                    rtm2m_pricing::OptionKind::Call
                } else {
                    rtm2m_pricing::OptionKind::Put
                };
                let Ok(premium) = rtm2m_pricing::black76_price(kind, f, k, t, vol, 1.0) else {
                    continue;
                };
                let size = coin_size
                    * (0.05 + 0.5 * self.rng.random::<f64>())
                    * if self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
                out.push(InputKind::Fill(Fill {
                    account,
                    instrument: format!(
                        "{}-{code}-{}-{}",
                        c.name,
                        k as i64,
                        if call { "C" } else { "P" }
                    ),
                    size: (size * 100.0).round() / 100.0,
                    price_usd: ((premium * 100.0).round() / 100.0).max(0.01),
                    fee_usd: 0.5,
                }));
            } else if r < 0.95 {
                out.push(InputKind::Deposit(Transfer {
                    account,
                    asset: "USDC".into(),
                    amount: (2000.0 * self.rng.random::<f64>()).round() + 1.0,
                }));
            } else {
                out.push(InputKind::Withdrawal(Transfer {
                    account,
                    asset: "USDC".into(),
                    amount: (200.0 * self.rng.random::<f64>()).round() + 1.0,
                }));
            }
        }
    }

    /// Notes a liquidation alert: a keeper tops the account up 10 to 40 ticks later with its shortfall plus
    /// a fifth of its maintenance margin.
    pub fn alert(&mut self, account: &str, shortfall_usd: f64, mm_usd: f64) {
        if self.scheduled.contains(account) || self.topups.len() >= 10_000 {
            return;
        }
        let due = self.tick + self.rng.random_range(10..40);
        let amount = ((shortfall_usd.max(0.0) * 1.5 + 0.2 * mm_usd) + 100.0).round();
        if amount.is_finite() && amount > 0.0 {
            self.scheduled.insert(account.to_owned());
            self.topups.push_back((due, account.to_owned(), amount));
        }
    }

    /// One tick at `ts`, `dt_wall_s` after the previous one: the batch for the writer.
    pub fn tick(&mut self, ts: Timestamp, dt_wall_s: f64) -> FeedBatch {
        self.tick += 1;
        let dt = dt_wall_s * self.cfg.speed / YEAR_S;
        self.step_prices(dt);
        let mut market = Vec::new();
        self.venue_events(ts, &mut market);
        let mut reports: Vec<IndexReport> = Vec::new();
        for e in &market {
            let _ = self.oracle.on_event(e, &mut reports);
        }
        let mut smiles = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        if self.tick.is_multiple_of(self.cfg.quote_every_ticks) {
            self.chain(ts, &mut events, &mut smiles);
        }
        let mut inputs: Vec<Input> = events
            .into_iter()
            .map(|e| Input {
                seq: 0,
                ts,
                kind: InputKind::Market(e),
            })
            .collect();
        let mut index = Vec::new();
        for r in &reports {
            if let Some(ev) = r.to_event() {
                inputs.push(Input {
                    seq: 0,
                    ts: r.ts,
                    kind: InputKind::Market(Event::Index(ev)),
                });
            }
            index.push(index_view(r));
        }
        let mut kinds = Vec::new();
        self.account_activity(ts, dt_wall_s, &mut kinds);
        while self
            .topups
            .front()
            .is_some_and(|(due, _, _)| *due <= self.tick)
        {
            let (_, account, amount) = self.topups.pop_front().expect("checked non-empty");
            self.scheduled.remove(&account);
            kinds.push(InputKind::Deposit(Transfer {
                account,
                asset: "USDC".into(),
                amount,
            }));
        }
        inputs.extend(kinds.into_iter().map(|kind| Input { seq: 0, ts, kind }));
        let regime = match self.regime {
            Regime::Calm => "calm",
            Regime::Stressed => "stressed",
        };
        let mood = match self.mood {
            Mood::Fine => "quoting normally",
            Mood::Frozen => "frozen",
            Mood::Off => "printing 3% off",
            Mood::Zero => "printing zero",
        };
        let prices: Vec<String> = self
            .coins
            .iter()
            .map(|c| format!("{} {:.2}", c.name, c.price))
            .collect();
        FeedBatch {
            source: crate::metrics::Source::Simulator,
            inputs,
            index,
            smiles,
            note: Some(format!(
                "simulator tick {}: {regime} regime, {}; flakybit {mood}",
                self.tick,
                prices.join(", ")
            )),
            made: Instant::now(),
        }
    }
}

fn quote(ts: Timestamp, v: &Venue, coin: &str, bid: f64, ask: f64) -> Event {
    Event::Quote(Quote {
        ts,
        venue: v.name.into(),
        symbol: Pair {
            base: coin.into(),
            quote: v.quote.into(),
        },
        bid: Some(bid),
        ask: Some(ask),
        bid_size: Some(1.0),
        ask_size: Some(1.0),
    })
}

/// An oracle report as the API shows it.
pub fn index_view(r: &IndexReport) -> IndexView {
    IndexView {
        underlying: r.underlying.clone(),
        ts: r.ts,
        price_usd: r.price,
        confidence_usd: r.confidence,
        status: r.status,
        flags: r
            .flags
            .iter()
            .map(|f| {
                serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect(),
        used: r
            .used
            .iter()
            .filter_map(|u| serde_json::to_value(u).ok())
            .collect(),
        excluded: r
            .excluded
            .iter()
            .filter_map(|u| serde_json::to_value(u).ok())
            .collect(),
        sources_known: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_path_and_smiles_have_a_put_skew() {
        let start = Timestamp::from_unix_seconds(1_767_225_600).unwrap();
        let cfg = SimConfig::default();
        let mut a = Simulator::new(&cfg, start);
        let mut b = Simulator::new(&cfg, start);
        for k in 1..50 {
            let ts = Timestamp::from_unix_nanos(start.unix_nanos() + k * 500_000_000);
            a.tick(ts, 0.5);
            b.tick(ts, 0.5);
        }
        assert_eq!(a.coins[0].price, b.coins[0].price);
        assert_ne!(a.coins[0].price, 90_000.0);
        let s = a.svi(0, 0.1);
        assert!(
            s.total_variance(-0.2) > s.total_variance(0.2),
            "put wing above call wing"
        );
        assert!((s.total_variance(0.0) / 0.1).sqrt() > 0.5);
    }

    #[test]
    fn the_flaky_venue_is_excluded_when_it_prints_off_market() {
        let start = Timestamp::from_unix_seconds(1_767_225_600).unwrap();
        let mut sim = Simulator::new(&SimConfig::default(), start);
        let mut seen = std::collections::BTreeSet::new();
        for k in 1..400 {
            let ts = Timestamp::from_unix_nanos(start.unix_nanos() + k * 500_000_000);
            for ix in sim.tick(ts, 0.5).index {
                assert!(ix.price_usd.is_some());
                for e in &ix.excluded {
                    // An honest venue is held back only while a market jump awaits confirmation.
                    let flaky = e["source"].as_str().unwrap().starts_with("flakybit:");
                    assert!(flaky || e["reason"] == "jump", "{e}");
                    if flaky {
                        seen.insert(e["reason"].as_str().unwrap().to_owned());
                    }
                }
            }
        }
        assert!(
            seen.contains("outlier") || seen.contains("stale") || seen.contains("zero_price"),
            "{seen:?}"
        );
    }
}
