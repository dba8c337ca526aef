//! The load benchmark behind `rtm2m bench serve`: starts the service in process (simulator on, so the
//! engine is also re-marking), then for `seconds` posts `rate` events per second over HTTP on loopback in
//! batches (deposits and perpetual fills on the population's accounts, `seq` and `ts` left to the service)
//! from four open-loop senders, while two readers poll the accounts list and an account's detail. Reports
//! the events applied, the HTTP errors and the latency percentiles of every request. Not a timed test: a
//! measurement to run by hand.

use crate::client::Client;
use crate::config::ServiceConfig;
use crate::error::ServiceError;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Events per second offered.
    pub rate: u64,
    /// Seconds of load.
    pub seconds: u64,
    /// Events per request.
    pub batch: usize,
    /// Sending threads.
    pub senders: usize,
    /// The service's configuration (listen address is forced to 127.0.0.1:0).
    pub service: ServiceConfig,
}

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Name of the benchmark.
    pub name: &'static str,
    /// Events offered per second.
    pub rate: u64,
    /// Seconds of load.
    pub seconds: f64,
    /// Events posted.
    pub events_sent: u64,
    /// Events the engine applied.
    pub events_applied: u64,
    /// Events the engine rejected.
    pub events_rejected: u64,
    /// Requests that failed or got a non-2xx status.
    pub http_errors: u64,
    /// Events applied per second.
    pub events_per_second: f64,
    /// Ingest requests.
    pub ingest_requests: u64,
    /// Read requests.
    pub read_requests: u64,
    /// Ingest latency, milliseconds.
    pub ingest_p50_ms: f64,
    /// Ingest latency, milliseconds.
    pub ingest_p99_ms: f64,
    /// Read latency, milliseconds.
    pub read_p50_ms: f64,
    /// Read latency, milliseconds.
    pub read_p99_ms: f64,
    /// Every request, 99th percentile, milliseconds.
    pub api_p99_ms: f64,
    /// Every request, maximum, milliseconds.
    pub api_max_ms: f64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[k]
}

