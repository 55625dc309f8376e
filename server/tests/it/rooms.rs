//! Live session rooms over real WebSockets: ordering, resume, dedupe,
//! backpressure, permissions, bad input, and two nodes sharing one log.

use std::time::Duration;

use crate::common::{Backend, Client, TestServer};
use futures_util::{SinkExt, StreamExt};
use jiliang_protocol::rooms::{EventBody, ServerFrame};
use jiliang_server::rooms::log::Append;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use uuid::Uuid;

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect_raw(
    server_base: &str,
    client: &Client,
    session: Uuid,
) -> Result<Ws, tungstenite::Error> {
    let url = format!(
        "{}/api/v1/sessions/{session}/ws",
        server_base.replace("http://", "ws://")
    );
    let mut req = url.into_client_request().expect("request");
    if let Some(c) = &client.cookie {
        req.headers_mut()
            .insert("cookie", c.parse().expect("header"));
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

/// Connect and join; returns the socket and the snapshot.
pub(crate) async fn join(base: &str, client: &Client, session: Uuid, last_seq: u64) -> (Ws, Value) {
    let mut ws = connect_raw(base, client, session).await.expect("upgrade");
    ws.send(Message::text(
        json!({"type": "join", "protocol": jiliang_protocol::rooms::PROTOCOL_VERSION, "last_seq": last_seq}).to_string(),
    ))
    .await
    .expect("send join");
    let snap = next_json(&mut ws).await;
    assert_eq!(snap["type"], "snapshot", "{snap}");
    (ws, snap)
}

pub(crate) async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).expect("json frame"),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Read frames until `n` events have arrived; returns their (seq, kind, text).
pub(crate) async fn events(ws: &mut Ws, n: usize) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let f = next_json(ws).await;
        if f["type"] == "event" {
            out.push((
                f["seq"].as_u64().expect("seq"),
                f["body"]["kind"].as_str().unwrap_or("").to_owned(),
                f["body"]["text"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

pub(crate) async fn chat(ws: &mut Ws, client_id: &str, text: &str) {
    ws.send(Message::text(
        json!({"type": "chat", "client_id": client_id, "text": text}).to_string(),
    ))
    .await
    .expect("send chat");
}

/// Read until the `accepted` for `client_id`; returns its seq.
pub(crate) async fn accepted(ws: &mut Ws, client_id: &str) -> u64 {
    loop {
        let f = next_json(ws).await;
        if f["type"] == "accepted" && f["client_id"] == client_id {
            return f["seq"].as_u64().expect("seq");
        }
        assert_ne!(f["type"], "error", "{f}");
    }
}

/// A session hosted by `expert` with 秦安县 (tech, trainee) as the lab.
pub(crate) async fn session(server: &TestServer, expert: &Client) -> Uuid {
    let qinan = server.institution_id("秦安县计量检定所").await;
    let res = expert
        .post(
            "/api/v1/sessions",
            &json!({
            "title": "电子天平远程检定", "scheduled_start": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339).expect("format"),
            "duration_minutes": 60, "lab_ids": [qinan]}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let v: Value = res.json().await.expect("json");
    v["id"].as_str().and_then(|s| s.parse().ok()).expect("id")
}

backend_tests!(
    chat_is_ordered_identically_for_everyone,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let expert = server.login("expert").await;
        let tech = server.login("tech").await;
        let id = session(&server, &expert).await;
        let (mut a, snap) = join(&server.base, &expert, id, 0).await;
        assert_eq!(snap["session"]["title"], "电子天平远程检定");
        assert!(
            snap["participants"]
                .as_array()
                .is_some_and(|p| p.iter().any(|x| x["display_name"] == "张伟"))
        );
        let (mut b, _) = join(&server.base, &tech, id, 0).await;
        for i in 0..5 {
            chat(&mut a, &format!("a{i}"), &format!("专家 {i}")).await;
            chat(&mut b, &format!("b{i}"), &format!("技术员 {i}")).await;
        }
        // join(expert), join(tech), then 10 chats: 12 events each, same order.
        let ea = events(&mut a, 12).await;
        let eb = events(&mut b, 12).await;
        assert_eq!(ea, eb);
        let seqs: Vec<u64> = ea.iter().map(|e| e.0).collect();
        assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
        assert_eq!(ea[0].1, "join");
        // The stored timeline is the same log.
        let page = expert.json(&format!("/api/v1/sessions/{id}/events")).await;
        assert_eq!(page["items"].as_array().map(Vec::len), Some(12));
        server.stop().await;
    }
);

backend_tests!(
    a_reconnecting_client_misses_nothing_and_duplicates_nothing,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let expert = server.login("expert").await;
        let tech = server.login("tech").await;
        let id = session(&server, &expert).await;
        let (mut a, _) = join(&server.base, &expert, id, 0).await;
        let (mut b, _) = join(&server.base, &tech, id, 0).await;
        chat(&mut b, "m1", "第一条").await;
        let seq_m1 = accepted(&mut b, "m1").await;
        drop(b); // the 4G link drops

        chat(&mut a, "x1", "你在吗？").await;
        chat(&mut a, "x2", "请检查零点。").await;
        accepted(&mut a, "x2").await;

        // The technician comes back: first the replay of exactly what it missed…
        let (mut b, snap) = join(&server.base, &tech, id, seq_m1).await;
        let snap_last = snap["last_seq"].as_u64().expect("last");
        assert!(snap_last > seq_m1);
        let replay = events(&mut b, usize::try_from(snap_last - seq_m1).expect("count")).await;
        let seqs: Vec<u64> = replay.iter().map(|e| e.0).collect();
        assert_eq!(
            seqs,
            ((seq_m1 + 1)..=snap_last).collect::<Vec<_>>(),
            "no gap, no duplicate"
        );
        // …then it re-sends m1 (not sure it arrived) and a new one.
        chat(&mut b, "m1", "第一条").await;
        assert_eq!(
            accepted(&mut b, "m1").await,
            seq_m1,
            "a resend is stored once"
        );
        chat(&mut b, "m2", "零点已检查。").await;
        let seq_m2 = accepted(&mut b, "m2").await;
        assert!(seq_m2 > snap_last);
        let all = tech.json(&format!("/api/v1/sessions/{id}/events")).await;
        let texts: Vec<&str> = all["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["body"]["kind"] == "chat")
            .filter_map(|e| e["body"]["text"].as_str())
            .collect();
        assert_eq!(
            texts,
            ["第一条", "你在吗？", "请检查零点。", "零点已检查。"]
        );
        server.stop().await;
    }
);

#[tokio::test]
async fn a_slow_client_is_told_to_resume_and_never_slows_the_room() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = session(&server, &expert).await;
    let (mut fast, _) = join(&server.base, &expert, id, 0).await;
    let (mut slow, _) = join(&server.base, &tech, id, 0).await; // never reads for a while
    let text = "读".repeat(3000); // ~9 KB a frame: more than the socket buffers can hide
    let n = 3000;
    let author = jiliang_protocol::rooms::Author {
        id: server.user_id("expert").await,
        name: "李明华".into(),
    };
    let log = server.state.log.clone();
    let writer = tokio::spawn(async move {
        for i in 0..n {
            log.append(Append {
                session: id,
                author: Some(author.clone()),
                client_id: Some(format!("bulk{i}")),
                body: EventBody::Chat { text: text.clone() },
            })
            .await
            .expect("append");
        }
    });
    // The fast client gets everything, in order, while the slow one sleeps.
    let got = events(&mut fast, 2 + n).await;
    assert!(got.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    writer.await.expect("writer");

    // The slow client reads what was buffered, then is told to resume.
    let mut last = 0;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(20), slow.next())
            .await
            .expect("frame")
        {
            Some(Ok(Message::Text(t))) => {
                let f: Value = serde_json::from_str(&t).expect("json");
                if f["type"] == "event" {
                    let s = f["seq"].as_u64().expect("seq");
                    assert!(last == 0 || s == last + 1, "gap {last} -> {s}");
                    last = s;
                }
            }
            Some(Ok(Message::Close(Some(c)))) => break Some(u16::from(c.code)),
            // The close frame waits behind the unread bytes; when the client
            // sleeps past the server's send timeout as well (a loaded CI
            // machine), the server gives up on it and drops the connection.
            // The browser client reconnects from its last sequence on an
            // abnormal close just as on 4000, so both are the same signal.
            Some(Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )))
            | None => break None,
            other => panic!("unexpected {other:?}"),
        }
    };
    if let Some(code) = code {
        assert_eq!(code, jiliang_protocol::rooms::CLOSE_RESUME);
    }
    assert!(last < (2 + n) as u64, "it fell behind");
    // Resuming from its last sequence brings the rest, exactly.
    let (mut again, _) = join(&server.base, &tech, id, last).await;
    let rest = events(&mut again, 2 + n - usize::try_from(last).expect("small")).await;
    assert_eq!(rest.first().map(|e| e.0), Some(last + 1));
    assert!(rest.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    server.stop().await;
}

#[tokio::test]
async fn only_participants_enter_and_unknown_rooms_are_404_before_upgrade() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let expert = server.login("expert").await;
    let id = session(&server, &expert).await;
    let outsider = server.login("tongwei.tech").await; // another county
    let status = |r: Result<Ws, tungstenite::Error>| match r {
        Err(tungstenite::Error::Http(res)) => res.status().as_u16(),
        Ok(_) => 101,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status(connect_raw(&server.base, &outsider, id).await), 403);
    assert_eq!(
        status(connect_raw(&server.base, &expert, Uuid::now_v7()).await),
        404
    );
    assert_eq!(
        status(connect_raw(&server.base, &Client::new(&server.base), id).await),
        401
    );
    // A lab member may enter without being named.
    let trainee = server.login("trainee").await;
    assert_eq!(status(connect_raw(&server.base, &trainee, id).await), 101);
    server.stop().await;
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_connection_survives() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let expert = server.login("expert").await;
    let id = session(&server, &expert).await;
    let (mut ws, _) = join(&server.base, &expert, id, 0).await;
    ws.send(Message::text("{not json")).await.expect("send");
    let f = loop {
        let f = next_json(&mut ws).await;
        if f["type"] == "error" {
            break f;
        }
    };
    assert_eq!(f["code"], "malformed_json");
    ws.send(Message::text(
        r#"{"type":"chat","client_id":"c","text":"  "}"#,
    ))
    .await
    .expect("send");
    let f = loop {
        let f = next_json(&mut ws).await;
        if f["type"] == "error" {
            break f;
        }
    };
    assert_eq!(f["code"], "invalid_input");
    ws.send(Message::text(r#"{"type":"teleport"}"#))
        .await
        .expect("send");
    let f = loop {
        let f = next_json(&mut ws).await;
        if f["type"] == "error" {
            break f;
        }
    };
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|m| m.contains("teleport")),
        "{f}"
    );
    // Time sync on the room socket.
    ws.send(Message::text(r#"{"type":"ping","id":9,"t0":1000.5}"#))
        .await
        .expect("send");
    let f = loop {
        let f = next_json(&mut ws).await;
        if f["type"] == "pong" {
            break f;
        }
    };
    assert_eq!(f["id"], 9);
    assert!(f["t2"].as_f64() >= f["t1"].as_f64());
    // Still alive.
    chat(&mut ws, "ok", "仍在线").await;
    accepted(&mut ws, "ok").await;

    // A flood is rate-limited with an error frame, not a disconnect.
    for i in 0..40 {
        chat(&mut ws, &format!("f{i}"), "刷屏").await;
    }
    let mut limited = false;
    for _ in 0..80 {
        let f = next_json(&mut ws).await;
        if f["type"] == "error" && f["code"] == "rate_limited" {
            limited = true;
            break;
        }
    }
    assert!(limited, "flood was not limited");

    // Over 64 KiB: close 1009.
    let big = "x".repeat(70 * 1024);
    let _ = ws.send(Message::text(big)).await;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("close")
        {
            Some(Ok(Message::Close(Some(c)))) => break c.code,
            Some(Ok(_)) => continue,
            other => panic!("expected close, got {other:?}"),
        }
    };
    assert_eq!(code, CloseCode::Size);
    // The server is fine.
    assert_eq!(expert.get("/api/v1/auth/me").await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn ended_sessions_are_read_only_and_browsable() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = session(&server, &expert).await;
    assert_eq!(
        tech.post(&format!("/api/v1/sessions/{id}/start"), &json!({}))
            .await
            .status(),
        403
    );
    let started = expert
        .post(&format!("/api/v1/sessions/{id}/start"), &json!({}))
        .await;
    assert_eq!(started.status(), 200);
    let (mut ws, snap) = join(&server.base, &tech, id, 0).await;
    assert_eq!(snap["session"]["state"], "live");
    chat(&mut ws, "t1", "开始检定").await;
    accepted(&mut ws, "t1").await;
    let ended = expert
        .post(&format!("/api/v1/sessions/{id}/end"), &json!({}))
        .await;
    assert_eq!(ended.status(), 200);
    assert_eq!(
        expert
            .post(&format!("/api/v1/sessions/{id}/end"), &json!({}))
            .await
            .status(),
        409
    );
    chat(&mut ws, "t2", "还能发吗").await;
    let f = loop {
        let f = next_json(&mut ws).await;
        if f["type"] == "error" {
            break f;
        }
    };
    assert_eq!(f["code"], "forbidden");
    let page = tech.json(&format!("/api/v1/sessions/{id}/events")).await;
    let kinds: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["body"]["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["state", "join", "chat", "state"]);
    let d = tech.json(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(d["state"], "ended");
    assert!(d["ended_at"].is_string());
    server.stop().await;
}

backend_tests!(help_requests_open_sessions, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let tech = server.login("tech").await;
    let res = tech.post("/api/v1/help-requests", &json!({"topic": "压力表零点漂移", "instrument": "精密压力表 YB-150 0–1.6 MPa", "urgency": "high"})).await;
    assert_eq!(res.status(), 201);
    let low = tech
        .post(
            "/api/v1/help-requests",
            &json!({"topic": "温度计读数", "instrument": "玻璃液体温度计", "urgency": "low"}),
        )
        .await;
    let low: Value = low.json().await.expect("json");
    let help: Value = res.json().await.expect("json");
    // The city expert above 秦安 sees the queue, most urgent first; another city's does not.
    let tianshui = server.login("tianshui.admin").await;
    let queue = tianshui.json("/api/v1/help-requests?state=open").await;
    assert_eq!(queue[0]["topic"], "压力表零点漂移");
    assert_eq!(queue.as_array().map(Vec::len), Some(2));
    let dingxi = server.login("dingxi.expert").await;
    assert_eq!(
        dingxi
            .json("/api/v1/help-requests")
            .await
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let res = dingxi
        .post(
            &format!(
                "/api/v1/help-requests/{}/accept",
                help["id"].as_str().expect("id")
            ),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = tianshui
        .post(
            &format!(
                "/api/v1/help-requests/{}/accept",
                help["id"].as_str().expect("id")
            ),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let s: Value = res.json().await.expect("json");
    assert_eq!(s["state"], "live");
    assert_eq!(s["kind"], "help");
    let sid: Uuid = s["id"].as_str().and_then(|x| x.parse().ok()).expect("id");
    // Accepting twice conflicts; the technician enters the new room.
    let again = server.login("expert").await;
    assert_eq!(
        again
            .post(
                &format!(
                    "/api/v1/help-requests/{}/accept",
                    help["id"].as_str().expect("id")
                ),
                &json!({})
            )
            .await
            .status(),
        409
    );
    let (_ws, snap) = join(&server.base, &tech, sid, 0).await;
    assert_eq!(snap["session"]["state"], "live");
    let mine = tech.json("/api/v1/help-requests").await;
    assert!(
        mine.as_array()
            .expect("list")
            .iter()
            .any(|h| h["state"] == "accepted" && h["session_id"] == json!(sid))
    );
    let res = tech
        .post(
            &format!(
                "/api/v1/help-requests/{}/cancel",
                low["id"].as_str().expect("id")
            ),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        server
            .login("trainee")
            .await
            .get("/api/v1/help-requests")
            .await
            .status(),
        403
    );
    server.stop().await;
});

/// The NATS URL when PostgreSQL and NATS are both configured (CI requires
/// them); `None` skips a cluster test.
pub(crate) fn cluster_bus() -> Option<String> {
    let (Some(_), Ok(nats)) = (crate::common::postgres_url(), std::env::var("JILIANG_BUS")) else {
        eprintln!("skipped: needs DATABASE_URL (PostgreSQL) and JILIANG_BUS (NATS)");
        if std::env::var_os("JILIANG_REQUIRE_POSTGRES").is_some() {
            panic!("CI must run the cluster tests: set JILIANG_BUS");
        }
        return None;
    };
    Some(nats)
}

/// One `jiliang serve` node of a cluster.
pub(crate) struct Node {
    pub(crate) base: String,
    pub(crate) state: jiliang_server::AppState,
    stop: tokio_util::sync::CancellationToken,
    handle: tokio::task::JoinHandle<Result<(), jiliang_server::RunError>>,
}

impl Node {
    /// Every node of a cluster signs with the same ledger key.
    pub(crate) async fn start(url: &str, key: &std::path::Path, bus: &str) -> Self {
        Self::start_with(url, key, bus, |_| {}).await
    }

    /// Start with the node's configuration changed by `tweak`.
    pub(crate) async fn start_with(
        url: &str,
        key: &std::path::Path,
        bus: &str,
        tweak: impl FnOnce(&mut jiliang_server::Config),
    ) -> Self {
        let store = jiliang_server::Store::open(url).await.expect("store");
        let mut config = jiliang_server::Config {
            bus: bus.to_owned(),
            ledger_key: Some(key.to_owned()),
            ..jiliang_server::Config::for_database(url)
        };
        tweak(&mut config);
        let stop = tokio_util::sync::CancellationToken::new();
        let state = jiliang_server::AppState::build(store, config, stop.clone())
            .await
            .expect("bus");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let handle = tokio::spawn(jiliang_server::serve(state.clone(), listener));
        Self {
            base,
            state,
            stop,
            handle,
        }
    }

    pub(crate) async fn stop(self) {
        self.stop.cancel();
        let _ = self.handle.await;
    }
}

pub(crate) async fn qinan_session(node: &Node, expert: &Client, title: &str) -> Uuid {
    let qinan = node
        .state
        .store
        .list_institutions()
        .await
        .expect("list")
        .into_iter()
        .find(|i| i.institution.name_zh == "秦安县计量检定所")
        .map(|i| i.institution.id)
        .expect("qinan");
    let res = expert.post("/api/v1/sessions", &json!({"title": title, "scheduled_start":
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("fmt"),
        "duration_minutes": 30, "lab_ids": [qinan]})).await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id")
}

/// Two `jiliang serve` nodes on one PostgreSQL database, fanned out by NATS:
/// clients on either node see one identical ordered log, resume on either
/// node, and a message re-sent through the other node is stored once.
#[tokio::test]
async fn two_nodes_share_one_ordered_log() {
    let Some(nats) = cluster_bus() else {
        return;
    };
    let db = crate::common::TestDb::postgres().await.expect("pg");
    let key_dir = tempfile::tempdir().expect("key dir");
    let key = key_dir.path().join("ledger-key.hex");
    let n1 = Node::start(&db.url, &key, &nats).await;
    jiliang_server::demo::seed(&n1.state.store)
        .await
        .expect("seed");
    let n2 = Node::start(&db.url, &key, &nats).await;
    let expert = Client::login(&n1.base, "expert", crate::common::DEMO_PASSWORD).await;
    let tech = Client::login(&n2.base, "tech", crate::common::DEMO_PASSWORD).await;
    let id = qinan_session(&n1, &expert, "两节点").await;
    let (mut a, _) = join(&n1.base, &expert, id, 0).await;
    let (mut b, _) = join(&n2.base, &tech, id, 0).await;
    for i in 0..20 {
        chat(&mut a, &format!("a{i}"), &format!("节点一 {i}")).await;
        chat(&mut b, &format!("b{i}"), &format!("节点二 {i}")).await;
    }
    let ea = events(&mut a, 42).await;
    let eb = events(&mut b, 42).await;
    assert_eq!(ea, eb, "both nodes deliver one identical log");
    assert_eq!(
        ea.iter().map(|e| e.0).collect::<Vec<_>>(),
        (1..=42).collect::<Vec<_>>()
    );
    let b3 = ea
        .iter()
        .find(|e| e.2 == "节点二 3")
        .map(|e| e.0)
        .expect("b3 stored");

    // The technician's link drops after seq 20; the expert goes on; the
    // technician comes back through the *other* node.
    drop(b);
    // (After a burst of 20 the chat rate allows 5 a second.)
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for i in 20..25 {
        chat(&mut a, &format!("a{i}"), &format!("节点一 {i}")).await;
        accepted(&mut a, &format!("a{i}")).await;
    }
    let (mut b, snap) = join(&n1.base, &tech, id, 20).await;
    let last = snap["last_seq"].as_u64().expect("last");
    let replay = events(&mut b, usize::try_from(last - 20).expect("small")).await;
    assert_eq!(
        replay.iter().map(|e| e.0).collect::<Vec<_>>(),
        (21..=last).collect::<Vec<_>>(),
        "resumed on the other node: no gap, no duplicate"
    );
    assert_eq!(replay[..22], ea[20..], "the same log on both nodes");
    // It re-sends a message it had sent through node 2: stored once.
    chat(&mut b, "b3", "节点二 3").await;
    assert_eq!(
        accepted(&mut b, "b3").await,
        b3,
        "a resend via another node is stored once"
    );
    chat(&mut b, "b20", "回来了").await;
    let seq = accepted(&mut b, "b20").await;
    let page = tech
        .json(&format!("/api/v1/sessions/{id}/events?limit=1000"))
        .await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.last().and_then(|e| e["seq"].as_u64()), Some(seq));
    assert_eq!(
        items.iter().filter(|e| e["client_id"] == "b3").count(),
        1,
        "stored once"
    );
    n1.stop().await;
    n2.stop().await;
    db.cleanup().await;
}

/// An event stored but never carried by the bus — the last of a burst, with
/// nothing after it to reveal the gap — still reaches every node's clients,
/// from the database.
#[tokio::test]
async fn an_event_the_bus_never_carried_still_arrives() {
    let Some(nats) = cluster_bus() else {
        return;
    };
    let db = crate::common::TestDb::postgres().await.expect("pg");
    let key_dir = tempfile::tempdir().expect("key dir");
    let key = key_dir.path().join("ledger-key.hex");
    let n1 = Node::start(&db.url, &key, &nats).await;
    jiliang_server::demo::seed(&n1.state.store)
        .await
        .expect("seed");
    // A writer whose publications never reach the bus: as if NATS dropped
    // every message it sent.
    let silent = Node::start(&db.url, &key, "").await;
    let expert = Client::login(&n1.base, "expert", crate::common::DEMO_PASSWORD).await;
    let tech = Client::login(&n1.base, "tech", crate::common::DEMO_PASSWORD).await;
    let id = qinan_session(&n1, &expert, "总线丢失").await;
    let (mut a, _) = join(&n1.base, &expert, id, 0).await;
    let (mut b, _) = join(&n1.base, &tech, id, 0).await;
    assert_eq!(events(&mut b, 2).await.len(), 2);
    let author = n1
        .state
        .store
        .find_user_by_login("expert")
        .await
        .expect("q")
        .expect("expert")
        .user
        .id;
    let stored = silent
        .state
        .log
        .append(chat_from(author, id, "lost-1", "总线上丢失的消息"))
        .await
        .expect("append");
    assert_eq!(stored.event().seq, 3);
    let got = tokio::time::timeout(Duration::from_secs(5), events(&mut b, 1))
        .await
        .expect("the event never arrived: a silent gap went unnoticed");
    assert_eq!(
        got[0],
        (3, "chat".to_owned(), "总线上丢失的消息".to_owned())
    );
    let got = tokio::time::timeout(Duration::from_secs(5), events(&mut a, 3))
        .await
        .expect("arrives at every client");
    assert_eq!(got[2].0, 3);
    silent.stop().await;
    n1.stop().await;
    db.cleanup().await;
}

#[test]
fn server_frames_decode_as_the_protocol_says() {
    let f: ServerFrame =
        serde_json::from_str(r#"{"type":"accepted","client_id":"c1","seq":3}"#).expect("parses");
    assert_eq!(
        f,
        ServerFrame::Accepted {
            client_id: "c1".into(),
            seq: 3
        }
    );
}

// Many appends at once go through the bulk path: sequence numbers stay
// gap-free per room, client messages are stored once even when sent twice
// in one batch or across batches, ended rooms refuse, and every stored
// event has its ledger leaf.
backend_tests!(
    concurrent_appends_are_stored_once_in_order,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let expert = server.login("expert").await;
        let a = session(&server, &expert).await;
        let b = session(&server, &expert).await;
        let ended = session(&server, &expert).await;
        assert_eq!(
            expert
                .post(&format!("/api/v1/sessions/{ended}/end"), &json!({}))
                .await
                .status(),
            200
        );
        let author = jiliang_protocol::rooms::Author {
            id: server.user_id("expert").await,
            name: "李明华".into(),
        };
        let mut tasks = Vec::new();
        for i in 0..300usize {
            let log = server.state.log.clone();
            let author = author.clone();
            let room = [a, b, ended][i % 3];
            // Every message id is used twice: the second copy must dedupe.
            let cid = format!("c{}", i / 2 * 2 + (i % 3 == 2) as usize);
            tasks.push(tokio::spawn(async move {
                let r = log
                    .append(Append {
                        session: room,
                        author: Some(author),
                        client_id: Some(format!("{cid}-{room}")),
                        body: EventBody::Chat {
                            text: format!("并发 {cid}"),
                        },
                    })
                    .await;
                (room, cid, r)
            }));
        }
        let mut by_key: std::collections::HashMap<(Uuid, String), u64> =
            std::collections::HashMap::new();
        for t in tasks {
            let (room, cid, r) = t.await.expect("task");
            if room == ended {
                assert!(
                    matches!(r, Err(jiliang_server::rooms::log::AppendError::Ended)),
                    "{r:?}"
                );
                continue;
            }
            let seq = r.expect("stored").event().seq;
            if let Some(prev) = by_key.insert((room, cid.clone()), seq) {
                assert_eq!(prev, seq, "a duplicate of {cid} got another seq");
            }
        }
        for room in [a, b] {
            let page = expert
                .json(&format!("/api/v1/sessions/{room}/events?limit=1000"))
                .await;
            let items = page["items"].as_array().expect("items");
            let seqs: Vec<u64> = items.iter().filter_map(|e| e["seq"].as_u64()).collect();
            assert_eq!(
                seqs,
                (1..=seqs.len() as u64).collect::<Vec<_>>(),
                "gap-free"
            );
            let cids: std::collections::HashSet<&str> = items
                .iter()
                .filter_map(|e| e["client_id"].as_str())
                .collect();
            assert_eq!(cids.len(), items.len(), "each client message once");
            assert_eq!(
                items.len(),
                by_key.keys().filter(|(r, _)| *r == room).count()
            );
        }
        server.state.ledger.publish().await.expect("publish");
        let report = jiliang_server::ledger::verify::verify_database(&server.state.store, None)
            .await
            .expect("verify");
        assert!(report.ok, "{:?}", report.problems);
        server.stop().await;
    }
);

/// Read frames until the server closes; returns the close code.
pub(crate) async fn close_code(ws: &mut Ws, within: Duration) -> u16 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => panic!("not closed within {within:?}"),
            Ok(Some(Ok(Message::Close(Some(c))))) => return u16::from(c.code),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("expected a close frame, got {other:?}"),
        }
    }
}

pub(crate) fn chat_from(author: Uuid, session: Uuid, client_id: &str, text: &str) -> Append {
    Append {
        session,
        author: Some(jiliang_protocol::rooms::Author {
            id: author,
            name: "李明华".into(),
        }),
        client_id: Some(client_id.to_owned()),
        body: EventBody::Chat {
            text: text.to_owned(),
        },
    }
}

// A connection entering a room while the last other one leaves it must end
// up in the room this node delivers to, never in one just taken out of the
// map (it would silently receive nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entering_while_others_leave_never_orphans_a_connection() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let expert = server.login("expert").await;
    let id = session(&server, &expert).await;
    let author = server.user_id("expert").await;
    let (hub, bus) = (server.state.rooms.clone(), server.state.bus.clone());
    let keeper = Uuid::now_v7();
    for round in 0..150 {
        let mut others = Vec::new();
        for _ in 0..3 {
            let (hub, bus) = (hub.clone(), bus.clone());
            others.push(tokio::spawn(async move {
                let who = Uuid::now_v7();
                let (room, _) = hub.enter(&bus, id, who).await.expect("enter");
                tokio::task::yield_now().await;
                hub.leave(&room, who);
            }));
        }
        let (room, _) = hub.enter(&bus, id, keeper).await.expect("enter");
        let mut live = room.subscribe();
        for t in others {
            t.await.expect("task");
        }
        assert!(
            hub.is_open(&room),
            "round {round}: the connection holds a room this node no longer delivers to"
        );
        let stored = server
            .state
            .log
            .append(chat_from(author, id, &format!("r{round}"), "在吗"))
            .await
            .expect("append");
        let got = tokio::time::timeout(Duration::from_secs(5), live.recv())
            .await
            .unwrap_or_else(|_| panic!("round {round}: no live event"))
            .expect("event");
        assert_eq!(got.event.seq, stored.event().seq);
        hub.leave(&room, keeper);
    }
    assert_eq!(hub.active_rooms(), 0);

    // The same over real sockets: one person reconnecting again and again,
    // the old socket closing as the new one joins, still hears the room.
    let tech = server.login("tech").await;
    let (mut old, _) = join(&server.base, &tech, id, 0).await;
    for _ in 0..20 {
        let (new, _) = join(&server.base, &tech, id, u64::MAX).await;
        drop(old);
        old = new;
    }
    let stored = server
        .state
        .log
        .append(chat_from(author, id, "final", "最后一条"))
        .await
        .expect("append");
    let seq = stored.event().seq;
    loop {
        let f = next_json(&mut old).await;
        if f["type"] == "event" && f["seq"].as_u64() == Some(seq) {
            break;
        }
    }
    server.stop().await;
}

// A room whose log cannot be read does not stay behind half-open: later
// joiners must not be handed a room that never delivers.
#[tokio::test]
async fn a_room_that_cannot_open_is_not_left_behind() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let (hub, bus) = (server.state.rooms.clone(), server.state.bus.clone());
    let missing = Uuid::now_v7(); // no stored log: reading it fails
    let mut tries = Vec::new();
    for _ in 0..5 {
        let (hub, bus) = (hub.clone(), bus.clone());
        tries.push(tokio::spawn(async move {
            hub.enter(&bus, missing, Uuid::now_v7()).await.map(|_| ())
        }));
    }
    for t in tries {
        assert!(
            t.await.expect("task").is_err(),
            "entered a room that never opened"
        );
    }
    assert_eq!(hub.active_rooms(), 0, "a room that failed to open stayed");
    server.stop().await;
}

/// A stand-in NATS server that completes the handshake, then hangs up and
/// stops listening: the client is left reconnecting.
async fn nats_that_goes_away() -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        drop(listener);
        let mut sock = tokio::io::BufReader::new(sock);
        let info = format!(
            "INFO {{\"server_id\":\"fake\",\"server_name\":\"fake\",\"version\":\"2.10.0\",\"go\":\"go1.22\",\"host\":\"127.0.0.1\",\"port\":{},\"headers\":true,\"max_payload\":1048576,\"proto\":1}}\r\n",
            addr.port()
        );
        if sock.get_mut().write_all(info.as_bytes()).await.is_err() {
            return;
        }
        let mut line = String::new();
        loop {
            line.clear();
            match sock.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) if line.starts_with("PING") => {
                    let _ = sock.get_mut().write_all(b"PONG\r\n").await;
                    break;
                }
                Ok(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    });
    format!("nats://{addr}")
}

