//! Devices and their readings: registration, agent tokens, the agent
//! socket and upload (exactly once, validation, revocation), live fan-out
//! into a session room, pagination, manual entry, and the real
//! `jiliang-agent` reading the real `jiliang-sim` into a room.

use std::time::Duration;

use crate::common::procs::{self, Child, agent_bin};
use crate::common::{Backend, Client, TestServer};
use futures_util::{SinkExt, StreamExt};
use jiliang_protocol::rooms::PROTOCOL_VERSION;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use uuid::Uuid;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn now() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

fn reading(seq: u64, value: f64) -> Value {
    json!({"seq": seq, "t": now(), "value": value, "unit": "V", "u_t": 0.002})
}

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().and_then(|s| s.parse().ok()).expect("id")
}

/// Register a voltage device at 秦安 as its technician; (device, token).
async fn register(server: &TestServer, tech: &Client) -> (Uuid, String) {
    let qinan = server.institution_id("秦安县计量检定所").await;
    let res = tech
        .post(
            "/api/v1/devices",
            &json!({"lab_id": qinan, "name": "被检数字多用表", "kind": "digital multimeter",
                    "quantity": "voltage", "unit": "V", "resolution": 0.000001}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let v: Value = res.json().await.expect("json");
    let token = v["token"].as_str().expect("token").to_owned();
    (id_of(&v), token)
}

/// A live session hosted by the expert with 秦安.
async fn live_session(server: &TestServer, expert: &Client) -> Uuid {
    let qinan = server.institution_id("秦安县计量检定所").await;
    let res = expert
        .post(
            "/api/v1/sessions",
            &json!({"title": "数字多用表远程比对", "scheduled_start": now(),
                    "duration_minutes": 60, "lab_ids": [qinan]}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let id = id_of(&res.json().await.expect("json"));
    let res = expert
        .post(&format!("/api/v1/sessions/{id}/start"), &json!({}))
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    id
}

async fn agent_connect(server: &TestServer, token: &str) -> Result<Ws, tungstenite::Error> {
    let mut req = server
        .ws_url("/api/v1/agent/ws")
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
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

async fn send(ws: &mut Ws, v: &Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

/// Connect with `token`, say hello, return the socket and the welcome.
async fn agent(server: &TestServer, token: &str) -> (Ws, Value) {
    let mut ws = agent_connect(server, token).await.expect("upgrade");
    send(
        &mut ws,
        &json!({"type": "hello", "protocol": 1, "agent": "test-agent/1", "driver": "scpi",
                "idn": "JILIANG,SIM-DMM,T1,1.0"}),
    )
    .await;
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

async fn batch(ws: &mut Ws, readings: Vec<Value>) -> Value {
    send(ws, &json!({"type": "readings", "readings": readings})).await;
    next_json(ws).await
}

async fn close_code(ws: &mut Ws, within: Duration) -> u16 {
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

/// Every reading of a device, through the REST pages.
async fn all_readings(client: &Client, device: Uuid) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = client
            .json(&format!(
                "/api/v1/devices/{device}/readings?after={after}&limit=1000"
            ))
            .await;
        out.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_after"].as_u64() {
            Some(n) => after = n,
            None => return out,
        }
    }
}

fn seqs(readings: &[Value]) -> Vec<u64> {
    readings
        .iter()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect()
}

backend_tests!(
    registration_validates_and_the_token_is_shown_once,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let tech = server.login("tech").await;
        let qinan = server.institution_id("秦安县计量检定所").await;
        let (id, token) = register(&server, &tech).await;
        assert_eq!(token.len(), 64);
        // The token is never shown again.
        let d = tech.json(&format!("/api/v1/devices/{id}")).await;
        assert!(d.get("token").is_none(), "{d}");
        assert_eq!(d["unit"], "V");
        assert_eq!(d["last_seq"], 0);
        let list = tech.json("/api/v1/devices").await;
        assert!(
            list.as_array()
                .expect("list")
                .iter()
                .any(|x| id_of(x) == id)
        );
        // Bad input: every problem named, with its field.
        let res = tech
        .post(
            "/api/v1/devices",
            &json!({"lab_id": qinan, "name": " ", "kind": "dmm", "quantity": "voltage",
                    "unit": "°C", "resolution": -1,
                    "reference": {"certificate_no": "ZJ-1", "expanded_uncertainty": 0.01, "k": 2, "unit": "kPa"}}),
        )
        .await;
        assert_eq!(res.status(), 422);
        let v: Value = res.json().await.expect("json");
        let fields: Vec<&str> = v["details"]
            .as_array()
            .expect("details")
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert_eq!(fields, ["name", "unit", "resolution"], "{v}");
        assert!(
            v["details"][1]["message"]
                .as_str()
                .expect("msg")
                .contains("Cel"),
            "{v}"
        );
        // A certificate in a unit of another quantity.
        let res = tech
        .post(
            "/api/v1/devices",
            &json!({"lab_id": qinan, "name": "标准表", "kind": "dmm", "quantity": "voltage", "unit": "V",
                    "reference": {"certificate_no": "ZJ-1", "expanded_uncertainty": 0.01, "k": 2, "unit": "kPa"}}),
        )
        .await;
        assert_eq!(res.status(), 422);
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["details"][0]["field"], "reference.unit", "{v}");
        // A reference standard with its certificate.
        let res = tech
        .post(
            "/api/v1/devices",
            &json!({"lab_id": qinan, "name": "标准数字多用表", "kind": "dmm", "quantity": "voltage", "unit": "V",
                    "reference": {"certificate_no": "GS2026-0412", "issuer": "甘肃省计量研究院",
                                  "expanded_uncertainty": 0.000012, "k": 2, "unit": "mV", "valid_until": "2027-03-31"}}),
        )
        .await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["reference"]["valid_until"], "2027-03-31");
        assert_eq!(v["reference"]["k"], 2.0);
        // The unit may change while nothing has been read; not afterwards.
        let res = tech
            .patch(&format!("/api/v1/devices/{id}"), &json!({"unit": "mV"}))
            .await;
        assert_eq!(res.status(), 200);
        let res = tech
            .patch(
                &format!("/api/v1/devices/{id}"),
                &json!({"unit": "V", "resolution": null}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.expect("json");
        assert!(v.get("resolution").is_none(), "{v}");
        let res = tech
            .post(
                &format!("/api/v1/devices/{id}/readings"),
                &json!({"key": "k1", "readings": [{"value": 1.0, "unit": "V"}]}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let res = tech
            .patch(&format!("/api/v1/devices/{id}"), &json!({"unit": "mV"}))
            .await;
        assert_eq!(res.status(), 409);
        // An uploader that never says hello is an agent too: typing in is
        // refused from then on (it could take the numbers the uploader uses).
        let res = reqwest::Client::new()
            .post(server.url("/api/v1/agent/readings"))
            .bearer_auth(&token)
            .json(&json!({"readings": [reading(2, 2.0)]}))
            .send()
            .await
            .expect("upload");
        assert_eq!(res.status(), 200);
        let res = tech
            .post(
                &format!("/api/v1/devices/{id}/readings"),
                &json!({"key": "k2", "readings": [{"value": 1.0, "unit": "V"}]}),
            )
            .await;
        assert_eq!(res.status(), 409);
        // Agents: 401 before the upgrade without a valid token.
        for bad in ["", "Bearer nope", &format!("Bearer {}", "0".repeat(64))] {
            let res = reqwest::Client::new()
                .get(server.url("/api/v1/agent/ws"))
                .header("authorization", bad)
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), 401, "{bad}");
            let v: Value = res.json().await.expect("json");
            assert_eq!(v["code"], "unauthenticated");
        }
        server.stop().await;
    }
);

backend_tests!(
    readings_are_stored_exactly_once_whatever_is_resent,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let tech = server.login("tech").await;
        let (id, token) = register(&server, &tech).await;
        let (mut ws, welcome) = agent(&server, &token).await;
        assert_eq!(welcome["device_id"], id.to_string());
        assert_eq!(welcome["unit"], "V");
        assert_eq!(welcome["last_seq"], 0);
        assert_eq!(welcome["max_batch"], 1000);
        assert_eq!(welcome["future_tolerance_s"], 10.0);
        // Clock exchange.
        send(&mut ws, &json!({"type": "ping", "id": 1, "t0": 1.0e12})).await;
        let pong = next_json(&mut ws).await;
        assert_eq!(pong["type"], "pong");
        assert_eq!(pong["id"], 1);
        assert!(pong["t1"].as_f64().expect("t1") <= pong["t2"].as_f64().expect("t2"));

        let ack = batch(&mut ws, (1..=5).map(|s| reading(s, s as f64)).collect()).await;
        assert_eq!(
            ack,
            json!({"type": "ack", "through": 5, "stored": 5, "duplicates": 0})
        );
        // An overlapping resend: the new ones stored, the old ones counted.
        let ack = batch(&mut ws, (3..=8).map(|s| reading(s, s as f64)).collect()).await;
        assert_eq!(
            ack,
            json!({"type": "ack", "through": 8, "stored": 3, "duplicates": 3})
        );
        // A status frame is taken silently.
        send(
            &mut ws,
            &json!({"type": "status", "queue_depth": 0, "last_reading_age_s": 0.1,
                "clock": {"offset_ms": 1.5, "u_ms": 0.4}, "fault": null, "quarantined": 0}),
        )
        .await;
        drop(ws);
        // A new connection resends everything: nothing new is stored.
        let (mut ws, welcome) = agent(&server, &token).await;
        assert_eq!(welcome["last_seq"], 8);
        let ack = batch(&mut ws, (1..=8).map(|s| reading(s, s as f64)).collect()).await;
        assert_eq!(
            ack,
            json!({"type": "ack", "through": 8, "stored": 0, "duplicates": 8})
        );
        // The HTTP upload: the same rules, the same store.
        let http = reqwest::Client::new();
        let res = http
            .post(server.url("/api/v1/agent/readings"))
            .bearer_auth(&token)
            .json(&json!({"readings": (7..=10).map(|s| reading(s, s as f64)).collect::<Vec<_>>()}))
            .send()
            .await
            .expect("upload");
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.expect("json");
        assert_eq!(v, json!({"through": 10, "stored": 2, "duplicates": 2}));
        // Two connections of one device resending the same batch at once:
        // still stored once.
        let (mut other, _) = agent(&server, &token).await;
        let both: Vec<Value> = (11..=60).map(|s| reading(s, s as f64)).collect();
        send(&mut ws, &json!({"type": "readings", "readings": both})).await;
        send(&mut other, &json!({"type": "readings", "readings": both})).await;
        let (a, b) = (next_json(&mut ws).await, next_json(&mut other).await);
        assert_eq!(
            a["stored"].as_u64().expect("stored") + b["stored"].as_u64().expect("stored"),
            50
        );
        assert_eq!(
            a["duplicates"].as_u64().expect("d") + b["duplicates"].as_u64().expect("d"),
            50
        );

        let stored = all_readings(&tech, id).await;
        assert_eq!(seqs(&stored), (1..=60).collect::<Vec<_>>());
        for r in &stored {
            assert_eq!(r["value"].as_f64(), r["seq"].as_f64(), "{r}");
            assert_eq!(r["unit"], "V");
        }
        assert_eq!(
            tech.json(&format!("/api/v1/devices/{id}")).await["last_seq"],
            60
        );
        let metrics = reqwest::get(server.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        for line in [
            "jiliang_readings_stored_total 60",
            "jiliang_reading_duplicates_total 63",
            "jiliang_agent_connections 2",
        ] {
            assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
        }
        // Every batch is a verifiable record.
        let report = jiliang_server::ledger::verify::verify_database(&server.state.store, None)
            .await
            .expect("verify");
        assert!(report.ok, "{:?}", report.problems);
        assert_eq!(report.leaves, 4, "four batches stored something");
        server.stop().await;
    }
);

backend_tests!(
    a_window_of_batches_is_answered_in_order_one_answer_each,
    |backend| async move {
        // An agent keeps several batches in flight; the server reads and
        // stores them without waiting for the previous answer, but answers
        // each in the order it came (the agent pairs an `error` with its
        // oldest unanswered batch), refuses only the bad one, and a ping
        // among them is answered too.
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let tech = server.login("tech").await;
        let expert = server.login("expert").await;
        let session = live_session(&server, &expert).await;
        let (id, token) = register(&server, &tech).await;
        let res = expert
            .post(
                &format!("/api/v1/sessions/{session}/devices"),
                &json!({"device_id": id}),
            )
            .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        let (mut ws, _) = agent(&server, &token).await;
        for round in 0..3u64 {
            let base = round * 6;
            let frames = [
                json!({"type": "readings", "readings": [reading(base + 1, (base + 1) as f64), reading(base + 2, (base + 2) as f64)]}),
                json!({"type": "dance"}),
                json!({"type": "readings", "readings": [
                    reading(base + 3, (base + 3) as f64),
                    {"seq": base + 4, "t": now(), "value": 4.0, "unit": "mV", "u_t": 0.0}]}),
                json!({"type": "ping", "id": round, "t0": 1.0e12}),
                json!({"type": "readings", "readings": [reading(base + 3, (base + 3) as f64), reading(base + 4, (base + 4) as f64)]}),
                json!({"type": "readings", "readings": (base + 1..=base + 6).map(|s| reading(s, s as f64)).collect::<Vec<_>>()}),
            ];
            for f in &frames {
                send(&mut ws, f).await;
            }
            let mut answers = Vec::new();
            let mut pong = false;
            while answers.len() < 5 {
                let f = next_json(&mut ws).await;
                if f["type"] == "pong" {
                    assert_eq!(f["id"], round, "{f}");
                    pong = true;
                } else {
                    answers.push(f);
                }
            }
            assert!(pong, "round {round}: the ping was not answered");
            assert_eq!(
                answers[0],
                json!({"type": "ack", "through": base + 2, "stored": 2, "duplicates": 0})
            );
            assert_eq!(answers[1]["code"], "malformed_json", "{}", answers[1]);
            assert_eq!(answers[2]["code"], "invalid_input", "{}", answers[2]);
            assert_eq!(answers[2]["seq"], base + 4, "{}", answers[2]);
            assert_eq!(
                answers[3],
                json!({"type": "ack", "through": base + 4, "stored": 2, "duplicates": 0})
            );
            assert_eq!(
                answers[4],
                json!({"type": "ack", "through": base + 6, "stored": 2, "duplicates": 4})
            );
        }
        let stored = all_readings(&tech, id).await;
        assert_eq!(seqs(&stored), (1..=18).collect::<Vec<_>>());
        for r in &stored {
            assert_eq!(r["value"].as_f64(), r["seq"].as_f64(), "{r}");
        }
        // The room's log holds every reading once, in order.
        let log = server
            .state
            .store
            .read_events(session, 0, 1000)
            .await
            .expect("log");
        let mut in_room = Vec::new();
        for e in &log {
            if let jiliang_protocol::rooms::EventBody::Readings(body) = &e.body {
                for part in body.parts() {
                    assert_eq!(part.device_id, id);
                    in_room.extend(part.readings.iter().map(|r| r.seq));
                }
            }
        }
        assert_eq!(in_room, (1..=18).collect::<Vec<_>>());
        let report = jiliang_server::ledger::verify::verify_database(&server.state.store, None)
            .await
            .expect("verify");
        assert!(report.ok, "{:?}", report.problems);
        server.stop().await;
    }
);

backend_tests!(
    bad_batches_are_refused_whole_with_a_reason,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let tech = server.login("tech").await;
        let (id, token) = register(&server, &tech).await;
        let (mut ws, _) = agent(&server, &token).await;
        let later = rfc3339(time::OffsetDateTime::now_utc() + time::Duration::minutes(5));
        let long_ago = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::days(40));
        let cases: Vec<(Vec<Value>, Option<u64>, &str)> = vec![
            (
                vec![
                    reading(1, 1.0),
                    json!({"seq": 2, "t": now(), "value": "NaN", "unit": "V", "u_t": 0.0}),
                ],
                Some(2),
                "finite",
            ),
            (
                vec![json!({"seq": 1, "t": now(), "value": 1.0, "unit": "mV", "u_t": 0.0})],
                Some(1),
                "unit",
            ),
            (
                vec![json!({"seq": 3, "t": later, "value": 1.0, "unit": "V", "u_t": 0.0})],
                Some(3),
                "ahead",
            ),
            (
                vec![json!({"seq": 3, "t": long_ago, "value": 1.0, "unit": "V", "u_t": 0.0})],
                Some(3),
                "in the past",
            ),
            (vec![reading(5, 1.0), reading(4, 1.0)], Some(4), "increase"),
            (vec![reading(u64::MAX, 1.0)], Some(u64::MAX), "at most"),
            (
                (1..=1001).map(|s| reading(s, 1.0)).collect(),
                None,
                "at most 1000",
            ),
            (vec![], None, "no readings"),
        ];
        for (readings, seq, words) in cases {
            let f = batch(&mut ws, readings).await;
            assert_eq!(f["type"], "error", "{f}");
            assert_eq!(f["code"], "invalid_input", "{f}");
            assert_eq!(f["seq"].as_u64(), seq, "{f}");
            assert!(
                f["message"].as_str().expect("message").contains(words),
                "{f}"
            );
        }
        // A readings frame that does not parse is an invalid batch too.
        send(
            &mut ws,
            &json!({"type": "readings", "readings": [{"seq": 1, "value": "twelve"}]}),
        )
        .await;
        let f = next_json(&mut ws).await;
        assert_eq!(
            (f["type"].as_str(), f["code"].as_str()),
            (Some("error"), Some("invalid_input")),
            "{f}"
        );
        // Other bad frames: an error frame, and the connection lives on.
        send(&mut ws, &json!({"type": "dance"})).await;
        assert_eq!(next_json(&mut ws).await["code"], "malformed_json");
        ws.send(Message::binary(vec![1u8, 2, 3]))
            .await
            .expect("send");
        assert_eq!(next_json(&mut ws).await["type"], "error");
        send(
            &mut ws,
            &json!({"type": "hello", "protocol": 1, "agent": "a", "driver": "scpi"}),
        )
        .await;
        assert_eq!(next_json(&mut ws).await["type"], "error");
        let ack = batch(&mut ws, vec![reading(1, 1.0)]).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        // Nothing of a refused batch was stored.
        assert_eq!(seqs(&all_readings(&tech, id).await), vec![1]);
        let metrics = reqwest::get(server.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics
                .lines()
                .any(|l| l == r#"jiliang_reading_batches_refused_total{reason="invalid"} 9"#),
            "{metrics}"
        );
        // A frame over 512 KiB closes with 1009.
        let huge = "x".repeat(600 * 1024);
        send(&mut ws, &json!({"type": "status", "pad": huge})).await;
        assert_eq!(close_code(&mut ws, Duration::from_secs(5)).await, 1009);
        // Another protocol version: 4003.
        let mut ws = agent_connect(&server, &token).await.expect("upgrade");
        send(
            &mut ws,
            &json!({"type": "hello", "protocol": 2, "agent": "a", "driver": "scpi"}),
        )
        .await;
        assert_eq!(next_json(&mut ws).await["type"], "error");
        assert_eq!(close_code(&mut ws, Duration::from_secs(5)).await, 4003);
        // The HTTP upload answers JSON naming the reading.
        let res = reqwest::Client::new()
        .post(server.url("/api/v1/agent/readings"))
        .bearer_auth(&token)
        .json(&json!({"readings": [reading(7, 1.0), {"seq": 8, "t": now(), "value": null, "unit": "V", "u_t": 0}]}))
        .send()
        .await
        .expect("upload");
        assert_eq!(res.status(), 422);
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["code"], "invalid_input");
        assert_eq!(v["details"][0]["field"], "readings[1]", "{v}");
        assert!(v["message"].as_str().expect("m").contains("seq 8"), "{v}");
        assert_eq!(seqs(&all_readings(&tech, id).await), vec![1]);
        server.stop().await;
    }
);

backend_tests!(
    a_revoked_token_closes_the_socket_and_a_new_one_works,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let tech = server.login("tech").await;
        let admin = server.login("admin").await;
        let (id, token) = register(&server, &tech).await;
        let (mut ws, _) = agent(&server, &token).await;
        assert_eq!(batch(&mut ws, vec![reading(1, 1.0)]).await["type"], "ack");
        // Technicians cannot revoke; the lab's administrators can.
        let res = tech
            .send(
                reqwest::Method::DELETE,
                &format!("/api/v1/devices/{id}/token"),
                None,
            )
            .await;
        assert_eq!(res.status(), 403);
        let res = admin
            .send(
                reqwest::Method::DELETE,
                &format!("/api/v1/devices/{id}/token"),
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.expect("json");
        assert!(v["token_revoked_at"].is_string(), "{v}");
        assert_eq!(close_code(&mut ws, Duration::from_secs(5)).await, 4002);
        // The old token is refused before the upgrade, and for uploads.
        assert!(matches!(
            agent_connect(&server, &token).await,
            Err(tungstenite::Error::Http(r)) if r.status() == 401
        ));
        let res = reqwest::Client::new()
            .post(server.url("/api/v1/agent/readings"))
            .bearer_auth(&token)
            .json(&json!({"readings": [reading(2, 1.0)]}))
            .send()
            .await
            .expect("upload");
        assert_eq!(res.status(), 401);
        // A new token: the device carries on where it was.
        let res = admin
            .post(&format!("/api/v1/devices/{id}/token"), &json!({}))
            .await;
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.expect("json");
        let fresh = v["token"].as_str().expect("token").to_owned();
        assert_ne!(fresh, token);
        let (mut ws, welcome) = agent(&server, &fresh).await;
        assert_eq!(welcome["last_seq"], 1);
        assert_eq!(batch(&mut ws, vec![reading(2, 2.0)]).await["type"], "ack");
        // Replacing the token closes the connections of the old one too.
        let res = admin
            .post(&format!("/api/v1/devices/{id}/token"), &json!({}))
            .await;
        assert_eq!(res.status(), 201);
        assert_eq!(close_code(&mut ws, Duration::from_secs(5)).await, 4002);
        server.stop().await;
    }
);

/// A revocation on one node reaches an agent connected to another by the
/// periodic re-check (and by the next batch, which the store refuses).
#[tokio::test]
async fn a_revocation_reaches_connections_the_node_did_not_revoke() {
    let db = crate::common::TestDb::sqlite();
    let server = TestServer::start_configured(db, |c| c.room_recheck_ms = 300).await;
    jiliang_server::demo::seed(&server.state.store)
        .await
        .expect("seed");
    let tech = server.login("tech").await;
    let (id, token) = register(&server, &tech).await;
    let (mut ws, _) = agent(&server, &token).await;
    // As another node would: the database only, no local notice.
    assert!(
        server
            .state
            .store
            .revoke_device_token(id)
            .await
            .expect("revoke")
    );
    assert_eq!(close_code(&mut ws, Duration::from_secs(5)).await, 4002);
    let (mut ws, _) = {
        let res = server
            .login("admin")
            .await
            .post(&format!("/api/v1/devices/{id}/token"), &json!({}))
            .await;
        let v: Value = res.json().await.expect("json");
        agent(&server, v["token"].as_str().expect("token")).await
    };
    assert!(
        server
            .state
            .store
            .revoke_device_token(id)
            .await
            .expect("revoke")
    );
    send(
        &mut ws,
        &json!({"type": "readings", "readings": [reading(1, 1.0)]}),
    )
    .await;
    assert_eq!(close_code(&mut ws, Duration::from_secs(5)).await, 4002);
    assert_eq!(all_readings(&tech, id).await.len(), 0);
    server.stop().await;
}

// Many agents at once — three times the pool's connections — streaming
// into one live session while more agents connect (each a write of its
// own) and the session's people chat (the room log's writer): every batch
// is acknowledged (none refused as `unavailable`), every reading is stored
// once, and the room holds each exactly once, in order per device.
backend_tests!(
    many_agents_at_once_are_all_acknowledged,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        const AGENTS: usize = 24;
        const BATCHES: u64 = 15;
        const PER_BATCH: u64 = 20;
        let tech = server.login("tech").await;
        let expert = server.login("expert").await;
        let session = live_session(&server, &expert).await;
        let mut devices = Vec::new();
        for _ in 0..AGENTS {
            let (id, token) = register(&server, &tech).await;
            let res = expert
                .post(
                    &format!("/api/v1/sessions/{session}/devices"),
                    &json!({"device_id": id}),
                )
                .await;
            assert_eq!(res.status(), 200, "{:?}", res.text().await);
            devices.push((id, token));
        }
        let mut viewer = join(&server, &expert, session).await;
        let total = AGENTS * (BATCHES * PER_BATCH) as usize;
        let watching = tokio::spawn(async move {
            room_readings(&mut viewer, total, Duration::from_secs(120)).await
        });
        let base = std::sync::Arc::new(server);
        let mut tasks = Vec::new();
        for (i, (_, token)) in devices.iter().cloned().enumerate() {
            let server = base.clone();
            tasks.push(tokio::spawn(async move {
                // Half the agents connect a little later, while the others
                // already stream, and every agent reconnects half-way.
                if i % 2 == 1 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let (mut ws, _) = agent(&server, &token).await;
                let mut refused = Vec::new();
                for b in 0..BATCHES {
                    if b == BATCHES / 2 {
                        let _ = ws.close(None).await;
                        ws = agent(&server, &token).await.0;
                    }
                    let readings: Vec<Value> = (1..=PER_BATCH)
                        .map(|k| reading(b * PER_BATCH + k, 1.0 + k as f64 * 1e-6))
                        .collect();
                    let answer = batch(&mut ws, readings).await;
                    if answer["type"] != "ack" {
                        refused.push(answer);
                    }
                }
                refused
            }));
        }
        let mut refused = Vec::new();
        for t in tasks {
            refused.extend(t.await.expect("agent task"));
        }
        assert!(refused.is_empty(), "batches refused: {refused:?}");
        let seen = watching.await.expect("viewer");
        assert_eq!(seen.len(), total, "the room holds every reading once");
        let mut per_seq = std::collections::BTreeMap::new();
        for s in seqs(&seen) {
            *per_seq.entry(s).or_insert(0usize) += 1;
        }
        assert_eq!(per_seq.len() as u64, BATCHES * PER_BATCH);
        assert!(per_seq.values().all(|n| *n == AGENTS), "{per_seq:?}");
        for (id, _) in &devices {
            let stored = all_readings(&tech, *id).await;
            assert_eq!(
                seqs(&stored),
                (1..=BATCHES * PER_BATCH).collect::<Vec<_>>(),
                "device {id}"
            );
        }
        let server = std::sync::Arc::try_unwrap(base).unwrap_or_else(|_| panic!("server shared"));
        server.stop().await;
    }
);

/// Join a room as `client`; returns the socket after the snapshot.
async fn join(server: &TestServer, client: &Client, session: Uuid) -> Ws {
    let mut req = server
        .ws_url(&format!("/api/v1/sessions/{session}/ws"))
        .into_client_request()
        .expect("request");
    if let Some(c) = &client.cookie {
        req.headers_mut()
            .insert("cookie", c.parse().expect("header"));
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("join");
    send(
        &mut ws,
        &json!({"type": "join", "protocol": PROTOCOL_VERSION, "last_seq": 0}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    ws
}

/// The next `device_status` ephemeral on a room socket.
async fn device_status(ws: &mut Ws) -> Value {
    loop {
        let f = next_json(ws).await;
        if f["type"] == "ephemeral" && f["body"]["kind"] == "device_status" {
            return f;
        }
    }
}

/// Readings events arriving on a room socket until `n` readings came.
async fn room_readings(ws: &mut Ws, n: usize, within: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n {
        let f = tokio::time::timeout_at(deadline, next_json(ws))
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} readings within {within:?}", out.len()));
        if f["type"] == "event" && f["body"]["kind"] == "readings" {
            assert!(f["author"].is_null(), "{f}");
            out.extend(event_readings(&f["body"]));
        }
    }
    out
}

/// The readings of a `readings` event body (protocol 2: `devices`, each
/// device's part), every part in order.
fn event_readings(body: &Value) -> Vec<Value> {
    body["devices"]
        .as_array()
        .unwrap_or_else(|| panic!("not protocol 2's shape: {body}"))
        .iter()
        .flat_map(|p| p["readings"].as_array().expect("readings").clone())
        .collect()
}

backend_tests!(
    readings_of_an_attached_device_fan_out_live,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let tech = server.login("tech").await;
        let expert = server.login("expert").await;
        let (id, token) = register(&server, &tech).await;
        let session = live_session(&server, &expert).await;
        let (mut ws, _) = agent(&server, &token).await;
        // Not attached yet: stored, not in the room.
        assert_eq!(batch(&mut ws, vec![reading(1, 1.0)]).await["stored"], 1);
        let res = tech
            .post(
                &format!("/api/v1/sessions/{session}/devices"),
                &json!({"device_id": id}),
            )
            .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["session_id"], session.to_string());
        let listed = expert
            .json(&format!("/api/v1/sessions/{session}/devices"))
            .await;
        assert_eq!(listed.as_array().expect("list").len(), 1);
        let mut viewer = join(&server, &expert, session).await;
        let mut other = join(&server, &tech, session).await;
        // The agent's state reaches the room as it reports it (not stored).
        send(
        &mut ws,
        &json!({"type": "status", "queue_depth": 2, "last_reading_age_s": 0.5,
                "clock": {"offset_ms": -3.0, "u_ms": 0.7},
                "fault": {"kind": "timeout", "message": "no reply within 2000 ms"}, "quarantined": 0}),
    )
    .await;
        let st = device_status(&mut viewer).await;
        assert_eq!(st["author"]["id"], id.to_string(), "{st}");
        assert_eq!(st["body"]["connected"], true);
        assert_eq!(st["body"]["status"]["fault"]["kind"], "timeout");
        assert_eq!(st["body"]["status"]["clock"]["u_ms"], 0.7);
        // A second connection of the agent says so, and so does its end.
        let (extra, _) = agent(&server, &token).await;
        let st = device_status(&mut viewer).await;
        assert_eq!(
            (st["body"]["connected"].as_bool(), st["body"].get("status")),
            (Some(true), None)
        );
        drop(extra);
        let st = device_status(&mut viewer).await;
        assert_eq!(st["body"]["connected"], false, "{st}");
        // A resend with new readings: only the new ones reach the room, once.
        let ack = batch(&mut ws, (1..=4).map(|s| reading(s, s as f64)).collect()).await;
        assert_eq!(
            (ack["stored"].as_u64(), ack["duplicates"].as_u64()),
            (Some(3), Some(1))
        );
        let seen = room_readings(&mut viewer, 3, Duration::from_secs(5)).await;
        assert_eq!(seqs(&seen), vec![2, 3, 4]);
        assert_eq!(
            seqs(&room_readings(&mut other, 3, Duration::from_secs(5)).await),
            vec![2, 3, 4]
        );
        // A backlog larger than one event holds: several events in a row.
        let big: Vec<Value> = (5..=604).map(|s| reading(s, s as f64)).collect();
        assert_eq!(batch(&mut ws, big).await["stored"], 600);
        let seen = room_readings(&mut viewer, 600, Duration::from_secs(10)).await;
        assert_eq!(seqs(&seen), (5..=604).collect::<Vec<_>>());
        // The log holds them for late joiners, and the verifier agrees.
        let log = expert
            .json(&format!("/api/v1/sessions/{session}/events?limit=1000"))
            .await;
        let in_log: Vec<u64> = log["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["body"]["kind"] == "readings")
            .flat_map(|e| event_readings(&e["body"]))
            .map(|r| r["seq"].as_u64().expect("seq"))
            .collect();
        assert_eq!(in_log, (2..=604).collect::<Vec<_>>());
        let report = jiliang_server::ledger::verify::verify_database(&server.state.store, None)
            .await
            .expect("verify");
        assert!(report.ok, "{:?}", report.problems);
        // Detached: stored, no longer in the room.
        let res = tech
            .send(
                reqwest::Method::DELETE,
                &format!("/api/v1/sessions/{session}/devices/{id}"),
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(batch(&mut ws, vec![reading(605, 1.0)]).await["stored"], 1);
        let log = expert
            .json(&format!(
                "/api/v1/sessions/{session}/events?after={}",
                log["items"].as_array().expect("items").len()
            ))
            .await;
        assert!(
            log["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|e| e["body"]["kind"] != "readings"),
            "{log}"
        );
        server.stop().await;
    }
);

backend_tests!(readings_page_in_seq_order, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let tech = server.login("tech").await;
    let (id, token) = register(&server, &tech).await;
    let (mut ws, _) = agent(&server, &token).await;
    // Stored out of order (a gap filled later): read back in seq order.
    batch(&mut ws, (11..=25).map(|s| reading(s, s as f64)).collect()).await;
    batch(&mut ws, (1..=10).map(|s| reading(s, s as f64)).collect()).await;
    let page = tech
        .json(&format!("/api/v1/devices/{id}/readings?limit=10"))
        .await;
    assert_eq!(
        seqs(page["items"].as_array().expect("items")),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(page["next_after"], 10);
    let page = tech
        .json(&format!(
            "/api/v1/devices/{id}/readings?after_seq=10&limit=10"
        ))
        .await;
    assert_eq!(
        seqs(page["items"].as_array().expect("items")),
        (11..=20).collect::<Vec<_>>()
    );
    let page = tech
        .json(&format!("/api/v1/devices/{id}/readings?after=20&limit=10"))
        .await;
    assert_eq!(
        seqs(page["items"].as_array().expect("items")),
        (21..=25).collect::<Vec<_>>()
    );
    assert!(page["next_after"].is_null());
    let r = &page["items"][0];
    assert!(r["t"].as_str().expect("t").ends_with('Z'), "{r}");
    assert_eq!(r["u_t"], 0.002);
    for bad in ["limit=0", "limit=1001", "after=-1", "after=x"] {
        let res = tech
            .get(&format!("/api/v1/devices/{id}/readings?{bad}"))
            .await;
        assert_eq!(res.status(), 422, "{bad}");
    }
    server.stop().await;
});

backend_tests!(
    typed_readings_are_stored_once_by_their_key,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let tech = server.login("tech").await;
        let expert = server.login("expert").await;
        let (id, token) = register(&server, &tech).await;
        let session = live_session(&server, &expert).await;
        let res = tech
            .post(
                &format!("/api/v1/sessions/{session}/devices"),
                &json!({"device_id": id}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let mut viewer = join(&server, &expert, session).await;
        let entry = json!({"key": "entry-1", "readings": [
        {"value": 10.0001, "unit": "V", "t": now(), "u_t": 0.5},
        {"value": 10.0002, "unit": "V"}]});
        let res = tech
            .post(&format!("/api/v1/devices/{id}/readings"), &entry)
            .await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let first: Value = res.json().await.expect("json");
        assert_eq!(first["duplicate"], false);
        assert_eq!(seqs(first["readings"].as_array().expect("r")), vec![1, 2]);
        assert_eq!(first["readings"][0]["u_t"], 0.5);
        assert_eq!(
            first["readings"][1]["u_t"], 5.0,
            "untimed: stamped on arrival"
        );
        assert_eq!(
            seqs(&room_readings(&mut viewer, 2, Duration::from_secs(5)).await),
            vec![1, 2]
        );
        // The same key again (a lost answer): what was stored, nothing more.
        let res = tech
            .post(&format!("/api/v1/devices/{id}/readings"), &entry)
            .await;
        assert_eq!(res.status(), 200);
        let again: Value = res.json().await.expect("json");
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["batch_id"], first["batch_id"]);
        assert_eq!(again["readings"], first["readings"]);
        // Bad entries: refused whole, naming the reading.
        let res = tech
        .post(
            &format!("/api/v1/devices/{id}/readings"),
            &json!({"key": "entry-2", "readings": [{"value": 1.0, "unit": "V"}, {"value": "inf", "unit": "V"}]}),
        )
        .await;
        assert_eq!(res.status(), 422);
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["details"][0]["field"], "readings[1]", "{v}");
        let res = tech
            .post(
                &format!("/api/v1/devices/{id}/readings"),
                &json!({"key": "", "readings": [{"value": 1.0, "unit": "V"}]}),
            )
            .await;
        assert_eq!(res.status(), 422);
        assert_eq!(all_readings(&tech, id).await.len(), 2);
        // Once an agent feeds the device, typing is refused; the agent
        // continues after the typed readings.
        let (_ws, welcome) = agent(&server, &token).await;
        assert_eq!(welcome["last_seq"], 2);
        let res = tech
            .post(
                &format!("/api/v1/devices/{id}/readings"),
                &json!({"key": "entry-3", "readings": [{"value": 1.0, "unit": "V"}]}),
            )
            .await;
        assert_eq!(res.status(), 409);
        server.stop().await;
    }
);

// ------------------------------------------------------------ real agent

/// The demo's voltmeter (`jiliang-sim scpi`) on a free port.
async fn simulator() -> (Child, String) {
    procs::simulator("scpi", &["--levels", "1,5,10", "--dwell-s", "3600"]).await
}

fn run_agent(server: &TestServer, token: &str, instrument: &str, queue: &std::path::Path) -> Child {
    let child = std::process::Command::new(agent_bin())
        .args(["run", "--server", &server.base, "--queue"])
        .arg(queue)
        .args([
            "--scpi",
            instrument,
            "--query",
            "MEAS:VOLT:DC?",
            "--interval-ms",
            "50",
        ])
        .env("JILIANG_AGENT_TOKEN", token)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start jiliang-agent");
    Child(child)
}

backend_tests!(
    the_real_agent_streams_the_simulator_into_a_room,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let tech = server.login("tech").await;
        let expert = server.login("expert").await;
        let (id, token) = register(&server, &tech).await;
        let session = live_session(&server, &expert).await;
        let res = expert
            .post(
                &format!("/api/v1/sessions/{session}/devices"),
                &json!({"device_id": id}),
            )
            .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        let mut viewer = join(&server, &expert, session).await;
        let (_sim, addr) = simulator().await;
        let queue = tempfile::tempdir().expect("queue dir");
        let _agent = run_agent(&server, &token, &addr, queue.path());
        let seen = room_readings(&mut viewer, 20, Duration::from_secs(30)).await;
        let s = seqs(&seen);
        assert_eq!(
            s[..20],
            (1..=20).collect::<Vec<_>>()[..],
            "in order, no gap"
        );
        for r in &seen {
            let v = r["value"].as_f64().expect("value");
            // One of the simulator's levels (1, 5, 10 V), with its small error.
            assert!(
                [1.0, 5.0, 10.0].iter().any(|l| (v - l).abs() < 0.001),
                "{r}"
            );
            assert_eq!(r["unit"], "V");
            // Readings taken before the first clock exchange carry the
            // agent's "no estimate yet" bound of 60 s (docs/AGENT.md).
            let u_t = r["u_t"].as_f64().expect("u_t");
            assert!((0.0..=60.001).contains(&u_t), "{r}");
        }
        // Once synchronised over the agent socket, times are known to well
        // under a second.
        let mut more = seen.clone();
        while more
            .last()
            .and_then(|r| r["u_t"].as_f64())
            .is_none_or(|u| u >= 1.0)
        {
            more.extend(room_readings(&mut viewer, 1, Duration::from_secs(30)).await);
        }
        assert_eq!(seqs(&more), (1..=more.len() as u64).collect::<Vec<_>>());
        // What the room showed is what is stored.
        let stored = all_readings(&tech, id).await;
        assert!(stored.len() >= 20);
        for (a, b) in seen.iter().zip(&stored) {
            assert_eq!(a, b);
        }
        let d = tech.json(&format!("/api/v1/devices/{id}")).await;
        assert!(d["agent_connected_at"].is_string(), "{d}");
        server.stop().await;
    }
);

/// The agent killed with SIGKILL while streaming and started again on the
/// same queue: the server holds every reading once, in order.
#[tokio::test]
async fn the_agent_killed_and_restarted_loses_and_repeats_nothing() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let tech = server.login("tech").await;
    let (id, token) = register(&server, &tech).await;
    let (_sim, addr) = simulator().await;
    let queue = tempfile::tempdir().expect("queue dir");
    let agent = run_agent(&server, &token, &addr, queue.path());
    // Let it stream, then kill it hard and start it again on the same queue.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while all_readings(&tech, id).await.len() < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no readings from the agent"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(agent);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = all_readings(&tech, id).await.len();
    let _agent = run_agent(&server, &token, &addr, queue.path());
    while all_readings(&tech, id).await.len() < before + 20 {
        assert!(
            tokio::time::Instant::now() < deadline + Duration::from_secs(30),
            "the restarted agent sent nothing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = all_readings(&tech, id).await;
    let s = seqs(&stored);
    assert_eq!(
        s,
        (1..=s.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    server.stop().await;
}

// ------------------------------------------------------------ faults

/// A SCPI instrument whose every `MEAS…?` answers the next integer (1, 2,
/// 3, …): a stored value names the exchange it came from. It answers
/// readings while its count is below `limit` and is silent after (an
/// instrument that stays silent on a query, as real ones do).
struct CountingInstrument {
    addr: String,
    /// Readings answered so far.
    answered: std::sync::Arc<std::sync::atomic::AtomicU64>,
    limit: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// `answered` when a reading was last refused at the limit: equal to
    /// the limit once the agent has asked again after the last answer, so
    /// that answer has been taken (fsync'd) or lost, not still in hand.
    refused_after: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

async fn counting_instrument() -> CountingInstrument {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let answered = std::sync::Arc::new(AtomicU64::new(0));
    let limit = std::sync::Arc::new(AtomicU64::new(u64::MAX));
    let refused_after = std::sync::Arc::new(AtomicU64::new(0));
    let (c, l, r) = (answered.clone(), limit.clone(), refused_after.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (c, l, r) = (c.clone(), l.clone(), r.clone());
            tokio::spawn(async move {
                let (rd, mut wr) = stream.into_split();
                let mut lines = tokio::io::BufReader::new(rd).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut replies = Vec::new();
                    for cmd in line.split(';').map(str::trim) {
                        let upper = cmd.to_ascii_uppercase();
                        if upper == "*IDN?" {
                            replies.push("JILIANG,TEST-COUNTER,0,1".to_owned());
                        } else if upper.starts_with("SYST") {
                            replies.push("+0,\"No error\"".to_owned());
                        } else if upper.starts_with("MEAS") {
                            let limit = l.load(Ordering::SeqCst);
                            match c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                (n < limit).then_some(n + 1)
                            }) {
                                Ok(n) => replies.push((n + 1).to_string()),
                                Err(n) => r.store(n, Ordering::SeqCst),
                            }
                        }
                    }
                    if !replies.is_empty() {
                        let out = format!("{}\n", replies.join(";"));
                        if wr.write_all(out.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    CountingInstrument {
        addr,
        answered,
        limit,
        refused_after,
    }
}

/// A TCP path from the agent to `target` that can be cut: while cut, its
/// connections are dropped and new ones are closed as soon as they are
/// accepted (the county's link going down); restored, it forwards again.
/// The port stays bound throughout, so nothing else can take it.
struct Link {
    addr: String,
    cut: tokio::sync::watch::Sender<bool>,
}

async fn link_to(target: String) -> Link {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (cut, mut cut_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            while conns.try_join_next().is_some() {}
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((mut inbound, _)) = accepted else { continue };
                    if *cut_rx.borrow() {
                        continue; // dropped: closed at once
                    }
                    let target = target.clone();
                    conns.spawn(async move {
                        if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        }
                    });
                }
                changed = cut_rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *cut_rx.borrow_and_update() {
                        conns.abort_all();
                    }
                }
            }
        }
    });
    Link { addr, cut }
}

/// The real `jiliang` binary serving `db` on `addr`.
fn jiliang_serve(addr: &str, db: &std::path::Path, key: &std::path::Path) -> Child {
    Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_jiliang"))
            .args(["serve", "--listen", addr, "--database-url"])
            .arg(format!("sqlite://{}", db.display()))
            .arg("--ledger-key")
            .arg(key)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("start jiliang"),
    )
}

async fn wait_healthy(base: &str) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} did not come up");
}

