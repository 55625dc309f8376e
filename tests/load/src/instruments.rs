//! The province load for instruments (issue 10): S live sessions, each
//! with A instrument agents taking readings at H Hz and V viewers on room
//! sockets, against the product server only (a bare baseline has no
//! storage to compare with).
//!
//! Agents speak the real agent socket protocol (`AgentFrame` out,
//! `AgentServerFrame` back, `jiliang_protocol::devices`) as `jiliang-agent`
//! does: a reading is queued when it is taken, and what is queued goes out
//! in one batch whenever fewer than `WINDOW` batches are unacknowledged.
//! Viewers join the session's room as its people do and read the
//! `readings` events.
//!
//! What is measured:
//! - agent-to-viewer latency: a viewer's receive time minus the reading's
//!   `t` (the moment it was taken; one clock, one machine), so the time a
//!   reading waits in the agent's queue for its batch counts too;
//! - readings lost: every reading acknowledged to its agent must reach every
//!   viewer of its session exactly once. A viewer checks each device's
//!   `seq` arrives as 1, 2, 3, … (a gap, a duplicate or a reordering counts
//!   as disorder), and at the end every viewer must have received each
//!   device's readings up to the last acknowledged `seq`;
//! - the server's CPU (user + system, from /proc) over the run and its RSS.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use jiliang_protocol::devices::{
    AGENT_PROTOCOL_VERSION, AgentFrame, AgentHello, AgentServerFrame, AgentStatus, DeviceReading,
    DriverKind, ReadingsBatch,
};
use jiliang_protocol::rooms::{ClientFrame, EventBody, PROTOCOL_VERSION, ServerFrame};
use serde_json::{Value, json};
use tokio::sync::{Barrier, Mutex, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

use super::{Kind, Server, Ws, now_us, ws_config};

/// Batches an agent keeps unacknowledged (`jiliang-agent`'s window).
const WINDOW: usize = 4;
/// Most readings per batch (the server's `max_batch`).
const MAX_BATCH: usize = 1000;
/// Setup requests in flight at once.
const SETUP_PARALLEL: usize = 8;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// instruments: live sessions.
    #[arg(long, default_value_t = 500)]
    pub sessions: usize,
    /// instruments: agents (devices) per session.
    #[arg(long, default_value_t = 2)]
    pub agents_per_session: usize,
    /// instruments: viewers per session.
    #[arg(long, default_value_t = 5)]
    pub viewers_per_session: usize,
    /// instruments: readings per second per agent.
    #[arg(long, default_value_t = 10)]
    pub agent_hz: u32,
}

/// One device as the harness knows it.
struct DeviceInfo {
    id: Uuid,
    token: String,
}

struct SessionSetup {
    room: String,
    devices: Vec<DeviceInfo>,
}

/// A logged-in person: the cookie and the CSRF token for writes.
struct Login {
    cookie: String,
    csrf: String,
}

async fn login(http: &reqwest::Client, base: &str, user: &str) -> Login {
    let res = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"login": user, "password": "Jiliang-demo-2026"}))
        .send()
        .await
        .expect("login");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("cookie")
        .to_owned();
    let body: Value = res.json().await.expect("json");
    Login {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap_or_default().to_owned(),
    }
}

async fn post(http: &reqwest::Client, base: &str, who: &Login, path: &str, body: Value) -> Value {
    let res = http
        .post(format!("{base}{path}"))
        .header("cookie", &who.cookie)
        .header("x-csrf-token", &who.csrf)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path}: {status} {v}");
    v
}

