//! WebSocket subscriptions at `/v1/ws?topics=marks,margins,status,alerts,index` (`docs/service.md` §5).
//! The token comes in the `Authorization` header or, from a browser, the `token` query parameter. Each
//! round of the engine becomes at most one text frame per topic:
//! `{"topic": "margins", "seq": 123, "items": [...]}`. A per-account token receives only its account's
//! margins, status changes and alerts. A client that falls behind by more than the broadcast buffer gets
//! `{"topic": "lagged", "skipped": N}` and continues with the newest rounds.

use crate::api::{authenticate, parse_query, ApiError};
use crate::auth::Principal;
use crate::writer::{Broadcast, Shared};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rtm2m_engine::Output;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// The topics.
pub const TOPICS: [&str; 5] = ["marks", "margins", "status", "alerts", "index"];

/// Subscribed topics, one flag per [`TOPICS`] entry.
type Topics = [bool; 5];

fn parse_topics(text: Option<&str>) -> Result<Topics, ApiError> {
    let Some(text) = text else {
        return Ok([true; 5]);
    };
    let mut t = [false; 5];
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let k = TOPICS.iter().position(|x| *x == name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "topics",
                format!("`{name}` is not one of {}", TOPICS.join(", ")),
            )
        })?;
        t[k] = true;
    }
    Ok(t)
}

/// `GET /v1/ws`: authenticates, then upgrades.
pub async fn upgrade(
    State(shared): State<Arc<Shared>>,
    h: HeaderMap,
    RawQuery(raw): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let q = parse_query(raw.as_deref())?;
    let p = authenticate(&shared, &h, &q)?;
    if !p.reads_market() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "authorization",
            format!(
                "scope `{}` does not allow subscriptions: it needs `read`, `admin` or `account:ID`",
                p.scope.name()
            ),
        ));
    }
    let topics = parse_topics(q.get("topics").map(String::as_str))?;
    let ws = ws.map_err(|e| ApiError::new(e.status(), "upgrade", e.body_text()))?;
    Ok(ws
        .max_message_size(64 << 10)
        .on_upgrade(move |socket| serve(socket, shared, p, topics))
        .into_response())
}

/// The frames of one round for a client.
pub fn frames(b: &Broadcast, p: &Principal, topics: &Topics) -> Vec<String> {
    let mut items: [Vec<&Output>; 4] = Default::default();
    let mut seq = 0;
    for o in &b.outputs {
        seq = seq.max(o.seq().unwrap_or(0));
        let k = match o {
            Output::Mark(_) => 0,
            Output::Margin(_) => 1,
            Output::Status(_) => 2,
            Output::LiquidationAlert(_) => 3,
            Output::Rejected(_) => continue,
        };
        if !topics[k] {
            continue;
        }
        if let (Some(own), Some(a)) = (p.account(), o.account()) {
            if own != a {
                continue;
            }
        }
        items[k].push(o);
    }
    let mut out = Vec::new();
    for (k, list) in items.iter().enumerate() {
        if !list.is_empty() {
            out.push(json!({"topic": TOPICS[k], "seq": seq, "items": list}).to_string());
        }
    }
    if topics[4] && !b.index.is_empty() {
        out.push(json!({"topic": "index", "seq": seq, "items": b.index}).to_string());
    }
    out
}

async fn serve(mut socket: WebSocket, shared: Arc<Shared>, p: Principal, mut topics: Topics) {
    let mut rx = shared.outputs.subscribe();
    shared.metrics.ws_clients.fetch_add(1, Ordering::Relaxed);
    let v = shared.view();
    let hello = json!({
        "topic": "hello",
        "seq": v.seq,
        "scope": p.scope.name(),
        "topics": TOPICS.iter().zip(topics).filter(|(_, on)| *on).map(|(t, _)| *t).collect::<Vec<_>>(),
    });
    let mut open = socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_ok();
    while open {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(b) => {
                    for f in frames(&b, &p, &topics) {
                        if socket.send(Message::Text(f.into())).await.is_err() {
                            open = false;
                            break;
                        }
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    shared.metrics.ws_lagged.fetch_add(n, Ordering::Relaxed);
                    let f = json!({"topic": "lagged", "skipped": n}).to_string();
                    open = socket.send(Message::Text(f.into())).await.is_ok();
                }
                Err(RecvError::Closed) => open = false,
            },
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    // `{"topics": ["marks", ...]}` changes the subscription.
                    let reply = match serde_json::from_str::<Value>(t.as_str()).ok().and_then(|v| v.get("topics").cloned()) {
                        Some(Value::Array(list)) => {
                            let names: Vec<String> = list.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect();
                            match parse_topics(Some(&names.join(","))) {
                                Ok(t) => {
                                    topics = t;
                                    json!({"topic": "subscribed", "topics": names})
                                }
                                Err(e) => json!({"topic": "error", "field": e.field, "reason": e.reason}),
                            }
                        }
                        _ => json!({"topic": "error", "field": "message", "reason": "send {\"topics\": [..]} to change the subscription"}),
                    };
                    open = socket.send(Message::Text(reply.to_string().into())).await.is_ok();
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => open = false,
                Some(Ok(_)) => {}
            },
        }
    }
    shared.metrics.ws_clients.fetch_sub(1, Ordering::Relaxed);
}
