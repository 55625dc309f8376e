//! Prometheus metrics: one registry per server instance, rendered in the
//! Prometheus text format (0.0.4) at `/metrics`.
//!
//! # Layout
//! - [`Metrics`]: the registry, the HTTP and socket instruments, the
//!   request-tracking middleware [`track`] and [`Metrics::render`].
//! - [`StoreMetrics`], [`RoomMetrics`], [`BusMetrics`]: instruments the store,
//!   the room hub and the bus each create and update themselves; [`Metrics`]
//!   only registers them, so no component reaches into another for a metric.
//! - [`Sampled`]: figures read at scrape time (pool, queues, ledger) and
//!   rendered alongside the registry, never stored.
//!
//! Every metric name, help text and label set is declared in this file:
//! the list in `docs/OPERATIONS.md` ("Metrics") is made from it.
//!
//! # Label bounds
//! No label value comes from a request as sent: routes are matched
//! templates (`/api/(unmatched)` and `(static)` otherwise), methods outside
//! the standard nine are `other`, close codes outside the ones the server
//! sends are `other`, store operations are names written in the store's
//! source, queues are a closed list. The one per-room label (`session` on
//! [`RoomMetrics`]) exists only while the room is open on this node, is
//! removed when it closes, and at most [`MAX_ROOM_SERIES`] rooms have one at
//! a time; further rooms count under `session="other"`. A scanner or a
//! crowd can therefore never grow the number of series without bound.
//!
//! This module must never hold a lock across an `.await` nor read the
//! database or the network: scrape-time figures are gathered by the caller
//! (`http::ops`) and handed in.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use uuid::Uuid;

use crate::media::MediaGauges;

/// The `Content-Type` of what [`Metrics::render`] returns.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// At most this many rooms have their own `session` label at once; the
/// rest of the open rooms count under `session="other"`. A node serving more
/// rooms than this is better watched through the node-wide figures.
pub const MAX_ROOM_SERIES: usize = 500;

/// HTTP latency buckets, in seconds (unchanged since the hand-made exporter).
const HTTP_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Database operations: an indexed read on SQLite takes tens of
/// microseconds, a batched fsync'd commit a few milliseconds.
const QUERY_BUCKETS: [f64; 13] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];
/// Fan-out lag: milliseconds normally; the gap fill waits 150 ms and the
/// stored-log check runs every second, so an event lost on the bus shows
/// up between 0.1 s and a few seconds.
const LAG_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

fn query_histogram() -> Histogram {
    Histogram::new(QUERY_BUCKETS)
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    op: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    session: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: &'static str,
}

/// `layer` of `jiliang_media_forwarded_layer`: `low` or `high`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MediaLayerLabels {
    pub layer: &'static str,
}

/// `kind` of `jiliang_media_feedback`: a closed list named in the SFU's
/// source (`receiver_report`, `remb`, `twcc`, `nack`, `keyframe_request`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MediaFeedbackLabels {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// The method label: the standard methods by name, anything else `other`.
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The close-code label: the codes room sockets are closed with, `peer`
/// when the client closed or the connection dropped, anything else `other`.
pub fn close_code_label(code: Option<u16>) -> &'static str {
    use jiliang_protocol::rooms::{CLOSE_GONE, CLOSE_RESUME, CLOSE_UNAUTHENTICATED, CLOSE_VERSION};
    match code {
        None => "peer",
        Some(1000) => "1000",
        Some(1001) => "1001",
        Some(1008) => "1008",
        Some(1009) => "1009",
        Some(1011) => "1011",
        Some(CLOSE_RESUME) => "4000",
        Some(CLOSE_GONE) => "4001",
        Some(CLOSE_UNAUTHENTICATED) => "4002",
        Some(CLOSE_VERSION) => "4003",
        Some(_) => "other",
    }
}

/// Query latency, timed around every database operation of the store.
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    queries: HistogramFamily<QueryLabels>,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            queries: Family::new_with_constructor(query_histogram),
        }
    }
}

impl StoreMetrics {
    /// Time one operation until the returned guard drops (on every path out,
    /// errors included). `op` names the operation in the store's source.
    pub fn time(&self, op: &'static str) -> QueryTimer<'_> {
        QueryTimer {
            metrics: self,
            op,
            start: Instant::now(),
        }
    }
}

/// See [`StoreMetrics::time`].
#[derive(Debug)]
pub struct QueryTimer<'a> {
    metrics: &'a StoreMetrics,
    op: &'static str,
    start: Instant,
}

