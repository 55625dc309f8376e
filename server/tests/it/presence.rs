//! Presence without a durable record per connection (issue 15, item 2):
//! churn writes one `join` and one `leave` per stretch, closes are answered
//! at once, sockets are capped, chat is limited per person, and presence
//! tells the truth across nodes — also when one is killed.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use jiliang_protocol::rooms::{CLOSE_TOO_MANY, EventBody};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::common::{Backend, Client, TestDb, TestServer};
use crate::rooms::{
    Node, Ws, accepted, chat, close_code, cluster_bus, connect_raw, join, next_json, qinan_session,
    session,
};

/// A seeded server with `tweak` applied to its configuration.
async fn seeded(
    backend: Backend,
    tweak: impl FnOnce(&mut jiliang_server::Config),
) -> Option<TestServer> {
    let db = TestDb::new(backend).await?;
    let server = TestServer::start_configured(db, tweak).await;
    jiliang_server::demo::seed(&server.state.store)
        .await
        .expect("seed");
    Some(server)
}

/// The join and leave events of `user` in `session`'s stored log.
async fn presence_events(server: &TestServer, session: Uuid, user: Uuid) -> Vec<&'static str> {
    let events = server
        .state
        .store
        .read_events(session, 0, 100_000)
        .await
        .expect("read");
    events
        .iter()
        .filter(|e| e.author.as_ref().is_some_and(|a| a.id == user))
        .filter_map(|e| match e.body {
            EventBody::Join => Some("join"),
            EventBody::Leave => Some("leave"),
            _ => None,
        })
        .collect()
}

/// Whether `user` shows online in `GET /sessions/{id}`.
async fn online(client: &Client, session: Uuid, user: Uuid) -> bool {
    let detail = client.json(&format!("/api/v1/sessions/{session}")).await;
    detail["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["user_id"] == user.to_string())
        .unwrap_or_else(|| panic!("{user} is not a participant: {detail}"))["online"]
        .as_bool()
        .expect("online")
}

/// Send a close frame and wait for the server's answer; returns how long
/// it took (panics if it never came).
async fn close_and_wait(mut ws: Ws) -> Duration {
    let t0 = Instant::now();
    ws.send(Message::Close(None)).await.expect("send close");
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(_)))) => return t0.elapsed(),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("connection ended without answering the close: {other:?}"),
            Err(_) => panic!("close not answered within 10 s"),
        }
    }
}

backend_tests!(
    churn_writes_one_stretch_and_every_close_is_answered_at_once,
    |backend| async move {
        let Some(server) = seeded(backend, |c| c.presence_grace_ms = 1500).await else {
            return;
        };
        let expert = server.login("expert").await;
        let tech = server.login("tech").await;
        let id = session(&server, &expert).await;
        let tech_id = server.user_id("tech").await;
        let mut slowest = Duration::ZERO;
        for i in 0..100 {
            let (ws, _) = join(&server.base, &tech, id, u64::MAX).await;
            let took = close_and_wait(ws).await;
            assert!(
                took < Duration::from_secs(1),
                "cycle {i}: close answered after {took:?}"
            );
            slowest = slowest.max(took);
        }
        eprintln!("100 connect–join–close cycles: slowest close answer {slowest:?}");
        let during = presence_events(&server, id, tech_id).await;
        assert_eq!(during, ["join"], "one stretch, one durable join");
        assert!(
            online(&expert, id, tech_id).await,
            "within the grace period"
        );
        // After the grace period: one leave, offline.
        let deadline = Instant::now() + Duration::from_secs(10);
        while online(&expert, id, tech_id).await {
            assert!(Instant::now() < deadline, "still online long after leaving");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            presence_events(&server, id, tech_id).await,
            ["join", "leave"],
            "at most two durable events for 100 connections"
        );
        server.stop().await;
    }
);

// While someone keeps reconnecting — each new socket opening as the old one
// closes, or a moment after — they never show offline, and the log holds
// no presence event beyond the first join.
#[tokio::test]
async fn a_reconnect_never_shows_someone_offline() {
    let server = seeded(Backend::Sqlite, |c| c.presence_grace_ms = 2000)
        .await
        .expect("sqlite");
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = session(&server, &expert).await;
    let tech_id = server.user_id("tech").await;
    let (mut watcher, _) = join(&server.base, &expert, id, 0).await;
    let (mut old, _) = join(&server.base, &tech, id, 0).await;
    for i in 0..20 {
        if i % 2 == 0 {
            let (new, _) = join(&server.base, &tech, id, u64::MAX).await;
            drop(old);
            old = new;
        } else {
            drop(old);
            tokio::time::sleep(Duration::from_millis(50)).await;
            old = join(&server.base, &tech, id, u64::MAX).await.0;
        }
        assert!(
            online(&expert, id, tech_id).await,
            "offline at reconnect {i}"
        );
    }
    // The watcher saw two joins (its own and the technician's) and nothing
    // else about presence.
    chat(&mut watcher, "mark", "标记").await;
    let mut kinds = Vec::new();
    loop {
        let f = next_json(&mut watcher).await;
        if f["type"] == "event" {
            kinds.push(f["body"]["kind"].as_str().unwrap_or("").to_owned());
            if f["client_id"] == "mark" {
                break;
            }
        }
    }
    assert_eq!(kinds, ["join", "join", "chat"]);
    assert_eq!(presence_events(&server, id, tech_id).await, ["join"]);
    drop(old);
    server.stop().await;
}

