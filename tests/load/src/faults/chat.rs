//! A chat client that survives faults the way the app's does: it keeps every
//! message in an outbox until the server's `accepted` frame for its
//! `client_id`, reconnects with backoff (trying the next node when it has
//! several), rejoins with the last sequence number it applied, and resends
//! the outbox (a resend is idempotent by `client_id`). It records every ack
//! and checks the events it receives arrive once each, in sequence order.
//!
//! [`verify`] then holds the stored log against the acks of all clients.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// What one client does.
#[derive(Clone)]
pub struct ChatConfig {
    /// Unique among the clients of a room; client ids are `{name}-{n}`.
    pub name: String,
    /// Nodes tried in turn: on a failed connect the next one.
    pub bases: Vec<String>,
    pub session: String,
    pub cookie: String,
    /// Between two new messages.
    pub interval: Duration,
    /// Silence from the server, while messages wait for their ack, after
    /// which the connection counts as dead (a dead link may never close).
    pub silence: Duration,
}

/// The scenario's commands to its clients.
#[derive(Clone)]
pub struct Control {
    /// `true`: send no new messages (keep resending the outbox).
    pub stop_sending: watch::Receiver<bool>,
    /// The room's final sequence number, once everyone stopped: a client is
    /// done when its outbox is empty and it has applied up to this.
    pub drain_to: watch::Receiver<Option<u64>>,
    /// Past this, give up and report what happened so far.
    pub deadline: Instant,
}

/// Live figures the scenario watches while its clients run.
#[derive(Default)]
pub struct Progress {
    pub outstanding: AtomicU64,
    pub acked: AtomicU64,
    pub connected: AtomicBool,
    pub last_seq: AtomicU64,
    pub reconnects: AtomicU64,
}

#[derive(Debug, Default, Clone)]
pub struct ChatReport {
    pub name: String,
    /// Distinct messages created.
    pub sent: u64,
    /// (message number, seq the server acked it at), in ack order.
    pub acked: Vec<(u64, u64)>,
    pub unacked: u64,
    pub reconnects: u64,
    pub error_frames: u64,
    /// Gaps, duplicates and reorderings seen live, and other oddities.
    pub problems: Vec<String>,
    pub last_seq: u64,
    /// Longest time between losing a connection and being back in the room.
    pub longest_outage: Duration,
    /// Which node served the last connection.
    pub last_base: String,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(base: &str, session: &str, cookie: &str, last_seq: u64) -> Result<Ws, String> {
    let url = format!(
        "{}/api/v1/sessions/{session}/ws",
        base.replace("http://", "ws://")
    );
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    req.headers_mut()
        .insert("cookie", cookie.parse().map_err(|_| "bad cookie")?);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(15),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .map_err(|_| "connect timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    ws.send(Message::text(
        json!({"type": "join", "protocol": jiliang_protocol::rooms::PROTOCOL_VERSION, "last_seq": last_seq}).to_string(),
    ))
    .await
    .map_err(|e| e.to_string())?;
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(until, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                match v["type"].as_str() {
                    Some("snapshot") => return Ok(ws),
                    Some("error") => return Err(format!("refused: {v}")),
                    _ => {}
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(None) => return Err("closed before the snapshot".into()),
            Err(_) => return Err("no snapshot".into()),
        }
    }
}

