//! Prometheus metrics without a metrics framework: request counts by route,
//! method and status class, a latency histogram per route, and sign-in outcomes.
//! Route entries are created once and then updated with atomics only.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

const BUCKETS_US: [u64; 12] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

#[derive(Default)]
struct RouteStats {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS_US.len()],
    sum_us: AtomicU64,
    count: AtomicU64,
}

/// Sign-in outcomes counted by the sign-in handler.
#[derive(Clone, Copy)]
pub enum SignIn {
    Success,
    Failure,
    Blocked,
}

/// Routes are few (tens), so a vector searched without allocating beats a map keyed by owned strings.
#[derive(Default)]
pub struct Metrics {
    routes: RwLock<Vec<(String, String, Arc<RouteStats>)>>,
    sign_in: [AtomicU64; 3],
}

impl Metrics {
    fn stats(&self, method: &str, route: &str) -> Arc<RouteStats> {
        let find = |v: &Vec<(String, String, Arc<RouteStats>)>| v.iter().find(|(m, r, _)| m == method && r == route).map(|e| e.2.clone());
        if let Some(s) = find(&self.routes.read().unwrap_or_else(std::sync::PoisonError::into_inner)) {
            return s;
        }
        let mut v = self.routes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = find(&v) {
            return s;
        }
        let s = Arc::new(RouteStats::default());
        v.push((method.to_owned(), route.to_owned(), s.clone()));
        s
    }

    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let stats = self.stats(method, route);
        let class = ((status / 100).clamp(1, 5) - 1) as usize;
        if let Some(c) = stats.by_class.get(class) {
            c.fetch_add(1, Relaxed);
        }
        // One bucket per request; `render` makes them cumulative.
        let us = elapsed.as_micros() as u64;
        if let Some(bucket) = BUCKETS_US.iter().position(|b| us <= *b).and_then(|i| stats.buckets.get(i)) {
            bucket.fetch_add(1, Relaxed);
        }
        stats.sum_us.fetch_add(us, Relaxed);
        stats.count.fetch_add(1, Relaxed);
    }

    pub fn sign_in(&self, outcome: SignIn) {
        if let Some(c) = self.sign_in.get(outcome as usize) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut rows: Vec<(String, String, Arc<RouteStats>)> = self.routes.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        rows.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        out.push_str("# HELP kavach_http_requests_total HTTP requests by route, method and status class.\n# TYPE kavach_http_requests_total counter\n");
        for (m, r, s) in &rows {
            let k = (m, r);
            for (i, c) in s.by_class.iter().enumerate() {
                let n = c.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(out, "kavach_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}xx\"}} {n}", k.0, esc(k.1), i + 1);
                }
            }
        }
        out.push_str("# HELP kavach_http_request_duration_seconds HTTP request latency by route.\n# TYPE kavach_http_request_duration_seconds histogram\n");
        for (m, r, s) in &rows {
            let k = (m, r);
            let labels = format!("method=\"{}\",route=\"{}\"", k.0, esc(k.1));
            let mut cumulative = 0;
            for (b, n) in BUCKETS_US.iter().zip(&s.buckets) {
                cumulative += n.load(Relaxed);
                let _ = writeln!(out, "kavach_http_request_duration_seconds_bucket{{{labels},le=\"{}\"}} {cumulative}", *b as f64 / 1e6);
            }
            let count = s.count.load(Relaxed);
            let _ = writeln!(out, "kavach_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "kavach_http_request_duration_seconds_sum{{{labels}}} {}", s.sum_us.load(Relaxed) as f64 / 1e6);
            let _ = writeln!(out, "kavach_http_request_duration_seconds_count{{{labels}}} {count}");
        }
        out.push_str("# HELP kavach_sign_in_total Email and password sign-in attempts by outcome.\n# TYPE kavach_sign_in_total counter\n");
        for (name, n) in ["success", "failure", "blocked"].iter().zip(&self.sign_in) {
            let _ = writeln!(out, "kavach_sign_in_total{{outcome=\"{name}\"}} {}", n.load(Relaxed));
        }
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
