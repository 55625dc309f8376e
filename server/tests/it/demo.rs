//! The demo lab a newcomer meets (`jiliang seed-demo --demo-lab DIR`): its
//! ended session holds a finished comparison made through the same code as
//! the expert's buttons, whose record verifies; the live session has the
//! four devices attached; the help request is open; seeding again changes
//! nothing.

use crate::common::{Backend, Client, TestServer};
use jiliang_ledger::{Bundle, verify_bundle_with_key, verifying_key_from_hex};
use jiliang_protocol::comparison::ComparisonView;
use jiliang_server::demo::lab;
use serde_json::Value;

crate::backend_tests!(
    the_demo_lab_is_at_work_from_the_start,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let dir = tempfile::tempdir().expect("dir");
        let report = lab::seed(&server.state.store, dir.path())
            .await
            .expect("demo lab");
        assert_eq!(report.devices_created, 4);
        assert_eq!(report.sessions_created, 2);
        assert_eq!(report.agent_files.len(), 4);

        let expert = server.login("expert").await;
        let sessions: Vec<Value> = expert
            .json("/api/v1/sessions?limit=500")
            .await
            .as_array()
            .cloned()
            .expect("list");
        let id_of = |title: &str| {
            sessions
                .iter()
                .find(|s| s["title"] == title)
                .and_then(|s| s["id"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("no session {title}"))
        };
        let ended = id_of(lab::ENDED_TITLE);
        let live = id_of(lab::LIVE_TITLE);

        // The ended session: a finished comparison of the pressure pair, every
        // point complete with its 10 + 10 readings, a pass at ±0.5 kPa (the
        // transmitter reads about 0.12 kPa high).
        let res = expert
            .get(&format!("/api/v1/sessions/{ended}/comparison"))
            .await;
        assert_eq!(res.status(), 200);
        let view: ComparisonView = res.json().await.expect("view");
        assert_eq!(view.points.len(), 3);
        for p in &view.points {
            assert_eq!((p.n_uut, p.n_ref), (10, 10), "point {}", p.index);
            let r = p.result.as_ref().expect("result");
            assert!((0.05..0.2).contains(&r.e), "error {} at {}", r.e, p.nominal);
            assert!((r.mpev - 0.5).abs() < 1e-9, "MPEV {}", r.mpev);
        }
        assert_eq!(
            serde_json::to_value(view.verdict).expect("json"),
            serde_json::json!("pass")
        );
        let record = view.finished.expect("finished").record;
        assert_eq!(record.kind, "raw_record");
        let head = expert.json("/api/v1/ledger/head").await;
        let key = verifying_key_from_hex(head["public_key"].as_str().expect("key")).expect("key");
        let bundle: Bundle = expert
            .get(&format!("/api/v1/ledger/records/raw_record/{}", record.id))
            .await
            .json()
            .await
            .expect("bundle");
        assert!(verify_bundle_with_key(&bundle, &key).ok);
        let csv = expert
            .get(&format!("/api/v1/sessions/{ended}/comparison/readings.csv"))
            .await
            .text()
            .await
            .expect("csv");
        assert_eq!(csv.lines().count(), 1 + 60, "header and 60 readings");

        // The live session: the four devices attached, no comparison yet.
        let devices = expert
            .json(&format!("/api/v1/sessions/{live}/devices"))
            .await;
        assert_eq!(devices.as_array().map(Vec::len), Some(4));
        let res = expert
            .get(&format!("/api/v1/sessions/{live}/comparison"))
            .await;
        assert_eq!(res.status(), 404);

        // Seeding again finds everything in place.
        let again = lab::seed(&server.state.store, dir.path())
            .await
            .expect("again");
        assert_eq!(
            (
                again.devices_created,
                again.tokens_written,
                again.sessions_created,
                again.help_created
            ),
            (0, 0, 0, false)
        );
        server.stop().await;
    }
);

#[tokio::test]
async fn the_demo_lab_needs_the_demo_province() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let dir = tempfile::tempdir().expect("dir");
    let err = lab::seed(&server.state.store, dir.path())
        .await
        .expect_err("no demo accounts");
    assert!(
        err.to_string().contains("seed the demo province first"),
        "{err}"
    );
    server.stop().await;
}