impl Drop for QueryTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .queries
            .get_or_create(&QueryLabels { op: self.op })
            .observe(self.start.elapsed().as_secs_f64());
    }
}

/// Events delivered by each room open on this node.
#[derive(Debug, Clone, Default)]
pub struct RoomMetrics {
    events: Family<SessionLabels, Counter>,
    /// Rooms holding their own `session` series (at most [`MAX_ROOM_SERIES`]).
    own_series: Arc<AtomicUsize>,
}

/// One open room's event counter. The hub creates it when the room opens and
/// hands it back to [`RoomMetrics::room_closed`] when it closes.
#[derive(Debug)]
pub struct RoomEvents {
    counter: Counter,
    /// `None` when the room counts under `session="other"`.
    own: Option<SessionLabels>,
}

impl RoomEvents {
    pub fn delivered(&self, n: u64) {
        self.counter.inc_by(n);
    }
}

impl RoomMetrics {
    /// The counter of a room opening on this node. Call under the lock that
    /// also closes rooms, so a room closing and the same room reopening
    /// cannot interleave.
    pub fn room_opened(&self, session: Uuid) -> RoomEvents {
        let claimed = self
            .own_series
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_ROOM_SERIES).then_some(n + 1)
            })
            .is_ok();
        let labels = SessionLabels {
            session: if claimed {
                session.to_string()
            } else {
                "other".to_owned()
            },
        };
        RoomEvents {
            counter: self.events.get_or_create_owned(&labels),
            own: claimed.then_some(labels),
        }
    }

    /// The room closed on this node: its series goes (rate() sees a new
    /// series if it opens again).
    pub fn room_closed(&self, room: &RoomEvents) {
        if let Some(labels) = &room.own {
            self.events.remove(labels);
            self.own_series.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The bus's messages not handed to NATS.
#[derive(Debug, Clone, Default)]
pub struct BusMetrics {
    dropped: Counter,
}

impl BusMetrics {
    pub fn dropped_one(&self) -> u64 {
        self.dropped.inc() + 1
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }
}

/// A bounded queue, as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Appends waiting for the room log writer.
    RoomLog,
    /// Messages waiting for the NATS publisher.
    BusPublish,
    /// Events buffered for the slowest connection of the most backed-up
    /// room on this node; at capacity that connection is told to resume.
    RoomFanout,
}

impl Queue {
    fn label(self) -> &'static str {
        match self {
            Self::RoomLog => "room_log",
            Self::BusPublish => "bus_publish",
            Self::RoomFanout => "room_fanout",
        }
    }
}

/// One queue's depth at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct QueueDepth {
    pub queue: Queue,
    pub depth: usize,
    pub capacity: usize,
}

/// Figures read when `/metrics` is scraped.
#[derive(Debug, Clone, Default)]
pub struct Sampled {
    pub rooms_open: usize,
    pub queues: Vec<QueueDepth>,
    pub db_connections_in_use: u32,
    pub db_connections_idle: u32,
    pub db_connections_max: u32,
    /// Leaves appended but not yet covered by a signed head.
    pub ledger_unsigned_leaves: u64,
    /// Seconds since the latest signed head's timestamp; `None` before
    /// the first head.
    pub ledger_head_age_seconds: Option<f64>,
    /// Tasks alive on the server's tokio runtime: a leak of spawned tasks
    /// (per connection, per room) shows here long before memory does.
    pub tokio_alive_tasks: usize,
}

/// This server's registry and the instruments it owns.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_latency: HistogramFamily<RouteLabels>,
    websockets: Gauge,
    http_connections: Gauge,
    socket_closes: Family<CloseLabels, Counter>,
    fanout_lag: Histogram,
    agents: Gauge,
    media: MediaGauges,
    readings_stored: Counter,
    reading_duplicates: Counter,
    batches_refused: Family<RefusalLabels, Counter>,
    started: Instant,
}

