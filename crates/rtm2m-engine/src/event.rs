//! Input and output events of the engine, one JSON object per line (format in `docs/engine.md` §3–4).
//!
//! Every input line carries `"type"`, `"v":1` (optional, default 1), `"ts"` (RFC 3339) and `"seq"`, the
//! stream's sequence number, strictly increasing. Market events are `rtm2m_market::Event`s (the format of
//! `docs/events.md`) with `seq` added; account events (`fill`, `deposit`, `withdrawal`, `open_account`) are
//! defined here. Outputs (`mark`, `margin`, `status`, `liquidation_alert`, `rejected`) carry the `seq` and
//! `ts` of the input that caused them.

use rtm2m_margin::account::Account;
use rtm2m_market::{Event, Timestamp};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The version of the engine's event format.
pub const FORMAT_VERSION: u32 = 1;

/// The most bytes of one input line.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A fill: `size` of `instrument` bought (> 0) or sold (< 0) by `account` at `price_usd`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fill {
    /// Account id.
    pub account: String,
    /// Instrument name (Deribit naming).
    pub instrument: String,
    /// Signed size, coins of the underlying (options: contracts on one coin); > 0 buys.
    pub size: f64,
    /// Price, USD: per coin for futures, perpetuals and spot; the premium per contract for options.
    pub price_usd: f64,
    /// Fee paid, USD (≥ 0).
    pub fee_usd: f64,
}

/// A deposit or withdrawal of `amount` of `asset` (`USD` for cash).
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// Account id.
    pub account: String,
    /// A configured asset, or `USD` for cash.
    pub asset: String,
    /// Units moved (> 0).
    pub amount: f64,
}

/// What an input event does.
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    /// Market data.
    Market(Event),
    /// A trade of an account.
    Fill(Fill),
    /// Collateral or cash in.
    Deposit(Transfer),
    /// Collateral or cash out (refused when it would leave the account below its initial margin).
    Withdrawal(Transfer),
    /// A new account (portfolio format of `docs/margin.md` §5).
    OpenAccount(Account),
}

/// One input event with its stream sequence number and time.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Stream sequence number (strictly increasing, gaps allowed).
    pub seq: u64,
    /// When the event became known.
    pub ts: Timestamp,
    /// What it does.
    pub kind: InputKind,
}

impl Input {
    /// The `"type"` tag.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            InputKind::Market(e) => e.type_name(),
            InputKind::Fill(_) => "fill",
            InputKind::Deposit(_) => "deposit",
            InputKind::Withdrawal(_) => "withdrawal",
            InputKind::OpenAccount(_) => "open_account",
        }
    }
}

/// Why an input line could not be read as an event.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// The line's `seq`, when it could be read.
    pub seq: Option<u64>,
    /// The line's `type`, when it could be read.
    pub event_type: Option<String>,
    /// The field at fault (`json` for the line as a whole).
    pub field: String,
    /// Why.
    pub reason: String,
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FillWire {
    #[serde(rename = "type")]
    _kind: String,
    #[serde(default)]
    v: Option<u64>,
    #[serde(rename = "seq")]
    _seq: u64,
    ts: Timestamp,
    account: String,
    instrument: String,
    size: f64,
    price_usd: f64,
    #[serde(default)]
    fee_usd: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferWire {
    #[serde(rename = "type")]
    _kind: String,
    #[serde(default)]
    v: Option<u64>,
    #[serde(rename = "seq")]
    _seq: u64,
    ts: Timestamp,
    account: String,
    asset: String,
    amount: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenWire {
    #[serde(rename = "type")]
    _kind: String,
    #[serde(default)]
    v: Option<u64>,
    #[serde(rename = "seq")]
    _seq: u64,
    ts: Timestamp,
    account: Account,
}

/// The field a serde_json message names (`missing field `size``, `unknown field `x``), else `json`.
fn field_of(message: &str) -> String {
    for prefix in ["missing field `", "unknown field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some(end) = rest.find('`') {
                return rest[..end].to_owned();
            }
        }
    }
    "json".into()
}

