//! The tamper-evident log wired into the server: every room event is a
//! leaf; heads are signed; proofs and exports verify with the ledger crate
//! and the CLI; and any change made directly in the database is found.

mod common;

use common::{Backend, Client, TestServer};
use jiliang_ledger::{
    Bundle, Hash, verify_bundle_with_key, verify_consistency, verify_inclusion,
    verifying_key_from_hex,
};
use jiliang_protocol::rooms::{Author, EventBody};
use jiliang_server::ledger::verify::verify_database;
use jiliang_server::rooms::log::Append;
use serde_json::{Value, json};
use uuid::Uuid;

/// A session with `n` chat events stored through the room log.
async fn session_with_events(server: &TestServer, n: usize) -> (Client, Uuid) {
    let expert = server.login("expert").await;
    let qinan = server.institution_id("秦安县计量检定所").await;
    let res = expert
        .post("/api/v1/sessions", &json!({"title": "砝码比对", "scheduled_start":
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).expect("fmt"),
            "duration_minutes": 60, "lab_ids": [qinan]}))
        .await;
    let id: Uuid = res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let author = Author {
        id: server.user_id("expert").await,
        name: "李明华".into(),
    };
    for i in 0..n {
        server
            .state
            .log
            .append(Append {
                session: id,
                author: Some(author.clone()),
                client_id: Some(format!("m{i}")),
                body: EventBody::Chat {
                    text: format!("示值 {i}.000 g"),
                },
            })
            .await
            .expect("append");
    }
    server.state.ledger.publish().await.expect("publish");
    (expert, id)
}

