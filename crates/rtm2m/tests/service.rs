//! `rtm2m serve` end to end on loopback: the binary is started with an accounts file and no feed, fed
//! through `POST /v1/events`, and read back over HTTP. Margins must equal those of an engine fed the same
//! events in the test; every response must match its schema in `/openapi.json`; tokens must be scoped.

use rtm2m_engine::event::input_to_json;
use rtm2m_engine::synthetic::{population, ChainSpec, Universe};
use rtm2m_engine::{Engine, Genesis};
use rtm2m_market::Timestamp;
use rtm2m_service::client::Client;
use rtm2m_service::openapi;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

const ADMIN: &str = "test-admin-token-0123456789";
const READ: &str = "test-read-token-0123456789";
const INGEST: &str = "test-ingest-token-0123456789";

struct Service {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let p = std::env::temp_dir().join(format!("rtm2m-service-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    TempDir(p)
}

fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    Timestamp::from_unix_nanos(d.as_nanos() as i64)
}

/// A population of 24 accounts over the default synthetic chain at `start`, and the chain's events.
fn fixture(start: Timestamp) -> (Genesis, Vec<rtm2m_engine::Input>) {
    let events = ChainSpec::default_at(start).initial_events();
    let universe = Universe::from_events(&events);
    (population(24, 80, &universe, 11), events)
}

fn start(name: &str, genesis: &Genesis) -> Service {
    let dir = temp_dir(name);
    let accounts = dir.0.join("accounts.json");
    std::fs::write(&accounts, genesis.to_json()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtm2m"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-feed",
            "--accounts-file",
        ])
        .arg(&accounts)
        .arg("--data-dir")
        .arg(dir.0.join("data"))
        .env("RTM2M_ADMIN_TOKEN", ADMIN)
        .env("RTM2M_READ_TOKEN", READ)
        .env("RTM2M_INGEST_TOKEN", INGEST)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("rtm2m serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve prints where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("rtm2m: listening on http://") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Service {
        child,
        addr,
        _dir: dir,
    }
}

fn client(s: &Service, token: Option<&str>) -> Client {
    Client::new(s.addr, token)
}

