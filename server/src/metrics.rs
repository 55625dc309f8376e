//! Prometheus metrics, kept by hand: a few counters, one histogram family and
//! gauges do not justify an exporter crate and its dependency tree.
//!
//! Label values come only from matched route templates (never raw paths), so
//! a scanner probing random URLs cannot blow up the number of series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i] += 1;
        }
        self.sum += secs;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Http {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
}

#[derive(Debug)]
pub struct Metrics {
    // A plain mutex: held for a map update, never across an await.
    http: Mutex<Http>,
    open_websockets: AtomicI64,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            http: Mutex::default(),
            open_websockets: AtomicI64::new(0),
            started: Instant::now(),
        }
    }
}

/// Decrements the open-socket gauge when the socket task ends, however it ends.
#[derive(Debug)]
pub struct SocketGuard<'a>(&'a Metrics);

impl Drop for SocketGuard<'_> {
    fn drop(&mut self) {
        self.0.open_websockets.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut http = match self.http.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *http
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        http.latency
            .entry((method.to_owned(), route.to_owned()))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    pub fn socket_opened(&self) -> SocketGuard<'_> {
        self.open_websockets.fetch_add(1, Ordering::Relaxed);
        SocketGuard(self)
    }

    pub fn open_websockets(&self) -> i64 {
        self.open_websockets.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let http = match self.http.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        out.push_str(
            "# HELP jiliang_build_info Build information.\n# TYPE jiliang_build_info gauge\n",
        );
        let _ = writeln!(
            out,
            "jiliang_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out.push_str("# HELP jiliang_uptime_seconds Seconds since the server started.\n# TYPE jiliang_uptime_seconds gauge\n");
        let _ = writeln!(
            out,
            "jiliang_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );
        out.push_str("# HELP jiliang_websocket_connections Open WebSocket connections.\n# TYPE jiliang_websocket_connections gauge\n");
        let _ = writeln!(
            out,
            "jiliang_websocket_connections {}",
            self.open_websockets()
        );

        out.push_str("# HELP jiliang_http_requests_total HTTP requests by method, route and status.\n# TYPE jiliang_http_requests_total counter\n");
        for ((method, route, status), n) in &http.requests {
            let _ = writeln!(
                out,
                "jiliang_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP jiliang_http_request_duration_seconds HTTP request latency.\n# TYPE jiliang_http_request_duration_seconds histogram\n");
        for ((method, route), h) in &http.latency {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, c) in BUCKETS.iter().zip(h.counts) {
                cumulative += c;
                let _ = writeln!(
                    out,
                    "jiliang_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "jiliang_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "jiliang_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "jiliang_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: count and time every request by its route template.
pub async fn track(
    State(metrics): State<std::sync::Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = match req.extensions().get::<MatchedPath>() {
        Some(p) => p.as_str().to_owned(),
        None if req.uri().path().starts_with("/api/") => "/api/(unmatched)".to_owned(),
        None => "(static)".to_owned(),
    };
    let res = next.run(req).await;
    metrics.record_request(&method, &route, res.status().as_u16(), start.elapsed());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.record_request("GET", "/healthz", 200, Duration::from_millis(2));
        m.record_request("GET", "/healthz", 200, Duration::from_millis(30));
        let guard = m.socket_opened();
        let text = m.render();
        assert!(text.contains(
            "jiliang_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "jiliang_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains(
            "jiliang_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("jiliang_websocket_connections 1"));
        drop(guard);
        assert!(m.render().contains("jiliang_websocket_connections 0"));
    }
}