backend_tests!(heads_proofs_and_exports_verify, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let (expert, id) = session_with_events(&server, 3).await;
    let anon = Client::new(&server.base);
    let head = anon.json("/api/v1/ledger/head").await;
    let key = verifying_key_from_hex(head["public_key"].as_str().expect("key")).expect("key");
    let size = head["size"].as_u64().expect("size");
    assert_eq!(size, 3);
    let root = Hash::from_hex(head["root_hash"].as_str().expect("root")).expect("hex");

    // Every leaf is provably in the signed tree.
    for index in 0..size {
        let p = anon
            .json(&format!("/api/v1/ledger/proof/inclusion?index={index}"))
            .await;
        let leaf = Hash::from_hex(p["leaf_hash"].as_str().expect("leaf")).expect("hex");
        let proof: Vec<Hash> = p["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(|h| Hash::from_hex(h.as_str().expect("hex")).expect("hash"))
            .collect();
        verify_inclusion(&leaf, index, size, &proof, &root).expect("inclusion verifies");
    }
    assert_eq!(
        anon.get("/api/v1/ledger/proof/inclusion?index=3")
            .await
            .status(),
        422
    );

    // More records, a new head, and the log only grew.
    let author = Author {
        id: server.user_id("expert").await,
        name: "李明华".into(),
    };
    server
        .state
        .log
        .append(Append {
            session: id,
            author: Some(author),
            client_id: None,
            body: EventBody::Chat {
                text: "复核".into(),
            },
        })
        .await
        .expect("append");
    server.state.ledger.publish().await.expect("publish");
    let head2 = anon.json("/api/v1/ledger/head").await;
    assert_eq!(head2["size"], 4);
    let root2 = Hash::from_hex(head2["root_hash"].as_str().expect("root")).expect("hex");
    let c = anon
        .json("/api/v1/ledger/proof/consistency?old_size=3")
        .await;
    let proof: Vec<Hash> = c["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| Hash::from_hex(h.as_str().expect("hex")).expect("hash"))
        .collect();
    verify_consistency(3, 4, &root, &root2, &proof).expect("consistency verifies");

    // The session's export verifies against the pinned key, in the crate and in the CLI.
    let bundle: Bundle = expert
        .get(&format!("/api/v1/sessions/{id}/export"))
        .await
        .json()
        .await
        .expect("bundle");
    assert_eq!(bundle.records.len(), 4);
    let report = verify_bundle_with_key(&bundle, &key);
    assert!(report.ok, "{report}");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("export.json");
    std::fs::write(&file, serde_json::to_vec(&bundle).expect("json")).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jiliang"))
        .args([
            "verify",
            file.to_str().expect("path"),
            "--public-key",
            head2["public_key"].as_str().expect("key"),
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A single record, as a certificate would link to it.
    let event_id = bundle.records[1].id.clone();
    let one: Bundle = expert
        .get(&format!("/api/v1/ledger/records/room_event/{event_id}"))
        .await
        .json()
        .await
        .expect("bundle");
    assert_eq!(one.records.len(), 1);
    assert!(verify_bundle_with_key(&one, &key).ok);

    // And the whole database verifies.
    let report = verify_database(&server.state.store, Some(key))
        .await
        .expect("verify");
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.leaves, 4);
    server.stop().await;
});

/// Run `;`-separated statements directly against the database.
async fn sqlite_exec(server: &TestServer, sql: &str) {
    for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        match server.state.store.db() {
            jiliang_server::store::Db::Sqlite(p) => {
                sqlx::query(stmt).execute(p).await.expect("tamper");
            }
            jiliang_server::store::Db::Postgres(p) => {
                sqlx::query(stmt).execute(p).await.expect("tamper");
            }
        }
    }
}

/// Each tampering, on a fresh log of 5 events, is found and names the record.
async fn tampered(sql: &str) -> Vec<String> {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let (_, _) = session_with_events(&server, 5).await;
    let key = *server.state.ledger.public_key();
    let clean = verify_database(&server.state.store, Some(key))
        .await
        .expect("verify");
    assert!(clean.ok, "{:?}", clean.problems);
    sqlite_exec(&server, sql).await;
    let report = verify_database(&server.state.store, Some(key))
        .await
        .expect("verify");
    assert!(!report.ok, "tampering went unnoticed: {sql}");
    server.stop().await;
    report.problems
}

#[tokio::test]
async fn one_changed_byte_in_an_event_is_found() {
    let p = tampered("UPDATE room_events SET body = replace(body, '2.000', '2.001') WHERE seq = 3")
        .await;
    assert!(
        p.iter()
            .any(|m| m.contains("record at index 2") && m.contains("differs")),
        "{p:?}"
    );
}

#[tokio::test]
async fn a_deleted_event_is_found() {
    let p = tampered("DELETE FROM room_events WHERE seq = 4").await;
    assert!(
        p.iter()
            .any(|m| m.contains("record at index 3") && m.contains("missing")),
        "{p:?}"
    );
}

#[tokio::test]
async fn a_changed_byte_in_the_log_is_found() {
    let p = tampered(
        "UPDATE ledger_leaves SET payload = replace(payload, '1.000', '1.009') WHERE idx = 1",
    )
    .await;
    assert!(p.iter().any(|m| m.contains("index 1")), "{p:?}");
}

#[tokio::test]
async fn two_reordered_leaves_are_found() {
    let p = tampered(
        "UPDATE ledger_leaves SET idx = -1 WHERE idx = 1; UPDATE ledger_leaves SET idx = 1 WHERE idx = 3; \
         UPDATE ledger_leaves SET idx = 3 WHERE idx = -1",
    )
    .await;
    assert!(
        p.iter().any(|m| m.contains("does not match signed head")),
        "{p:?}"
    );
}

#[tokio::test]
async fn a_deleted_leaf_is_found() {
    let p = tampered("DELETE FROM ledger_leaves WHERE idx = 2").await;
    assert!(p.iter().any(|m| m.contains("index 2 missing")), "{p:?}");
    assert!(p.iter().any(|m| m.contains("is not in the log")), "{p:?}");
}

#[tokio::test]
async fn the_cli_reverifies_a_database_and_exits_1_on_tampering() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    session_with_events(&server, 3).await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_jiliang"))
            .args(["verify", "--database-url", &server.db.url])
            .env("RUST_LOG", "off")
            .output()
            .expect("run")
    };
    let ok = run();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok: 3 records"));
    sqlite_exec(
        &server,
        "UPDATE room_events SET body = replace(body, '示值', '读数') WHERE seq = 2",
    )
    .await;
    let bad = run();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("record at index 1"), "{err}");
    server.stop().await;
}