fn check_version(v: Option<u64>) -> Result<(), (String, String)> {
    match v {
        None | Some(1) => Ok(()),
        Some(other) => Err((
            "v".into(),
            format!("version {other} is not supported (1 is)"),
        )),
    }
}

fn finite(field: &str, x: f64) -> Result<f64, (String, String)> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err((field.into(), format!("must be finite, got {x}")))
    }
}

fn fill_from_wire(w: FillWire) -> Result<Input, (String, String)> {
    check_version(w.v)?;
    let size = finite("size", w.size)?;
    if size == 0.0 {
        return Err(("size".into(), "must not be 0".into()));
    }
    let price_usd = finite("price_usd", w.price_usd)?;
    if price_usd < 0.0 {
        return Err(("price_usd".into(), format!("must be ≥ 0, got {price_usd}")));
    }
    let fee_usd = finite("fee_usd", w.fee_usd)?;
    if fee_usd < 0.0 {
        return Err(("fee_usd".into(), format!("must be ≥ 0, got {fee_usd}")));
    }
    Ok(Input {
        seq: w._seq,
        ts: w.ts,
        kind: InputKind::Fill(Fill {
            account: w.account,
            instrument: w.instrument,
            size,
            price_usd,
            fee_usd,
        }),
    })
}

/// Every field an account event (fill, deposit, withdrawal) may carry: read in one pass by
/// [`parse_account_event`], the fast path of [`parse_input`] for the bulk of a stream.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountEventWire<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(default)]
    pub(crate) v: Option<u64>,
    pub(crate) seq: u64,
    pub(crate) ts: Timestamp,
    pub(crate) account: String,
    #[serde(default)]
    pub(crate) instrument: Option<String>,
    #[serde(default)]
    pub(crate) size: Option<f64>,
    #[serde(default)]
    pub(crate) price_usd: Option<f64>,
    #[serde(default)]
    pub(crate) fee_usd: Option<f64>,
    #[serde(default)]
    pub(crate) asset: Option<String>,
    #[serde(default)]
    pub(crate) amount: Option<f64>,
}

/// A well-formed fill, deposit or withdrawal read in one pass; `None` for anything else (another type, a
/// field of another type, a `null`, a value out of range), which [`parse_input`]'s general path then reads
/// or rejects with its reason. Accepts exactly the lines the general path accepts for these types, with
/// the same result. Lines as this crate writes them are read by [`crate::scan`], others by serde_json.
fn parse_account_event(text: &str) -> Option<Input> {
    let w = match crate::scan::scan_account_event(text) {
        Some(w) => w,
        // `null` is the one value an `Option` field would read differently from the general path.
        None if text.contains("null") => return None,
        None => serde_json::from_str(text).ok()?,
    };
    check_version(w.v).ok()?;
    let kind = match w.kind.as_ref() {
        "fill" => {
            if w.asset.is_some() || w.amount.is_some() {
                return None;
            }
            let fill = FillWire {
                _kind: String::new(),
                v: w.v,
                _seq: w.seq,
                ts: w.ts,
                account: w.account,
                instrument: w.instrument?,
                size: w.size?,
                price_usd: w.price_usd?,
                fee_usd: w.fee_usd.unwrap_or(0.0),
            };
            return fill_from_wire(fill).ok();
        }
        "deposit" | "withdrawal" => {
            if w.instrument.is_some()
                || w.size.is_some()
                || w.price_usd.is_some()
                || w.fee_usd.is_some()
            {
                return None;
            }
            let amount = finite("amount", w.amount?).ok()?;
            if amount <= 0.0 {
                return None;
            }
            let t = Transfer {
                account: w.account,
                asset: w.asset?,
                amount,
            };
            if w.kind == "deposit" {
                InputKind::Deposit(t)
            } else {
                InputKind::Withdrawal(t)
            }
        }
        _ => return None,
    };
    Some(Input {
        seq: w.seq,
        ts: w.ts,
        kind,
    })
}