// A NATS that is down (reconnecting) must not stall the room log: events are
// stored and delivered on this node whatever the bus does.
#[tokio::test]
async fn a_bus_that_is_down_never_stalls_the_room_log() {
    let nats = nats_that_goes_away().await;
    let server =
        TestServer::start_configured(crate::common::TestDb::sqlite(), |c| c.bus = nats).await;
    jiliang_server::demo::seed(&server.state.store)
        .await
        .expect("seed");
    let expert = server.login("expert").await;
    let id = session(&server, &expert).await;
    let author = server.user_id("expert").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.state.bus.healthy() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bus never went down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let n = 5000;
    let log = server.state.log.clone();
    let stored = tokio::time::timeout(Duration::from_secs(60), async move {
        let mut pending = Vec::with_capacity(n);
        for i in 0..n {
            pending.push(
                log.submit(chat_from(author, id, &format!("m{i}"), "总线断开"))
                    .await
                    .expect("queued"),
            );
        }
        for p in pending {
            p.await.expect("stored");
        }
    })
    .await;
    assert!(stored.is_ok(), "a disconnected bus stalled the room log");
    // The node's rooms still work.
    let (mut ws, snap) = join(&server.base, &expert, id, u64::MAX).await;
    assert!(snap["last_seq"].as_u64() >= Some(n as u64));
    chat(&mut ws, "after", "总线断开后").await;
    accepted(&mut ws, "after").await;
    server.stop().await;
}