/// Live sessions of the demo lab, each with its devices registered (by the
/// lab's technician) and attached (by the host), through the API.
async fn setup(server: &Server, a: &Args) -> Vec<SessionSetup> {
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let expert = Arc::new(login(&http, &base, "expert").await);
    let tech = Arc::new(login(&http, &base, "tech").await);
    let labs: Value = http
        .get(format!("{base}/api/v1/institutions"))
        .header("cookie", &expert.cookie)
        .send()
        .await
        .expect("institutions")
        .json()
        .await
        .expect("json");
    let lab = labs
        .as_array()
        .and_then(|l| l.iter().find(|i| i["name_zh"] == "秦安县计量检定所"))
        .and_then(|i| i["id"].as_str())
        .expect("demo lab")
        .to_owned();
    let start = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let per = a.agents_per_session;
    futures_util::stream::iter(0..a.sessions)
        .map(|i| {
            let (http, base, expert, tech, lab, start) = (
                http.clone(),
                base.clone(),
                expert.clone(),
                tech.clone(),
                lab.clone(),
                start.clone(),
            );
            async move {
                let s = post(
                    &http,
                    &base,
                    &expert,
                    "/api/v1/sessions",
                    json!({"title": format!("仪器负载 {i}"), "scheduled_start": start,
                           "duration_minutes": 120, "lab_ids": [lab]}),
                )
                .await;
                let id = s["id"].as_str().expect("session id").to_owned();
                post(
                    &http,
                    &base,
                    &expert,
                    &format!("/api/v1/sessions/{id}/start"),
                    json!({}),
                )
                .await;
                let mut devices = Vec::with_capacity(per);
                for d in 0..per {
                    let created = post(
                        &http,
                        &base,
                        &tech,
                        "/api/v1/devices",
                        json!({"lab_id": lab, "name": format!("负载 {i}-{d}"), "kind": "digital multimeter",
                               "quantity": "voltage", "unit": "V", "resolution": 1e-6}),
                    )
                    .await;
                    let device = created["id"].as_str().expect("device id").to_owned();
                    post(
                        &http,
                        &base,
                        &expert,
                        &format!("/api/v1/sessions/{id}/devices"),
                        json!({"device_id": device}),
                    )
                    .await;
                    devices.push(DeviceInfo {
                        id: device.parse().expect("uuid"),
                        token: created["token"].as_str().expect("token").to_owned(),
                    });
                }
                SessionSetup {
                    room: format!("/api/v1/sessions/{id}/ws"),
                    devices,
                }
            }
        })
        .buffered(SETUP_PARALLEL)
        .collect()
        .await
}

// ------------------------------------------------------------------ agents

#[derive(Default)]
struct AgentResult {
    taken: u64,
    /// Highest `seq` acknowledged (every reading up to it is stored).
    acked_through: u64,
    /// Batches answered with an `error` frame.
    refused: u64,
}

async fn agent(
    base: String,
    device: DeviceInfo,
    index: usize,
    hz: u32,
    go: Arc<Barrier>,
    mut stop: watch::Receiver<bool>,
) -> (Uuid, AgentResult) {
    let url = format!("{}/api/v1/agent/ws", base.replace("http://", "ws://"));
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", device.token).parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(ws_config()), true)
        .await
        .expect("agent connect");
    send(
        &mut ws,
        &AgentFrame::Hello(AgentHello {
            protocol: AGENT_PROTOCOL_VERSION,
            agent: "jiliang-load".into(),
            driver: DriverKind::Scpi,
            idn: Some("JILIANG,LOAD-DMM,0001,1.0".into()),
        }),
    )
    .await;
    match next_agent_frame(&mut ws).await {
        Some(AgentServerFrame::Welcome(_)) => {}
        Some(other) => panic!("expected welcome, got {other:?}"),
        None => panic!("agent socket closed before welcome"),
    }
    go.wait().await;
    let period = Duration::from_secs_f64(1.0 / f64::from(hz.max(1)));
    // Spread agents over the period, as independent instruments are.
    let span = u64::try_from(period.as_micros()).unwrap_or(1).max(1);
    let offset = Duration::from_micros((index as u64 * 7919) % span);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut status = tokio::time::interval(Duration::from_secs(5));
    let mut queue: VecDeque<DeviceReading> = VecDeque::new();
    let mut in_flight: VecDeque<Vec<DeviceReading>> = VecDeque::new();
    let mut r = AgentResult::default();
    let mut stopping = false;
    let mut drain_deadline = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed(), if !stopping => {
                stopping = true;
                drain_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            }
            _ = tick.tick(), if !stopping => {
                r.taken += 1;
                let seq = r.taken;
                queue.push_back(DeviceReading {
                    seq,
                    t: time::OffsetDateTime::now_utc(),
                    value: 1.000_000 + (seq % 97) as f64 * 1e-6,
                    unit: "V".into(),
                    u_t: 0.0005,
                });
            }
            _ = status.tick() => {
                send(&mut ws, &AgentFrame::Status(AgentStatus {
                    queue_depth: (queue.len() + in_flight.iter().map(Vec::len).sum::<usize>()) as u64,
                    last_reading_age_s: Some(0.1),
                    clock: None,
                    fault: None,
                    quarantined: 0,
                })).await;
            }
            () = tokio::time::sleep_until(drain_deadline), if stopping => break,
            frame = next_agent_frame(&mut ws) => match frame {
                Some(AgentServerFrame::Ack(ack)) => {
                    in_flight.pop_front();
                    r.acked_through = r.acked_through.max(ack.through);
                }
                Some(AgentServerFrame::Error(e)) => {
                    // As the agent does with a batch the server could not
                    // store: send it again (a resend is always safe).
                    r.refused += 1;
                    eprintln!("agent {}: batch refused: {} {}", device.id, e.code, e.message);
                    if let Some(batch) = in_flight.pop_front() {
                        for reading in batch.into_iter().rev() {
                            queue.push_front(reading);
                        }
                    }
                }
                Some(_) => {}
                None => {
                    eprintln!("agent {}: socket closed", device.id);
                    break;
                }
            },
        }
        if stopping && queue.is_empty() && in_flight.is_empty() {
            break;
        }
        while in_flight.len() < WINDOW && !queue.is_empty() {
            let n = queue.len().min(MAX_BATCH);
            let batch: Vec<DeviceReading> = queue.drain(..n).collect();
            send(
                &mut ws,
                &AgentFrame::Readings(ReadingsBatch {
                    readings: batch.clone(),
                }),
            )
            .await;
            in_flight.push_back(batch);
        }
    }
    let _ = ws.close(None).await;
    (device.id, r)
}

