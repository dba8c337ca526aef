//! The HTTP routes (`docs/service.md` §4; the OpenAPI document at `/openapi.json` describes every one).
//! Every error is JSON, `{"error": {"status": 4xx, "field": "...", "reason": "..."}}`, and no handler panics
//! on input: bodies, paths and queries are read by hand so that each refusal names the field.

use crate::auth::{Principal, Scope};
use crate::view::{AccountRow, View};
use crate::writer::{AccountSnapshot, Command, Pending, Shared};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rtm2m_engine::parse_input;
use rtm2m_margin::account::Portfolio;
use rtm2m_margin::engine::{margin_portfolio, MarginReport, Model};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest request body, bytes.
pub const BODY_BYTES_MAX: usize = 16 << 20;

/// How long a request waits for the writer before `503`.
pub const WRITER_WAIT: Duration = Duration::from_secs(10);

/// A refusal: status, the field at fault and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The field (`authorization`, `body`, `events[3].amount`, `id`, `limit`, ...).
    pub field: String,
    /// Why.
    pub reason: String,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(
        status: StatusCode,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn bad(field: impl Into<String>, reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, field, reason)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"status": self.status.as_u16(), "field": self.field, "reason": self.reason}});
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rtm2m\""),
            );
        }
        r
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(v: Value) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

/// Reads `a=1&b=x%20y` into a map; the error names the parameter.
pub fn parse_query(raw: Option<&str>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = percent_decode(k)
            .ok_or_else(|| ApiError::bad("query", "malformed percent-encoding"))?;
        let v = percent_decode(v)
            .ok_or_else(|| ApiError::bad(k.clone(), "malformed percent-encoding"))?;
        out.insert(k, v);
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The token of a request: `Authorization: Bearer T`, else the `token` query parameter (for browsers'
/// WebSockets); `None` when neither is there.
pub fn token_of<'a>(
    headers: &'a HeaderMap,
    query: &'a BTreeMap<String, String>,
) -> Option<&'a str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        return Some(
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v)
                .trim(),
        );
    }
    query.get("token").map(String::as_str)
}

/// Authenticates a request: `401` without a token or with an unknown one.
pub fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
) -> Result<Principal, ApiError> {
    let Some(token) = token_of(headers, query) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authorization",
            "a token is required: `Authorization: Bearer TOKEN`",
        ));
    };
    shared.tokens.authenticate(token).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authorization",
            "the token is not valid",
        )
    })
}

fn forbid(p: &Principal, needed: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "authorization",
        format!(
            "scope `{}` does not allow this: it needs {needed}",
            p.scope.name()
        ),
    )
}

fn market_reader(
    shared: &Shared,
    h: &HeaderMap,
    q: &BTreeMap<String, String>,
) -> Result<Principal, ApiError> {
    let p = authenticate(shared, h, q)?;
    if p.reads_market() {
        Ok(p)
    } else {
        Err(forbid(&p, "`read`, `admin` or `account:ID`"))
    }
}

fn usize_param(
    q: &BTreeMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(ApiError::bad(
                name,
                format!("must be an integer from 0 to {max}, got `{v}`"),
            )),
        },
    }
}

/// The routes, over `shared`.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/status", get(status))
        .route("/v1/accounts", get(accounts))
        .route("/v1/accounts/{id}", get(account))
        .route("/v1/instruments", get(instruments))
        .route("/v1/marks", get(marks))
        .route("/v1/surfaces", get(surfaces))
        .route("/v1/index", get(index))
        .route("/v1/alerts", get(alerts))
        .route("/v1/events", post(ingest))
        .route("/v1/tokens", get(list_tokens).post(create_token))
        .route("/v1/tokens/{name}", axum::routing::delete(delete_token))
        .route("/v1/ws", get(crate::ws::upgrade))
        .merge(crate::dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            observe,
        ))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(shared)
}

async fn observe(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let r = next.run(req).await;
    shared
        .metrics
        .http(&route, r.status().as_u16(), t0.elapsed());
    r
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "path",
        "no such route (see /openapi.json)",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method",
        "this route does not take that method (see /openapi.json)",
    )
}

async fn healthz(State(shared): State<Arc<Shared>>) -> ApiResult {
    ok(json!({"status": "ok", "uptime_s": shared.started.elapsed().as_secs_f64()}))
}