/// `jiliang-agent status` of `queue`: the last `seq` the agent has taken.
fn agent_taken(queue: &std::path::Path) -> u64 {
    let out = std::process::Command::new(agent_bin())
        .args(["status", "--queue"])
        .arg(queue)
        .output()
        .expect("agent status");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains("quarantined  0"), "{status}");
    status
        .lines()
        .find_map(|l| l.strip_prefix("last seq"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{status}"))
}

/// The issue's fault test: while the agent streams `FAULT_READINGS`
/// readings (default 10 000) from an instrument, the agent is killed
/// (SIGKILL, restarted on its queue), the link to the server is cut (its
/// connections dropped, new ones closed at once, for 3 s) and the server
/// is killed (SIGKILL, restarted on its database). Afterwards the server
/// holds exactly that many readings, seq 1…N with no gap and no duplicate,
/// each value one the instrument answered, in the order it answered.
#[tokio::test]
async fn readings_survive_the_agent_and_the_server_killed_and_the_link_cut() {
    use std::sync::atomic::Ordering;
    let target: u64 = std::env::var("FAULT_READINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("jiliang.db");
    let key = dir.path().join("ledger-key.hex");
    // The demo province, seeded before the server starts.
    let store = jiliang_server::Store::open(&format!("sqlite://{}", db.display()))
        .await
        .expect("store");
    jiliang_server::demo::seed(&store).await.expect("seed");
    store.close().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    let mut server = jiliang_serve(&addr, &db, &key);
    wait_healthy(&base).await;
    let tech = Client::login(&base, "tech", crate::common::DEMO_PASSWORD).await;
    let qinan = tech
        .json("/api/v1/institutions")
        .await
        .as_array()
        .expect("institutions")
        .iter()
        .find(|i| i["name_zh"] == "秦安县计量检定所")
        .map(id_of)
        .expect("秦安");
    let res = tech
        .post(
            "/api/v1/devices",
            &json!({"lab_id": qinan, "name": "计数仪", "kind": "counter", "quantity": "voltage", "unit": "V"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let v: Value = res.json().await.expect("json");
    let (id, token) = (id_of(&v), v["token"].as_str().expect("token").to_owned());
    let instrument = counting_instrument().await;
    // The agent reaches the server through a link that can be cut.
    let link = link_to(addr.clone()).await;
    let agent_server = format!("http://{}", link.addr);
    let queue = tempfile::tempdir().expect("queue");
    let agent_cmd = || {
        Child(
            std::process::Command::new(agent_bin())
                .args(["run", "--server", &agent_server, "--queue"])
                .arg(queue.path())
                .args([
                    "--scpi",
                    &instrument.addr,
                    "--query",
                    "MEAS:VOLT:DC?",
                    "--interval-ms",
                    "10",
                ])
                .env("JILIANG_AGENT_TOKEN", &token)
                .env("RUST_LOG", "error")
                .spawn()
                .expect("start jiliang-agent"),
        )
    };
    let last_seq = |c: Client| async move {
        let r = c.get(&format!("/api/v1/devices/{id}")).await;
        if r.status() != 200 {
            return 0;
        }
        r.json::<Value>()
            .await
            .ok()
            .and_then(|v| v["last_seq"].as_u64())
            .unwrap_or(0)
    };
    let wait_for = |n: u64, c: Client| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
        loop {
            if last_seq(c.clone()).await >= n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "stuck before {n} readings"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut agent = agent_cmd();
    wait_for(target / 4, tech.clone()).await;
    drop(agent); // SIGKILL
    // What the killed agent had taken (its queue holds them, sent or not).
    let before_kill = agent_taken(queue.path());
    agent = agent_cmd();
    // Its first new reading says how many answers the kill cost (an answer
    // read but not yet written to the queue was never taken): set the
    // instrument to answer until the agent has taken exactly `target`.
    wait_for(before_kill + 1, tech.clone()).await;
    let first = tech
        .json(&format!(
            "/api/v1/devices/{id}/readings?after={before_kill}&limit=1"
        ))
        .await;
    let first = &first["items"][0];
    assert_eq!(first["seq"].as_u64(), Some(before_kill + 1), "{first}");
    let skipped = (first["value"].as_f64().expect("value") as u64)
        .checked_sub(before_kill + 1)
        .unwrap_or_else(|| panic!("a value below its seq: {first}"));
    instrument.limit.store(target + skipped, Ordering::SeqCst);

    wait_for(target / 2, tech.clone()).await;
    link.cut.send_replace(true); // the link goes down: readings queue at the lab
    tokio::time::sleep(Duration::from_millis(500)).await;
    let early_in_cut = last_seq(tech.clone()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let during_cut = last_seq(tech.clone()).await;
    assert_eq!(
        early_in_cut, during_cut,
        "nothing reaches the server while the link is cut"
    );
    link.cut.send_replace(false);
    wait_for(during_cut + target / 10, tech.clone()).await;

    wait_for(3 * target / 4, tech.clone()).await;
    drop(server); // SIGKILL: the agent keeps reading into its queue meanwhile
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server = jiliang_serve(&addr, &db, &key);
    wait_healthy(&base).await;
    let tech = Client::login(&base, "tech", crate::common::DEMO_PASSWORD).await;

    // The instrument falls silent at its limit; should a late answer have
    // cost another reading (a query that timed out under load), it answers
    // as many more as the agent is short. The agent's count is final once
    // it has asked again after the last answer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        assert!(tokio::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let limit = instrument.limit.load(Ordering::SeqCst);
        if instrument.refused_after.load(Ordering::SeqCst) != limit {
            continue;
        }
        let taken = agent_taken(queue.path());
        if last_seq(tech.clone()).await < taken {
            continue;
        }
        assert!(taken <= target, "the agent took {taken} > {target}");
        if taken == target {
            break;
        }
        instrument
            .limit
            .store(limit + (target - taken), Ordering::SeqCst);
    }
    drop(agent);

    let answered = instrument.answered.load(Ordering::SeqCst);
    let stored = all_readings(&tech, id).await;
    let s = seqs(&stored);
    assert_eq!(s.len() as u64, target, "exactly {target} readings stored");
    assert_eq!(
        s,
        (1..=target).collect::<Vec<_>>(),
        "seq 1…N, no gap, no duplicate"
    );
    let values: Vec<u64> = stored
        .iter()
        .map(|r| r["value"].as_f64().expect("value") as u64)
        .collect();
    // Values are what the instrument answered, in the order it answered
    // (a kill between an answer and its fsync skips that one: it was never
    // taken), never one it did not answer.
    assert!(values.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(values.iter().all(|v| (1..=answered).contains(v)));
    assert_eq!(values.last().copied(), Some(answered), "the last answer");
    eprintln!(
        "fault test: {target} readings stored, {answered} answered by the instrument, {} lost to the kill before they were taken",
        answered - target
    );
    drop(server);
}