async fn send(ws: &mut Ws, frame: &AgentFrame) {
    let text = serde_json::to_string(frame).expect("frame");
    ws.send(Message::text(text)).await.expect("agent send");
}

async fn next_agent_frame(ws: &mut Ws) -> Option<AgentServerFrame> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => match serde_json::from_str(&t) {
                Ok(f) => return Some(f),
                Err(e) => panic!("unreadable agent frame {t}: {e}"),
            },
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

// ----------------------------------------------------------------- viewers

#[derive(Default)]
struct ViewerResult {
    /// Per device: readings received in order (the last `seq` seen).
    through: HashMap<Uuid, u64>,
    received: u64,
    /// `readings` events received.
    events: u64,
    /// Gaps, duplicates or reorderings (per device, and in the room's log).
    disorder: u64,
    resumes: u64,
}

async fn join(server: &Server, room: &str, n: usize, last_seq: u64) -> Ws {
    let url = format!("{}{room}", server.base.replace("http://", "ws://"));
    let mut req = url.into_client_request().expect("request");
    if let Kind::Product { cookies, .. } = &server.kind {
        req.headers_mut().insert(
            "cookie",
            cookies[n % cookies.len()].parse().expect("header"),
        );
    }
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(ws_config()), true)
        .await
        .expect("viewer connect");
    let join = ClientFrame::Join {
        protocol: PROTOCOL_VERSION,
        last_seq,
        lang: None,
    };
    ws.send(Message::text(serde_json::to_string(&join).expect("join")))
        .await
        .expect("join");
    ws
}

/// A viewer's latency histograms (microseconds): taken → received, and
/// its two parts split at the event's `at` (when the server's batch writer
/// began the group that stored it): taken → `at` is the reading's wait in
/// the agent's queue, on the wire and in the writer's queue; `at` →
/// received is the group's transaction and the fan-out.
struct Latency {
    total: Histogram<u64>,
    to_group: Histogram<u64>,
    group_to_viewer: Histogram<u64>,
}

impl Latency {
    fn new() -> Self {
        let h = || Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
        Self {
            total: h(),
            to_group: h(),
            group_to_viewer: h(),
        }
    }

    fn add(&mut self, other: &Self) {
        let _ = self.total.add(&other.total);
        let _ = self.to_group.add(&other.to_group);
        let _ = self.group_to_viewer.add(&other.group_to_viewer);
    }
}

fn us(t: time::OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(0)
}

async fn viewer(
    server: Arc<Server>,
    room: String,
    n: usize,
    joined: Arc<Barrier>,
    mut stop: watch::Receiver<bool>,
) -> (ViewerResult, Latency) {
    let mut h = Latency::new();
    let mut v = ViewerResult::default();
    let mut last_room_seq: Option<u64> = None;
    let mut ws = join(&server, &room, n, u64::MAX).await;
    let mut first = true;
    'outer: loop {
        loop {
            let m = tokio::select! {
                _ = stop.changed() => break 'outer,
                m = ws.next() => m,
            };
            let text = match m {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            };
            let frame: ServerFrame = match serde_json::from_str(&text) {
                Ok(f) => f,
                Err(e) => panic!("unreadable room frame: {e}: {text}"),
            };
            match frame {
                ServerFrame::Snapshot(s) if first => {
                    first = false;
                    last_room_seq = Some(s.last_seq);
                    joined.wait().await;
                }
                ServerFrame::Event(e) => {
                    let now = now_us();
                    if last_room_seq.is_some_and(|l| e.seq != l + 1) {
                        v.disorder += 1;
                    }
                    last_room_seq = Some(e.seq);
                    let at = us(e.at);
                    if let EventBody::Readings(body) = e.body {
                        v.events += 1;
                        for part in body.parts() {
                            let through = v.through.entry(part.device_id).or_insert(0);
                            for r in &part.readings {
                                if r.seq != *through + 1 {
                                    v.disorder += 1;
                                }
                                *through = (*through).max(r.seq);
                                v.received += 1;
                                let t = us(r.t);
                                let _ = h.total.record(now.saturating_sub(t).max(1));
                                let _ = h.to_group.record(at.saturating_sub(t).max(1));
                                let _ = h.group_to_viewer.record(now.saturating_sub(at).max(1));
                            }
                        }
                    }
                }
                ServerFrame::Error(e) => eprintln!("viewer {n}: error frame {e:?}"),
                _ => {}
            }
        }
        // Closed by the server (too far behind): resume from the last
        // event seen, as the app does; the log fills the gap.
        v.resumes += 1;
        ws = join(&server, &room, n, last_room_seq.unwrap_or(0)).await;
    }
    let _ = ws.close(None).await;
    (v, h)
}