fn checked(doc: &Value, c: &mut Client, path: &str) -> Value {
    let r = c.get(path).unwrap();
    assert_eq!(
        r.status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let v = r.json().unwrap();
    let route = path.split('?').next().unwrap();
    let route = if route.starts_with("/v1/accounts/") {
        "/v1/accounts/{id}"
    } else {
        route
    };
    let schema = openapi::response_schema(doc, "get", route)
        .unwrap_or_else(|| panic!("{route} is documented"));
    openapi::check(doc, &schema, &v).unwrap_or_else(|e| panic!("GET {path} against {schema}: {e}"));
    v
}

fn post_events(c: &mut Client, inputs: &[rtm2m_engine::Input]) -> Value {
    let body: String = inputs.iter().map(|i| input_to_json(i) + "\n").collect();
    let r = c
        .request(
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            Some(body.as_bytes()),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().unwrap()
}

#[test]
fn served_margins_equal_an_engine_fed_the_same_events_and_match_the_openapi_document() {
    let start_ts = now();
    let (genesis, events) = fixture(start_ts);
    let svc = start("margins", &genesis);
    let mut read = client(&svc, Some(READ));
    let mut ingest = client(&svc, Some(INGEST));
    let doc = read.get("/openapi.json").unwrap().json().unwrap();
    assert_eq!(client(&svc, None).get("/readyz").unwrap().status, 200);

    let result = post_events(&mut ingest, &events);
    assert_eq!(result["applied"], json!(events.len()), "{result}");
    assert_eq!(result["rejected"], json!([]));
    assert_eq!(result["last_seq"], json!(events.last().unwrap().seq));

    let (mut engine, _) = Engine::new(&genesis, 1).unwrap();
    let mut sink = Vec::new();
    for e in &events {
        engine.apply(e, None, &mut sink);
    }
    let listed = checked(&doc, &mut read, "/v1/accounts?limit=1000");
    assert_eq!(listed["total"], json!(24));
    let rows = listed["accounts"].as_array().unwrap();
    assert_eq!(rows.len(), 24);
    let mut previous = f64::INFINITY;
    for row in rows {
        let id = row["id"].as_str().unwrap();
        let (f, status) = engine.figures_of(id).expect("the test engine margined it");
        assert_eq!(row["equity_usd"].as_f64().unwrap(), f.equity_usd, "{id}");
        assert_eq!(row["mm_usd"].as_f64().unwrap(), f.mm_usd, "{id}");
        assert_eq!(row["im_usd"].as_f64().unwrap(), f.im_usd, "{id}");
        assert_eq!(row["status"], json!(status.name()), "{id}");
        let key = if status.name() == "bankrupt" {
            f64::INFINITY
        } else {
            row["margin_ratio"].as_f64().unwrap_or(f64::NEG_INFINITY)
        };
        assert!(key <= previous, "{id} is out of margin-ratio order");
        previous = key;
    }

    // A deposit moves the account's USDC collateral by exactly its amount, and its equity as the engine says.
    let id = rows[0]["id"].as_str().unwrap().to_owned();
    let before = checked(&doc, &mut read, &format!("/v1/accounts/{id}"));
    let usdc = |d: &Value| {
        d["collateral"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["asset"] == "USDC")
            .map_or(0.0, |c| c["amount"].as_f64().unwrap())
    };
    let deposit =
        json!([{"type": "deposit", "account": id, "asset": "USDC", "amount": 2500}]).to_string();
    let r = ingest
        .post_json("/v1/events", &deposit)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["applied"], json!(1), "{r}");
    let seq = r["last_seq"].as_u64().unwrap();
    assert_eq!(
        seq,
        events.last().unwrap().seq + 1,
        "a missing seq is the next one"
    );
    let after = checked(&doc, &mut read, &format!("/v1/accounts/{id}"));
    assert_eq!(usdc(&after), usdc(&before) + 2500.0);
    let mut mirror: Value = serde_json::from_str(&deposit).unwrap();
    mirror[0]["seq"] = json!(seq);
    mirror[0]["ts"] = json!(after["market_as_of"]);
    let input = rtm2m_engine::parse_input(&mirror[0].to_string()).unwrap();
    engine.apply(&input, None, &mut sink);
    assert_eq!(
        after["margin"]["equity_usd"].as_f64().unwrap(),
        engine.figures_of(&id).unwrap().0.equity_usd
    );
    let report = &after["report"];
    assert!(report.is_object(), "{}", after["report_error"]);
    // The report lists every position, and also collateral held in a grid underlying as a spot line
    // (`BTC_USDC`), which the account's own `positions` do not.
    let reported: Vec<&str> = report["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["instrument"].as_str().unwrap())
        .collect();
    for p in after["positions"].as_array().unwrap() {
        let name = p["instrument"].as_str().unwrap();
        assert!(reported.contains(&name), "{name} missing from {reported:?}");
    }
    let spot_lines = reported
        .iter()
        .filter(|n| n.ends_with("_USDC") && !n.contains('-'))
        .count();
    assert_eq!(
        reported.len(),
        after["positions"].as_array().unwrap().len() + spot_lines
    );
    assert!(!after["heatmaps"].as_array().unwrap().is_empty());

    // The market endpoints describe the chain ingested.
    let marks = checked(&doc, &mut read, "/v1/marks");
    let btc = marks["marks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["underlying"] == "BTC")
        .unwrap();
    assert_eq!(btc["index_usd"].as_f64().unwrap(), 90_000.0);
    let inst = checked(
        &doc,
        &mut read,
        "/v1/instruments?underlying=ETH&kind=option",
    );
    assert!(inst["count"].as_u64().unwrap() > 100);
    assert!(inst["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["underlying"] == "ETH" && i["kind"] == "option"));
    let surf = checked(&doc, &mut read, "/v1/surfaces?underlying=BTC");
    let smile = &surf["surfaces"][0]["expiries"][0];
    assert!(smile["quotes"].as_array().unwrap().len() >= 10);
    let index = checked(&doc, &mut read, "/v1/index");
    assert_eq!(index["index"].as_array().unwrap().len(), 2);
    checked(&doc, &mut read, "/v1/status");
    checked(&doc, &mut read, "/v1/alerts");
    let metrics = String::from_utf8(client(&svc, None).get("/metrics").unwrap().body).unwrap();
    assert!(
        metrics.contains(&format!(
            "rtm2m_events_applied_total{{source=\"api\"}} {}",
            events.len() + 1
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("rtm2m_tick_to_margin_seconds_count 2\n"),
        "two index ticks ingested"
    );
}

#[test]
fn tokens_are_required_and_scoped() {
    let (genesis, events) = fixture(now());
    let svc = start("auth", &genesis);
    post_events(&mut client(&svc, Some(INGEST)), &events);
    let ids: Vec<String> = genesis.accounts.iter().map(|a| a.id.clone()).collect();
    let error_of = |r: &rtm2m_service::client::Response| r.json().unwrap()["error"].clone();

    let r = client(&svc, None).get("/v1/accounts").unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(error_of(&r)["field"], "authorization");
    assert_eq!(
        client(&svc, Some("not-a-token-at-all-xx"))
            .get("/v1/status")
            .unwrap()
            .status,
        401
    );
    assert_eq!(
        client(&svc, None)
            .post_json("/v1/events", "[]")
            .unwrap()
            .status,
        401
    );

    assert_eq!(
        client(&svc, Some(READ))
            .post_json("/v1/events", "[]")
            .unwrap()
            .status,
        403
    );
    assert_eq!(
        client(&svc, Some(INGEST))
            .get("/v1/accounts")
            .unwrap()
            .status,
        403
    );
    let r = client(&svc, Some(READ))
        .post_json(
            "/v1/tokens",
            &json!({"name": "x", "scope": "read"}).to_string(),
        )
        .unwrap();
    assert_eq!(r.status, 403);
    assert!(error_of(&r)["reason"].as_str().unwrap().contains("admin"));

    let mut admin = client(&svc, Some(ADMIN));
    let r = admin
        .post_json(
            "/v1/tokens",
            &json!({"name": "desk", "scope": format!("account:{}", ids[0])}).to_string(),
        )
        .unwrap();
    assert_eq!(r.status, 201);
    let desk = r.json().unwrap()["token"].as_str().unwrap().to_owned();
    let listed = admin.get("/v1/tokens").unwrap().json().unwrap();
    assert!(
        !listed.to_string().contains(&desk),
        "listings never show a token"
    );

    let mut d = client(&svc, Some(&desk));
    assert_eq!(
        d.get(&format!("/v1/accounts/{}", ids[0])).unwrap().status,
        200
    );
    let r = d.get(&format!("/v1/accounts/{}", ids[1])).unwrap();
    assert_eq!(
        r.status, 403,
        "a per-account token cannot read another account"
    );
    assert_eq!(
        d.get("/v1/accounts/no-such-account").unwrap().status,
        403,
        "nor learn which accounts exist"
    );
    let own = d.get("/v1/accounts?limit=100").unwrap().json().unwrap();
    assert_eq!(own["total"], json!(1));
    assert_eq!(own["accounts"][0]["id"], json!(ids[0]));
    assert_eq!(
        d.get("/v1/marks").unwrap().status,
        200,
        "market data is readable"
    );
    assert_eq!(d.post_json("/v1/events", "[]").unwrap().status, 403);
    assert_eq!(d.get("/v1/tokens").unwrap().status, 403);

    assert_eq!(admin.delete("/v1/tokens/desk").unwrap().status, 200);
    assert_eq!(
        d.get(&format!("/v1/accounts/{}", ids[0])).unwrap().status,
        401,
        "a deleted token is refused"
    );
    let r = admin
        .post_json(
            "/v1/tokens",
            &json!({"name": "ghost", "scope": "account:nobody"}).to_string(),
        )
        .unwrap();
    assert_eq!(r.status, 422);
}

#[test]
fn bad_requests_get_a_json_error_naming_the_field_and_the_service_keeps_going() {
    let (genesis, events) = fixture(now());
    let svc = start("bad", &genesis);
    let mut ingest = client(&svc, Some(INGEST));
    post_events(&mut ingest, &events);
    let mut read = client(&svc, Some(READ));
    let doc = read.get("/openapi.json").unwrap().json().unwrap();
    let expect = |r: rtm2m_service::client::Response, status: u16, field: &str| {
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json().unwrap();
        openapi::check(&doc, "Error", &v).unwrap();
        assert_eq!(v["error"]["field"], json!(field), "{v}");
        assert!(!v["error"]["reason"].as_str().unwrap().is_empty());
    };
    expect(
        ingest.post_json("/v1/events", "{not json").unwrap(),
        400,
        "line 1",
    );
    expect(
        ingest.post_json("/v1/events", "[1, 2").unwrap(),
        400,
        "body",
    );
    expect(ingest.post_json("/v1/events", "").unwrap(), 400, "body");
    expect(
        ingest
            .post_json(
                "/v1/events",
                r#"[{"type":"deposit","account":"a","asset":"USDC","amount":"ten"}]"#,
            )
            .unwrap(),
        400,
        "events[0].amount",
    );
    expect(ingest.post_json("/v1/events", r#"[{"type":"fill","account":"a","instrument":"BTC-PERPETUAL","size":0,"price_usd":1}]"#).unwrap(), 400, "events[0].size");
    expect(
        ingest
            .post_json("/v1/events", r#"[{"type":"teleport"}]"#)
            .unwrap(),
        400,
        "events[0].type",
    );
    expect(
        ingest
            .request("POST", "/v1/events", None, Some(&[0xff, 0xfe, 0x00]))
            .unwrap(),
        400,
        "body",
    );
    let many = format!(
        "[{}]",
        vec![r#"{"type":"deposit","account":"a","asset":"USDC","amount":1}"#; 10_001].join(",")
    );
    expect(ingest.post_json("/v1/events", &many).unwrap(), 413, "body");
    expect(read.get("/v1/accounts?limit=lots").unwrap(), 400, "limit");
    expect(read.get("/v1/accounts?status=fine").unwrap(), 400, "status");
    expect(read.get("/v1/instruments?kind=swap").unwrap(), 400, "kind");
    expect(
        read.get("/v1/surfaces?underlying=DOGE").unwrap(),
        404,
        "underlying",
    );
    expect(read.get("/v1/accounts/nobody").unwrap(), 404, "id");
    // Percent-encoded bytes that are not UTF-8 cannot be an account id or a token name: a JSON 400 naming
    // the path segment, as for every other bad request (axum's own rejection would be plain text).
    expect(read.get("/v1/accounts/%ff%fe").unwrap(), 400, "id");
    expect(
        client(&svc, Some(ADMIN))
            .delete("/v1/tokens/%c3%28")
            .unwrap(),
        400,
        "name",
    );
    // Authentication still comes first: no token is a 401 whatever the path.
    assert_eq!(
        client(&svc, None).get("/v1/accounts/%ff").unwrap().status,
        401
    );
    expect(read.get("/v1/nowhere").unwrap(), 404, "path");
    expect(read.delete("/v1/accounts").unwrap(), 405, "method");

    // Well-formed events the engine refuses are listed with their reason; the others are applied.
    let id = &genesis.accounts[0].id;
    let batch = json!([
        {"type": "deposit", "account": "nobody", "asset": "USDC", "amount": 5},
        {"type": "deposit", "account": id, "asset": "USDC", "amount": 5},
        {"type": "withdrawal", "account": id, "asset": "USDC", "amount": 1e12},
        {"type": "deposit", "seq": 1, "account": id, "asset": "USDC", "amount": 5},
    ]);
    let r = ingest.post_json("/v1/events", &batch.to_string()).unwrap();
    assert_eq!(r.status, 200);
    let v = r.json().unwrap();
    openapi::check(&doc, "IngestResult", &v).unwrap();
    assert_eq!(v["applied"], json!(1), "{v}");
    let rejected: Vec<(u64, &str)> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["index"].as_u64().unwrap(), x["field"].as_str().unwrap()))
        .collect();
    assert_eq!(rejected.len(), 3, "{v}");
    assert_eq!(rejected[0].0, 0);
    assert_eq!(rejected[2], (3, "seq"));
    assert_eq!(
        client(&svc, None).get("/healthz").unwrap().status,
        200,
        "still serving"
    );
}