/// Keeps the open-socket gauge up while the socket task runs, however it ends.
#[derive(Debug)]
pub struct SocketGuard(Gauge);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// A registry with this server's own instruments and those the store,
    /// the hub and the bus keep.
    pub fn new(store: &StoreMetrics, rooms: &RoomMetrics, bus: &BusMetrics) -> Self {
        let mut registry = Registry::default();
        registry.register(
            "jiliang_build",
            "Build information",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "jiliang_http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        let http_latency: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(http_histogram);
        registry.register(
            "jiliang_http_request_duration_seconds",
            "HTTP request latency",
            http_latency.clone(),
        );
        let websockets = Gauge::default();
        registry.register(
            "jiliang_websocket_connections",
            "Open WebSocket connections",
            websockets.clone(),
        );
        let http_connections = Gauge::default();
        registry.register(
            "jiliang_http_connections",
            "Open client connections (HTTP and upgraded sockets) against --max-connections",
            http_connections.clone(),
        );
        let socket_closes = Family::<CloseLabels, Counter>::default();
        registry.register(
            "jiliang_room_socket_closes",
            "Room sockets ended, by the close code the server sent (peer: the client closed or the connection dropped)",
            socket_closes.clone(),
        );
        let fanout_lag = Histogram::new(LAG_BUCKETS);
        registry.register(
            "jiliang_room_fanout_lag_seconds",
            "From an event being stored to its being written to a connection's socket on this node, per live delivery",
            fanout_lag.clone(),
        );
        registry.register(
            "jiliang_room_events",
            "Events delivered to a room open on this node, by session (rooms beyond the per-room series limit count as other)",
            rooms.events.clone(),
        );
        registry.register(
            "jiliang_db_query_duration_seconds",
            "Database operations of the store, by operation",
            store.queries.clone(),
        );
        registry.register(
            "jiliang_bus_dropped",
            "Room messages not handed to NATS because its queue was full (other nodes read them from the database)",
            bus.dropped.clone(),
        );
        let agents = Gauge::default();
        registry.register(
            "jiliang_agent_connections",
            "Instrument agents connected to this node (agent sockets after hello)",
            agents.clone(),
        );
        let media = MediaGauges::default();
        registry.register(
            "jiliang_media_peer_connections",
            "WebRTC peer connections open on this node (one per connection with media)",
            media.peers.clone(),
        );
        registry.register(
            "jiliang_media_tracks",
            "Tracks published on this node (received and forwarded to the room)",
            media.tracks.clone(),
        );
        registry.register(
            "jiliang_media_forwarded_tracks",
            "Tracks this node forwards to subscribers (one per published track and receiving connection)",
            media.forwarded.clone(),
        );
        registry.register(
            "jiliang_media_tasks",
            "Tasks of the SFU alive on this node (per peer connection, received track and forwarded track)",
            media.tasks.clone(),
        );
        registry.register(
            "jiliang_media_forwarded_layer",
            "Simulcast video tracks forwarded to subscribers, by the layer each subscriber gets now (chosen from its own feedback)",
            media.layers.clone(),
        );
        registry.register(
            "jiliang_media_feedback",
            "RTCP feedback received from subscribers' browsers, by kind (reception report blocks, REMB, transport-wide CC, NACK, keyframe requests)",
            media.feedback.clone(),
        );
        let readings_stored = Counter::default();
        registry.register(
            "jiliang_readings_stored",
            "Instrument readings stored by this node (agent uploads and manual entries)",
            readings_stored.clone(),
        );
        let reading_duplicates = Counter::default();
        registry.register(
            "jiliang_reading_duplicates",
            "Readings sent again that were already stored (acknowledged, not stored twice)",
            reading_duplicates.clone(),
        );
        let batches_refused = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "jiliang_reading_batches_refused",
            "Batches of readings refused whole, by reason (invalid, token, unavailable)",
            batches_refused.clone(),
        );
        Self {
            agents,
            media,
            readings_stored,
            reading_duplicates,
            batches_refused,
            registry,
            http_requests,
            http_latency,
            websockets,
            http_connections,
            socket_closes,
            fanout_lag,
            started: Instant::now(),
        }
    }

    pub fn record_request(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        self.http_requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_latency
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn socket_opened(&self) -> SocketGuard {
        self.websockets.inc();
        SocketGuard(self.websockets.clone())
    }

    /// An agent connection was welcomed; the gauge drops when the guard does.
    pub fn agent_connected(&self) -> SocketGuard {
        self.agents.inc();
        SocketGuard(self.agents.clone())
    }

    /// A batch was stored: `stored` new readings, `duplicates` already held.
    pub fn readings(&self, stored: u64, duplicates: u64) {
        self.readings_stored.inc_by(stored);
        self.reading_duplicates.inc_by(duplicates);
    }

    /// A batch was refused whole: `invalid`, `token` or `unavailable`.
    pub fn batch_refused(&self, reason: &'static str) {
        self.batches_refused
            .get_or_create(&RefusalLabels { reason })
            .inc();
    }

    /// The open-connections gauge the listener keeps.
    pub fn connections(&self) -> Gauge {
        self.http_connections.clone()
    }

    /// The gauges the SFU keeps.
    pub fn media_gauges(&self) -> MediaGauges {
        self.media.clone()
    }

    pub fn open_websockets(&self) -> i64 {
        self.websockets.get()
    }

    /// A room socket ended; `code` is the close code the server sent, `None`
    /// when the client closed or the connection dropped.
    pub fn room_socket_closed(&self, code: Option<u16>) {
        self.socket_closes
            .get_or_create(&CloseLabels {
                code: close_code_label(code),
            })
            .inc();
    }

    /// A live event written to a connection, `stored_at` being the event's
    /// own timestamp (set in the transaction that stored it). Clocks of
    /// different nodes may disagree slightly; a negative lag counts as 0.
    pub fn observe_fanout(&self, stored_at: time::OffsetDateTime) {
        let lag = (crate::clock::now() - stored_at).as_seconds_f64().max(0.0);
        self.fanout_lag.observe(lag);
    }

    /// The Prometheus text exposition format, version 0.0.4: the registry,
    /// then the figures sampled for this scrape.
    pub fn render(&self, sampled: &Sampled) -> String {
        let mut out = String::with_capacity(8192);
        let scrape = scrape_registry(self.started.elapsed(), sampled);
        for registry in [&self.registry, &scrape] {
            // Writing into a String cannot fail; an encoder error would be a
            // bug in a label type, and a partial page is still worth serving.
            if let Err(e) = prometheus_text::encode(&mut out, registry) {
                tracing::error!(error = %e, "cannot encode metrics");
            }
        }
        out
    }
}