/// Reads one input line (without its newline) into an event; the error names the field and the reason.
pub fn parse_input(text: &str) -> Result<Input, ParseError> {
    if text.len() <= MAX_LINE_BYTES {
        if let Some(input) = parse_account_event(text) {
            return Ok(input);
        }
    }
    parse_input_general(text)
}

/// [`parse_input`] without its fast path: every type, every error with its field and reason.
fn parse_input_general(text: &str) -> Result<Input, ParseError> {
    let fail = |seq: Option<u64>, ty: Option<&str>, (field, reason): (String, String)| ParseError {
        seq,
        event_type: ty.map(str::to_owned),
        field,
        reason,
    };
    if text.len() > MAX_LINE_BYTES {
        return Err(fail(
            None,
            None,
            (
                "line".into(),
                format!("is longer than {MAX_LINE_BYTES} bytes"),
            ),
        ));
    }
    let peek: Peek<'_> =
        serde_json::from_str(text).map_err(|e| fail(None, None, ("json".into(), e.to_string())))?;
    let seq = match &peek.seq {
        None => {
            return Err(fail(
                None,
                peek.kind.as_deref(),
                ("seq".into(), "required".into()),
            ))
        }
        Some(v) => v.as_u64().ok_or_else(|| {
            fail(
                None,
                peek.kind.as_deref(),
                (
                    "seq".into(),
                    format!("must be a non-negative integer, got {v}"),
                ),
            )
        })?,
    };
    let kind = peek
        .kind
        .as_deref()
        .ok_or_else(|| fail(Some(seq), None, ("type".into(), "required".into())))?;
    let serde_fail = |e: serde_json::Error| {
        let m = e.to_string();
        fail(Some(seq), Some(kind), (field_of(&m), m))
    };
    let (ts, body) = match kind {
        "fill" => {
            let w: FillWire = serde_json::from_str(text).map_err(serde_fail)?;
            return fill_from_wire(w).map_err(|e| fail(Some(seq), Some(kind), e));
        }
        "deposit" | "withdrawal" => {
            let w: TransferWire = serde_json::from_str(text).map_err(serde_fail)?;
            let t = || -> Result<Transfer, (String, String)> {
                check_version(w.v)?;
                let amount = finite("amount", w.amount)?;
                if amount <= 0.0 {
                    return Err(("amount".into(), format!("must be > 0, got {amount}")));
                }
                Ok(Transfer {
                    account: w.account.clone(),
                    asset: w.asset.clone(),
                    amount,
                })
            };
            let t = t().map_err(|e| fail(Some(seq), Some(kind), e))?;
            let body = if kind == "deposit" {
                InputKind::Deposit(t)
            } else {
                InputKind::Withdrawal(t)
            };
            (w.ts, body)
        }
        "open_account" => {
            let w: OpenWire = serde_json::from_str(text).map_err(serde_fail)?;
            check_version(w.v).map_err(|e| fail(Some(seq), Some(kind), e))?;
            (w.ts, InputKind::OpenAccount(w.account))
        }
        _ if rtm2m_market::event::EVENT_TYPES.contains(&kind) => {
            let mut value: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| fail(Some(seq), Some(kind), ("json".into(), e.to_string())))?;
            if let Some(o) = value.as_object_mut() {
                o.remove("seq");
            }
            let event: Event = serde_json::from_value(value).map_err(|e| {
                let m = e.to_string();
                let field = m.split(':').next().unwrap_or("event").trim().to_owned();
                fail(Some(seq), Some(kind), (field, m))
            })?;
            (event.ts(), InputKind::Market(event))
        }
        other => {
            return Err(fail(
                Some(seq),
                Some(other),
                (
                    "type".into(),
                    format!(
                        "`{other}` is not an event type (fill, deposit, withdrawal, open_account, or a market event of docs/events.md)"
                    ),
                ),
            ))
        }
    };
    Ok(Input {
        seq,
        ts,
        kind: body,
    })
}

#[derive(Serialize)]
struct FillOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    v: u32,
    seq: u64,
    ts: Timestamp,
    account: &'a str,
    instrument: &'a str,
    size: f64,
    price_usd: f64,
    #[serde(skip_serializing_if = "is_zero")]
    fee_usd: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

