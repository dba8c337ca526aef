//! The canonical serialisation of the engine's state: snapshots are these bytes, and the state hash is their
//! SHA-256 (FIPS 180-4). Integers little-endian, f64 as their IEEE-754 bit patterns, strings length-prefixed,
//! maps in key order, accounts and instruments in creation order (both fixed by the event stream), so equal
//! histories give equal bytes on any machine and with any thread count. Derived data (valuations, risk
//! arrays, the reverse index) is not written: restore recomputes it from the market as of each underlying's
//! last tick, which reproduces it to the bit (`docs/engine.md` §6).

use crate::config::{AssetConfig, EngineParams};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::event::Status;
use crate::state::{AccountState, Basis, Computed, Figures, Position, Published, UnderlyingMarket};
use rtm2m_margin::instrument::Instrument;
use rtm2m_market::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const MAGIC: &[u8; 16] = b"rtm2m-engine-st\0";
const VERSION: u32 = 1;

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, x: u8) {
        self.0.push(x);
    }
    fn u32(&mut self, x: u32) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    fn u64(&mut self, x: u64) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    fn i64(&mut self, x: i64) {
        self.0.extend_from_slice(&x.to_le_bytes());
    }
    fn f64(&mut self, x: f64) {
        self.u64(x.to_bits());
    }
    fn bool(&mut self, x: bool) {
        self.u8(u8::from(x));
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_f64(&mut self, x: Option<f64>) {
        match x {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.f64(v);
            }
        }
    }
    fn opt_ts(&mut self, x: Option<Timestamp>) {
        match x {
            None => self.u8(0),
            Some(t) => {
                self.u8(1);
                self.i64(t.unix_nanos());
            }
        }
    }
    fn basis(&mut self, b: &Basis) {
        self.f64(b.price_usd);
        self.opt_f64(b.index_usd);
    }
    fn basis_map(&mut self, m: &BTreeMap<String, Basis>) {
        self.u64(m.len() as u64);
        for (k, b) in m {
            self.str(k);
            self.basis(b);
        }
    }
    fn opt_basis(&mut self, b: &Option<Basis>) {
        match b {
            None => self.u8(0),
            Some(b) => {
                self.u8(1);
                self.basis(b);
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

type R<T> = Result<T, EngineError>;

fn bad(what: impl Into<String>) -> EngineError {
    EngineError::Snapshot(what.into())
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> R<&[u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| bad(format!("truncated at byte {}", self.at)))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn i64(&mut self) -> R<i64> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn f64(&mut self) -> R<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            x => Err(bad(format!("bad boolean {x} at byte {}", self.at - 1))),
        }
    }
    fn len(&mut self, what: &str) -> R<usize> {
        let n = self.u64()?;
        if n > (self.bytes.len() - self.at) as u64 {
            return Err(bad(format!("{what}: length {n} exceeds the snapshot")));
        }
        Ok(n as usize)
    }
    fn str(&mut self) -> R<String> {
        let n = self.len("string")?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> R<T>) -> R<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => f(self).map(Some),
            x => Err(bad(format!("bad option tag {x}"))),
        }
    }
    fn basis(&mut self) -> R<Basis> {
        Ok(Basis {
            price_usd: self.f64()?,
            index_usd: self.opt(|r| r.f64())?,
        })
    }
    fn basis_map(&mut self) -> R<BTreeMap<String, Basis>> {
        let n = self.len("map")?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.str()?;
            m.insert(k, self.basis()?);
        }
        Ok(m)
    }
}

fn write_computed(w: &mut Writer, c: &Computed) {
    match c {
        Computed::None => w.u8(0),
        Computed::Priced(f, s) => {
            w.u8(1);
            w.f64(f.equity_usd);
            w.f64(f.im_usd);
            w.f64(f.mm_usd);
            w.f64(f.scenario_loss_usd);
            match f.worst_scenario {
                None => w.u8(0),
                Some(x) => {
                    w.u8(1);
                    w.u32(x);
                }
            }
            w.u8(s.code());
        }
        Computed::Unpriced(r) => {
            w.u8(2);
            w.str(r);
        }
    }
}

fn read_computed(r: &mut Reader<'_>) -> R<Computed> {
    Ok(match r.u8()? {
        0 => Computed::None,
        1 => {
            let f = Figures {
                equity_usd: r.f64()?,
                im_usd: r.f64()?,
                mm_usd: r.f64()?,
                scenario_loss_usd: r.f64()?,
                worst_scenario: r.opt(|r| r.u32())?,
            };
            let s = Status::from_code(r.u8()?).ok_or_else(|| bad("bad status code"))?;
            Computed::Priced(f, s)
        }
        2 => Computed::Unpriced(r.str()?),
        x => return Err(bad(format!("bad margin tag {x}"))),
    })
}

