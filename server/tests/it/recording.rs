//! Recording a live session through the SFU, driven by a `webrtc` crate
//! peer publishing synthetic VP8: only the host may start; a second start
//! is refused; the room and a late joiner's snapshot see it; stopping
//! writes a WebM file (remuxed by ffmpeg) whose SHA-256 is its ledger
//! record; the file is served in byte ranges (206, 416) to those who may
//! see the session only. Without a working ffmpeg the file is stored as
//! failed, with the reason, and the server carries on. Each test runs on
//! SQLite and, when `DATABASE_URL` names one, on PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::common::{Backend, Client, TestServer};
use crate::media::{Participant, pump, wait_for};
use crate::rooms::{join, next_json, session};

fn ffmpeg_present() -> bool {
    std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn live(server: &TestServer, expert: &Client) -> Uuid {
    let id = session(server, expert).await;
    let res = expert
        .post(&format!("/api/v1/sessions/{id}/start"), &json!({}))
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    id
}

/// The next event of `kind` the participant's socket brings.
async fn event(p: &mut Participant, kind: &str) -> Value {
    loop {
        let e = p.expect("event").await;
        if e["body"]["kind"] == kind {
            return e;
        }
    }
}

async fn error_code(ws: &mut crate::rooms::Ws) -> String {
    loop {
        let f = next_json(ws).await;
        if f["type"] == "error" {
            return f["code"].as_str().unwrap_or_default().to_owned();
        }
    }
}

/// The session's files once one is there (remuxing takes a moment).
async fn files(client: &Client, id: Uuid) -> Vec<Value> {
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v = client
            .json(&format!("/api/v1/sessions/{id}/recordings"))
            .await;
        let list = v.as_array().cloned().unwrap_or_default();
        if !list.is_empty() {
            return list;
        }
        assert!(
            std::time::Instant::now() < until,
            "no recorded file within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Publish a camera as the expert and record it for about two seconds.
async fn record_two_seconds(server: &TestServer, expert: &Client, id: Uuid) -> Participant {
    let (ws, _) = join(&server.base, expert, id, 0).await;
    let mut a = Participant::new(ws).await;
    let track = a.publish_camera().await;
    let pumping = pump(track);
    a.expect("media_state").await;
    a.frame(json!({"type": "recording_start"}));
    let started = event(&mut a, "recording_started").await;
    assert!(started["body"]["recording_id"].is_string(), "{started}");
    let recorder = server.state.recorder.clone();
    wait_for("the camera is being written", || {
        recorder.recording_here(id) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.frame(json!({"type": "recording_stop"}));
    event(&mut a, "recording_stopped").await;
    pumping.abort();
    a
}

crate::backend_tests!(
    the_host_records_and_the_file_is_a_served_verifiable_record,
    |backend| async move { records_a_served_verifiable_file(backend).await }
);

async fn records_a_served_verifiable_file(backend: Backend) {
    if !ffmpeg_present() {
        eprintln!("skipped: no ffmpeg (scripts/lib.sh ensure_ffmpeg installs it)");
        return;
    }
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = live(&server, &expert).await;

    // Not the host: refused, and nothing is recorded.
    let (mut tws, _) = join(&server.base, &tech, id, 0).await;
    tws_send(&mut tws, json!({"type": "recording_start"})).await;
    assert_eq!(error_code(&mut tws).await, "forbidden");
    tws_send(&mut tws, json!({"type": "recording_stop"})).await;
    assert_eq!(error_code(&mut tws).await, "forbidden");

    let (ws, _) = join(&server.base, &expert, id, 0).await;
    let mut a = Participant::new(ws).await;
    let track = a.publish_camera().await;
    let pumping = pump(track);
    a.expect("media_state").await;
    a.frame(json!({"type": "recording_start"}));
    let started = event(&mut a, "recording_started").await;
    let recording_id = started["body"]["recording_id"].clone();
    // A second start is refused clearly; the room heard the first.
    a.frame(json!({"type": "recording_start"}));
    let refused = a.expect("error").await;
    assert_eq!(refused["code"], "conflict", "{refused}");
    // A late joiner's snapshot says the session is being recorded.
    let (_late, snap) = join(&server.base, &tech, id, 0).await;
    assert_eq!(snap["recording"]["recording_id"], recording_id, "{snap}");

    let recorder = server.state.recorder.clone();
    wait_for("the camera is being written", || {
        recorder.recording_here(id) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.frame(json!({"type": "recording_stop"}));
    event(&mut a, "recording_stopped").await;
    let (_after, snap) = join(&server.base, &tech, id, 0).await;
    assert!(snap.get("recording").is_none(), "{snap}");
    pumping.abort();

    let list = files(&tech, id).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let f = &list[0];
    assert_eq!(f["status"], "ready", "{f}");
    assert_eq!(f["kind"], "camera");
    assert_eq!(f["with_audio"], false);
    assert_eq!(f["recording_id"], recording_id);
    let duration = f["duration_ms"].as_u64().unwrap_or(0);
    assert!(
        (1500..=4000).contains(&duration),
        "about two seconds: {duration} ms"
    );
    let file_id = f["id"].as_str().expect("id").to_owned();
    let size = f["bytes"].as_u64().expect("bytes");

    // The whole file: WebM, its hash the one listed.
    let res = tech
        .get(&format!("/api/v1/recordings/{file_id}/file"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "video/webm");
    assert_eq!(res.headers()["accept-ranges"], "bytes");
    let body = res.bytes().await.expect("body");
    assert_eq!(body.len() as u64, size);
    assert_eq!(
        &body[..4],
        &[0x1a, 0x45, 0xdf, 0xa3],
        "an EBML (WebM) header"
    );
    let sha: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(f["sha256"], sha);

    // Ranges: a part (206), the tail, and one outside the file (416).
    let part = tech
        .req(
            reqwest::Method::GET,
            &format!("/api/v1/recordings/{file_id}/file"),
        )
        .header("range", "bytes=10-19")
        .send()
        .await
        .expect("request");
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{size}").as_str()
    );
    assert_eq!(part.bytes().await.expect("part").as_ref(), &body[10..20]);
    let beyond = tech
        .req(
            reqwest::Method::GET,
            &format!("/api/v1/recordings/{file_id}/file"),
        )
        .header("range", format!("bytes={}-", size + 10))
        .send()
        .await
        .expect("request");
    assert_eq!(beyond.status(), 416);

    // Someone of another county may not list or fetch it.
    let other = server.login("tongwei.tech").await;
    let res = other
        .get(&format!("/api/v1/sessions/{id}/recordings"))
        .await;
    assert!(
        matches!(res.status().as_u16(), 403 | 404),
        "{}",
        res.status()
    );
    let res = other
        .get(&format!("/api/v1/recordings/{file_id}/file"))
        .await;
    assert!(
        matches!(res.status().as_u16(), 403 | 404),
        "{}",
        res.status()
    );
    let res = other
        .get(&format!("/api/v1/ledger/records/recording/{file_id}"))
        .await;
    assert!(
        matches!(res.status().as_u16(), 403 | 404),
        "{}",
        res.status()
    );

    // Its ledger record names the file's hash.
    let bundle = tech
        .json(&format!("/api/v1/ledger/records/recording/{file_id}"))
        .await;
    let text = bundle.to_string();
    assert!(text.contains(&sha), "the record carries the hash: {text}");
    let report = jiliang_server::ledger::verify::verify_database(&server.state.store, None)
        .await
        .expect("verify");
    assert!(report.ok, "{:?}", report.problems);

    a.leave().await;
    server.stop().await;
}

async fn tws_send(ws: &mut crate::rooms::Ws, v: Value) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(v.to_string()))
        .await
        .expect("send");
}

crate::backend_tests!(
    without_ffmpeg_the_file_is_marked_failed_and_the_session_goes_on,
    |backend| async move { without_ffmpeg(backend).await }
);

async fn without_ffmpeg(backend: Backend) {
    let Some(db) = crate::common::TestDb::new(backend).await else {
        return;
    };
    let server = TestServer::start_configured(db, |c| {
        c.recording.ffmpeg = std::path::PathBuf::from("/nonexistent/ffmpeg");
    })
    .await;
    jiliang_server::demo::seed(&server.state.store)
        .await
        .expect("seed");
    let expert = server.login("expert").await;
    let id = live(&server, &expert).await;
    let mut a = record_two_seconds(&server, &expert, id).await;
    let list = files(&expert, id).await;
    assert_eq!(list[0]["status"], "failed", "{list:?}");
    let reason = list[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("ffmpeg"), "{reason}");
    let file_id = list[0]["id"].as_str().expect("id");
    let res = expert
        .get(&format!("/api/v1/recordings/{file_id}/file"))
        .await;
    assert_eq!(res.status(), 409);
    // The raw track stays for the operator.
    let dir = server.state.recorder.dir().join(id.to_string());
    let raw = std::fs::read_dir(&dir)
        .expect("recordings dir")
        .filter_map(Result::ok)
        .any(|e| e.path().extension().is_some_and(|x| x == "ivf"));
    assert!(raw, "the raw IVF is kept in {}", dir.display());
    // Chat goes on.
    a.frame(json!({"type": "chat", "client_id": "r1", "text": "录制失败也能交流"}));
    assert_eq!(a.expect("accepted").await["client_id"], "r1");
    // Recording again works (the span closed).
    a.frame(json!({"type": "recording_start"}));
    event(&mut a, "recording_started").await;
    a.leave().await;
    server.stop().await;
}