#[derive(Serialize)]
struct TransferOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    v: u32,
    seq: u64,
    ts: Timestamp,
    account: &'a str,
    asset: &'a str,
    amount: f64,
}

/// The canonical JSON line (without newline) of an input: `type`, `v`, `seq`, `ts`, then its fields (market
/// events in the market crate's canonical order).
pub fn input_to_json(input: &Input) -> String {
    let kind = input.type_name();
    match &input.kind {
        InputKind::Market(e) => {
            let text = serde_json::to_string(e).expect("a market event serialises");
            // The market crate writes `{"type":"…","v":1,…}`: the seq goes after the version.
            match text.find("\"v\":1,") {
                Some(at) => {
                    let cut = at + "\"v\":1,".len();
                    format!("{}\"seq\":{},{}", &text[..cut], input.seq, &text[cut..])
                }
                None => format!("{{\"seq\":{},{}", input.seq, &text[1..]),
            }
        }
        InputKind::Fill(f) => serde_json::to_string(&FillOut {
            kind,
            v: FORMAT_VERSION,
            seq: input.seq,
            ts: input.ts,
            account: &f.account,
            instrument: &f.instrument,
            size: f.size,
            price_usd: f.price_usd,
            fee_usd: f.fee_usd,
        })
        .expect("a fill serialises"),
        InputKind::Deposit(t) | InputKind::Withdrawal(t) => serde_json::to_string(&TransferOut {
            kind,
            v: FORMAT_VERSION,
            seq: input.seq,
            ts: input.ts,
            account: &t.account,
            asset: &t.asset,
            amount: t.amount,
        })
        .expect("a transfer serialises"),
        InputKind::OpenAccount(a) => serde_json::json!({
            "type": kind,
            "v": FORMAT_VERSION,
            "seq": input.seq,
            "ts": input.ts.to_string(),
            "account": account_json(a),
        })
        .to_string(),
    }
}

/// An account in the portfolio format (`docs/margin.md` §5).
pub fn account_json(a: &Account) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), a.id.clone().into());
    o.insert("cash_usd".into(), a.cash_usd.into());
    if a.accrued_funding_usd != 0.0 {
        o.insert("accrued_funding_usd".into(), a.accrued_funding_usd.into());
    }
    o.insert(
        "collateral".into(),
        a.collateral
            .iter()
            .map(|c| serde_json::json!({"asset": c.asset, "amount": c.amount}))
            .collect(),
    );
    o.insert(
        "positions".into(),
        a.positions
            .iter()
            .map(|p| {
                let mut m = serde_json::json!({"instrument": p.instrument, "size": p.size});
                if let Some(e) = p.entry_price_usd {
                    m["entry_price_usd"] = e.into();
                }
                m
            })
            .collect(),
    );
    serde_json::Value::Object(o)
}

/// Health of an account as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Equity ≥ IM.
    Healthy,
    /// MM ≤ equity < IM.
    MarginCall,
    /// 0 < equity < MM.
    Liquidatable,
    /// Equity ≤ 0.
    Bankrupt,
    /// The margin cannot be computed: an instrument held has no valuation (no index tick yet, no mark IV,
    /// expired without settlement) or a collateral asset has no price.
    Unpriced,
}

impl Status {
    /// The wire name (`margin_call`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::MarginCall => "margin_call",
            Status::Liquidatable => "liquidatable",
            Status::Bankrupt => "bankrupt",
            Status::Unpriced => "unpriced",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Status::Healthy => 0,
            Status::MarginCall => 1,
            Status::Liquidatable => 2,
            Status::Bankrupt => 3,
            Status::Unpriced => 4,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<Status> {
        Some(match c {
            0 => Status::Healthy,
            1 => Status::MarginCall,
            2 => Status::Liquidatable,
            3 => Status::Bankrupt,
            4 => Status::Unpriced,
            _ => return None,
        })
    }
}

