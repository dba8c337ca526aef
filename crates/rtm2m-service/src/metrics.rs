//! Counters, gauges and histograms, rendered in the Prometheus text exposition format (version 0.0.4) at
//! `/metrics`. Lock-free (atomics); every series is fixed at start except the per-route HTTP series, whose
//! label sets are bounded by the routes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bucket upper bounds, seconds, for latencies from 50 µs to 10 s.
pub const LATENCY_BUCKETS_S: [f64; 17] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// A histogram of durations over [`LATENCY_BUCKETS_S`].
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; LATENCY_BUCKETS_S.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let k = LATENCY_BUCKETS_S
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(LATENCY_BUCKETS_S.len());
        self.counts[k].fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (k, b) in LATENCY_BUCKETS_S.iter().enumerate() {
            cumulative += self.counts[k].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        cumulative += self.counts[LATENCY_BUCKETS_S.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// Events per second over a sliding window of whole seconds.
#[derive(Debug)]
struct RateWindow {
    start: Instant,
    /// (second since start, events in it), the last `WINDOW_S` seconds.
    slots: Mutex<Vec<(u64, u64)>>,
}

const WINDOW_S: u64 = 10;

impl RateWindow {
    fn add(&self, n: u64) {
        let now = self.start.elapsed().as_secs();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        match slots.last_mut() {
            Some((s, c)) if *s == now => *c += n,
            _ => slots.push((now, n)),
        }
        slots.retain(|(s, _)| s + WINDOW_S > now);
    }

    fn per_second(&self) -> f64 {
        let now = self.start.elapsed().as_secs();
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // The current second is partial: average over the complete seconds of the window.
        let full: u64 = slots
            .iter()
            .filter(|(s, _)| *s < now && s + WINDOW_S > now)
            .map(|x| x.1)
            .sum();
        let span = now.clamp(1, WINDOW_S - 1);
        full as f64 / span as f64
    }
}

/// The status names counted by `rtm2m_accounts`.
pub const STATUSES: [&str; 5] = [
    "healthy",
    "margin_call",
    "liquidatable",
    "bankrupt",
    "unpriced",
];

/// Every metric of the service.
#[derive(Debug)]
pub struct Metrics {
    /// From an index tick reaching the service to the margins it moved being published, seconds.
    pub tick_to_margin: Histogram,
    /// From a journal batch being handed over to its `fdatasync` returning, seconds.
    pub journal_commit: Histogram,
    /// Inputs applied, by source (`api`, `simulator`, `replay`).
    applied: [AtomicU64; 3],
    /// Inputs rejected by the engine.
    pub rejected: AtomicU64,
    /// Output events published.
    pub outputs: AtomicU64,
    /// Liquidation alerts published.
    pub alerts: AtomicU64,
    rate: RateWindow,
    /// Accounts per status, in [`STATUSES`] order.
    pub accounts_by_status: [AtomicU64; 5],
    /// When each underlying's surface last received an option quote.
    staleness: Mutex<BTreeMap<String, Instant>>,
    /// WebSocket clients connected.
    pub ws_clients: AtomicU64,
    /// WebSocket messages dropped because a client lagged.
    pub ws_lagged: AtomicU64,
    http: Mutex<BTreeMap<(String, u16), u64>>,
    http_latency: Mutex<BTreeMap<String, std::sync::Arc<Histogram>>>,
    /// Commands waiting for the writer.
    pub queue_depth: AtomicU64,
    /// Last applied seq.
    pub last_seq: AtomicU64,
}

/// Where applied inputs came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `POST /v1/events`.
    Api,
    /// The embedded simulator.
    Simulator,
    /// A replayed file or folder.
    Replay,
}

impl Source {
    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Simulator => "simulator",
            Source::Replay => "replay",
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            tick_to_margin: Histogram::default(),
            journal_commit: Histogram::default(),
            applied: Default::default(),
            rejected: AtomicU64::new(0),
            outputs: AtomicU64::new(0),
            alerts: AtomicU64::new(0),
            rate: RateWindow {
                start: Instant::now(),
                slots: Mutex::new(Vec::new()),
            },
            accounts_by_status: Default::default(),
            staleness: Mutex::new(BTreeMap::new()),
            ws_clients: AtomicU64::new(0),
            ws_lagged: AtomicU64::new(0),
            http: Mutex::new(BTreeMap::new()),
            http_latency: Mutex::new(BTreeMap::new()),
            queue_depth: AtomicU64::new(0),
            last_seq: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts `n` applied inputs from `source`.
    pub fn applied(&self, source: Source, n: u64) {
        self.applied[source as usize].fetch_add(n, Ordering::Relaxed);
        self.rate.add(n);
    }

    /// Applied inputs from `source` so far.
    pub fn applied_total(&self, source: Source) -> u64 {
        self.applied[source as usize].load(Ordering::Relaxed)
    }

    /// Applied inputs per second over the last 10 s.
    pub fn events_per_second(&self) -> f64 {
        self.rate.per_second()
    }

    /// Records that `underlying`'s surface received option quotes at `at`.
    pub fn surface_quoted(&self, underlying: &str, at: Instant) {
        let mut m = self.staleness.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(underlying) {
            Some(t) => *t = at,
            None => {
                m.insert(underlying.to_owned(), at);
            }
        }
    }

    /// Records one HTTP request on `route` (the route pattern, not the path) with its status and latency.
    pub fn http(&self, route: &str, status: u16, latency: Duration) {
        *self
            .http
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route.to_owned(), status))
            .or_insert(0) += 1;
        let h = {
            let mut m = self.http_latency.lock().unwrap_or_else(|p| p.into_inner());
            match m.get(route) {
                Some(h) => h.clone(),
                None => m.entry(route.to_owned()).or_default().clone(),
            }
        };
        h.observe(latency);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(8192);
        o.push_str("# HELP rtm2m_tick_to_margin_seconds From an index tick reaching the service to the margins it moved being published.\n# TYPE rtm2m_tick_to_margin_seconds histogram\n");
        self.tick_to_margin
            .render(&mut o, "rtm2m_tick_to_margin_seconds", "");
        o.push_str("# HELP rtm2m_journal_commit_seconds From a batch of applied inputs handed to the journal to its fdatasync returning.\n# TYPE rtm2m_journal_commit_seconds histogram\n");
        self.journal_commit
            .render(&mut o, "rtm2m_journal_commit_seconds", "");
        o.push_str("# HELP rtm2m_events_applied_total Input events applied by the engine, by source.\n# TYPE rtm2m_events_applied_total counter\n");
        for s in [Source::Api, Source::Simulator, Source::Replay] {
            let _ = writeln!(
                o,
                "rtm2m_events_applied_total{{source=\"{}\"}} {}",
                s.name(),
                self.applied_total(s)
            );
        }
        let _ = writeln!(o, "# HELP rtm2m_events_rejected_total Input events the engine rejected.\n# TYPE rtm2m_events_rejected_total counter\nrtm2m_events_rejected_total {}", self.rejected.load(Ordering::Relaxed));
        let _ = writeln!(o, "# HELP rtm2m_events_per_second Input events applied per second, over the last 10 s.\n# TYPE rtm2m_events_per_second gauge\nrtm2m_events_per_second {}", self.events_per_second());
        let _ = writeln!(o, "# HELP rtm2m_outputs_total Output events published.\n# TYPE rtm2m_outputs_total counter\nrtm2m_outputs_total {}", self.outputs.load(Ordering::Relaxed));
        let _ = writeln!(o, "# HELP rtm2m_liquidation_alerts_total Liquidation alerts published.\n# TYPE rtm2m_liquidation_alerts_total counter\nrtm2m_liquidation_alerts_total {}", self.alerts.load(Ordering::Relaxed));
        o.push_str("# HELP rtm2m_accounts Accounts by status.\n# TYPE rtm2m_accounts gauge\n");
        for (k, s) in STATUSES.iter().enumerate() {
            let _ = writeln!(
                o,
                "rtm2m_accounts{{status=\"{s}\"}} {}",
                self.accounts_by_status[k].load(Ordering::Relaxed)
            );
        }
        o.push_str("# HELP rtm2m_surface_staleness_seconds Seconds since the underlying's last option quote.\n# TYPE rtm2m_surface_staleness_seconds gauge\n");
        for (u, at) in self
            .staleness
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let s = at.elapsed().as_secs_f64();
            let _ = writeln!(
                o,
                "rtm2m_surface_staleness_seconds{{underlying=\"{u}\"}} {s}"
            );
        }
        let _ = writeln!(o, "# HELP rtm2m_ws_clients WebSocket clients connected.\n# TYPE rtm2m_ws_clients gauge\nrtm2m_ws_clients {}", self.ws_clients.load(Ordering::Relaxed));
        let _ = writeln!(o, "# HELP rtm2m_ws_lagged_total WebSocket batches skipped for clients that fell behind.\n# TYPE rtm2m_ws_lagged_total counter\nrtm2m_ws_lagged_total {}", self.ws_lagged.load(Ordering::Relaxed));
        let _ = writeln!(o, "# HELP rtm2m_writer_queue_depth Commands waiting for the engine's writer.\n# TYPE rtm2m_writer_queue_depth gauge\nrtm2m_writer_queue_depth {}", self.queue_depth.load(Ordering::Relaxed));
        let _ = writeln!(o, "# HELP rtm2m_last_seq The last applied input seq.\n# TYPE rtm2m_last_seq gauge\nrtm2m_last_seq {}", self.last_seq.load(Ordering::Relaxed));
        o.push_str("# HELP rtm2m_http_requests_total HTTP requests by route and status.\n# TYPE rtm2m_http_requests_total counter\n");
        for ((route, status), n) in self.http.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                o,
                "rtm2m_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        o.push_str("# HELP rtm2m_http_request_duration_seconds HTTP request latency by route.\n# TYPE rtm2m_http_request_duration_seconds histogram\n");
        for (route, h) in self
            .http_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            h.render(
                &mut o,
                "rtm2m_http_request_duration_seconds",
                &format!("route=\"{route}\""),
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_count_every_observation() {
        let m = Metrics::default();
        m.tick_to_margin.observe(Duration::from_micros(30));
        m.tick_to_margin.observe(Duration::from_millis(3));
        m.tick_to_margin.observe(Duration::from_secs(20));
        let text = m.render();
        assert!(text.contains("rtm2m_tick_to_margin_seconds_bucket{le=\"0.00005\"} 1\n"));
        assert!(text.contains("rtm2m_tick_to_margin_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("rtm2m_tick_to_margin_seconds_bucket{le=\"10\"} 2\n"));
        assert!(text.contains("rtm2m_tick_to_margin_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("rtm2m_tick_to_margin_seconds_count 3\n"));
        m.http("/v1/accounts", 200, Duration::from_millis(1));
        let text = m.render();
        assert!(text.contains("rtm2m_http_requests_total{route=\"/v1/accounts\",status=\"200\"} 1"));
        assert!(
            text.contains("rtm2m_http_request_duration_seconds_count{route=\"/v1/accounts\"} 1")
        );
    }
}