async fn readyz(State(shared): State<Arc<Shared>>) -> ApiResult {
    let v = shared.view();
    let body =
        json!({"ready": v.ready, "seq": v.seq, "accounts": v.accounts.len(), "feed": v.feed});
    let code = if v.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((code, axum::Json(body)).into_response())
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        shared.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        crate::openapi::DOCUMENT.as_str(),
    )
        .into_response()
}

async fn status(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    market_reader(&shared, &h, &q)?;
    let v = shared.view();
    let counts: BTreeMap<&str, u64> = crate::metrics::STATUSES
        .iter()
        .copied()
        .zip(v.status_counts.iter().copied())
        .collect();
    ok(json!({
        "ready": v.ready,
        "seq": v.seq,
        "clock": v.clock,
        "accounts": v.accounts.len(),
        "accounts_by_status": counts,
        "events_per_second": shared.metrics.events_per_second(),
        "feed": v.feed,
        "uptime_s": shared.started.elapsed().as_secs_f64(),
    }))
}

const STATUS_NAMES: [&str; 5] = crate::metrics::STATUSES;

async fn accounts(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    let p = authenticate(&shared, &h, &q)?;
    if !p.reads_market() {
        return Err(forbid(&p, "`read`, `admin` or `account:ID`"));
    }
    let limit = usize_param(&q, "limit", 100, 10_000)?;
    let offset = usize_param(&q, "offset", 0, usize::MAX)?;
    let status = match q.get("status") {
        None => None,
        Some(s) if STATUS_NAMES.contains(&s.as_str()) => Some(s.clone()),
        Some(s) => {
            return Err(ApiError::bad(
                "status",
                format!("`{s}` is not one of {}", STATUS_NAMES.join(", ")),
            ))
        }
    };
    let v = shared.view();
    let visible = |r: &&AccountRow| {
        p.account().is_none_or(|own| own == r.id)
            && status
                .as_deref()
                .is_none_or(|s| r.status.map(|x| x.name()) == Some(s))
    };
    let total = v.accounts.iter().filter(visible).count();
    let rows: Vec<&AccountRow> = v
        .accounts
        .iter()
        .filter(visible)
        .skip(offset)
        .take(limit)
        .collect();
    ok(json!({"seq": v.seq, "clock": v.clock, "total": total, "offset": offset, "accounts": rows}))
}

/// The scenario P&L of a report as heat maps: per underlying, the core spot × vol scenarios
/// (`BTC -15%, vol down`), moves in percent across, vol states down.
pub fn heatmaps(report: &MarginReport) -> Vec<Value> {
    let vols = ["vol down", "vol unchanged", "vol up"];
    let mut grid: BTreeMap<String, BTreeMap<i64, [Option<f64>; 3]>> = BTreeMap::new();
    for s in &report.scenario_pnl {
        let Some((name, rest)) = s.scenario.split_once(' ') else {
            continue;
        };
        let Some((pct, vol)) = rest.split_once(", ") else {
            continue;
        };
        let Some(v) = vols.iter().position(|x| *x == vol) else {
            continue;
        };
        let Some(m) = pct.strip_suffix('%').and_then(|x| x.parse::<f64>().ok()) else {
            continue;
        };
        let key = (m * 100.0).round() as i64;
        grid.entry(name.to_owned())
            .or_default()
            .entry(key)
            .or_insert([None; 3])[v] = Some(s.pnl_usd);
    }
    grid.into_iter()
        .map(|(u, cols)| {
            let moves: Vec<f64> = cols.keys().map(|k| *k as f64 / 100.0).collect();
            let rows: Vec<Vec<Option<f64>>> = (0..3).map(|v| cols.values().map(|c| c[v]).collect()).collect();
            json!({"underlying": u, "moves_pct": moves, "vols": ["down", "unchanged", "up"], "pnl_usd": rows})
        })
        .collect()
}

