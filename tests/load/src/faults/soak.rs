//! Soak: room chat with people joining and leaving all the time, plus
//! instrument agents streaming, for a fixed time, while the server's
//! resident memory, open files, threads and live tokio tasks are sampled.
//!
//! "Flat" is judged robustly, not from single samples: the median of the
//! last third of the run is compared with the median of the middle third
//! (the first third is warm-up: caches, pools and the allocator fill up),
//! with a generous margin, because a leak grows with the work done and the
//! last third does as much work as the middle one, while noise (a burst of
//! reconnects, the allocator keeping freed pages) does not keep growing.
//! The margins are set from the load: far more than two samples differ by
//! at steady state, far less than a leak of one object per message, per
//! connection or per join/leave would add over a third of the run. After
//! the load stops, open files and tasks must come back near where they
//! were before it started: every socket, file and task the load caused
//! must be released.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::R;
use crate::api::Api;
use crate::chat::ChatReport;
use crate::load::{self, Load};
use crate::procs::{self, Bins, Node, proc_stats};

#[derive(Clone, Debug)]
pub struct SoakArgs {
    pub seconds: u64,
    pub sample_every: Duration,
    /// Print a table row this often (0: only the summary).
    pub print_every: Duration,
    pub rooms: usize,
    /// Between two messages of one steady client.
    pub interval: Duration,
    pub churners_per_room: usize,
    pub agents: usize,
    /// Agent reading interval.
    pub agent_interval_ms: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    t: f64,
    rss_kib: u64,
    fds: u64,
    threads: u64,
    tasks: u64,
    sockets: u64,
    acked: u64,
    churn_cycles: u64,
    readings: u64,
}

async fn sample(node: &Node, api: &Api, start: Instant, acked: u64, churn: u64) -> R<Sample> {
    let pid = node.pid().ok_or("no server process")?;
    let s = proc_stats(pid).ok_or("server process gone")?;
    Ok(Sample {
        t: start.elapsed().as_secs_f64(),
        rss_kib: s.rss_kib,
        fds: s.fds,
        threads: s.threads,
        tasks: api.metric("jiliang_tokio_alive_tasks").await.unwrap_or(0.0) as u64,
        sockets: api
            .metric("jiliang_websocket_connections")
            .await
            .unwrap_or(0.0) as u64,
        acked,
        churn_cycles: churn,
        readings: api
            .metric("jiliang_readings_stored_total")
            .await
            .unwrap_or(0.0) as u64,
    })
}

fn row(s: &Sample) -> String {
    format!(
        "| {:>6.0} | {:>8.1} | {:>5} | {:>7} | {:>6} | {:>7} | {:>9} | {:>6} | {:>8} |",
        s.t,
        s.rss_kib as f64 / 1024.0,
        s.fds,
        s.threads,
        s.tasks,
        s.sockets,
        s.acked,
        s.churn_cycles,
        s.readings
    )
}

const HEADER: &str = "|      s | RSS MiB | files | threads |  tasks | sockets | chat acked | joins | readings |\n|---|---|---|---|---|---|---|---|---|";

/// One person joining, saying one thing, leaving, again and again, each
/// time on a new connection that rejoins where the room stands.
async fn churner(
    base: String,
    session: String,
    cookie: String,
    name: String,
    stop: watch::Receiver<bool>,
    cycles: Arc<AtomicU64>,
    seed: u64,
) -> ChatReport {
    let mut report = ChatReport {
        name: name.clone(),
        ..ChatReport::default()
    };
    let url = format!(
        "{}/api/v1/sessions/{session}/ws",
        base.replace("http://", "ws://")
    );
    let mut n = 0u64;
    let mut rng = seed;
    while !*stop.borrow() {
        n += 1;
        let cid = format!("{name}-{n}");
        let result: Result<u64, String> = async {
            let mut req = url
                .clone()
                .into_client_request()
                .map_err(|e| e.to_string())?;
            req.headers_mut()
                .insert("cookie", cookie.parse().map_err(|_| "cookie")?);
            let (mut ws, _) = tokio_tungstenite::connect_async(req)
                .await
                .map_err(|e| e.to_string())?;
            ws.send(Message::text(
                json!({"type":"join","protocol":jiliang_protocol::rooms::PROTOCOL_VERSION,"last_seq":u64::MAX}).to_string(),
            ))
            .await
            .map_err(|e| e.to_string())?;
            ws.send(Message::text(
                json!({"type":"chat","client_id":cid,"text":format!("进出 {cid}")}).to_string(),
            ))
            .await
            .map_err(|e| e.to_string())?;
            let until = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                match tokio::time::timeout_at(until, ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                        if v["type"] == "accepted" && v["client_id"] == cid.as_str() {
                            let seq = v["seq"].as_u64().unwrap_or(0);
                            let _ =
                                tokio::time::timeout(Duration::from_secs(5), ws.close(None)).await;
                            // Read until the server's close answer.
                            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                                while let Some(Ok(_)) = ws.next().await {}
                            })
                            .await;
                            return Ok(seq);
                        }
                        if v["type"] == "error" {
                            return Err(format!("error frame {v}"));
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => return Err("no ack".into()),
                }
            }
        }
        .await;
        match result {
            Ok(seq) => {
                report.sent += 1;
                report.acked.push((n, seq));
                cycles.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // Not acked: a later message of this churner has a higher
                // number, so the order check still holds.
                report.sent += 1;
                report.error_frames += 1;
                if report.error_frames <= 3 {
                    eprintln!("  soak: {name} cycle {n} failed: {e}");
                }
            }
        }
        // 0.3–1.3 s between cycles, spread so the rooms do not move in step.
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(300 + (rng >> 33) % 1000)).await;
    }
    report
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

