//! The OpenAPI 3.1 document served at `/openapi.json`, written by hand, and [`check`], a checker of a JSON
//! value against one of its schemas (the subset the document uses: `type` with `null` unions, `properties`,
//! `required`, `items`, `enum`, `$ref`, `additionalProperties`), used by the tests to hold the responses to
//! the document.

use serde_json::{json, Value};
use std::sync::LazyLock;

fn err_responses() -> Value {
    json!({
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"},
        "403": {"$ref": "#/components/responses/Error"},
    })
}

fn get_op(summary: &str, schema: &str, params: Value, extra: Value) -> Value {
    let mut responses = err_responses();
    responses["200"] = json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    if let Some(o) = extra.as_object() {
        for (k, v) in o {
            responses[k] = v.clone();
        }
    }
    json!({"get": {"summary": summary, "security": [{"bearer": []}], "parameters": params, "responses": responses}})
}

fn q(name: &str, schema: Value, desc: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": desc})
}

fn num() -> Value {
    json!({"type": "number"})
}
fn num_or_null() -> Value {
    json!({"type": ["number", "null"]})
}
fn string() -> Value {
    json!({"type": "string"})
}
fn str_or_null() -> Value {
    json!({"type": ["string", "null"]})
}
fn int() -> Value {
    json!({"type": "integer"})
}
fn obj(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}
fn arr(items: Value) -> Value {
    json!({"type": "array", "items": items})
}
fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn build() -> Value {
    let status_enum = json!({"type": ["string", "null"], "enum": ["healthy", "margin_call", "liquidatable", "bankrupt", "unpriced", null]});
    let not_found = json!({"404": {"$ref": "#/components/responses/Error"}});
    let schemas = json!({
        "Error": obj(json!({"error": obj(json!({"status": int(), "field": string(), "reason": string()}), &["status", "field", "reason"])}), &["error"]),
        "Health": obj(json!({"status": string(), "uptime_s": num()}), &["status", "uptime_s"]),
        "Ready": obj(json!({"ready": {"type": "boolean"}, "seq": int(), "accounts": int(), "feed": r("Feed")}), &["ready", "seq", "accounts", "feed"]),
        "Feed": obj(json!({"kind": {"type": "string", "enum": ["simulator", "replay", "none"]}, "note": string()}), &["kind", "note"]),
        "Status": obj(json!({"ready": {"type": "boolean"}, "seq": int(), "clock": str_or_null(), "accounts": int(), "accounts_by_status": {"type": "object", "additionalProperties": int()}, "events_per_second": num(), "feed": r("Feed"), "uptime_s": num()}), &["ready", "seq", "clock", "accounts", "accounts_by_status", "events_per_second", "feed"]),
        "AccountRow": obj(json!({"id": string(), "status": status_enum, "equity_usd": num_or_null(), "im_usd": num_or_null(), "mm_usd": num_or_null(), "margin_ratio": num_or_null(), "scenario_loss_usd": num_or_null(), "worst_scenario": str_or_null(), "reason": str_or_null()}), &["id", "status", "equity_usd", "im_usd", "mm_usd", "margin_ratio"]),
        "Accounts": obj(json!({"seq": int(), "clock": str_or_null(), "total": int(), "offset": int(), "accounts": arr(r("AccountRow"))}), &["seq", "total", "offset", "accounts"]),
        "Heatmap": obj(json!({"underlying": string(), "moves_pct": arr(num()), "vols": arr(string()), "pnl_usd": arr(arr(num_or_null()))}), &["underlying", "moves_pct", "vols", "pnl_usd"]),
        "MarginReport": obj(json!({"account": string(), "model": string(), "equity_usd": num(), "im_usd": num(), "mm_usd": num(), "margin_ratio": num_or_null(), "status": string(), "requirements": {"type": "object"}, "worst_scenario": {"type": ["object", "null"]}, "scenario_pnl": arr(obj(json!({"scenario": string(), "pnl_usd": num()}), &["scenario", "pnl_usd"])), "positions": arr(obj(json!({"instrument": string(), "size": num(), "value_usd": num(), "pnl_worst_usd": num(), "greeks": {"type": "object"}}), &["instrument", "size", "value_usd", "greeks"])), "greeks": arr(json!({"type": "object"})), "collateral": arr(json!({"type": "object"}))}), &["account", "equity_usd", "im_usd", "mm_usd", "scenario_pnl", "positions", "greeks"]),
        "AccountDetail": obj(json!({
            "account": string(), "margin": r("AccountRow"), "cash_usd": num(), "accrued_funding_usd": num(),
            "collateral": arr(obj(json!({"asset": string(), "amount": num()}), &["asset", "amount"])),
            "positions": arr(obj(json!({"instrument": string(), "size": num(), "entry_price_usd": num_or_null()}), &["instrument", "size"])),
            "market_as_of": string(),
            "report": {"oneOf": [r("MarginReport"), {"type": "null"}]},
            "report_error": str_or_null(),
            "heatmaps": arr(r("Heatmap"))}), &["account", "margin", "cash_usd", "collateral", "positions", "report", "report_error", "heatmaps"]),
        "Instrument": obj(json!({"name": string(), "underlying": string(), "kind": {"type": "string", "enum": ["option", "future", "perpetual", "spot"]}, "expiry": string(), "strike_usd": num(), "option_type": {"type": "string", "enum": ["call", "put"]}, "mark_iv": num(), "price_usd": num_or_null(), "delta_coin": num_or_null(), "error": string()}), &["name", "underlying", "kind", "price_usd", "delta_coin"]),
        "Instruments": obj(json!({"seq": int(), "count": int(), "instruments": arr(r("Instrument"))}), &["seq", "count", "instruments"]),
        "Mark": obj(json!({"type": string(), "v": int(), "seq": int(), "ts": string(), "underlying": string(), "index_usd": num(), "perp_usd": num(), "forwards_usd": {"type": "object", "additionalProperties": num()}, "settled_usd": {"type": "object"}, "instruments_valued": int(), "instruments_unvalued": int(), "accounts_remargined": int()}), &["seq", "ts", "underlying", "index_usd", "forwards_usd", "instruments_valued"]),
        "Marks": obj(json!({"seq": int(), "marks": arr(r("Mark"))}), &["seq", "marks"]),
        "Svi": obj(json!({"a": num(), "b": num(), "rho": num(), "m": num(), "sigma": num()}), &["a", "b", "rho", "m", "sigma"]),
        "Smile": obj(json!({"expiry": string(), "expiry_ts": string(), "expiry_years": num(), "forward_usd": num(), "svi": {"oneOf": [r("Svi"), {"type": "null"}]}, "quotes": arr(obj(json!({"instrument": string(), "strike_usd": num(), "log_moneyness": num(), "mark_iv": num(), "bid_iv": num_or_null(), "ask_iv": num_or_null()}), &["instrument", "strike_usd", "log_moneyness", "mark_iv"]))}), &["expiry", "expiry_ts", "expiry_years", "forward_usd", "svi", "quotes"]),
        "Surface": obj(json!({"underlying": string(), "updated_ts": str_or_null(), "expiries": arr(r("Smile"))}), &["underlying", "expiries"]),
        "Surfaces": obj(json!({"seq": int(), "surfaces": arr(r("Surface"))}), &["seq", "surfaces"]),
        "Index": obj(json!({"underlying": string(), "ts": string(), "price_usd": num_or_null(), "confidence_usd": num_or_null(), "status": {"type": "string", "enum": ["ok", "degraded", "halted"]}, "flags": arr(string()), "used": arr(obj(json!({"source": string(), "price": num(), "price_usd": num()}), &["source", "price_usd"])), "excluded": arr(obj(json!({"source": string(), "reason": string(), "price": num()}), &["source", "reason"])), "sources_known": {"type": "boolean"}}), &["underlying", "ts", "price_usd", "status", "used", "excluded", "sources_known"]),
        "IndexList": obj(json!({"seq": int(), "index": arr(r("Index"))}), &["seq", "index"]),
        "Alert": obj(json!({"type": string(), "v": int(), "seq": int(), "ts": string(), "account": string(), "status": string(), "equity_usd": num(), "mm_usd": num(), "shortfall_usd": num()}), &["seq", "account", "status", "equity_usd", "mm_usd", "shortfall_usd"]),
        "Alerts": obj(json!({"seq": int(), "alerts": arr(r("Alert"))}), &["seq", "alerts"]),
        "IngestResult": obj(json!({"applied": int(), "rejected": arr(obj(json!({"index": int(), "seq": int(), "field": string(), "reason": string()}), &["index", "seq", "field", "reason"])), "last_seq": int(), "outputs": int()}), &["applied", "rejected", "last_seq", "outputs"]),
        "TokenList": obj(json!({"tokens": arr(obj(json!({"name": string(), "scope": string()}), &["name", "scope"]))}), &["tokens"]),
        "NewToken": obj(json!({"name": string(), "scope": string(), "token": string()}), &["name", "scope", "token"]),
        "Deleted": obj(json!({"deleted": string()}), &["deleted"]),
    });
    let limit = q(
        "limit",
        json!({"type": "integer", "minimum": 0, "maximum": 10000, "default": 100}),
        "Rows returned.",
    );
    let offset = q(
        "offset",
        json!({"type": "integer", "minimum": 0, "default": 0}),
        "Rows skipped.",
    );
    let st = q(
        "status",
        json!({"type": "string", "enum": ["healthy", "margin_call", "liquidatable", "bankrupt", "unpriced"]}),
        "Only accounts with this status.",
    );
    let und = q(
        "underlying",
        string(),
        "Only this underlying (404 when it has none).",
    );
    let kind = q(
        "kind",
        json!({"type": "string", "enum": ["option", "future", "perpetual", "spot"]}),
        "Only this kind.",
    );
    let mut ingest_responses = err_responses();
    ingest_responses["200"] = json!({"description": "Applied (each rejected event listed with its reason)", "content": {"application/json": {"schema": r("IngestResult")}}});
    ingest_responses["413"] = json!({"$ref": "#/components/responses/Error"});
    ingest_responses["503"] = json!({"$ref": "#/components/responses/Error"});
    let mut create_responses = err_responses();
    create_responses["201"] = json!({"description": "Created: the token is shown this once", "content": {"application/json": {"schema": r("NewToken")}}});
    create_responses["409"] = json!({"$ref": "#/components/responses/Error"});
    create_responses["422"] = json!({"$ref": "#/components/responses/Error"});
    let mut tokens = get_op(
        "Tokens by name and scope (admin).",
        "TokenList",
        json!([]),
        json!({}),
    );
    tokens["post"] = json!({"summary": "Make a token (admin); `scope` is read, ingest, admin or account:ID.", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": obj(json!({"name": string(), "scope": string()}), &["name", "scope"])}}},
        "responses": create_responses});
    let mut del_responses = err_responses();
    del_responses["200"] = json!({"description": "Deleted", "content": {"application/json": {"schema": r("Deleted")}}});
    del_responses["404"] = json!({"$ref": "#/components/responses/Error"});
    let name_param = json!([{"name": "name", "in": "path", "required": true, "schema": string()}]);
    let id_param = json!([{"name": "id", "in": "path", "required": true, "schema": string()}]);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "rtm2m service", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Real-time mark-to-market and margin: accounts by margin ratio, account detail, instruments and marks, surfaces, index with sources, event ingestion; WebSocket subscriptions at /v1/ws. Amounts in USD. See docs/service.md."},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API token: scopes read, ingest, admin, account:ID. Browsers' WebSockets may pass it as ?token=."}},
            "responses": {"Error": {"description": "Refused: the field at fault and why", "content": {"application/json": {"schema": r("Error")}}}},
            "schemas": schemas,
        },
        "paths": {
            "/healthz": {"get": {"summary": "Liveness (no token).", "security": [], "responses": {"200": {"description": "Alive", "content": {"application/json": {"schema": r("Health")}}}}}},
            "/readyz": {"get": {"summary": "Readiness (no token): 503 until the engine has market data for every underlying.", "security": [], "responses": {"200": {"description": "Ready", "content": {"application/json": {"schema": r("Ready")}}}, "503": {"description": "Not ready", "content": {"application/json": {"schema": r("Ready")}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (no token).", "security": [], "responses": {"200": {"description": "Text exposition format 0.0.4", "content": {"text/plain": {"schema": string()}}}}}},
            "/openapi.json": {"get": {"summary": "This document (no token).", "security": [], "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/v1/status": get_op("Engine seq, clock, accounts by status, events per second, feed.", "Status", json!([]), json!({})),
            "/v1/accounts": get_op("Accounts, riskiest first: bankrupt, then by margin ratio (MM / equity) descending, then unpriced. A per-account token sees only its account.", "Accounts", json!([limit, offset, st]), json!({})),
            "/v1/accounts/{id}": {"get": get_op("An account: the engine's margin, positions, collateral, and the full rtm2m-margin report (Greeks, requirements, scenario P&L) with spot × vol heat maps.", "AccountDetail", id_param, not_found.clone())["get"].clone()},
            "/v1/instruments": get_op("Instruments with their mark IV and their value and delta at the underlying's last tick.", "Instruments", json!([und.clone(), kind]), not_found.clone()),
            "/v1/marks": get_op("The last mark per underlying: index, perpetual, forwards.", "Marks", json!([]), json!({})),
            "/v1/surfaces": get_op("Vol smiles per underlying and expiry: the quotes (out-of-the-money side) and, when known, SVI parameters.", "Surfaces", json!([und]), not_found),
            "/v1/index": get_op("The last index per underlying with the sources used and excluded (and why).", "IndexList", json!([]), json!({})),
            "/v1/alerts": get_op("The latest liquidation alerts, newest first.", "Alerts", json!([]), json!({})),
            "/v1/events": {"post": {"summary": "Ingest a batch of input events (docs/engine.md formats): a JSON array, or JSON Lines. `seq` and `ts` are optional (next seq; the engine clock). Scope ingest or admin.",
                "security": [{"bearer": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": arr(json!({"type": "object"}))}, "application/x-ndjson": {"schema": string()}}},
                "responses": ingest_responses}},
            "/v1/tokens": tokens,
            "/v1/tokens/{name}": {"delete": {"summary": "Delete a token (admin).", "security": [{"bearer": []}], "parameters": name_param, "responses": del_responses}},
            "/v1/ws": {"get": {"summary": "WebSocket: ?topics=marks,margins,status,alerts,index (default all). Frames {topic, seq, items}.", "security": [{"bearer": []}],
                "parameters": [q("topics", string(), "Comma-separated topics."), q("token", string(), "The token, for browsers.")],
                "responses": {"101": {"description": "Switching protocols"}, "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}},
        }
    })
}

/// The document, serialised once.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| build().to_string());

/// The document as a value.
pub fn document() -> Value {
    build()
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> Result<&'a Value, String> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(p) => {
            let path = p
                .strip_prefix("#/")
                .ok_or_else(|| format!("unsupported $ref {p}"))?;
            let mut at = doc;
            for part in path.split('/') {
                at = at.get(part).ok_or_else(|| format!("dangling $ref {p}"))?;
            }
            resolve(doc, at)
        }
        None => Ok(schema),
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

fn check_at(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = resolve(doc, schema)?;
    if let Some(options) = s.get("oneOf").and_then(Value::as_array) {
        let matches = options
            .iter()
            .filter(|o| check_at(doc, o, v, at).is_ok())
            .count();
        return if matches == 1 {
            Ok(())
        } else {
            Err(format!("{at}: matches {matches} of oneOf, not 1"))
        };
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)),
            _ => true,
        };
        if !ok {
            return Err(format!("{at}: {v} is not of type {t}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!(
                "{at}: {v} is not one of {}",
                Value::Array(e.clone())
            ));
        }
    }
    if let Some(o) = v.as_object() {
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for f in req.iter().filter_map(Value::as_str) {
                if !o.contains_key(f) {
                    return Err(format!("{at}: required field `{f}` is missing"));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, x) in o {
            if let Some(p) = props.and_then(|p| p.get(k)) {
                check_at(doc, p, x, &format!("{at}.{k}"))?;
            } else if let Some(extra) = s.get("additionalProperties") {
                if extra.is_object() {
                    check_at(doc, extra, x, &format!("{at}.{k}"))?;
                }
            }
        }
    }
    if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
        for (k, x) in a.iter().enumerate() {
            check_at(doc, items, x, &format!("{at}[{k}]"))?;
        }
    }
    Ok(())
}

/// Checks `value` against the component schema `name` of `doc`; the error names the place and the reason.
pub fn check(doc: &Value, name: &str, value: &Value) -> Result<(), String> {
    check_at(
        doc,
        &json!({"$ref": format!("#/components/schemas/{name}")}),
        value,
        "$",
    )
}

/// The schema name of the `200` (or `201`) response of `method path` in `doc`.
pub fn response_schema(doc: &Value, method: &str, path: &str) -> Option<String> {
    let op = doc.get("paths")?.get(path)?.get(method)?;
    let resp = op.get("responses")?;
    let ok = resp.get("200").or_else(|| resp.get("201"))?;
    let r = ok
        .get("content")?
        .get("application/json")?
        .get("schema")?
        .get("$ref")?
        .as_str()?;
    r.strip_prefix("#/components/schemas/").map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ref_resolves_and_the_checker_catches_shape_errors() {
        let doc = document();
        fn walk(doc: &Value, v: &Value) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(p)) = o.get("$ref") {
                        resolve(doc, v).unwrap_or_else(|e| panic!("{p}: {e}"));
                    }
                    o.values().for_each(|x| walk(doc, x));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(doc, x)),
                _ => {}
            }
        }
        walk(&doc, &doc);
        let good = json!({"error": {"status": 400, "field": "x", "reason": "y"}});
        check(&doc, "Error", &good).unwrap();
        let bad = json!({"error": {"status": "400", "field": "x", "reason": "y"}});
        assert!(check(&doc, "Error", &bad)
            .unwrap_err()
            .contains("$.error.status"));
        let missing = json!({"error": {"status": 400, "field": "x"}});
        assert!(check(&doc, "Error", &missing)
            .unwrap_err()
            .contains("reason"));
        assert_eq!(
            response_schema(&doc, "get", "/v1/accounts").as_deref(),
            Some("Accounts")
        );
        assert_eq!(
            response_schema(&doc, "post", "/v1/tokens").as_deref(),
            Some("NewToken")
        );
    }
}