/// An underlying re-marked by an index tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarkOut {
    /// Format version (1).
    pub v: u32,
    /// Input seq.
    pub seq: u64,
    /// Input ts.
    pub ts: Timestamp,
    /// The underlying.
    pub underlying: String,
    /// Index, USD.
    pub index_usd: f64,
    /// Perpetual mark, USD (absent before any perpetual mark).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perp_usd: Option<f64>,
    /// Forward per expiry code, USD.
    pub forwards_usd: BTreeMap<String, f64>,
    /// Expiries settled by this tick (code → settlement price, USD).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub settled_usd: BTreeMap<String, f64>,
    /// Instruments of the underlying valued.
    pub instruments_valued: u64,
    /// Instruments of the underlying that could not be valued (their holders are `unpriced`).
    pub instruments_unvalued: u64,
    /// Accounts re-margined.
    pub accounts_remargined: u64,
}

/// An account's margin, published when it moved by more than `margin_publish_rel` or its status changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarginOut {
    /// Format version (1).
    pub v: u32,
    /// Input seq (0 for the accounts file).
    pub seq: u64,
    /// Input ts (absent for the accounts file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<Timestamp>,
    /// Account id.
    pub account: std::sync::Arc<str>,
    /// Status.
    pub status: Status,
    /// Equity, USD.
    pub equity_usd: f64,
    /// Initial margin, USD.
    pub im_usd: f64,
    /// Maintenance margin, USD.
    pub mm_usd: f64,
    /// Worst scenario loss (≥ 0), USD.
    pub scenario_loss_usd: f64,
    /// Label of the worst scenario (absent when no scenario loses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_scenario: Option<&'static str>,
}

/// Appends `text` as a JSON string, as serde_json writes it (only `"`, `\\` and control characters are
/// escaped, which serde_json does when any is present).
fn write_json_str(buf: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.push(b'"');
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'"');
    } else {
        serde_json::to_writer(&mut *buf, text).expect("a string serialises");
    }
}