/// The figures of one scrape, in a registry of their own: nothing sampled is
/// kept between scrapes, so two concurrent scrapes cannot mix.
fn scrape_registry(uptime: Duration, s: &Sampled) -> Registry {
    let mut r = Registry::default();
    r.register(
        "jiliang_uptime_seconds",
        "Seconds since the server started",
        ConstGauge::new(uptime.as_secs_f64()),
    );
    r.register(
        "jiliang_rooms_open",
        "Rooms with at least one connection on this node",
        ConstGauge::new(i64::try_from(s.rooms_open).unwrap_or(i64::MAX)),
    );
    let depth = Family::<QueueLabels, Gauge>::default();
    let capacity = Family::<QueueLabels, Gauge>::default();
    for q in &s.queues {
        let labels = QueueLabels {
            queue: q.queue.label(),
        };
        depth
            .get_or_create(&labels)
            .set(i64::try_from(q.depth).unwrap_or(i64::MAX));
        capacity
            .get_or_create(&labels)
            .set(i64::try_from(q.capacity).unwrap_or(i64::MAX));
    }
    r.register(
        "jiliang_send_queue_depth",
        "Messages waiting in a bounded queue (room_log: appends for the room log writer; bus_publish: messages for NATS; room_fanout: events buffered for the slowest connection of the most backed-up room)",
        depth,
    );
    r.register(
        "jiliang_send_queue_capacity",
        "Capacity of each bounded queue in jiliang_send_queue_depth",
        capacity,
    );
    let pool = Family::<PoolLabels, Gauge>::default();
    pool.get_or_create(&PoolLabels { state: "in_use" })
        .set(i64::from(s.db_connections_in_use));
    pool.get_or_create(&PoolLabels { state: "idle" })
        .set(i64::from(s.db_connections_idle));
    r.register(
        "jiliang_db_pool_connections",
        "Database connections of this node's pool, in use or idle",
        pool,
    );
    r.register(
        "jiliang_db_pool_max_connections",
        "Most connections this node's pool opens",
        ConstGauge::new(i64::from(s.db_connections_max)),
    );
    r.register(
        "jiliang_ledger_unsigned_leaves",
        "Ledger leaves appended but not yet covered by a signed tree head",
        ConstGauge::new(i64::try_from(s.ledger_unsigned_leaves).unwrap_or(i64::MAX)),
    );
    r.register(
        "jiliang_tokio_alive_tasks",
        "Tasks alive on this node's async runtime",
        ConstGauge::new(i64::try_from(s.tokio_alive_tasks).unwrap_or(i64::MAX)),
    );
    if let Some(age) = s.ledger_head_age_seconds {
        r.register(
            "jiliang_ledger_head_age_seconds",
            "Seconds since the latest signed tree head was signed",
            ConstGauge::new(age),
        );
    }
    r
}

