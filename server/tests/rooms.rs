//! Live session rooms over real WebSockets: ordering, resume, dedupe,
//! backpressure, permissions, bad input, and two nodes sharing one log.

mod common;

use std::time::Duration;

use common::{Backend, Client, TestServer};
use futures_util::{SinkExt, StreamExt};
use jiliang_protocol::rooms::{EventBody, ServerFrame};
use jiliang_server::rooms::log::Append;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use uuid::Uuid;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect_raw(
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
async fn join(base: &str, client: &Client, session: Uuid, last_seq: u64) -> (Ws, Value) {
    let mut ws = connect_raw(base, client, session).await.expect("upgrade");
    ws.send(Message::text(
        json!({"type": "join", "protocol": 1, "last_seq": last_seq}).to_string(),
    ))
    .await
    .expect("send join");
    let snap = next_json(&mut ws).await;
    assert_eq!(snap["type"], "snapshot", "{snap}");
    (ws, snap)
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).expect("json frame"),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Read frames until `n` events have arrived; returns their (seq, kind, text).
async fn events(ws: &mut Ws, n: usize) -> Vec<(u64, String, String)> {
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

async fn chat(ws: &mut Ws, client_id: &str, text: &str) {
    ws.send(Message::text(
        json!({"type": "chat", "client_id": client_id, "text": text}).to_string(),
    ))
    .await
    .expect("send chat");
}

/// Read until the `accepted` for `client_id`; returns its seq.
async fn accepted(ws: &mut Ws, client_id: &str) -> u64 {
    loop {
        let f = next_json(ws).await;
        if f["type"] == "accepted" && f["client_id"] == client_id {
            return f["seq"].as_u64().expect("seq");
        }
        assert_ne!(f["type"], "error", "{f}");
    }
}

/// A session hosted by `expert` with 秦安县 (tech, trainee) as the lab.
async fn session(server: &TestServer, expert: &Client) -> Uuid {
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
            Some(Ok(Message::Close(Some(c)))) => break u16::from(c.code),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(code, jiliang_protocol::rooms::CLOSE_RESUME);
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

/// Two `jiliang serve` nodes on one PostgreSQL database, fanned out by NATS:
/// clients on either node see one identical ordered log.
#[tokio::test]
async fn two_nodes_share_one_ordered_log() {
    let (Some(pg), Ok(nats)) = (common::postgres_url(), std::env::var("JILIANG_BUS")) else {
        eprintln!("skipped: needs DATABASE_URL (PostgreSQL) and JILIANG_BUS (NATS)");
        if std::env::var_os("JILIANG_REQUIRE_POSTGRES").is_some() {
            panic!("CI must run the two-node test: set JILIANG_BUS");
        }
        return;
    };
    let _ = pg;
    let db = common::TestDb::postgres().await.expect("pg");
    let url = db.url.clone();
    // Every node of a cluster signs with the same ledger key.
    let key_dir = tempfile::tempdir().expect("key dir");
    let key = key_dir.path().join("ledger-key.hex");
    let node = |bus: String| {
        let url = url.clone();
        let key = key.clone();
        async move {
            let store = jiliang_server::Store::open(&url).await.expect("store");
            let config = jiliang_server::Config {
                bus,
                ledger_key: Some(key),
                ..jiliang_server::Config::for_database(url)
            };
            let shutdown = tokio_util::sync::CancellationToken::new();
            let state = jiliang_server::AppState::build(store, config, shutdown.clone())
                .await
                .expect("bus");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let base = format!("http://{}", listener.local_addr().expect("addr"));
            let h = tokio::spawn(jiliang_server::serve(state.clone(), listener));
            (base, state, shutdown, h)
        }
    };
    let (base1, state1, stop1, h1) = node(nats.clone()).await;
    jiliang_server::demo::seed(&state1.store)
        .await
        .expect("seed");
    let (base2, _state2, stop2, h2) = node(nats).await;
    let expert = Client::login(&base1, "expert", common::DEMO_PASSWORD).await;
    let tech = Client::login(&base2, "tech", common::DEMO_PASSWORD).await;
    let qinan = state1
        .store
        .list_institutions()
        .await
        .expect("list")
        .into_iter()
        .find(|i| i.institution.name_zh == "秦安县计量检定所")
        .map(|i| i.institution.id)
        .expect("qinan");
    let res = expert.post("/api/v1/sessions", &json!({"title": "两节点", "scheduled_start":
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("fmt"),
        "duration_minutes": 30, "lab_ids": [qinan]})).await;
    let id: Uuid = res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let (mut a, _) = join(&base1, &expert, id, 0).await;
    let (mut b, _) = join(&base2, &tech, id, 0).await;
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
    stop1.cancel();
    stop2.cancel();
    let _ = h1.await;
    let _ = h2.await;
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