/// Appends `open` (`{"type":"…","v":`) and the version, seq, time and account that margin and status
/// outputs start with, as serde_json writes them.
fn write_json_head(
    buf: &mut Vec<u8>,
    open: &[u8],
    v: u32,
    seq: u64,
    ts: Option<Timestamp>,
    account: &str,
) {
    buf.extend_from_slice(open);
    buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    buf.extend_from_slice(br#","seq":"#);
    buf.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    write_json_ts(buf, ts);
    buf.extend_from_slice(br#","account":"#);
    write_json_str(buf, account);
}

/// Appends `,"ts":"…"` when there is a time, as serde_json writes it.
fn write_json_ts(buf: &mut Vec<u8>, ts: Option<Timestamp>) {
    if let Some(ts) = ts {
        buf.extend_from_slice(br#","ts":"#);
        match ts.rfc3339_bytes() {
            Some(b) => {
                buf.push(b'"');
                buf.extend_from_slice(&b);
                buf.push(b'"');
            }
            None => write_json_str(buf, &ts.to_string()),
        }
    }
}

/// Appends a finite `x` as serde_json writes it (shortest round-trip form).
fn write_json_f64(buf: &mut Vec<u8>, x: f64) {
    serde_json::to_writer(&mut *buf, &x).expect("a finite number serialises");
}

impl MarginOut {
    /// Appends the canonical JSON of `Output::Margin(self)` to `buf`: the bytes serde writes for it, field by
    /// field without serde's generic machinery (the journal writes one per applied input; a test holds the
    /// two to the byte).
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        write_json_head(
            buf,
            br#"{"type":"margin","v":"#,
            self.v,
            self.seq,
            self.ts,
            &self.account,
        );
        buf.extend_from_slice(br#","status":"#);
        write_json_str(buf, self.status.name());
        for (key, x) in [
            (&br#","equity_usd":"#[..], self.equity_usd),
            (br#","im_usd":"#, self.im_usd),
            (br#","mm_usd":"#, self.mm_usd),
            (br#","scenario_loss_usd":"#, self.scenario_loss_usd),
        ] {
            buf.extend_from_slice(key);
            write_json_f64(buf, x);
        }
        if let Some(w) = self.worst_scenario {
            buf.extend_from_slice(br#","worst_scenario":"#);
            write_json_str(buf, w);
        }
        buf.push(b'}');
    }
}

/// A status transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusOut {
    /// Format version (1).
    pub v: u32,
    /// Input seq.
    pub seq: u64,
    /// Input ts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<Timestamp>,
    /// Account id.
    pub account: std::sync::Arc<str>,
    /// Previous status (absent for a new account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Status>,
    /// New status.
    pub to: Status,
    /// Equity, USD (absent when unpriced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equity_usd: Option<f64>,
    /// IM, USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub im_usd: Option<f64>,
    /// MM, USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mm_usd: Option<f64>,
    /// Why the margin cannot be computed (status `unpriced`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StatusOut {
    /// Appends the JSON object serde_json writes for `Output::Status(self)` (without newline), without
    /// serde's machinery: one in five outputs of a busy stream is a status.
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        write_json_head(
            buf,
            br#"{"type":"status","v":"#,
            self.v,
            self.seq,
            self.ts,
            &self.account,
        );
        if let Some(from) = self.from {
            buf.extend_from_slice(br#","from":"#);
            write_json_str(buf, from.name());
        }
        buf.extend_from_slice(br#","to":"#);
        write_json_str(buf, self.to.name());
        for (key, x) in [
            (&br#","equity_usd":"#[..], self.equity_usd),
            (br#","im_usd":"#, self.im_usd),
            (br#","mm_usd":"#, self.mm_usd),
        ] {
            if let Some(x) = x {
                buf.extend_from_slice(key);
                write_json_f64(buf, x);
            }
        }
        if let Some(reason) = &self.reason {
            buf.extend_from_slice(br#","reason":"#);
            write_json_str(buf, reason);
        }
        buf.push(b'}');
    }
}

/// An account became liquidatable or bankrupt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiquidationAlertOut {
    /// Format version (1).
    pub v: u32,
    /// Input seq.
    pub seq: u64,
    /// Input ts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<Timestamp>,
    /// Account id.
    pub account: std::sync::Arc<str>,
    /// `liquidatable` or `bankrupt`.
    pub status: Status,
    /// Equity, USD.
    pub equity_usd: f64,
    /// MM, USD.
    pub mm_usd: f64,
    /// MM − equity, USD (> 0).
    pub shortfall_usd: f64,
}

/// An input that was not applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedOut {
    /// Format version (1).
    pub v: u32,
    /// The input's seq, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The input's ts, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<Timestamp>,
    /// 1-based line of the input file, when read from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The input's type, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The field at fault.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// An output event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    /// An underlying re-marked.
    Mark(MarkOut),
    /// An account's margin.
    Margin(MarginOut),
    /// A status transition.
    Status(StatusOut),
    /// Liquidation alert.
    LiquidationAlert(LiquidationAlertOut),
    /// A rejected input.
    Rejected(RejectedOut),
}

impl Output {
    /// The `"type"` tag.
    pub fn type_name(&self) -> &'static str {
        match self {
            Output::Mark(_) => "mark",
            Output::Margin(_) => "margin",
            Output::Status(_) => "status",
            Output::LiquidationAlert(_) => "liquidation_alert",
            Output::Rejected(_) => "rejected",
        }
    }

    /// The canonical JSON line, without newline.
    pub fn to_json(&self) -> String {
        match self {
            Output::Margin(_) | Output::Status(_) => {
                let mut buf = Vec::with_capacity(256);
                self.write_json(&mut buf);
                String::from_utf8(buf).expect("JSON text is UTF-8")
            }
            _ => serde_json::to_string(self).expect("outputs hold only finite numbers and strings"),
        }
    }

    /// Appends the canonical JSON line with its newline to `buf`.
    pub fn write_line(&self, buf: &mut Vec<u8>) {
        self.write_json(buf);
        buf.push(b'\n');
    }

    /// Appends the canonical JSON line, without newline, to `buf`.
    fn write_json(&self, buf: &mut Vec<u8>) {
        match self {
            Output::Margin(m) => m.write_json(buf),
            Output::Status(s) => s.write_json(buf),
            _ => serde_json::to_writer(&mut *buf, self)
                .expect("outputs hold only finite numbers and strings"),
        }
    }

    /// The account it is about, if any.
    pub fn account(&self) -> Option<&str> {
        match self {
            Output::Margin(m) => Some(&m.account),
            Output::Status(s) => Some(&s.account),
            Output::LiquidationAlert(a) => Some(&a.account),
            Output::Mark(_) | Output::Rejected(_) => None,
        }
    }

    /// (status, equity, IM, MM) where the output carries them, for the journal's queryable columns.
    pub fn figures(&self) -> (Option<Status>, Option<f64>, Option<f64>, Option<f64>) {
        match self {
            Output::Margin(m) => (
                Some(m.status),
                Some(m.equity_usd),
                Some(m.im_usd),
                Some(m.mm_usd),
            ),
            Output::Status(s) => (Some(s.to), s.equity_usd, s.im_usd, s.mm_usd),
            Output::LiquidationAlert(a) => {
                (Some(a.status), Some(a.equity_usd), None, Some(a.mm_usd))
            }
            Output::Mark(_) | Output::Rejected(_) => (None, None, None, None),
        }
    }

    /// The input seq that caused it (None for a rejected line with no readable seq).
    pub fn seq(&self) -> Option<u64> {
        match self {
            Output::Mark(m) => Some(m.seq),
            Output::Margin(m) => Some(m.seq),
            Output::Status(s) => Some(s.seq),
            Output::LiquidationAlert(a) => Some(a.seq),
            Output::Rejected(r) => r.seq,
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use proptest::prelude::*;

    /// Account-event lines: valid ones, and ones with a field dropped, swapped for another type's, set to
    /// `null`, negative, zero, or out of range.
    fn line() -> impl Strategy<Value = String> {
        let kind = prop_oneof![
            Just("fill"),
            Just("deposit"),
            Just("withdrawal"),
            Just("open_account"),
            Just("index")
        ];
        let number = prop_oneof![
            Just("0".to_owned()),
            Just("-1.5".to_owned()),
            Just("1e999".to_owned()),
            Just("null".to_owned()),
            Just("\"7\"".to_owned()),
            (-1e6f64..1e6).prop_map(|x| format!("{x}")),
            (0u64..1000).prop_map(|x| format!("{x}")),
        ];
        let fields = prop::collection::vec(
            (
                prop_oneof![
                    Just("v"),
                    Just("instrument"),
                    Just("size"),
                    Just("price_usd"),
                    Just("fee_usd"),
                    Just("asset"),
                    Just("amount"),
                    Just("extra")
                ],
                number,
            ),
            0..7,
        );
        (kind, 1u64..1000, fields, any::<bool>()).prop_map(|(kind, seq, fields, quote_ids)| {
            let mut text = format!(
                r#"{{"type":"{kind}","seq":{seq},"ts":"2026-01-05T15:00:01Z","account":"a\"b""#
            );
            for (name, value) in fields {
                let value = match name {
                    "instrument" if quote_ids => r#""BTC-PERPETUAL""#.to_owned(),
                    "asset" if quote_ids => r#""USDC""#.to_owned(),
                    "v" if quote_ids => "1".to_owned(),
                    _ => value,
                };
                text.push_str(&format!(r#","{name}":{value}"#));
            }
            text.push('}');
            text
        })
    }

    proptest! {
        #[test]
        fn the_fast_path_reads_what_the_general_path_reads(text in line()) {
            if let Some(fast) = parse_account_event(&text) {
                let general = parse_input_general(&text);
                prop_assert_eq!(Some(&fast), general.as_ref().ok(), "{}", text);
            }
        }
    }

    #[test]
    fn the_fast_path_takes_well_formed_account_events() {
        let fill = r#"{"type":"fill","v":1,"seq":7,"ts":"2026-01-05T15:00:01Z","account":"a","instrument":"BTC-PERPETUAL","size":-0.5,"price_usd":90000,"fee_usd":1.5}"#;
        let deposit = r#"{"type":"deposit","seq":8,"ts":"2026-01-05T15:00:01Z","account":"a","asset":"USDC","amount":10}"#;
        for text in [fill, deposit] {
            let fast = parse_account_event(text).expect("taken by the fast path");
            assert_eq!(Ok(fast), parse_input_general(text).map_err(|e| e.reason));
        }
        // A field of another type, a null, a zero amount: left to the general path, which says why.
        for text in [
            r#"{"type":"deposit","seq":8,"ts":"2026-01-05T15:00:01Z","account":"a","asset":"USDC","amount":10,"size":1}"#,
            r#"{"type":"deposit","seq":8,"ts":"2026-01-05T15:00:01Z","account":"a","asset":"USDC","amount":null}"#,
            r#"{"type":"deposit","seq":8,"ts":"2026-01-05T15:00:01Z","account":"a","asset":"USDC","amount":0}"#,
        ] {
            assert_eq!(parse_account_event(text), None, "{text}");
            let e = parse_input_general(text).expect_err(text);
            assert!(!e.reason.is_empty(), "{text}");
        }
    }
}

#[cfg(test)]
mod margin_json_tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9-]{1,12}",
            any::<String>(),
            Just("quote \" back \\ tab \t nul \u{0}".to_owned()),
        ]
    }

    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>().prop_filter("finite", |x| x.is_finite()),
            -1e7f64..1e7,
            Just(0.0),
            Just(-0.0),
            Just(1e16),
            Just(1e-7),
        ]
    }

    proptest! {
        #[test]
        fn the_margin_writer_writes_the_bytes_serde_writes(
            seq in any::<u64>(),
            ts in prop::option::of(any::<i64>()),
            account in text(),
            status in 0u8..5,
            figures in prop::array::uniform4(number()),
            worst in prop::option::of(text()),
        ) {
            let status = [
                Status::Healthy,
                Status::MarginCall,
                Status::Liquidatable,
                Status::Bankrupt,
                Status::Unpriced,
            ][status as usize];
            let out = Output::Margin(MarginOut {
                v: FORMAT_VERSION,
                seq,
                ts: ts.map(Timestamp::from_unix_nanos),
                account: account.as_str().into(),
                status,
                equity_usd: figures[0],
                im_usd: figures[1],
                mm_usd: figures[2],
                scenario_loss_usd: figures[3],
                worst_scenario: worst.map(|w| &*Box::leak(w.into_boxed_str())),
            });
            let by_serde = serde_json::to_string(&out).unwrap();
            prop_assert_eq!(out.to_json(), by_serde.clone());
            let mut line = Vec::new();
            out.write_line(&mut line);
            prop_assert_eq!(line, format!("{by_serde}\n").into_bytes());
        }

        #[test]
        fn the_status_writer_writes_the_bytes_serde_writes(
            seq in any::<u64>(),
            ts in prop::option::of(any::<i64>()),
            account in text(),
            statuses in (prop::option::of(0usize..5), 0usize..5),
            figures in prop::array::uniform3(prop::option::of(number())),
            reason in prop::option::of(text()),
        ) {
            let status = |k: usize| {
                [
                    Status::Healthy,
                    Status::MarginCall,
                    Status::Liquidatable,
                    Status::Bankrupt,
                    Status::Unpriced,
                ][k]
            };
            let out = Output::Status(StatusOut {
                v: FORMAT_VERSION,
                seq,
                ts: ts.map(Timestamp::from_unix_nanos),
                account: account.as_str().into(),
                from: statuses.0.map(status),
                to: status(statuses.1),
                equity_usd: figures[0],
                im_usd: figures[1],
                mm_usd: figures[2],
                reason,
            });
            let by_serde = serde_json::to_string(&out).unwrap();
            prop_assert_eq!(out.to_json(), by_serde.clone());
            let mut line = Vec::new();
            out.write_line(&mut line);
            prop_assert_eq!(line, format!("{by_serde}\n").into_bytes());
        }
    }
}