pub async fn soak(bins: &Bins, dir: &std::path::Path, a: SoakArgs) -> R<String> {
    let db = format!("sqlite://{}", dir.join("jiliang.db").display());
    procs::seed(bins, &db)?;
    let args: Vec<std::ffi::OsString> = [
        "--database-url",
        &db,
        "--ledger-key",
        &dir.join("ledger-key.hex").display().to_string(),
        "--chat-rate",
        "10000",
        "--room-sockets-per-person",
        "64",
        "--sockets-per-person",
        "10000",
        "--static-dir",
        "/nonexistent",
    ]
    .iter()
    .map(Into::into)
    .collect();
    let node = Node::start("soak", bins, dir, args).await?;
    let api = node.api();
    let p = crate::scenarios::people(&api).await?;
    let mut sessions = Vec::new();
    for i in 0..a.rooms {
        sessions.push(api.live_session(&p.expert, &format!("浸泡 {i}")).await?);
    }
    let mut devices = Vec::new();
    for i in 0..a.agents {
        let (id, token) = api.device(&p.tech, &format!("浸泡多用表 {i}")).await?;
        api.attach(&p.expert, &sessions[i % sessions.len()], &id)
            .await?;
        devices.push((id, token, sessions[i % sessions.len()].clone()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = Instant::now();
    let before = sample(&node, &api, start, 0, 0).await?;
    let mut instruments = Vec::new();
    for (i, (id, token, session)) in devices.iter().enumerate() {
        let (sim, addr) = procs::simulator(bins)?;
        let queue = dir.join(format!("queue-{i}"));
        let agent = procs::agent(bins, &node.base, token, &addr, &queue, a.agent_interval_ms)?;
        instruments.push((sim, agent, queue, id.clone(), session.clone()));
    }
    let deadline = Instant::now() + Duration::from_secs(a.seconds + 180);
    let steady = Load::start(
        load::clients(
            &sessions,
            &[("e", &p.expert), ("t", &p.tech)],
            1,
            std::slice::from_ref(&node.base),
            a.interval,
        ),
        deadline,
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let cycles = Arc::new(AtomicU64::new(0));
    let mut churners = Vec::new();
    for (r, s) in sessions.iter().enumerate() {
        for c in 0..a.churners_per_room {
            churners.push(tokio::spawn(churner(
                node.base.clone(),
                s.clone(),
                p.trainee.cookie.clone(),
                format!("r{r}c{c}"),
                stop_rx.clone(),
                cycles.clone(),
                (r * 31 + c) as u64,
            )));
        }
    }
    let mut samples = Vec::new();
    let mut last_print = Instant::now();
    if !a.print_every.is_zero() {
        println!("{HEADER}");
        println!("{}", row(&before));
    }
    let start_load = Instant::now();
    while start_load.elapsed() < Duration::from_secs(a.seconds) {
        tokio::time::sleep(a.sample_every).await;
        let s = sample(
            &node,
            &api,
            start_load,
            steady.acked(),
            cycles.load(Ordering::Relaxed),
        )
        .await?;
        if !a.print_every.is_zero()
            && last_print.elapsed() + Duration::from_millis(500) >= a.print_every
        {
            println!("{}", row(&s));
            last_print = Instant::now();
        }
        samples.push(s);
    }
    let _ = stop_tx.send(true);
    let mut reports = Vec::new();
    for c in churners {
        reports.push(c.await.map_err(|e| e.to_string())?);
    }
    let (v, _) = steady.finish(&api, &p.expert).await?;
    // Churners' acked messages are in the logs too, once each, in order.
    let mut churn_lost = 0;
    let mut churn_failed = 0;
    for (r, s) in sessions.iter().enumerate() {
        let mine: Vec<ChatReport> = reports
            .iter()
            .filter(|x| x.name.starts_with(&format!("r{r}c")))
            .cloned()
            .collect();
        churn_failed += mine.iter().map(|x| x.error_frames).sum::<u64>();
        let log = api.events(&p.expert, s).await?;
        let cv = crate::chat::verify(&log, &mine);
        churn_lost += cv.lost + cv.duplicated + cv.disorder;
    }
    let mut readings = 0;
    for (sim, agent, queue, id, session) in instruments {
        drop(sim);
        let taken = load::wait_uploaded(
            &api,
            &p.tech,
            &id,
            || procs::agent_taken(bins, &queue),
            Duration::from_secs(120),
        )
        .await?;
        readings += load::check_readings(&api, &p.tech, &id, taken, &session).await?;
        drop(agent);
    }
    // Sockets closed, presence grace (5 s) and a heartbeat passed.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = sample(
        &node,
        &api,
        start_load,
        v.acked,
        cycles.load(Ordering::Relaxed),
    )
    .await?;
    if !a.print_every.is_zero() {
        println!("{}  (load stopped)", row(&after));
    }
    let t_end = samples.last().map_or(0.0, |s| s.t);
    let third = |lo: f64, hi: f64, f: fn(&Sample) -> u64| {
        let mut v: Vec<u64> = samples
            .iter()
            .filter(|s| s.t >= lo * t_end && s.t <= hi * t_end)
            .map(f)
            .collect();
        median(&mut v)
    };
    let mid_last =
        |f: fn(&Sample) -> u64| (third(1.0 / 3.0, 2.0 / 3.0, f), third(2.0 / 3.0, 1.0, f));
    let (rss_mid, rss_last) = mid_last(|s| s.rss_kib);
    let (fds_mid, fds_last) = mid_last(|s| s.fds);
    let (thr_mid, thr_last) = mid_last(|s| s.threads);
    let (tasks_mid, tasks_last) = mid_last(|s| s.tasks);
    let mut failures = Vec::new();
    if rss_last > rss_mid + rss_mid / 10 + 16 * 1024 {
        failures.push(format!(
            "RSS grew: {rss_mid} → {rss_last} KiB (middle → last third)"
        ));
    }
    if fds_last > fds_mid + fds_mid / 10 + 16 {
        failures.push(format!("open files grew: {fds_mid} → {fds_last}"));
    }
    if thr_last > thr_mid + 8 {
        failures.push(format!("threads grew: {thr_mid} → {thr_last}"));
    }
    if tasks_last > tasks_mid + tasks_mid / 10 + 32 {
        failures.push(format!("tasks grew: {tasks_mid} → {tasks_last}"));
    }
    if after.fds > before.fds + 8 {
        failures.push(format!(
            "open files not released: {} before the load, {} after",
            before.fds, after.fds
        ));
    }
    if after.tasks > before.tasks + 16 {
        failures.push(format!(
            "tasks not released: {} before the load, {} after",
            before.tasks, after.tasks
        ));
    }
    if after.sockets != 0 {
        failures.push(format!(
            "{} sockets still open after the load",
            after.sockets
        ));
    }
    if !v.ok() {
        failures.push(format!(
            "steady chat: {}; {}",
            v.summary(),
            v.details.join("; ")
        ));
    }
    if churn_lost > 0 {
        failures.push(format!(
            "{churn_lost} acked join/leave messages lost, duplicated or out of order"
        ));
    }
    let cycles = cycles.load(Ordering::Relaxed);
    if churn_failed > 0 {
        failures.push(format!("{churn_failed} join/leave cycles got no ack"));
    }
    if cycles == 0 {
        failures.push("no join/leave cycle completed".into());
    }
    let figure = format!(
        "{} s, {} rooms, {} steady clients ({} acked) + {} join/leave cycles ({} failed) + {} readings from {} agents: RSS {:.1} → {:.1} MiB, files {} → {}, threads {} → {}, tasks {} → {} (medians, middle → last third); after the load files {} → {}, tasks {} → {}",
        a.seconds,
        a.rooms,
        a.rooms * 2,
        v.acked,
        cycles,
        churn_failed,
        readings,
        a.agents,
        rss_mid as f64 / 1024.0,
        rss_last as f64 / 1024.0,
        fds_mid,
        fds_last,
        thr_mid,
        thr_last,
        tasks_mid,
        tasks_last,
        before.fds,
        after.fds,
        before.tasks,
        after.tasks
    );
    if failures.is_empty() {
        Ok(figure)
    } else {
        Err(format!("{}; {figure}", failures.join("; ")))
    }
}