/// What `scripts/run` starts, as a newcomer gets it: the four agent files
/// `seed-demo --demo-lab` writes, run by the real `jiliang-agent` against
/// the real simulators (the instrument address given on the command line,
/// which goes over the file's), stream into the demo's live session: every
/// device's readings are stored in its unit and reach the session's log.
/// The help request from 甘谷 is open.
#[tokio::test]
async fn the_demo_lab_agents_stream_into_the_live_session() {
    use crate::common::procs::{Child, agent_bin, simulator};
    use std::time::Duration;

    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let dir = tempfile::tempdir().expect("dir");
    let report = lab::seed(&server.state.store, dir.path())
        .await
        .expect("demo lab");
    assert_eq!(report.agent_files.len(), 4);
    let expert = server.login("expert").await;
    let sessions = expert.json("/api/v1/sessions?limit=500").await;
    let live = sessions
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["title"] == lab::LIVE_TITLE)
        .and_then(|s| s["id"].as_str())
        .expect("the live session")
        .to_owned();
    let devices = expert
        .json(&format!("/api/v1/sessions/{live}/devices"))
        .await;
    let devices = devices.as_array().expect("devices").clone();
    assert_eq!(devices.len(), 4);
    // What the demo holds before any agent runs (the seeded history): only
    // what comes after it counts.
    let mut before = Vec::new();
    for d in &devices {
        let id = d["id"].as_str().expect("id");
        let info = expert.json(&format!("/api/v1/devices/{id}")).await;
        before.push(info["last_seq"].as_u64().unwrap_or(0));
    }
    let log_end = events_after(&expert, &live, 0)
        .await
        .last()
        .map_or(0, |e| e["seq"].as_u64().expect("seq"));

    let mut running = Vec::new();
    for file in &report.agent_files {
        let text = std::fs::read_to_string(file).expect("agent file");
        let (kind, flag) = if text.contains("\nscpi = ") {
            ("scpi", "--scpi")
        } else {
            assert!(text.contains("\nmodbus = "), "{text}");
            ("modbus", "--modbus")
        };
        let (sim, addr) = simulator(kind, &[]).await;
        let agent = std::process::Command::new(agent_bin())
            .args(["run", "--config"])
            .arg(file)
            .args([
                "--server",
                &server.base,
                flag,
                &addr,
                "--interval-ms",
                "100",
            ])
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("start jiliang-agent");
        running.push((sim, Child(agent)));
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (d, from) in devices.iter().zip(&before) {
        let id = d["id"].as_str().expect("id");
        loop {
            let page = expert
                .json(&format!(
                    "/api/v1/devices/{id}/readings?after={from}&limit=5"
                ))
                .await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.len() >= 3 {
                for r in &items {
                    assert_eq!(r["unit"], d["unit"], "{r} of {d}");
                    assert!(r["value"].as_f64().is_some_and(f64::is_finite), "{r}");
                }
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no readings from the agent of {} ({})",
                d["name"],
                id
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let readings: Vec<String> = events_after(&expert, &live, log_end)
        .await
        .iter()
        .filter(|e| e["body"]["kind"] == "readings")
        .map(Value::to_string)
        .collect();
    for d in &devices {
        let id = d["id"].as_str().expect("id");
        assert!(
            readings.iter().any(|e| e.contains(id)),
            "no new readings event of {} in the live session",
            d["name"]
        );
    }

    let gangu = server.login("gangu.tech").await;
    let help = gangu.json("/api/v1/help-requests").await;
    assert!(
        help.as_array()
            .expect("help")
            .iter()
            .any(|h| h["topic"] == lab::HELP_TOPIC && h["state"] == "open"),
        "{help}"
    );
    drop(running);
    server.stop().await;
}

/// Every event of `session`'s log after `after`, through the REST pages.
async fn events_after(client: &Client, session: &str, mut after: u64) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = client
            .json(&format!(
                "/api/v1/sessions/{session}/events?after={after}&limit=1000"
            ))
            .await;
        out.extend(page["items"].as_array().expect("events").iter().cloned());
        match page["next_after"].as_u64() {
            Some(n) => after = n,
            None => return out,
        }
    }
}
