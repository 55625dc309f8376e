//! The fault scenarios that need no network namespace: `kill -9` of the
//! server (chat and readings), PostgreSQL restarted, NATS stopped and
//! started, a node of two killed. Each drives load through the real
//! binaries, injects the fault, lets everything recover by itself and
//! returns its one-line figure, or an error saying what was lost.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::R;
use crate::api::{Api, Login};
use crate::load::{self, Load};
use crate::procs::{self, Bins, Nats, Node, Postgres};

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Limits opened wide: the scenarios measure recovery, not throttling.
fn wide_limits() -> Vec<OsString> {
    os(&[
        "--chat-rate",
        "10000",
        "--room-sockets-per-person",
        "64",
        "--sockets-per-person",
        "256",
        "--static-dir",
        "/nonexistent",
    ])
}

fn sqlite_node_args(dir: &Path) -> Vec<OsString> {
    let mut a = vec![
        OsString::from("--database-url"),
        OsString::from(format!("sqlite://{}", dir.join("jiliang.db").display())),
        OsString::from("--ledger-key"),
        dir.join("ledger-key.hex").into_os_string(),
    ];
    a.extend(wide_limits());
    a
}

pub struct People {
    pub expert: Login,
    pub tech: Login,
    pub trainee: Login,
}

pub async fn people(api: &Api) -> R<People> {
    Ok(People {
        expert: api.login("expert").await?,
        tech: api.login("tech").await?,
        trainee: api.login("trainee").await?,
    })
}

fn fail_with(v: &crate::chat::Verdict) -> R<()> {
    if v.ok() {
        Ok(())
    } else {
        Err(format!("{}; {}", v.summary(), v.details.join("; ")))
    }
}

/// Scenario 1: `kill -9` of the server twice during heavy chat in three rooms, with an
/// agent streaming the simulator's readings into one of them.
pub async fn kill9(bins: &Bins, dir: &Path) -> R<String> {
    procs::seed(
        bins,
        &format!("sqlite://{}", dir.join("jiliang.db").display()),
    )?;
    let mut node = Node::start("kill9", bins, dir, sqlite_node_args(dir)).await?;
    let api = node.api();
    let p = people(&api).await?;
    let mut sessions = Vec::new();
    for i in 0..3 {
        sessions.push(
            api.live_session(&p.expert, &format!("故障 kill-9 {i}"))
                .await?,
        );
    }
    let (device, token) = api.device(&p.tech, "故障测试多用表").await?;
    api.attach(&p.expert, &sessions[0], &device).await?;
    let (sim, instrument) = procs::simulator(bins)?;
    let queue = dir.join("agent-queue");
    let _agent = procs::agent(bins, &node.base, &token, &instrument, &queue, 20)?;
    let deadline = Instant::now() + Duration::from_secs(150);
    let people = [("e", &p.expert), ("t", &p.tech), ("s", &p.trainee)];
    let load = Load::start(
        load::clients(
            &sessions,
            &people,
            2,
            &[node.base.clone()],
            Duration::from_millis(100),
        ),
        deadline,
    );
    load.all_connected(|_| true, Duration::from_secs(30))
        .await?;
    let mut worst_back = Duration::ZERO;
    let mut worst_start = Duration::ZERO;
    let mut acked_at_kill = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(4)).await;
        acked_at_kill.push(load.acked());
        node.kill9();
        tokio::time::sleep(Duration::from_millis(700)).await;
        let t = Instant::now();
        worst_start = worst_start.max(node.restart().await?);
        load.all_connected(|_| true, Duration::from_secs(60))
            .await?;
        worst_back = worst_back.max(t.elapsed());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (v, _) = load.finish(&api, &p.expert).await?;
    fail_with(&v)?;
    // The instrument goes away; the agent uploads what it still holds.
    drop(sim);
    let taken = load::wait_uploaded(
        &api,
        &p.tech,
        &device,
        || procs::agent_taken(bins, &queue),
        Duration::from_secs(60),
    )
    .await?;
    let readings = load::check_readings(&api, &p.tech, &device, taken, &sessions[0]).await?;
    if !node.alive() {
        return Err("the server exited by itself".into());
    }
    Ok(format!(
        "2 × kill -9 under 18 chat clients (acked at the kills {acked_at_kill:?}) + 1 agent: {}; {readings} readings stored once each, in order, and in the room log; restart to healthy ≤ {:.2} s, all clients back ≤ {:.2} s",
        v.summary(),
        worst_start.as_secs_f64(),
        worst_back.as_secs_f64()
    ))
}

/// HTTP requests made while a fault lasts: statuses counted.
#[derive(Default)]
struct Probe {
    ok: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
    transport: AtomicU64,
}