fn detail(s: AccountSnapshot) -> Value {
    let portfolio = Portfolio {
        accounts: vec![s.account.clone()],
    };
    let model = Model::preset("rtm2m").expect("rtm2m is a preset");
    let report = match margin_portfolio(&portfolio, &s.market, &model) {
        Ok(mut v) => v.pop().map_or_else(
            || Err("no report".to_owned()),
            |r| r.map_err(|e| e.to_string()),
        ),
        Err(e) => Err(e.to_string()),
    };
    let (report, error, maps) = match report {
        Ok(r) => {
            let maps = heatmaps(&r);
            (
                serde_json::to_value(&r).unwrap_or(Value::Null),
                Value::Null,
                maps,
            )
        }
        Err(e) => (Value::Null, Value::String(e), Vec::new()),
    };
    json!({
        "account": s.account.id,
        "margin": s.row,
        "cash_usd": s.account.cash_usd,
        "accrued_funding_usd": s.account.accrued_funding_usd,
        "collateral": s.account.collateral.iter().map(|c| json!({"asset": c.asset, "amount": c.amount})).collect::<Vec<_>>(),
        "positions": s.account.positions.iter().map(|p| json!({"instrument": p.instrument, "size": p.size, "entry_price_usd": p.entry_price_usd})).collect::<Vec<_>>(),
        "market_as_of": s.market.as_of,
        "report": report,
        "report_error": error,
        "heatmaps": maps,
    })
}

async fn ask<T>(
    shared: &Shared,
    cmd: Command,
    rx: tokio::sync::oneshot::Receiver<T>,
) -> Result<T, ApiError> {
    let busy = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "engine",
            "the engine's queue is full or stopped: retry",
        )
    };
    tokio::time::timeout(WRITER_WAIT, shared.tx.send(cmd))
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    tokio::time::timeout(WRITER_WAIT, rx)
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())
}

/// The `{id}`/`{name}` segment of a path, or the JSON error for one that cannot be read (axum's own
/// rejection is plain text, e.g. for percent-encoded bytes that are not UTF-8: `/v1/accounts/%ff`).
fn path_segment(
    segment: Result<Path<String>, PathRejection>,
    field: &str,
) -> Result<String, ApiError> {
    segment
        .map(|Path(s)| s)
        .map_err(|e| ApiError::new(e.status(), field, e.body_text()))
}

async fn account(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    let p = authenticate(&shared, &h, &q)?;
    let id = path_segment(id, "id")?;
    if !p.reads_account(&id) {
        return Err(forbid(&p, "`read`, `admin` or this account's token"));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let snap = ask(
        &shared,
        Command::Account {
            id: id.clone(),
            reply: tx,
        },
        rx,
    )
    .await?;
    let Some(snap) = snap else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "id",
            format!("no account `{id}`"),
        ));
    };
    let body = tokio::task::spawn_blocking(move || detail(snap))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "report",
                "the margin report failed",
            )
        })?;
    ok(body)
}

async fn instruments(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    market_reader(&shared, &h, &q)?;
    let v = shared.view();
    let kinds = ["option", "future", "perpetual", "spot"];
    if let Some(k) = q.get("kind") {
        if !kinds.contains(&k.as_str()) {
            return Err(ApiError::bad(
                "kind",
                format!("`{k}` is not one of {}", kinds.join(", ")),
            ));
        }
    }
    if let Some(u) = q.get("underlying") {
        if !v.instruments.contains_key(u) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "underlying",
                format!("no instruments on `{u}`"),
            ));
        }
    }
    let list: Vec<&crate::view::InstrumentRow> = v
        .instruments
        .iter()
        .filter(|(u, _)| q.get("underlying").is_none_or(|x| x == *u))
        .flat_map(|(_, rows)| rows.iter())
        .filter(|r| q.get("kind").is_none_or(|k| k == r.kind))
        .collect();
    ok(json!({"seq": v.seq, "count": list.len(), "instruments": list}))
}

async fn marks(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    market_reader(&shared, &h, &q)?;
    let v = shared.view();
    ok(json!({"seq": v.seq, "marks": v.marks.values().collect::<Vec<_>>()}))
}

async fn surfaces(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    market_reader(&shared, &h, &q)?;
    let v = shared.view();
    if let Some(u) = q.get("underlying") {
        if !v.surfaces.contains_key(u) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "underlying",
                format!("no surface for `{u}`"),
            ));
        }
    }
    let list: Vec<&crate::view::SurfaceView> = v
        .surfaces
        .iter()
        .filter(|(u, _)| q.get("underlying").is_none_or(|x| x == *u))
        .map(|(_, s)| s.as_ref())
        .collect();
    ok(json!({"seq": v.seq, "surfaces": list}))
}