// ------------------------------------------------------------------- run

pub(crate) fn proc_stat_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces), from field 3 on.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub(crate) fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Clock ticks per second of /proc/PID/stat (USER_HZ): 100 on Linux.
pub(crate) const TICKS_PER_S: f64 = 100.0;

pub async fn run(server: Server, a: &Args, seconds: u64) -> Value {
    let t0 = Instant::now();
    let sessions = setup(&server, a).await;
    let devices: usize = sessions.iter().map(|s| s.devices.len()).sum();
    let sessions_n = sessions.len();
    println!(
        "instruments: {} live sessions, {devices} devices registered and attached in {:.1} s",
        sessions.len(),
        t0.elapsed().as_secs_f64()
    );
    let pid = server.pid().unwrap_or(0);
    let base = server.base.clone();
    let server = Arc::new(server);
    let (stop_agents_tx, stop_agents) = watch::channel(false);
    let (stop_viewers_tx, stop_viewers) = watch::channel(false);
    let viewers_n = sessions.len() * a.viewers_per_session;
    let joined = Arc::new(Barrier::new(viewers_n + 1));
    let go = Arc::new(Barrier::new(devices + 1));
    let hists: Arc<Mutex<Vec<Latency>>> = Arc::default();
    let mut viewer_tasks = Vec::with_capacity(viewers_n);
    // Which session each device is in, to check every viewer of it.
    let mut session_of: HashMap<Uuid, usize> = HashMap::new();
    let mut n = 0;
    for (i, s) in sessions.iter().enumerate() {
        for d in &s.devices {
            session_of.insert(d.id, i);
        }
        for _ in 0..a.viewers_per_session {
            let task = tokio::spawn(viewer(
                server.clone(),
                s.room.clone(),
                n,
                joined.clone(),
                stop_viewers.clone(),
            ));
            viewer_tasks.push((i, task));
            n += 1;
        }
    }
    joined.wait().await;
    let rss_joined = proc_status_kib(pid, "VmRSS:").unwrap_or(0);
    let mut agent_tasks = Vec::with_capacity(devices);
    let mut index = 0;
    for s in sessions {
        for d in s.devices {
            agent_tasks.push(tokio::spawn(agent(
                base.clone(),
                d,
                index,
                a.agent_hz,
                go.clone(),
                stop_agents.clone(),
            )));
            index += 1;
        }
    }
    go.wait().await;
    let started = Instant::now();
    let cpu_start = proc_stat_ticks(pid).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu_end = proc_stat_ticks(pid).unwrap_or(0);
    let elapsed = started.elapsed().as_secs_f64();
    let rss_end = proc_status_kib(pid, "VmRSS:").unwrap_or(0);
    let _ = stop_agents_tx.send(true);
    let mut acked: HashMap<Uuid, AgentResult> = HashMap::new();
    for t in agent_tasks {
        let (id, r) = t.await.expect("agent task");
        acked.insert(id, r);
    }
    // Let the last events reach the viewers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_viewers_tx.send(true);
    let mut lost = 0u64;
    let mut disorder = 0u64;
    let mut resumes = 0u64;
    let mut received = 0u64;
    let mut events = 0u64;
    for (session, t) in viewer_tasks {
        let (v, h) = t.await.expect("viewer task");
        events += v.events;
        disorder += v.disorder;
        resumes += v.resumes;
        received += v.received;
        for (id, r) in &acked {
            if session_of.get(id) == Some(&session) {
                let got = v.through.get(id).copied().unwrap_or(0);
                lost += r.acked_through.saturating_sub(got);
            }
        }
        hists.lock().await.push(h);
    }
    let mut all = Latency::new();
    for h in hists.lock().await.iter() {
        all.add(h);
    }
    let hist = &all.total;
    let taken: u64 = acked.values().map(|r| r.taken).sum();
    let acked_total: u64 = acked.values().map(|r| r.acked_through).sum();
    let refused: u64 = acked.values().map(|r| r.refused).sum();
    let cpu = (cpu_end.saturating_sub(cpu_start)) as f64 / TICKS_PER_S / elapsed;
    let peak = proc_status_kib(pid, "VmHWM:").unwrap_or(0);
    let phases = group_phases(&base).await;
    if !phases.is_empty() {
        let line: Vec<String> = phases
            .iter()
            .map(|(op, n, mean)| format!("{op} {mean:.2} ms × {n}"))
            .collect();
        println!(
            "instruments: the server's group phases (mean per group): {}",
            line.join(", ")
        );
    }
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let part = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "instruments product: {devices} agents × {} Hz, {viewers_n} viewers, {elapsed:.1} s: taken {taken}, acked {acked_total} ({:.0} readings/s), \
         refused batches {refused}; viewers received {received} in {events} readings events, lost {lost}, out of order {disorder}, resumes {resumes}; \
         latency p50 {:.1} ms p99 {:.1} ms max {:.1} ms (taken → group start p50 {:.1} p99 {:.1} ms, \
         group start → viewer p50 {:.1} p99 {:.1} ms); server CPU {:.0} % of one core, RSS {:.0} MiB after joins, {:.0} MiB at the end (peak {:.0} MiB)",
        a.agent_hz,
        acked_total as f64 / elapsed,
        ms(0.5),
        ms(0.99),
        hist.max() as f64 / 1000.0,
        part(&all.to_group, 0.5),
        part(&all.to_group, 0.99),
        part(&all.group_to_viewer, 0.5),
        part(&all.group_to_viewer, 0.99),
        cpu * 100.0,
        rss_joined as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        peak as f64 / 1024.0,
    );
    json!({
        "load": "instruments", "server": "product", "sessions": sessions_n, "agents": devices,
        "viewers": viewers_n, "agent_hz": a.agent_hz, "seconds": elapsed, "taken": taken,
        "acked": acked_total, "refused_batches": refused, "viewer_readings": received, "viewer_events": events, "lost": lost,
        "out_of_order": disorder, "resumes": resumes,
        "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": hist.max() as f64 / 1000.0,
        "to_group_p50_ms": part(&all.to_group, 0.5), "to_group_p99_ms": part(&all.to_group, 0.99),
        "group_to_viewer_p50_ms": part(&all.group_to_viewer, 0.5),
        "group_to_viewer_p99_ms": part(&all.group_to_viewer, 0.99),
        "server_cpu_cores": cpu, "rss_joined_kib": rss_joined, "rss_end_kib": rss_end, "rss_peak_kib": peak,
        "group_phases_ms": phases.iter().map(|(op, n, mean)| json!({"op": op, "count": n, "mean_ms": mean})).collect::<Vec<_>>(),
    })
}