fn probe(
    api: Api,
    who: Login,
    path: String,
    stop: Arc<AtomicU64>,
) -> (Arc<Probe>, tokio::task::JoinHandle<()>) {
    let p = Arc::new(Probe::default());
    let q = p.clone();
    let h = tokio::spawn(async move {
        while stop.load(Ordering::Relaxed) == 0 {
            match api.get(&who, &path).await {
                Ok((200, _)) => q.ok.fetch_add(1, Ordering::Relaxed),
                Ok((503, _)) => q.unavailable.fetch_add(1, Ordering::Relaxed),
                Ok((s, v)) => {
                    eprintln!("  probe: HTTP {s} {v}");
                    q.other.fetch_add(1, Ordering::Relaxed)
                }
                Err(_) => q.transport.fetch_add(1, Ordering::Relaxed),
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (p, h)
}

/// Scenario 2: PostgreSQL stopped (immediate: no clean shutdown) for 3 s and started
/// again under chat load: requests fail cleanly meanwhile, the server stays
/// up and reconnects by itself, no acked message is lost.
pub async fn pg_restart(bins: &Bins, dir: &Path) -> R<String> {
    let pg = Postgres::start(dir)?;
    procs::seed(bins, &pg.url())?;
    let mut args = os(&["--database-url", &pg.url(), "--ledger-key"]);
    args.push(dir.join("ledger-key.hex").into_os_string());
    args.extend(wide_limits());
    let mut node = Node::start("pg", bins, dir, args).await?;
    let api = node.api();
    let p = people(&api).await?;
    let sessions = vec![
        api.live_session(&p.expert, "故障 PG 0").await?,
        api.live_session(&p.expert, "故障 PG 1").await?,
    ];
    let deadline = Instant::now() + Duration::from_secs(120);
    let people = [("e", &p.expert), ("t", &p.tech), ("s", &p.trainee)];
    let load = Load::start(
        load::clients(
            &sessions,
            &people,
            2,
            &[node.base.clone()],
            Duration::from_millis(100),
        ),
        deadline,
    );
    load.all_connected(|_| true, Duration::from_secs(30))
        .await?;
    let stop = Arc::new(AtomicU64::new(0));
    let (probed, ph) = probe(
        api.clone(),
        p.expert.clone(),
        format!("/api/v1/sessions/{}", sessions[0]),
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = load.acked();
    pg.ctl("stop")?;
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.ctl("start")?;
    let up = Instant::now();
    // Ready again by itself: no restart of the node.
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{}/readyz", node.base)).send().await
            && r.status() == 200
        {
            break;
        }
        if up.elapsed() > Duration::from_secs(30) {
            return Err("/readyz not 200 within 30 s of PostgreSQL coming back".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready_after = up.elapsed();
    // Acks flow again.
    let resumed = loop {
        if load.acked() > before + 50 && up.elapsed() > Duration::from_millis(10) {
            break up.elapsed();
        }
        if up.elapsed() > Duration::from_secs(30) {
            return Err("no chat acked within 30 s of PostgreSQL coming back".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(1, Ordering::Relaxed);
    let _ = ph.await;
    let (v, _) = load.finish(&api, &p.expert).await?;
    if !node.alive() {
        return Err(format!("the server exited: {}", node.log_tail()));
    }
    fail_with(&v)?;
    let (ok, unavailable, other, transport) = (
        probed.ok.load(Ordering::Relaxed),
        probed.unavailable.load(Ordering::Relaxed),
        probed.other.load(Ordering::Relaxed),
        probed.transport.load(Ordering::Relaxed),
    );
    if other > 0 || transport > 0 {
        return Err(format!(
            "requests during the outage: {ok} ok, {unavailable} × 503, {other} other statuses, {transport} unanswered (want only 200 and 503)"
        ));
    }
    let _ = down;
    Ok(format!(
        "PostgreSQL down 3 s under 12 chat clients: {}; requests meanwhile {ok} × 200, {unavailable} × 503, 0 other; ready {:.2} s and acking {:.2} s after it returned, no restart",
        v.summary(),
        ready_after.as_secs_f64(),
        resumed.as_secs_f64()
    ))
}

async fn two_nodes(
    bins: &Bins,
    dir: &Path,
    pg: &Postgres,
    nats: &Nats,
    extra: &[&str],
) -> R<(Node, Node)> {
    procs::seed(bins, &pg.url())?;
    let mut args = os(&[
        "--database-url",
        &pg.url(),
        "--bus",
        &nats.url(),
        "--ledger-key",
    ]);
    args.push(dir.join("ledger-key.hex").into_os_string());
    args.extend(wide_limits());
    args.extend(os(extra));
    let a = Node::start("node-a", bins, dir, args.clone()).await?;
    let b = Node::start("node-b", bins, dir, args).await?;
    Ok((a, b))
}

/// Scenario 3: Two nodes; NATS stopped for 4 s and started while clients on both
/// nodes chat in two rooms: everyone on the other node still gets every
/// event once, in order, and acked messages are all stored.
pub async fn nats_restart(bins: &Bins, dir: &Path) -> R<String> {
    let pg = Postgres::start(dir)?;
    let mut nats = Nats::start(dir).await?;
    let (mut a, mut b) = two_nodes(bins, dir, &pg, &nats, &[]).await?;
    let api = a.api();
    let p = people(&api).await?;
    let sessions = vec![
        api.live_session(&p.expert, "故障 NATS 0").await?,
        api.live_session(&p.expert, "故障 NATS 1").await?,
    ];
    let deadline = Instant::now() + Duration::from_secs(120);
    let people = [("e", &p.expert), ("t", &p.tech), ("s", &p.trainee)];
    // Per room and person: one client on node A, one on node B.
    let mut configs = load::clients(
        &sessions,
        &people,
        2,
        &[a.base.clone()],
        Duration::from_millis(100),
    );
    for (i, c) in configs.iter_mut().enumerate() {
        if i % 2 == 1 {
            c.bases = vec![b.base.clone()];
        }
    }
    let load = Load::start(configs, deadline);
    load.all_connected(|_| true, Duration::from_secs(30))
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = |load: &Load| -> u64 {
        load.progress()
            .skip(1)
            .step_by(2)
            .map(|p| p.last_seq.load(Ordering::Relaxed))
            .sum()
    };
    nats.down();
    let applied_at_down = seen(&load);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let applied_during = seen(&load) - applied_at_down;
    nats.up().await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (v, _) = load.finish(&api, &p.expert).await?;
    if !a.alive() || !b.alive() {
        return Err("a node exited by itself".into());
    }
    fail_with(&v)?;
    Ok(format!(
        "NATS down 4 s, 2 nodes, 12 clients (half on each): {}; node B's clients applied {applied_during} events during the outage (read from the database)",
        v.summary()
    ))
}

/// Scenario 4: Two nodes; node B killed with SIGKILL. Its chat clients reconnect to
/// node A and catch up; a person connected only through B shows offline
/// within seconds (presence TTL), the people who came back show online.
pub async fn node_kill(bins: &Bins, dir: &Path) -> R<String> {
    let pg = Postgres::start(dir)?;
    let nats = Nats::start(dir).await?;
    let (mut a, mut b) = two_nodes(bins, dir, &pg, &nats, &[]).await?;
    let api = a.api();
    let p = people(&api).await?;
    let session = api.live_session(&p.expert, "故障 节点").await?;
    let sessions = vec![session.clone()];
    let deadline = Instant::now() + Duration::from_secs(120);
    // The expert on A; the technician on B, falling back to A.
    let mut configs = load::clients(
        &sessions,
        &[("e", &p.expert)],
        2,
        &[a.base.clone()],
        Duration::from_millis(100),
    );
    configs.extend(load::clients(
        &sessions,
        &[("t", &p.tech)],
        3,
        &[b.base.clone(), a.base.clone()],
        Duration::from_millis(100),
    ));
    let load = Load::start(configs, deadline);
    load.all_connected(|_| true, Duration::from_secs(30))
        .await?;
    // The trainee is in the room through B only, and does not come back.
    let trainee_ws = crate::link::hold_socket(&b.base, &session, &p.trainee.cookie).await?;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if !api.online(&p.expert, &session, &p.trainee.user_id).await? {
            return Err("the trainee shows offline while connected through node B".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    b.kill9();
    let killed = Instant::now();
    trainee_ws.abort();
    load.all_connected(|_| true, Duration::from_secs(30))
        .await?;
    let back = killed.elapsed();
    let offline_after = loop {
        if !api.online(&p.expert, &session, &p.trainee.user_id).await? {
            break killed.elapsed();
        }
        if killed.elapsed() > Duration::from_secs(12) {
            return Err("the trainee still shows online 12 s after node B died".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if !api.online(&p.expert, &session, &p.tech.user_id).await? {
        return Err("the technician, back through node A, shows offline".into());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (v, reports) = load.finish(&api, &p.expert).await?;
    if !a.alive() {
        return Err("node A exited".into());
    }
    fail_with(&v)?;
    let moved = reports.iter().filter(|r| r.last_base == a.base).count();
    let log = api.events(&p.expert, &session).await?;
    let leaves = log
        .iter()
        .filter(|e| e["body"]["kind"] == "leave" && e["author"]["id"] == p.trainee.user_id)
        .count();
    if leaves != 1 {
        return Err(format!("{leaves} leave events for the trainee, want 1"));
    }
    Ok(format!(
        "node B killed (2 nodes, 5 clients + 1 held socket): {}; B's clients all on node A {:.2} s after the kill ({moved} of {} end on A); its person offline after {:.2} s (TTL 6 s + heartbeat 2 s), with 1 leave",
        v.summary(),
        back.as_secs_f64(),
        reports.len(),
        offline_after.as_secs_f64()
    ))
}