/// Middleware: count and time every request by its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
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

    fn metrics() -> (Metrics, StoreMetrics, RoomMetrics, BusMetrics) {
        let (store, rooms, bus) = (
            StoreMetrics::default(),
            RoomMetrics::default(),
            BusMetrics::default(),
        );
        (Metrics::new(&store, &rooms, &bus), store, rooms, bus)
    }

    fn sampled() -> Sampled {
        Sampled {
            rooms_open: 2,
            queues: vec![
                QueueDepth {
                    queue: Queue::RoomLog,
                    depth: 3,
                    capacity: 4096,
                },
                QueueDepth {
                    queue: Queue::RoomFanout,
                    depth: 17,
                    capacity: 1024,
                },
            ],
            db_connections_in_use: 1,
            db_connections_idle: 4,
            db_connections_max: 8,
            ledger_unsigned_leaves: 5,
            ledger_head_age_seconds: Some(1.5),
            tokio_alive_tasks: 42,
        }
    }

    /// Sample lines (not comments) whose metric name is `name`.
    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .collect()
    }

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let (m, _, _, _) = metrics();
        m.record_request(&Method::GET, "/healthz", 200, Duration::from_millis(2));
        m.record_request(&Method::GET, "/healthz", 200, Duration::from_millis(30));
        let guard = m.socket_opened();
        let text = m.render(&Sampled::default());
        assert!(text.contains(
            "jiliang_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "jiliang_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains(
            "jiliang_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains(
            "jiliang_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 2"
        ));
        assert!(text.contains("# TYPE jiliang_http_requests_total counter"));
        assert!(text.contains("# TYPE jiliang_http_request_duration_seconds histogram"));
        assert!(text.contains("jiliang_websocket_connections 1"));
        drop(guard);
        assert!(
            m.render(&Sampled::default())
                .contains("jiliang_websocket_connections 0")
        );
    }

    #[test]
    fn every_metric_is_named_and_typed() {
        let (m, store, rooms, bus) = metrics();
        m.room_socket_closed(Some(jiliang_protocol::rooms::CLOSE_RESUME));
        m.observe_fanout(crate::clock::now() - time::Duration::milliseconds(40));
        drop(store.time("test.op"));
        let room = rooms.room_opened(Uuid::from_u128(7));
        room.delivered(3);
        bus.dropped_one();
        let text = m.render(&sampled());
        for (name, kind) in [
            ("jiliang_build_info", "gauge"),
            ("jiliang_uptime_seconds", "gauge"),
            ("jiliang_websocket_connections", "gauge"),
            ("jiliang_room_socket_closes_total", "counter"),
            ("jiliang_room_fanout_lag_seconds", "histogram"),
            ("jiliang_room_events_total", "counter"),
            ("jiliang_rooms_open", "gauge"),
            ("jiliang_tokio_alive_tasks", "gauge"),
            ("jiliang_send_queue_depth", "gauge"),
            ("jiliang_send_queue_capacity", "gauge"),
            ("jiliang_db_pool_connections", "gauge"),
            ("jiliang_db_pool_max_connections", "gauge"),
            ("jiliang_db_query_duration_seconds", "histogram"),
            ("jiliang_ledger_unsigned_leaves", "gauge"),
            ("jiliang_ledger_head_age_seconds", "gauge"),
            ("jiliang_bus_dropped_total", "counter"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name} ({kind}) missing:\n{text}"
            );
        }
        assert!(text.contains(&format!(
            "jiliang_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.contains("jiliang_room_socket_closes_total{code=\"4000\"} 1"));
        assert!(text.contains("jiliang_room_fanout_lag_seconds_bucket{le=\"0.025\"} 0"));
        assert!(text.contains("jiliang_room_fanout_lag_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("jiliang_room_fanout_lag_seconds_count 1"));
        assert!(text.contains(
            "jiliang_room_events_total{session=\"00000000-0000-0000-0000-000000000007\"} 3"
        ));
        assert!(text.contains("jiliang_db_query_duration_seconds_count{op=\"test.op\"} 1"));
        assert!(
            text.contains("jiliang_db_query_duration_seconds_bucket{op=\"test.op\",le=\"+Inf\"} 1")
        );
        assert!(text.contains("jiliang_send_queue_depth{queue=\"room_fanout\"} 17"));
        assert!(text.contains("jiliang_send_queue_capacity{queue=\"room_log\"} 4096"));
        assert!(text.contains("jiliang_db_pool_connections{state=\"in_use\"} 1"));
        assert!(text.contains("jiliang_db_pool_connections{state=\"idle\"} 4"));
        assert!(text.contains("jiliang_db_pool_max_connections 8"));
        assert!(text.contains("jiliang_ledger_unsigned_leaves 5"));
        assert!(text.contains("jiliang_ledger_head_age_seconds 1.5"));
        assert!(text.contains("jiliang_rooms_open 2"));
        assert!(text.contains("jiliang_tokio_alive_tasks 42"));
        assert!(text.contains("jiliang_bus_dropped_total 1"));
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or("");
            assert!(
                value.parse::<f64>().is_ok() || value == "+Inf",
                "not a sample: {line:?}"
            );
        }
    }

    #[test]
    fn labels_stay_within_their_sets() {
        let (m, _, rooms, _) = metrics();
        for method in ["BREW", "PROPFIND", "X-ANYTHING"] {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            m.record_request(&method, "/api/(unmatched)", 405, Duration::ZERO);
        }
        for code in [1002, 3000, 4999, 4000] {
            m.room_socket_closed(Some(code));
        }
        m.room_socket_closed(None);
        let text = m.render(&Sampled::default());
        let methods = samples(&text, "jiliang_http_requests_total");
        assert_eq!(methods.len(), 1, "{methods:?}");
        assert!(methods[0].contains("method=\"other\"") && methods[0].ends_with(" 3"));
        let closes = samples(&text, "jiliang_room_socket_closes_total");
        assert_eq!(closes.len(), 3, "{closes:?}");
        assert!(text.contains("jiliang_room_socket_closes_total{code=\"other\"} 3"));
        assert!(text.contains("jiliang_room_socket_closes_total{code=\"peer\"} 1"));

        // Rooms beyond the limit share one series; closing frees a place and
        // removes the room's series.
        let open: Vec<RoomEvents> = (0..MAX_ROOM_SERIES + 3)
            .map(|i| rooms.room_opened(Uuid::from_u128(i as u128 + 1)))
            .collect();
        for r in &open {
            r.delivered(1);
        }
        let text = m.render(&Sampled::default());
        let series = samples(&text, "jiliang_room_events_total");
        assert_eq!(series.len(), MAX_ROOM_SERIES + 1);
        assert!(text.contains("jiliang_room_events_total{session=\"other\"} 3"));
        rooms.room_closed(&open[0]);
        let later = rooms.room_opened(Uuid::from_u128(u128::MAX));
        assert!(later.own.is_some(), "a closed room's place is reused");
        let text = m.render(&Sampled::default());
        assert!(!text.contains("session=\"00000000-0000-0000-0000-000000000001\""));
        assert_eq!(
            samples(&text, "jiliang_room_events_total").len(),
            MAX_ROOM_SERIES + 1,
            "one closed, one opened"
        );
        for r in &open {
            rooms.room_closed(r);
        }
        rooms.room_closed(&later);
        let text = m.render(&Sampled::default());
        assert_eq!(
            samples(&text, "jiliang_room_events_total"),
            vec!["jiliang_room_events_total{session=\"other\"} 3"],
            "the shared series stays"
        );
    }
}
