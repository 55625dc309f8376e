//! The demo lab a newcomer meets (`jiliang seed-demo --demo-lab DIR`): its
//! ended session holds a finished comparison made through the same code as
//! the expert's buttons, whose record verifies; the live session has the
//! four devices attached; the help request is open; seeding again changes
//! nothing.

use crate::common::{Backend, TestServer};
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