async fn index(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    market_reader(&shared, &h, &q)?;
    let v = shared.view();
    let from_marks: Vec<Value> = v
        .marks
        .values()
        .filter(|m| !v.index.contains_key(&m.underlying))
        .map(|m| json!({"underlying": m.underlying, "ts": m.ts, "price_usd": m.index_usd, "confidence_usd": null, "status": "ok", "flags": [], "used": [], "excluded": [], "sources_known": false}))
        .collect();
    let mut list: Vec<Value> = v
        .index
        .values()
        .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
        .collect();
    list.extend(from_marks);
    ok(json!({"seq": v.seq, "index": list}))
}

async fn alerts(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    let p = authenticate(&shared, &h, &q)?;
    if !p.reads_market() {
        return Err(forbid(&p, "`read`, `admin` or `account:ID`"));
    }
    let v = shared.view();
    let list: Vec<_> = v
        .alerts
        .iter()
        .rev()
        .filter(|a| p.account().is_none_or(|own| own == &*a.account))
        .collect();
    ok(json!({"seq": v.seq, "alerts": list}))
}

/// Reads an ingest body: a JSON array of events, a single event object, or JSON Lines; fills in a missing
/// `ts` with `default_ts` and a missing `seq` with a placeholder the writer replaces.
pub fn read_events(body: &[u8], default_ts: &str, max: usize) -> Result<Vec<Pending>, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|e| ApiError::bad("body", format!("not UTF-8: {e}")))?;
    let trimmed = text.trim_start();
    let values: Vec<(String, Value)> = if trimmed.starts_with('[') {
        let v: Vec<Value> = serde_json::from_str(text)
            .map_err(|e| ApiError::bad("body", format!("not a JSON array of events: {e}")))?;
        v.into_iter()
            .enumerate()
            .map(|(k, v)| (format!("events[{k}]"), v))
            .collect()
    } else if trimmed.is_empty() {
        return Err(ApiError::bad(
            "body",
            "empty: post a JSON array of events (or JSON Lines)",
        ));
    } else {
        let mut out = Vec::new();
        for (k, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| ApiError::bad(format!("line {}", k + 1), format!("not JSON: {e}")))?;
            out.push((format!("line {}", k + 1), v));
            if out.len() > max {
                break;
            }
        }
        out
    };
    if values.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            format!("at most {max} events per request"),
        ));
    }
    let mut out = Vec::with_capacity(values.len());
    for (place, mut v) in values {
        let Some(o) = v.as_object_mut() else {
            return Err(ApiError::bad(place, "must be a JSON object"));
        };
        // The engine's parser names `json` for a value of the wrong type; name the field here.
        for (k, x) in o.iter() {
            let want = if NUMBER_FIELDS.contains(&k.as_str()) {
                x.is_number() || x.is_null()
            } else if STRING_FIELDS.contains(&k.as_str()) {
                x.is_string()
            } else if k == "seq" {
                x.is_u64()
            } else {
                true
            };
            if !want {
                let what = if k == "seq" {
                    "a non-negative integer"
                } else if STRING_FIELDS.contains(&k.as_str()) {
                    "a string"
                } else {
                    "a number"
                };
                return Err(ApiError::bad(
                    format!("{place}.{k}"),
                    format!("must be {what}, got {x}"),
                ));
            }
        }
        let seq_given = o.contains_key("seq");
        if !seq_given {
            o.insert("seq".into(), Value::from(u64::MAX));
        }
        if !o.contains_key("ts") {
            o.insert("ts".into(), Value::from(default_ts));
        }
        let line = v.to_string();
        let input = parse_input(&line)
            .map_err(|e| ApiError::bad(format!("{place}.{}", e.field), e.reason))?;
        out.push(Pending { input, seq_given });
    }
    Ok(out)
}

const NUMBER_FIELDS: [&str; 14] = [
    "amount",
    "size",
    "price_usd",
    "fee_usd",
    "price",
    "confidence",
    "bid",
    "ask",
    "bid_iv",
    "ask_iv",
    "mark_iv",
    "strike",
    "underlying_price",
    "index_price",
];
const STRING_FIELDS: [&str; 7] = [
    "type",
    "account",
    "asset",
    "instrument",
    "underlying",
    "venue",
    "ts",
];