/// Runs the benchmark.
pub fn run(opts: BenchOptions) -> Result<BenchReport, ServiceError> {
    if opts.rate == 0 || opts.seconds == 0 || opts.batch == 0 || opts.senders == 0 {
        return Err(ServiceError::Client(
            "rate, seconds, batch and senders must be at least 1".into(),
        ));
    }
    let mut cfg = opts.service.clone();
    cfg.listen = "127.0.0.1:0".into();
    cfg.tokens_from_env = false;
    let admin = crate::auth::new_token();
    cfg.tokens = vec![crate::config::TokenConfig {
        name: "bench".into(),
        scope: "admin".into(),
        sha256: crate::auth::hex(&crate::auth::hash_token(&admin)),
    }];
    let running = crate::server::start(cfg, false)?;
    let addr = running.addr;
    let mut probe = Client::new(addr, Some(&admin));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if probe.get("/readyz")?.status == 200 {
            break;
        }
        if Instant::now() > deadline {
            return Err(ServiceError::Client(
                "the service was not ready within 120 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ids: Vec<String> = probe.get("/v1/accounts?limit=10000")?.json()?["accounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(ServiceError::Client("the service has no account".into()));
    }
    let marks = probe.get("/v1/marks")?.json()?;
    let btc = marks["marks"]
        .as_array()
        .and_then(|m| m.iter().find(|x| x["underlying"] == "BTC"))
        .and_then(|m| m["index_usd"].as_f64())
        .unwrap_or(90_000.0);
    let ids = Arc::new(ids);
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let per_sender = opts.rate as f64 / opts.senders as f64;
    let interval = Duration::from_secs_f64(opts.batch as f64 / per_sender);
    let requests = (opts.seconds as f64 * per_sender / opts.batch as f64).ceil() as u64;
    let mut senders = Vec::new();
    for s in 0..opts.senders {
        let (ids, admin, batch) = (ids.clone(), admin.clone(), opts.batch);
        senders.push(std::thread::spawn(move || {
            let mut c = Client::new(addr, Some(&admin));
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s as u64);
            let mut lat = Vec::with_capacity(requests as usize);
            let (mut sent, mut applied, mut rejected, mut errors) = (0u64, 0u64, 0u64, 0u64);
            let start = Instant::now() + interval.mul_f64(s as f64 / 4.0);
            for k in 0..requests {
                let due = start + interval.mul_f64(k as f64);
                if let Some(w) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(w);
                }
                let mut body = String::with_capacity(batch * 100);
                body.push('[');
                for e in 0..batch {
                    if e > 0 {
                        body.push(',');
                    }
                    let a = &ids[rng.random_range(0..ids.len())];
                    if rng.random_bool(0.5) {
                        body.push_str(&format!(r#"{{"type":"deposit","account":"{a}","asset":"USDC","amount":{}}}"#, rng.random_range(1..500)));
                    } else {
                        let size = if rng.random_bool(0.5) { 0.01 } else { -0.01 };
                        body.push_str(&format!(r#"{{"type":"fill","account":"{a}","instrument":"BTC-PERPETUAL","size":{size},"price_usd":{:.2},"fee_usd":0.1}}"#, btc * (1.0 + 0.001 * (rng.random::<f64>() - 0.5))));
                    }
                }
                body.push(']');
                let t = Instant::now();
                let r = c.post_json("/v1/events", &body);
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                sent += batch as u64;
                match r.and_then(|r| if r.status == 200 { r.json() } else { Err(ServiceError::Client(format!("status {}", r.status))) }) {
                    Ok(v) => {
                        applied += v["applied"].as_u64().unwrap_or(0);
                        rejected += v["rejected"].as_array().map_or(0, |x| x.len() as u64);
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, sent, applied, rejected, errors)
        }));
    }
    let mut readers = Vec::new();
    for r in 0..2 {
        let (ids, admin, stop) = (ids.clone(), admin.clone(), stop.clone());
        readers.push(std::thread::spawn(move || {
            let mut c = Client::new(addr, Some(&admin));
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let path = if r == 0 {
                    "/v1/accounts?limit=50".to_owned()
                } else {
                    format!("/v1/accounts/{}", ids[k % ids.len()])
                };
                k += 1;
                let t = Instant::now();
                match c.get(&path) {
                    Ok(x) if x.status == 200 => {}
                    _ => errors += 1,
                }
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                std::thread::sleep(Duration::from_millis(20));
            }
            (lat, errors)
        }));
    }
    let (mut ingest, mut sent, mut applied, mut rejected, mut errors) = (Vec::new(), 0, 0, 0, 0);
    for h in senders {
        let (l, s, a, r, e) = h
            .join()
            .map_err(|_| ServiceError::Client("a sender thread panicked".into()))?;
        ingest.extend(l);
        sent += s;
        applied += a;
        rejected += r;
        errors += e;
    }
    let seconds = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut read = Vec::new();
    for h in readers {
        let (l, e) = h
            .join()
            .map_err(|_| ServiceError::Client("a reader thread panicked".into()))?;
        read.extend(l);
        errors += e;
    }
    running.stop();
    let sort = |v: &mut Vec<f64>| v.sort_by(f64::total_cmp);
    sort(&mut ingest);
    sort(&mut read);
    let mut all: Vec<f64> = ingest.iter().chain(read.iter()).copied().collect();
    sort(&mut all);
    Ok(BenchReport {
        name: "serve",
        rate: opts.rate,
        seconds,
        events_sent: sent,
        events_applied: applied,
        events_rejected: rejected,
        http_errors: errors,
        events_per_second: applied as f64 / seconds,
        ingest_requests: ingest.len() as u64,
        read_requests: read.len() as u64,
        ingest_p50_ms: pct(&ingest, 0.5),
        ingest_p99_ms: pct(&ingest, 0.99),
        read_p50_ms: pct(&read, 0.5),
        read_p99_ms: pct(&read, 0.99),
        api_p99_ms: pct(&all, 0.99),
        api_max_ms: all.last().copied().unwrap_or(0.0),
    })
}