/// Runs one client until it is done (see [`Control`]) or the deadline.
pub async fn run(cfg: ChatConfig, mut ctl: Control, progress: Arc<Progress>) -> ChatReport {
    let mut report = ChatReport {
        name: cfg.name.clone(),
        ..ChatReport::default()
    };
    let mut outbox: VecDeque<(u64, String)> = VecDeque::new();
    let mut acked: HashMap<u64, u64> = HashMap::new();
    let mut last_seq = 0u64;
    let mut next_n = 1u64;
    let mut base_i = 0usize;
    let mut lost_at: Option<Instant> = None;
    let mut backoff = Duration::from_millis(100);
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    let done = |outbox: &VecDeque<(u64, String)>, last_seq: u64, ctl: &Control| {
        *ctl.stop_sending.borrow()
            && outbox.is_empty()
            && ctl.drain_to.borrow().is_some_and(|t| last_seq >= t)
    };
    'session: loop {
        if done(&outbox, last_seq, &ctl) {
            break;
        }
        if Instant::now() > ctl.deadline {
            report.problems.push(format!(
                "gave up at the deadline: {} unacked, applied up to {last_seq}, drain to {:?}",
                outbox.len(),
                *ctl.drain_to.borrow()
            ));
            break;
        }
        let base = cfg.bases[base_i % cfg.bases.len()].clone();
        let mut ws = match connect(&base, &cfg.session, &cfg.cookie, last_seq).await {
            Ok(ws) => ws,
            Err(_) => {
                lost_at.get_or_insert_with(Instant::now);
                base_i += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        if let Some(t) = lost_at.take() {
            report.longest_outage = report.longest_outage.max(t.elapsed());
        }
        if !first {
            report.reconnects += 1;
            progress.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        report.last_base = base;
        progress.connected.store(true, Ordering::Relaxed);
        // Everything not yet acknowledged goes again, in order.
        let mut broken = false;
        for (_, frame) in &outbox {
            if ws.send(Message::text(frame.clone())).await.is_err() {
                broken = true;
                break;
            }
        }
        let mut last_frame = Instant::now();
        let mut check = tokio::time::interval(Duration::from_millis(250));
        while !broken {
            if done(&outbox, last_seq, &ctl) {
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                break 'session;
            }
            let sending = !*ctl.stop_sending.borrow();
            tokio::select! {
                _ = tick.tick(), if sending => {
                    let n = next_n;
                    next_n += 1;
                    report.sent += 1;
                    let frame = json!({"type": "chat", "client_id": format!("{}-{n}", cfg.name),
                                       "text": format!("故障测试 {} #{n}", cfg.name)}).to_string();
                    outbox.push_back((n, frame.clone()));
                    progress.outstanding.store(outbox.len() as u64, Ordering::Relaxed);
                    if ws.send(Message::text(frame)).await.is_err() {
                        broken = true;
                    }
                }
                m = ws.next() => {
                    last_frame = Instant::now();
                    match m {
                        Some(Ok(Message::Text(t))) => {
                            let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                            match v["type"].as_str() {
                                Some("event") => {
                                    let seq = v["seq"].as_u64().unwrap_or(0);
                                    if seq == last_seq + 1 {
                                        last_seq = seq;
                                    } else if seq <= last_seq {
                                        report.problems.push(format!("event {seq} again after {last_seq}"));
                                    } else {
                                        report.problems.push(format!("gap: event {seq} after {last_seq}"));
                                        last_seq = seq;
                                    }
                                    progress.last_seq.store(last_seq, Ordering::Relaxed);
                                }
                                Some("accepted") => {
                                    let seq = v["seq"].as_u64().unwrap_or(0);
                                    let n = v["client_id"].as_str()
                                        .and_then(|c| c.rsplit_once('-'))
                                        .filter(|(name, _)| *name == cfg.name)
                                        .and_then(|(_, n)| n.parse::<u64>().ok());
                                    let Some(n) = n else {
                                        report.problems.push(format!("ack for a message not sent: {v}"));
                                        continue;
                                    };
                                    match acked.get(&n) {
                                        Some(&s) if s != seq => report.problems.push(format!(
                                            "message {n} acked at {s} and again at {seq}")),
                                        Some(_) => {}
                                        None => {
                                            acked.insert(n, seq);
                                            report.acked.push((n, seq));
                                            progress.acked.fetch_add(1, Ordering::Relaxed);
                                        }
                                    }
                                    outbox.retain(|(m, _)| *m != n);
                                    progress.outstanding.store(outbox.len() as u64, Ordering::Relaxed);
                                }
                                Some("error") => {
                                    // The refused message stays in the outbox;
                                    // a fresh connection sends it again.
                                    report.error_frames += 1;
                                    broken = true;
                                }
                                _ => {}
                            }
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => broken = true,
                        Some(Ok(_)) => {}
                    }
                }
                _ = check.tick() => {
                    if !outbox.is_empty() && last_frame.elapsed() > cfg.silence {
                        broken = true;
                    }
                    if Instant::now() > ctl.deadline {
                        broken = true;
                    }
                }
                _ = ctl.drain_to.changed() => {}
                _ = ctl.stop_sending.changed() => {}
            }
        }
        progress.connected.store(false, Ordering::Relaxed);
        lost_at.get_or_insert_with(Instant::now);
        drop(ws);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    progress.connected.store(false, Ordering::Relaxed);
    report.unacked = outbox.len() as u64;
    report.last_seq = last_seq;
    report
}

/// The stored log held against every client's acks.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    pub log_events: u64,
    pub acked: u64,
    /// Acked messages missing from the log (or stored at another seq than acked).
    pub lost: u64,
    /// Messages stored more than once, or events delivered twice to a client.
    pub duplicated: u64,
    /// Gaps or breaks in seq order, in the log or at a client; a client's
    /// messages stored out of the order it sent them.
    pub disorder: u64,
    pub unacked: u64,
    pub reconnects: u64,
    pub details: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.disorder == 0 && self.unacked == 0
    }

    pub fn summary(&self) -> String {
        format!(
            "{} acked, {} lost, {} duplicated, {} out of order, {} unacked, {} reconnects, log {} events",
            self.acked,
            self.lost,
            self.duplicated,
            self.disorder,
            self.unacked,
            self.reconnects,
            self.log_events
        )
    }
}

pub fn verify(log: &[Value], reports: &[ChatReport]) -> Verdict {
    let mut v = Verdict {
        log_events: log.len() as u64,
        ..Verdict::default()
    };
    let note = |v: &mut Verdict, s: String| {
        if v.details.len() < 10 {
            v.details.push(s);
        }
    };
    for (i, e) in log.iter().enumerate() {
        let seq = e["seq"].as_u64().unwrap_or(0);
        if seq != i as u64 + 1 {
            v.disorder += 1;
            note(&mut v, format!("log position {} holds seq {seq}", i + 1));
        }
    }
    // client_id → the seqs it was stored at, and each client's messages in
    // log order.
    let mut stored: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut order: HashMap<&str, Vec<u64>> = HashMap::new();
    for e in log {
        if e["body"]["kind"] != "chat" {
            continue;
        }
        let Some(cid) = e["client_id"].as_str() else {
            continue;
        };
        stored
            .entry(cid)
            .or_default()
            .push(e["seq"].as_u64().unwrap_or(0));
        if let Some((name, n)) = cid.rsplit_once('-')
            && let Ok(n) = n.parse()
        {
            order.entry(name).or_default().push(n);
        }
    }
    for (cid, seqs) in &stored {
        if seqs.len() > 1 {
            v.duplicated += seqs.len() as u64 - 1;
            note(&mut v, format!("{cid} stored at {seqs:?}"));
        }
    }
    for r in reports {
        v.acked += r.acked.len() as u64;
        v.unacked += r.unacked;
        v.reconnects += r.reconnects;
        for (n, seq) in &r.acked {
            let cid = format!("{}-{n}", r.name);
            match stored.get(cid.as_str()) {
                None => {
                    v.lost += 1;
                    note(&mut v, format!("{cid} acked at {seq}, not in the log"));
                }
                Some(s) if !s.contains(seq) => {
                    v.lost += 1;
                    note(&mut v, format!("{cid} acked at {seq}, stored at {s:?}"));
                }
                Some(_) => {}
            }
        }
        if let Some(ns) = order.get(r.name.as_str()) {
            let breaks: Vec<(u64, u64)> = ns
                .windows(2)
                .filter(|w| w[1] < w[0])
                .map(|w| (w[0], w[1]))
                .collect();
            if !breaks.is_empty() {
                v.disorder += breaks.len() as u64;
                note(
                    &mut v,
                    format!(
                        "{}'s messages stored out of order: {:?} (message n stored before n')",
                        r.name,
                        &breaks[..breaks.len().min(3)]
                    ),
                );
            }
        }
        for p in &r.problems {
            if p.contains("again") {
                v.duplicated += 1;
            } else {
                v.disorder += 1;
            }
            note(&mut v, format!("{}: {p}", r.name));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(seq: u64, cid: &str) -> Value {
        json!({"seq": seq, "client_id": cid, "body": {"kind": "chat", "text": "x"}})
    }

    fn report(name: &str, acked: &[(u64, u64)]) -> ChatReport {
        ChatReport {
            name: name.into(),
            acked: acked.to_vec(),
            ..ChatReport::default()
        }
    }

    #[test]
    fn a_clean_log_passes() {
        let log = vec![
            chat(1, "a-1"),
            json!({"seq": 2, "body": {"kind": "join"}}),
            chat(3, "b-1"),
            chat(4, "a-2"),
        ];
        let v = verify(
            &log,
            &[report("a", &[(1, 1), (2, 4)]), report("b", &[(1, 3)])],
        );
        assert!(v.ok(), "{v:?}");
        assert_eq!(v.acked, 3);
    }

    #[test]
    fn loss_duplicates_gaps_and_reordering_are_counted() {
        // a-2 acked but missing; b-1 stored twice; seq 4 missing; a's
        // messages 3 then 1.
        let log = vec![
            chat(1, "a-3"),
            chat(2, "b-1"),
            chat(3, "b-1"),
            chat(5, "a-1"),
        ];
        let v = verify(
            &log,
            &[
                report("a", &[(1, 5), (2, 4), (3, 1)]),
                report("b", &[(1, 2)]),
            ],
        );
        assert_eq!(v.lost, 1, "{v:?}");
        assert_eq!(v.duplicated, 1, "{v:?}");
        assert_eq!(v.disorder, 2, "a gap in the log and a's order: {v:?}");
        assert!(!v.ok());
    }

    #[test]
    fn an_ack_at_another_seq_than_stored_counts_as_lost() {
        let v = verify(&[chat(1, "a-1")], &[report("a", &[(1, 2)])]);
        assert_eq!(v.lost, 1);
    }
}