/// The batch writer's timers from the server's `/metrics` (the query
/// histogram's `devices.ingest_group` and `devices.group.*` series): how
/// many groups and their mean time per phase, in ms. Empty if the server
/// has none (an older build).
async fn group_phases(base: &str) -> Vec<(String, u64, f64)> {
    let Ok(res) = reqwest::get(format!("{base}/metrics")).await else {
        return Vec::new();
    };
    let text = res.text().await.unwrap_or_default();
    let mut sums: HashMap<String, f64> = HashMap::new();
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("jiliang_db_query_duration_seconds_") else {
            continue;
        };
        let (which, rest) = rest.split_once('{').unwrap_or(("", ""));
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Some(op) = labels
            .strip_prefix("op=\"")
            .and_then(|l| l.strip_suffix('"'))
            .filter(|op| op.starts_with("devices.group.") || *op == "devices.ingest_group")
        else {
            continue;
        };
        let Ok(v) = value.trim().parse::<f64>() else {
            continue;
        };
        match which {
            "sum" => {
                sums.insert(op.to_owned(), v);
            }
            "count" => {
                counts.insert(op.to_owned(), v as u64);
            }
            _ => {}
        }
    }
    let mut out: Vec<(String, u64, f64)> = counts
        .into_iter()
        .map(|(op, n)| {
            let mean = sums.get(&op).copied().unwrap_or(0.0) * 1000.0 / n.max(1) as f64;
            (op, n, mean)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