fn now_ts() -> rtm2m_market::Timestamp {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64);
    rtm2m_market::Timestamp::from_unix_nanos(nanos)
}

/// The default `ts` of an ingested event: the engine clock (so a replay's time is kept), else now.
pub fn default_ts(v: &View) -> rtm2m_market::Timestamp {
    v.clock.unwrap_or_else(now_ts)
}

async fn ingest(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    let p = authenticate(&shared, &h, &q)?;
    if !p.ingests() {
        return Err(forbid(&p, "`ingest` or `admin`"));
    }
    let body = body.map_err(|e| ApiError::new(e.status(), "body", e.body_text()))?;
    let received = Instant::now();
    let ts = default_ts(&shared.view()).to_string();
    let events = read_events(&body, &ts, shared.max_batch_events)?;
    if events.is_empty() {
        return Err(ApiError::bad("body", "no event"));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let result = ask(
        &shared,
        Command::Ingest {
            events,
            received,
            reply: tx,
        },
        rx,
    )
    .await?;
    ok(serde_json::to_value(&result).unwrap_or(Value::Null))
}

fn admin(
    shared: &Shared,
    h: &HeaderMap,
    q: &BTreeMap<String, String>,
) -> Result<Principal, ApiError> {
    let p = authenticate(shared, h, q)?;
    if p.admin() {
        Ok(p)
    } else {
        Err(forbid(&p, "`admin`"))
    }
}

async fn list_tokens(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    admin(&shared, &h, &q)?;
    ok(json!({"tokens": shared.tokens.list()}))
}

async fn create_token(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    admin(&shared, &h, &q)?;
    let body = body.map_err(|e| ApiError::new(e.status(), "body", e.body_text()))?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad("body", format!("not JSON: {e}")))?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("name", "required, a string"))?;
    let scope_text = v
        .get("scope")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad("scope", "required: read, ingest, admin or account:ID"))?;
    let scope = Scope::parse(scope_text).map_err(|r| ApiError::bad("scope", r))?;
    if let Scope::Account(id) = &scope {
        if !shared.view().by_id.contains_key(id) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "scope",
                format!("no account `{id}`"),
            ));
        }
    }
    let token = shared
        .tokens
        .generate(name, scope.clone())
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.field, e.reason))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"name": name, "scope": scope.name(), "token": token})),
    )
        .into_response())
}

async fn delete_token(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    name: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = parse_query(raw.as_deref())?;
    admin(&shared, &h, &q)?;
    let name = path_segment(name, "name")?;
    if shared.tokens.remove(&name) {
        ok(json!({"deleted": name}))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "name",
            format!("no token named `{name}`"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_without_seq_or_ts_get_defaults_and_bad_fields_are_named() {
        let body = br#"[{"type":"deposit","account":"a","asset":"USDC","amount":5},{"type":"deposit","seq":9,"ts":"2026-01-01T00:00:00Z","account":"a","asset":"USDC","amount":1}]"#;
        let ev = read_events(body, "2026-01-02T00:00:00Z", 10).unwrap();
        assert!(!ev[0].seq_given && ev[1].seq_given && ev[1].input.seq == 9);
        assert_eq!(ev[0].input.ts.to_string(), "2026-01-02T00:00:00.000000000Z");
        let e = read_events(
            br#"[{"type":"deposit","account":"a","asset":"USDC","amount":-5}]"#,
            "2026-01-02T00:00:00Z",
            10,
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.field.as_str()),
            (StatusCode::BAD_REQUEST, "events[0].amount")
        );
        let e = read_events(b"{\"type\":\"deposit\"}\n{}", "2026-01-02T00:00:00Z", 10).unwrap_err();
        assert_eq!(e.field, "line 1.account");
        let e = read_events(b"[1]", "x", 10).unwrap_err();
        assert_eq!(e.field, "events[0]");
        let e = read_events(b"[{},{},{}]", "x", 2).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn query_strings_are_decoded() {
        let q = parse_query(Some("a=1&b=x%20y+z&c")).unwrap();
        assert_eq!(q["b"], "x y z");
        assert_eq!(q["c"], "");
        assert_eq!(parse_query(Some("a=%zz")).unwrap_err().field, "a");
    }
}
