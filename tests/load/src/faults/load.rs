//! Chat load over several rooms, stopped and drained in one place, and
//! checks of what the server stored afterwards (chat and readings).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::R;
use crate::api::{Api, Login};
use crate::chat::{self, ChatConfig, ChatReport, Control, Progress, Verdict};

pub struct Load {
    stop_tx: watch::Sender<bool>,
    drain_tx: HashMap<String, watch::Sender<Option<u64>>>,
    clients: Vec<(String, Arc<Progress>, JoinHandle<ChatReport>)>,
    deadline: Instant,
}

impl Load {
    /// Starts every client; they run until [`Load::finish`] or `deadline`.
    pub fn start(configs: Vec<ChatConfig>, deadline: Instant) -> Self {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut drain_tx = HashMap::new();
        let mut clients = Vec::new();
        for cfg in configs {
            let drain_rx = drain_tx
                .entry(cfg.session.clone())
                .or_insert_with(|| watch::channel(None).0)
                .subscribe();
            let progress = Arc::new(Progress::default());
            let ctl = Control {
                stop_sending: stop_rx.clone(),
                drain_to: drain_rx,
                deadline,
            };
            let session = cfg.session.clone();
            let handle = tokio::spawn(chat::run(cfg, ctl, progress.clone()));
            clients.push((session, progress, handle));
        }
        Self {
            stop_tx,
            drain_tx,
            clients,
            deadline,
        }
    }

    pub fn progress(&self) -> impl Iterator<Item = &Arc<Progress>> {
        self.clients.iter().map(|(_, p, _)| p)
    }

    pub fn acked(&self) -> u64 {
        self.progress()
            .map(|p| p.acked.load(Ordering::Relaxed))
            .sum()
    }

    /// Waits until every client selected by `which` is connected; returns
    /// how long that took.
    pub async fn all_connected(
        &self,
        which: impl Fn(usize) -> bool,
        within: Duration,
    ) -> R<Duration> {
        let start = Instant::now();
        loop {
            let up = self
                .clients
                .iter()
                .enumerate()
                .filter(|(i, _)| which(*i))
                .all(|(_, (_, p, _))| p.connected.load(Ordering::Relaxed));
            if up {
                return Ok(start.elapsed());
            }
            if start.elapsed() > within {
                return Err(format!("clients not back within {within:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops sending, waits until every message is acked and every client
    /// has applied its room's whole log, then holds each room's stored log
    /// against the acks.
    pub async fn finish(self, api: &Api, who: &Login) -> R<(Verdict, Vec<ChatReport>)> {
        let _ = self.stop_tx.send(true);
        while self
            .clients
            .iter()
            .any(|(_, p, _)| p.outstanding.load(Ordering::Relaxed) > 0)
            && Instant::now() < self.deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (session, tx) in &self.drain_tx {
            let log = api.events(who, session).await?;
            let last = log.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
            let _ = tx.send(Some(last));
        }
        let mut by_session: HashMap<String, Vec<ChatReport>> = HashMap::new();
        let mut all = Vec::new();
        for (session, _, h) in self.clients {
            let r = h.await.map_err(|e| format!("client task: {e}"))?;
            by_session.entry(session).or_default().push(r.clone());
            all.push(r);
        }
        let mut total = Verdict::default();
        for (session, reports) in &by_session {
            let log = api.events(who, session).await?;
            let v = chat::verify(&log, reports);
            total.log_events += v.log_events;
            total.acked += v.acked;
            total.lost += v.lost;
            total.duplicated += v.duplicated;
            total.disorder += v.disorder;
            total.unacked += v.unacked;
            total.reconnects += v.reconnects;
            total.details.extend(v.details);
        }
        Ok((total, all))
    }
}

/// Client configs: for each session, one client per (person, copy), all
/// with the same node list and interval.
pub fn clients(
    sessions: &[String],
    people: &[(&str, &Login)],
    copies: usize,
    bases: &[String],
    interval: Duration,
) -> Vec<ChatConfig> {
    let mut out = Vec::new();
    for (r, s) in sessions.iter().enumerate() {
        for (name, login) in people {
            for c in 0..copies {
                out.push(ChatConfig {
                    name: format!("r{r}{name}{c}"),
                    bases: bases.to_vec(),
                    session: s.clone(),
                    cookie: login.cookie.clone(),
                    interval,
                    silence: Duration::from_secs(15),
                });
            }
        }
    }
    out
}

/// Readings of a device: stored seq 1…`taken` with no gap or duplicate, and
/// the room log of `session` carries each exactly once, in order. Returns
/// the count.
pub async fn check_readings(
    api: &Api,
    who: &Login,
    device: &str,
    taken: u64,
    session: &str,
) -> R<u64> {
    let stored = api.readings(who, device).await?;
    let seqs: Vec<u64> = stored.iter().filter_map(|r| r["seq"].as_u64()).collect();
    if seqs != (1..=taken).collect::<Vec<_>>() {
        return Err(format!(
            "device readings: {} stored, agent took {taken}; first break near {:?}",
            seqs.len(),
            seqs.windows(2).find(|w| w[1] != w[0] + 1)
        ));
    }
    let log = api.events(who, session).await?;
    // A readings event has one part per device (room protocol 2) or is
    // itself one device's part (protocol 1, in logs stored before it).
    let in_room: Vec<u64> = log
        .iter()
        .filter(|e| e["body"]["kind"] == "readings")
        .flat_map(|e| match e["body"]["devices"].as_array() {
            Some(parts) => parts.clone(),
            None => vec![e["body"].clone()],
        })
        .filter(|part| part["device_id"] == device)
        .flat_map(|part| {
            part["readings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r: Value| r["seq"].as_u64())
        })
        .collect();
    if in_room != seqs {
        return Err(format!(
            "room log carries {} readings of the device, {} stored; first difference at {:?}",
            in_room.len(),
            seqs.len(),
            in_room.iter().zip(&seqs).position(|(a, b)| a != b)
        ));
    }
    Ok(taken)
}

/// Waits until the server holds every reading the agent took (the agent
/// still running, its instrument gone: it only uploads its queue now).
pub async fn wait_uploaded(
    api: &Api,
    who: &Login,
    device: &str,
    taken: impl Fn() -> R<(u64, u64)>,
    within: Duration,
) -> R<u64> {
    let until = Instant::now() + within;
    loop {
        let (t, quarantined) = taken()?;
        if quarantined > 0 {
            return Err(format!("the agent quarantined {quarantined} readings"));
        }
        let (_, d) = api.get(who, &format!("/api/v1/devices/{device}")).await?;
        if d["last_seq"].as_u64() == Some(t) {
            // Taken again: nothing new was read while we looked.
            if taken()?.0 == t {
                return Ok(t);
            }
        }
        if Instant::now() > until {
            return Err(format!(
                "the agent took {t} readings, the server holds {} after {within:?}",
                d["last_seq"]
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