/// A seeded SQLite server whose room sockets re-check access every 200 ms.
async fn rechecking_server() -> TestServer {
    let server = TestServer::start_configured(crate::common::TestDb::sqlite(), |c| {
        c.room_recheck_ms = 200;
    })
    .await;
    jiliang_server::demo::seed(&server.state.store)
        .await
        .expect("seed");
    server
}

// Access ends while a socket is open: a deactivated person and an ended
// login are closed with 4002, someone no longer taking part with 4001.
#[tokio::test]
async fn sockets_close_when_access_ends() {
    let server = rechecking_server().await;
    let admin = server.login("admin").await;
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let trainee = server.login("trainee").await;
    let id = session(&server, &expert).await;
    let (mut e, _) = join(&server.base, &expert, id, 0).await;
    let (mut t, _) = join(&server.base, &tech, id, 0).await;
    let (mut r, _) = join(&server.base, &trainee, id, 0).await;
    let within = Duration::from_secs(5);

    let tech_id = server.user_id("tech").await;
    let res = admin
        .patch(
            &format!("/api/v1/users/{tech_id}"),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    assert_eq!(close_code(&mut t, within).await, 4002, "deactivated");

    let res = expert.post("/api/v1/auth/logout", &json!({})).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(close_code(&mut e, within).await, 4002, "logged out");

    // The trainee took part as a member of the lab; moved to another lab,
    // they no longer do.
    let gangu = server.institution_id("甘谷县计量检定所").await;
    let trainee_id = server.user_id("trainee").await;
    let res = admin
        .patch(
            &format!("/api/v1/users/{trainee_id}"),
            &json!({"institution_id": gangu}),
        )
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    assert_eq!(
        close_code(&mut r, within).await,
        4001,
        "no longer taking part"
    );
    server.stop().await;
}

// Deactivating a lab ends its people's logins, so their open sockets close
// like any ended login's.
#[tokio::test]
async fn sockets_close_when_the_lab_is_deactivated() {
    let server = rechecking_server().await;
    let admin = server.login("admin").await;
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = session(&server, &expert).await;
    let (mut e, _) = join(&server.base, &expert, id, 0).await;
    let (mut t, _) = join(&server.base, &tech, id, 0).await;
    let qinan = server.institution_id("秦安县计量检定所").await;
    let res = admin
        .patch(
            &format!("/api/v1/institutions/{qinan}"),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    assert_eq!(
        close_code(&mut t, Duration::from_secs(5)).await,
        4002,
        "the lab's technician"
    );
    // The expert, of the province, stays.
    chat(&mut e, "still-here", "仍在会话中").await;
    accepted(&mut e, "still-here").await;
    server.stop().await;
}

// Accepting a help request claims it, opens the session and writes the
// state event that made it live, all at once: a failure half-way leaves the
// request open and nothing else behind.
backend_tests!(accepting_help_is_atomic_and_logged, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let tech = server.login("tech").await;
    let expert = server.login("expert").await;
    let res = tech
        .post(
            "/api/v1/help-requests",
            &json!({"topic": "砝码检定", "instrument": "F1 级砝码 1 kg", "urgency": "normal"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let help: Value = res.json().await.expect("json");
    let help_id: Uuid = help["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let accept = format!("/api/v1/help-requests/{help_id}/accept");

    // Make opening the session fail after the point where the claim used
    // to be committed.
    let (install, remove): (&[&str], &[&str]) = match backend {
        Backend::Sqlite => (
            &[
                "CREATE TRIGGER refuse_sessions BEFORE INSERT ON live_sessions \
               BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
            ],
            &["DROP TRIGGER refuse_sessions"],
        ),
        Backend::Postgres => (
            &[
                "CREATE FUNCTION refuse_sessions() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_sessions BEFORE INSERT ON live_sessions \
                 FOR EACH ROW EXECUTE FUNCTION refuse_sessions()",
            ],
            &["DROP TRIGGER refuse_sessions ON live_sessions"],
        ),
    };
    let exec = |sql: &'static [&'static str]| {
        let store = server.state.store.clone();
        async move {
            for q in sql {
                jiliang_server::store::testing::execute(&store, q)
                    .await
                    .expect("sql");
            }
        }
    };
    exec(install).await;
    assert_eq!(expert.post(&accept, &json!({})).await.status(), 500);
    let stored = server.state.store.get_help(help_id).await.expect("help");
    assert_eq!(
        stored.request.state,
        jiliang_protocol::sessions::HelpState::Open,
        "a failed accept left the request claimed"
    );
    assert_eq!(stored.request.session_id, None);
    exec(remove).await;

    let res = expert.post(&accept, &json!({})).await;
    assert_eq!(res.status(), 201);
    let s: Value = res.json().await.expect("json");
    assert_eq!(s["state"], "live");
    assert_eq!(s["last_seq"], 1);
    let sid = s["id"].as_str().expect("id").to_owned();
    let page = tech.json(&format!("/api/v1/sessions/{sid}/events")).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["seq"], 1);
    assert_eq!(
        items[0]["body"],
        json!({"kind": "state", "from": "scheduled", "to": "live"})
    );
    assert_eq!(items[0]["author"]["name"], "李明华");
    // The room continues the log after it; the ledger holds every event.
    let (mut ws, snap) = join(&server.base, &tech, sid.parse().expect("uuid"), 0).await;
    assert_eq!(snap["last_seq"], 2, "the state change, then this join");
    let got = events(&mut ws, 2).await;
    assert_eq!((got[0].0, got[0].1.as_str()), (1, "state"));
    assert_eq!((got[1].0, got[1].1.as_str()), (2, "join"));
    server.state.ledger.publish().await.expect("publish");
    let report = jiliang_server::ledger::verify::verify_database(&server.state.store, None)
        .await
        .expect("verify");
    assert!(report.ok, "{:?}", report.problems);
    server.stop().await;
});

/// Regression (found by the PostgreSQL-restart fault scenario): a sender's
/// message that could not be stored must not be overtaken by its next one
/// once the database is back. SQLite is held locked (another connection's
/// exclusive transaction) until the first append has failed, then released
/// while the second waits: the second is refused, not stored ahead of the
/// first; a new connection's resend stores both in the order sent.
#[tokio::test]
async fn a_failed_message_is_never_overtaken_by_a_later_one_of_its_sender() {
    use jiliang_server::rooms::log::{AppendError, InOrder};
    use sqlx::Connection;
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let expert = server.login("expert").await;
    let room = session(&server, &expert).await;
    let author = jiliang_protocol::rooms::Author {
        id: server.user_id("expert").await,
        name: "李明华".into(),
    };
    let chat = |cid: &str| Append {
        session: room,
        author: Some(author.clone()),
        client_id: Some(cid.to_owned()),
        body: EventBody::Chat {
            text: format!("顺序 {cid}"),
        },
    };
    let mut lock = sqlx::SqliteConnection::connect(&server.db.url)
        .await
        .expect("second connection");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut lock)
        .await
        .expect("lock");
    let order = InOrder::default();
    let log = server.state.log.clone();
    let first = log
        .submit_in_order(chat("m1"), &order)
        .await
        .expect("queued");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = log
        .submit_in_order(chat("m2"), &order)
        .await
        .expect("queued");
    // The first fails once the busy timeout runs out (batch and retry).
    let r1 = first.await;
    assert!(matches!(r1, Err(AppendError::Database(_))), "{r1:?}");
    sqlx::query("ROLLBACK")
        .execute(&mut lock)
        .await
        .expect("unlock");
    let r2 = second.await;
    assert!(
        matches!(r2, Err(AppendError::EarlierFailed)),
        "the later message was not refused: {r2:?}"
    );
    assert!(order.broken());
    // The client resends both on a new connection: stored in order.
    let fresh = InOrder::default();
    let s1 = log
        .submit_in_order(chat("m1"), &fresh)
        .await
        .expect("queued")
        .await
        .expect("stored")
        .event()
        .seq;
    let s2 = log
        .submit_in_order(chat("m2"), &fresh)
        .await
        .expect("queued")
        .await
        .expect("stored")
        .event()
        .seq;
    assert!(s1 < s2, "m1 at {s1}, m2 at {s2}");
    server.stop().await;
}