/// Join and expect the refusal: a `rate_limited` error frame, then 4004.
async fn refused(server: &TestServer, client: &Client, session: Uuid) {
    let mut ws = connect_raw(&server.base, client, session)
        .await
        .expect("upgrade");
    ws.send(Message::text(
        json!({"type": "join", "protocol": jiliang_protocol::rooms::PROTOCOL_VERSION, "last_seq": 0}).to_string(),
    ))
    .await
    .expect("join");
    let f = next_json(&mut ws).await;
    assert_eq!(f["type"], "error", "{f}");
    assert_eq!(f["code"], "rate_limited", "{f}");
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        CLOSE_TOO_MANY
    );
}

#[tokio::test]
async fn sockets_are_capped_per_person_in_a_room_per_person_and_per_room() {
    let server = seeded(Backend::Sqlite, |c| {
        c.sockets_per_person = 6;
        c.room_sockets = 7;
    })
    .await
    .expect("sqlite");
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let trainee = server.login("trainee").await;
    let a = session(&server, &expert).await;
    let b = session(&server, &expert).await;
    // Four per person per room (the default)…
    let mut in_a = Vec::new();
    for _ in 0..4 {
        in_a.push(join(&server.base, &tech, a, 0).await.0);
    }
    refused(&server, &tech, a).await;
    // …six per person in all…
    let mut in_b = Vec::new();
    for _ in 0..2 {
        in_b.push(join(&server.base, &tech, b, 0).await.0);
    }
    refused(&server, &tech, b).await;
    // …seven per room.
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(join(&server.base, &trainee, a, 0).await.0);
    }
    refused(&server, &expert, a).await;
    // A socket that closes frees its place at once.
    drop(in_a.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut ws = connect_raw(&server.base, &expert, a)
            .await
            .expect("upgrade");
        ws.send(Message::text(
            json!({"type": "join", "protocol": jiliang_protocol::rooms::PROTOCOL_VERSION, "last_seq": 0}).to_string(),
        ))
        .await
        .expect("join");
        if next_json(&mut ws).await["type"] == "snapshot" {
            break;
        }
        assert!(Instant::now() < deadline, "the freed place never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

/// Send `n` chats on `ws`; returns (accepted, rate_limited) among the answers.
async fn flood(ws: &mut Ws, tag: &str, n: usize) -> (usize, usize) {
    for i in 0..n {
        chat(ws, &format!("{tag}{i}"), "刷屏").await;
    }
    let (mut ok, mut limited) = (0, 0);
    while ok + limited < n {
        let f = next_json(ws).await;
        match f["type"].as_str() {
            Some("accepted") => ok += 1,
            Some("error") if f["code"] == "rate_limited" => limited += 1,
            Some("error") => panic!("{f}"),
            _ => {}
        }
    }
    (ok, limited)
}

// Two sockets of one person share one chat budget: a burst of 20 in all,
// not 20 each.
#[tokio::test]
async fn chat_is_limited_per_person_across_their_sockets() {
    let server = seeded(Backend::Sqlite, |_| {}).await.expect("sqlite");
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = session(&server, &expert).await;
    let (mut one, _) = join(&server.base, &tech, id, 0).await;
    let (mut two, _) = join(&server.base, &tech, id, 0).await;
    let (a_ok, _) = flood(&mut one, "a", 15).await;
    let (b_ok, b_limited) = flood(&mut two, "b", 15).await;
    assert!(
        a_ok + b_ok <= 22,
        "{a_ok} + {b_ok} chats accepted: the limit is per socket, not per person"
    );
    assert!(b_limited > 0);
    server.stop().await;
}

/// The `jiliang` binary as a second node, killable with SIGKILL.
struct ChildNode {
    child: std::process::Child,
    base: String,
}

impl ChildNode {
    fn spawn(db: &str, bus: &str, key: &std::path::Path) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_jiliang"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                db,
                "--bus",
                bus,
                "--presence-heartbeat-ms",
                "200",
                "--presence-ttl-ms",
                "1000",
            ])
            .arg("--ledger-key")
            .arg(key)
            .env("RUST_LOG", "off")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn jiliang");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let base = line
            .split("running at ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self { child, base }
    }

    async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/healthz", self.base)).await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "node 2 never became healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two nodes on one PostgreSQL and NATS; node 2 is a real process, killed
/// with SIGKILL while a technician is connected through it: on node 1 the
/// technician shows online while connected, offline within seconds of the
/// kill (with one durable `leave` delivered live), and online again when
/// they reconnect through node 1.
#[tokio::test]
async fn a_killed_node_shows_its_people_offline_within_seconds() {
    let Some(nats) = cluster_bus() else {
        return;
    };
    let db = TestDb::postgres().await.expect("pg");
    let key_dir = tempfile::tempdir().expect("key dir");
    let key = key_dir.path().join("ledger-key.hex");
    let n1 = Node::start_with(&db.url, &key, &nats, |c| {
        c.presence_heartbeat_ms = 200;
        c.presence_ttl_ms = 1000;
    })
    .await;
    jiliang_server::demo::seed(&n1.state.store)
        .await
        .expect("seed");
    let mut n2 = ChildNode::spawn(&db.url, &nats, &key);
    n2.ready().await;
    let expert = Client::login(&n1.base, "expert", crate::common::DEMO_PASSWORD).await;
    let tech = Client::login(&n2.base, "tech", crate::common::DEMO_PASSWORD).await;
    let tech_id = n1
        .state
        .store
        .find_user_by_login("tech")
        .await
        .expect("q")
        .expect("tech")
        .user
        .id;
    let id = qinan_session(&n1, &expert, "节点崩溃").await;
    let (mut watcher, _) = join(&n1.base, &expert, id, 0).await;
    let (_tech_ws, _) = join(&n2.base, &tech, id, 0).await;
    // Connected through node 2: online as seen from node 1, for longer
    // than a TTL (node 2's heartbeats keep the row alive).
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        assert!(
            online(&expert, id, tech_id).await,
            "offline while connected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    n2.child.kill().expect("kill -9 node 2");
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(5);
    while online(&expert, id, tech_id).await {
        assert!(
            Instant::now() < deadline,
            "still online 5 s after the node died"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let offline_after = killed.elapsed();
    // The watcher on node 1 hears the technician leave.
    let leave: Value = loop {
        let f = tokio::time::timeout(Duration::from_secs(5), next_json(&mut watcher))
            .await
            .expect("no leave event reached node 1's client");
        if f["type"] == "event"
            && f["body"]["kind"] == "leave"
            && f["author"]["id"] == tech_id.to_string()
        {
            break f;
        }
    };
    eprintln!(
        "node killed: offline after {offline_after:?}, leave event seq {}",
        leave["seq"]
    );
    // Back through node 1: a new stretch.
    let tech1 = Client::login(&n1.base, "tech", crate::common::DEMO_PASSWORD).await;
    let (mut back, _) = join(&n1.base, &tech1, id, 0).await;
    assert!(online(&expert, id, tech_id).await);
    chat(&mut back, "back", "我回来了").await;
    accepted(&mut back, "back").await;
    drop(n2);
    n1.stop().await;
    db.cleanup().await;
}

// The database was out of reach for longer than the TTL: another node's
// sweep removed this node's rows (and ended the stretch). The people still
// connected here show online again after the next heartbeat, with a new
// `join`.
#[tokio::test]
async fn rows_lost_while_connected_come_back_with_the_next_heartbeat() {
    let server = seeded(Backend::Sqlite, |c| {
        c.presence_heartbeat_ms = 100;
        c.presence_ttl_ms = 1000;
    })
    .await
    .expect("sqlite");
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = session(&server, &expert).await;
    let tech_id = server.user_id("tech").await;
    let (_ws, _) = join(&server.base, &tech, id, 0).await;
    assert!(online(&expert, id, tech_id).await);
    let store = &server.state.store;
    jiliang_server::store::testing::execute(store, "DELETE FROM room_presence")
        .await
        .expect("as a sweep would");
    jiliang_server::store::testing::execute(store, "UPDATE room_attendance SET present = FALSE")
        .await
        .expect("as a sweep would");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !online(&expert, id, tech_id).await {
        assert!(
            Instant::now() < deadline,
            "connected but shown offline for good"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        presence_events(&server, id, tech_id).await,
        ["join", "join"],
        "the new stretch starts with a join"
    );
    server.stop().await;
}