impl Engine {
    /// The canonical bytes of the state (the snapshot format).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64 + self.accounts.len() * 256));
        w.0.extend_from_slice(MAGIC);
        w.u32(VERSION);
        // Configuration.
        w.u64(self.underlyings.len() as u64);
        for u in &self.underlyings {
            w.str(u);
        }
        w.u64(self.assets.len() as u64);
        for a in &self.assets {
            w.str(&a.name);
            w.opt_f64(a.cfg.price_usd);
            w.opt_f64(a.cfg.ewma_vol);
            w.opt_f64(a.cfg.depth_usd);
            w.bool(a.cfg.stablecoin);
            w.f64(a.cfg.rate);
        }
        let p = &self.params;
        w.f64(p.reorder_window_s);
        w.f64(p.margin_publish_rel);
        w.u64(p.max_instruments as u64);
        w.u64(p.max_accounts as u64);
        w.u64(p.max_positions_per_account as u64);
        // Clock.
        w.opt_ts(self.clock);
        w.u64(self.last_seq);
        // Assets' oracle state.
        for a in &self.assets {
            w.opt_f64(a.price_usd);
            w.f64(a.confidence);
        }
        // Markets.
        for m in &self.markets {
            w.opt_ts(m.tick_ts);
            w.opt_f64(m.index_usd);
            w.bool(m.halted);
            w.basis_map(&m.forwards);
            w.opt_basis(&m.perp);
            w.u64(m.settlements.len() as u64);
            for (k, x) in &m.settlements {
                w.str(k);
                w.f64(*x);
            }
            w.basis_map(&m.staged_forwards);
            w.opt_basis(&m.staged_perp);
        }
        // Instruments (the grid's spot instruments first, as `empty` lists them).
        w.u64(self.inst.len() as u64);
        for i in 0..self.inst.len() {
            w.str(&self.inst.names[i]);
            w.opt_f64(self.inst.iv[i]);
            w.bool(self.inst.pending[i]);
        }
        w.u64(self.staged_iv.len() as u64);
        for (&i, &iv) in &self.staged_iv {
            w.u32(i);
            w.f64(iv);
        }
        // Accounts.
        w.u64(self.accounts.len() as u64);
        for a in &self.accounts {
            w.str(&a.id);
            w.f64(a.cash_usd);
            w.f64(a.funding_usd);
            w.u64(a.collateral.len() as u64);
            for &(x, amount) in &a.collateral {
                w.u32(u32::from(x));
                w.f64(amount);
            }
            w.u64(a.positions.len() as u64);
            for p in &a.positions {
                w.u32(p.inst);
                w.f64(p.size);
                w.f64(p.entry_usd);
            }
            write_computed(&mut w, &a.computed);
            match a.published {
                None => w.u8(0),
                Some(p) => {
                    w.u8(1);
                    w.f64(p.equity_usd);
                    w.f64(p.im_usd);
                    w.f64(p.mm_usd);
                }
            }
        }
        w.0
    }

    /// SHA-256 of [`Engine::snapshot`].
    pub fn state_hash(&self) -> [u8; 32] {
        state_hash_of(&self.snapshot())
    }

    /// [`Engine::state_hash`] in lower-case hex.
    pub fn state_hash_hex(&self) -> String {
        hex(&self.state_hash())
    }

    /// Rebuilds an engine from [`Engine::snapshot`] bytes, on the worker threads `parallelism` asks for (a
    /// thread count converts: 0 for one per core, pinned).
    pub fn restore(
        bytes: &[u8],
        parallelism: impl Into<crate::Parallelism>,
    ) -> Result<Engine, EngineError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(bad("not an rtm2m engine snapshot"));
        }
        let v = r.u32()?;
        if v != VERSION {
            return Err(bad(format!("version {v} is not supported ({VERSION} is)")));
        }
        let n = r.len("underlyings")?;
        let underlyings = (0..n).map(|_| r.str()).collect::<R<Vec<_>>>()?;
        let n = r.len("assets")?;
        let mut cfg = BTreeMap::new();
        for _ in 0..n {
            let name = r.str()?;
            let a = AssetConfig {
                price_usd: r.opt(|r| r.f64())?,
                ewma_vol: r.opt(|r| r.f64())?,
                depth_usd: r.opt(|r| r.f64())?,
                stablecoin: r.bool()?,
                rate: r.f64()?,
            };
            cfg.insert(name, a);
        }
        let params = EngineParams {
            reorder_window_s: r.f64()?,
            margin_publish_rel: r.f64()?,
            max_instruments: r.u64()? as usize,
            max_accounts: r.u64()? as usize,
            max_positions_per_account: r.u64()? as usize,
        };
        let mut e = Engine::empty(underlyings, &cfg, params, parallelism.into())?;
        e.clock = r.opt(|r| r.i64().map(Timestamp::from_unix_nanos))?;
        e.last_seq = r.u64()?;
        for a in &mut e.assets {
            a.price_usd = r.opt(|r| r.f64())?;
            a.confidence = r.f64()?;
        }
        for g in 0..e.markets.len() {
            let tick_ts = r.opt(|r| r.i64().map(Timestamp::from_unix_nanos))?;
            let index_usd = r.opt(|r| r.f64())?;
            let halted = r.bool()?;
            let forwards = r.basis_map()?;
            let perp = r.opt(|r| r.basis())?;
            let k = r.len("settlements")?;
            let mut settlements = BTreeMap::new();
            for _ in 0..k {
                let code = r.str()?;
                settlements.insert(code, r.f64()?);
            }
            e.markets[g] = UnderlyingMarket {
                tick_ts,
                index_usd,
                halted,
                forwards,
                perp,
                settlements,
                staged_forwards: r.basis_map()?,
                staged_perp: r.opt(|r| r.basis())?,
            };
        }
        let n = r.len("instruments")?;
        for i in 0..n {
            let name = r.str()?;
            let iv = r.opt(|r| r.f64())?;
            let pending = r.bool()?;
            if i < e.inst.len() {
                if e.inst.names[i] != name {
                    return Err(bad(format!(
                        "instrument {i} is {name}, expected {}",
                        e.inst.names[i]
                    )));
                }
            } else {
                let parsed = Instrument::parse(&name).map_err(bad)?;
                let g = e
                    .underlyings
                    .iter()
                    .position(|u| *u == parsed.underlying)
                    .ok_or_else(|| bad(format!("instrument {name} on no grid underlying")))?;
                e.inst.push(parsed, g as u8, e.points.width);
            }
            e.inst.iv[i] = iv;
            e.inst.pending[i] = pending;
        }
        let k = r.len("staged IVs")?;
        for _ in 0..k {
            let i = r.u32()?;
            if i as usize >= e.inst.len() {
                return Err(bad(format!("staged IV of instrument {i} out of range")));
            }
            e.staged_iv.insert(i, r.f64()?);
        }
        let n = r.len("accounts")?;
        for a in 0..n {
            let id = r.str()?;
            let cash_usd = r.f64()?;
            let funding_usd = r.f64()?;
            let k = r.len("collateral")?;
            let mut collateral = Vec::with_capacity(k);
            for _ in 0..k {
                let x = r.u32()?;
                if x as usize >= e.assets.len() {
                    return Err(bad(format!("account {id}: asset {x} out of range")));
                }
                collateral.push((x as u16, r.f64()?));
            }
            let k = r.len("positions")?;
            let mut positions = Vec::with_capacity(k);
            for _ in 0..k {
                let inst = r.u32()?;
                if inst as usize >= e.inst.len() {
                    return Err(bad(format!("account {id}: instrument {inst} out of range")));
                }
                positions.push(Position {
                    inst,
                    size: r.f64()?,
                    entry_usd: r.f64()?,
                });
            }
            let computed = read_computed(&mut r)?;
            let published = r.opt(|r| {
                Ok(Published {
                    equity_usd: r.f64()?,
                    im_usd: r.f64()?,
                    mm_usd: r.f64()?,
                })
            })?;
            e.account_by_id.insert(id.as_str().into(), a as u32);
            e.accounts.push(AccountState {
                id: id.into(),
                cash_usd,
                funding_usd,
                collateral,
                positions,
                mask: 0,
                naked_coins: Default::default(),
                computed,
                published,
                screen: None,
            });
            e.refresh_derived(a);
        }
        if r.at != bytes.len() {
            return Err(bad(format!("{} bytes after the end", bytes.len() - r.at)));
        }
        for g in 0..e.markets.len() {
            e.reprice(g);
        }
        Ok(e)
    }
}

/// The state hash of snapshot bytes: their SHA-256.
pub fn state_hash_of(snapshot: &[u8]) -> [u8; 32] {
    Sha256::digest(snapshot).into()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
