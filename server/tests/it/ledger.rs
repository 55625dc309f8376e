//! The tamper-evident log wired into the server: every room event is a
//! leaf; heads are signed; proofs and exports verify with the ledger crate
//! and the CLI; and any change made directly in the database is found.

use crate::common::{Backend, Client, TestServer};
use jiliang_ledger::{
    Bundle, Hash, Record, RecordKind, verify_bundle_with_key, verify_consistency, verify_inclusion,
    verifying_key_from_hex,
};
use jiliang_protocol::rooms::{Author, EventBody};
use jiliang_server::ledger::verify::verify_database;
use jiliang_server::ledger::{Ledger, LedgerError};
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
    db_exec(&server.state.store, sql).await;
}

async fn db_exec(store: &jiliang_server::Store, sql: &str) {
    for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        jiliang_server::store::testing::execute(store, stmt)
            .await
            .expect("tamper");
    }
}

/// Record ids by ledger index.
async fn leaf_ids(store: &jiliang_server::Store) -> Vec<String> {
    let leaves = store.ledger_leaves(None, i64::MAX).await.expect("leaves");
    leaves
        .into_iter()
        .enumerate()
        .map(|(i, leaf)| {
            assert_eq!(usize::try_from(leaf.index).ok(), Some(i));
            leaf.record_id
        })
        .collect()
}

/// What a tampering left for the verifier to find.
struct Tampered {
    problems: Vec<String>,
    /// Record id at each ledger index before the tampering.
    ids: Vec<String>,
}

impl Tampered {
    fn first(&self) -> &str {
        self.problems.first().map_or("", String::as_str)
    }

    /// Some problem names the record that was at ledger index `was` before
    /// the tampering, now found at `index`.
    fn names_moved(&self, index: usize, was: usize, what: &str) -> bool {
        let prefix = format!(
            "record at index {index} (room_event {}): {what}",
            self.ids[was]
        );
        self.problems.iter().any(|p| p.starts_with(&prefix))
    }

    fn names(&self, index: usize, what: &str) -> bool {
        self.names_moved(index, index, what)
    }
}

/// A log of `signed` events under a signed head, then `unsigned` more that
/// no head covers yet (later heads removed, as if not yet published); then
/// `sql` run directly against the database. Verification must fail.
async fn tampered(backend: Backend, signed: usize, unsigned: usize, sql: &str) -> Option<Tampered> {
    let server = TestServer::start_seeded(backend).await?;
    let (_, session) = session_with_events(&server, signed).await;
    let author = Author {
        id: server.user_id("expert").await,
        name: "李明华".into(),
    };
    for i in 0..unsigned {
        server
            .state
            .log
            .append(Append {
                session,
                author: Some(author.clone()),
                client_id: Some(format!("late{i}")),
                body: EventBody::Chat {
                    text: format!("示值 {}.000 g", signed + i),
                },
            })
            .await
            .expect("append");
    }
    // Signed now, so the node's publisher has nothing left to sign, then
    // unpublished: no head covers the late events.
    server.state.ledger.publish().await.expect("publish");
    db_exec(
        &server.state.store,
        &format!("DELETE FROM ledger_heads WHERE size > {signed}"),
    )
    .await;
    let key = *server.state.ledger.public_key();
    let clean = verify_database(&server.state.store, Some(key))
        .await
        .expect("verify");
    assert!(clean.ok, "{:?}", clean.problems);
    let ids = leaf_ids(&server.state.store).await;
    assert_eq!(ids.len(), signed + unsigned);
    db_exec(&server.state.store, sql).await;
    let report = verify_database(&server.state.store, Some(key))
        .await
        .expect("verify");
    assert!(!report.ok, "tampering went unnoticed: {sql}");
    server.stop().await;
    Some(Tampered {
        problems: report.problems,
        ids,
    })
}

/// Swap the leaves at ledger indices `a` and `b` (whole rows).
fn swap_leaves(a: usize, b: usize) -> String {
    format!(
        "UPDATE ledger_leaves SET idx = -1 WHERE idx = {a}; UPDATE ledger_leaves SET idx = {a} WHERE idx = {b}; \
         UPDATE ledger_leaves SET idx = {b} WHERE idx = -1"
    )
}

backend_tests!(
    one_changed_byte_in_an_event_is_found,
    |backend| async move {
        let Some(t) = tampered(
            backend,
            5,
            0,
            "UPDATE room_events SET body = replace(body, '2.000', '2.001') WHERE seq = 3",
        )
        .await
        else {
            return;
        };
        assert!(t.names(2, "the stored event differs"), "{:?}", t.problems);
        assert!(
            t.first().starts_with("record at index 2 ("),
            "{:?}",
            t.problems
        );
    }
);

backend_tests!(a_deleted_event_is_found, |backend| async move {
    let Some(t) = tampered(backend, 5, 0, "DELETE FROM room_events WHERE seq = 4").await else {
        return;
    };
    assert!(t.names(3, "missing from room_events"), "{:?}", t.problems);
    assert!(
        t.first().starts_with("record at index 3 ("),
        "{:?}",
        t.problems
    );
});

backend_tests!(a_changed_byte_in_the_log_is_found, |backend| async move {
    let Some(t) = tampered(
        backend,
        5,
        0,
        "UPDATE ledger_leaves SET payload = replace(payload, '1.000', '1.009') WHERE idx = 1",
    )
    .await
    else {
        return;
    };
    assert!(t.names(1, "content altered"), "{:?}", t.problems);
    assert!(
        t.first().starts_with("record at index 1 ("),
        "{:?}",
        t.problems
    );
});

backend_tests!(
    two_reordered_leaves_under_a_head_are_named,
    |backend| async move {
        let Some(t) = tampered(backend, 5, 0, &swap_leaves(1, 3)).await else {
            return;
        };
        assert!(t.names_moved(1, 3, "out of order"), "{:?}", t.problems);
        assert!(t.names_moved(3, 1, "out of order"), "{:?}", t.problems);
        assert!(
            t.first().starts_with("record at index 1 ("),
            "{:?}",
            t.problems
        );
        // The head sees it too, after the records it names.
        assert!(
            t.problems
                .iter()
                .any(|m| m.contains("does not match signed head")),
            "{:?}",
            t.problems
        );
    }
);

backend_tests!(
    two_reordered_leaves_after_the_last_head_are_named,
    |backend| async move {
        let Some(t) = tampered(backend, 5, 3, &swap_leaves(5, 7)).await else {
            return;
        };
        assert!(t.names_moved(5, 7, "out of order"), "{:?}", t.problems);
        assert!(t.names_moved(7, 5, "out of order"), "{:?}", t.problems);
        assert!(
            t.first().starts_with("record at index 5 ("),
            "{:?}",
            t.problems
        );
        assert!(
            !t.problems.iter().any(|m| m.contains("signed head")),
            "no head covers them: {:?}",
            t.problems
        );
    }
);

backend_tests!(two_swapped_events_are_named, |backend| async move {
    // The source rows trade places (their sequence numbers), the log stays.
    let Some(t) = tampered(
        backend,
        5,
        0,
        "UPDATE room_events SET seq = -1 WHERE seq = 2; UPDATE room_events SET seq = 2 WHERE seq = 4; \
         UPDATE room_events SET seq = 4 WHERE seq = -1",
    )
    .await
    else {
        return;
    };
    assert!(t.names(1, "the stored event differs"), "{:?}", t.problems);
    assert!(t.names(3, "the stored event differs"), "{:?}", t.problems);
    assert!(
        t.first().starts_with("record at index 1 ("),
        "{:?}",
        t.problems
    );
});

backend_tests!(a_deleted_leaf_is_found, |backend| async move {
    let Some(t) = tampered(backend, 5, 0, "DELETE FROM ledger_leaves WHERE idx = 2").await else {
        return;
    };
    assert!(t.first().starts_with("index 2 missing"), "{:?}", t.problems);
    let orphan = format!("room event {} is not in the log", t.ids[2]);
    assert!(t.problems.contains(&orphan), "{:?}", t.problems);
});

backend_tests!(
    the_last_leaf_deleted_after_the_last_head_is_found,
    |backend| async move {
        // No gap is left and no head covered it: the log's counter still counts it.
        let Some(t) = tampered(backend, 5, 2, "DELETE FROM ledger_leaves WHERE idx = 6").await
        else {
            return;
        };
        assert!(
            t.first()
                .starts_with("index 6 missing (the log's counter says 7"),
            "{:?}",
            t.problems
        );
        let orphan = format!("room event {} is not in the log", t.ids[6]);
        assert!(t.problems.contains(&orphan), "{:?}", t.problems);
    }
);

backend_tests!(a_record_removed_everywhere_is_found, |backend| async move {
    // The last event, its leaf and the log's counter all rewound: the
    // session's own count still says seq 7 existed.
    let Some(t) = tampered(
        backend,
        5,
        2,
        "DELETE FROM ledger_leaves WHERE idx = 6; DELETE FROM room_events WHERE seq = 7; \
         UPDATE ledger_state SET size = size - 1",
    )
    .await
    else {
        return;
    };
    assert!(
        t.first().contains(": seq 7 is not in the log"),
        "{:?}",
        t.problems
    );
});

backend_tests!(
    the_first_problem_is_the_earliest_record,
    |backend| async move {
        // Found by different checks (the log's hashes, the source rows); the
        // report still starts with the lower index.
        let Some(t) = tampered(
            backend,
            5,
            0,
            "UPDATE ledger_leaves SET payload = replace(payload, '3.000', '3.009') WHERE idx = 3; \
         UPDATE room_events SET body = replace(body, '1.000', '1.001') WHERE seq = 2",
        )
        .await
        else {
            return;
        };
        assert!(t.names(3, "content altered"), "{:?}", t.problems);
        assert!(
            t.first().starts_with(&format!(
                "record at index 1 (room_event {}): the stored event differs",
                t.ids[1]
            )),
            "{:?}",
            t.problems
        );
    }
);

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

/// Insert one leaf at `idx` directly (what another node's transaction
/// commits); `None` appends it at the log's next index as a record's own
/// transaction does.
async fn put_leaf(store: &jiliang_server::Store, idx: Option<i64>, record: &Record) {
    let idx = idx.map(|i| u64::try_from(i).expect("a leaf index"));
    jiliang_server::store::testing::insert_leaf(store, idx, record)
        .await
        .expect("leaf stored");
}

fn reading(i: u64) -> Record {
    Record::new(
        RecordKind::READING_BATCH,
        format!("r{i}"),
        1_764_000_000_000 + i,
        &json!({"batch": i, "values": ["1.000", "1.001"]}),
    )
    .expect("record")
}

/// Distinct milliseconds between steps whose order the key check reads
/// from head and registration times.
async fn tick() {
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
}

backend_tests!(a_node_with_another_key_is_refused, |backend| async move {
    let Some(db) = crate::common::TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let dir = tempfile::tempdir().expect("dir");
    let (a_key, b_key) = (dir.path().join("a.hex"), dir.path().join("b.hex"));
    let a = Ledger::open(store.clone(), &a_key, false).await.expect("a");
    put_leaf(&store, None, &reading(0)).await;
    a.publish().await.expect("publish");
    tick().await;

    let err = Ledger::open(store.clone(), &b_key, false)
        .await
        .expect_err("a second key is refused");
    assert!(
        matches!(err, LedgerError::ForeignKey { size: 1, .. }),
        "{err}"
    );
    let line = err.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains(&a.fingerprint()), "{line}");
    assert!(line.contains("same --ledger-key file"), "{line}");

    // A deliberate key change, accepted once.
    let b = Ledger::open(store.clone(), &b_key, true)
        .await
        .expect("accepted");
    // Until it signs, the latest head is the old key's, and says so.
    let h = b.latest_stored_head().expect("head");
    assert_eq!(h.public_key, a.public_key().to_bytes());
    h.head.verify(a.public_key()).expect("signed by a");
    tick().await;
    put_leaf(&store, None, &reading(1)).await;
    b.publish().await.expect("publish");
    let h = b.latest_stored_head().expect("head");
    assert_eq!((h.head.size, h.public_key), (2, b.public_key().to_bytes()));
    drop(b);
    tick().await;

    // The new key restarts without the flag; the old one is now refused.
    Ledger::open(store.clone(), &b_key, false)
        .await
        .expect("b restarts");
    let err = Ledger::open(store.clone(), &a_key, false)
        .await
        .expect_err("the replaced key is refused");
    assert!(
        matches!(err, LedgerError::ForeignKey { size: 2, .. }),
        "{err}"
    );
    store.close().await;
    db.cleanup().await;
});

backend_tests!(
    the_head_is_served_with_the_key_that_signed_it,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        session_with_events(&server, 2).await;
        let dir = tempfile::tempdir().expect("dir");
        // A misconfigured second node with a key of its own (let through by the
        // override) signs the next size before this node does.
        let other = Ledger::open(
            server.state.store.clone(),
            &dir.path().join("other.hex"),
            true,
        )
        .await
        .expect("other node");
        let mut won = false;
        for i in 0..20 {
            put_leaf(&server.state.store, None, &reading(i)).await;
            other.publish().await.expect("publish");
            let h = other.latest_stored_head().expect("head");
            if h.public_key == other.public_key().to_bytes() {
                won = true;
                break;
            }
        }
        assert!(won, "the other node never signed first");
        server.state.ledger.publish().await.expect("publish");
        let head = Client::new(&server.base).json("/api/v1/ledger/head").await;
        assert_eq!(
            head["public_key"].as_str(),
            Some(jiliang_ledger::hex::encode(&other.public_key().to_bytes()).as_str())
        );
        assert_eq!(
            head["key_fingerprint"].as_str(),
            Some(other.fingerprint().as_str())
        );
        let key = verifying_key_from_hex(head["public_key"].as_str().expect("key")).expect("key");
        let signed = jiliang_ledger::SignedTreeHead {
            size: head["size"].as_u64().expect("size"),
            timestamp_ms: head["timestamp_ms"].as_u64().expect("ts"),
            root_hash: Hash::from_hex(head["root_hash"].as_str().expect("root")).expect("hex"),
            signature: jiliang_ledger::SignatureBytes::from_hex(
                head["signature"].as_str().expect("sig"),
            )
            .expect("hex"),
        };
        signed
            .verify(&key)
            .expect("the served key verifies the served head");
        server.stop().await;
    }
);

backend_tests!(
    a_record_newer_than_every_head_is_pending_not_left_out,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let (expert, session) = session_with_events(&server, 2).await;
        let key = *server.state.ledger.public_key();
        // Another node's transaction has taken index 2 and not committed yet:
        // the event stored next (index 3) is beyond what any head can cover.
        db_exec(
            &server.state.store,
            "UPDATE ledger_state SET size = size + 1",
        )
        .await;
        let event = server
            .state
            .log
            .append(Append {
                session,
                author: None,
                client_id: None,
                body: EventBody::Chat {
                    text: "刚写入".into(),
                },
            })
            .await
            .expect("append");
        let id = event.event().id;
        let link = format!("/api/v1/ledger/records/room_event/{id}");
        for path in [link.clone(), format!("/api/v1/sessions/{session}/export")] {
            let res = expert.get(&path).await;
            assert_eq!(res.status(), 503, "{path}");
            assert_eq!(
                res.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("2"),
                "{path}"
            );
            let body: Value = res.json().await.expect("json");
            assert_eq!(body["code"], "ledger_head_pending", "{path}");
        }
        // The other transaction commits; the next head covers the record.
        put_leaf(&server.state.store, Some(2), &reading(0)).await;
        let one: Bundle = expert.get(&link).await.json().await.expect("bundle");
        assert_eq!(one.records.len(), 1);
        assert_eq!(one.records[0].id, id.to_string());
        assert_eq!(one.records[0].index, 3);
        let report = verify_bundle_with_key(&one, &key);
        assert!(report.ok, "{report}");
        server.stop().await;
    }
);

#[tokio::test]
async fn a_backup_taken_while_serving_restores_and_verifies() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let (_, id) = session_with_events(&server, 20).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("backup");
    let key = server.state.config.ledger_key_path();
    let jiliang = |args: Vec<String>| {
        std::process::Command::new(env!("CARGO_BIN_EXE_jiliang"))
            .args(args)
            .env("RUST_LOG", "off")
            .env_remove("DATABASE_URL")
            .env_remove("JILIANG_LEDGER_KEY")
            .output()
            .expect("run")
    };
    // The room keeps writing while the copy is taken.
    let log = server.state.log.clone();
    let author = Author {
        id: server.user_id("expert").await,
        name: "李明华".into(),
    };
    let writer = tokio::spawn(async move {
        for i in 0..50 {
            log.append(Append {
                session: id,
                author: Some(author.clone()),
                client_id: Some(format!("during-{i}")),
                body: EventBody::Chat {
                    text: format!("备份期间 {i}"),
                },
            })
            .await
            .expect("append");
        }
    });
    let args = vec![
        "backup".into(),
        "--database-url".into(),
        server.db.url.clone(),
        "--ledger-key".into(),
        key.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    let again = args.clone();
    let made = tokio::task::spawn_blocking(move || jiliang(args))
        .await
        .expect("join");
    writer.await.expect("writer");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(String::from_utf8_lossy(&made.stdout).contains("backup written to"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("ledger-key.hex"))
            .expect("key copied")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key copy is private: {mode:o}");
    }

    // The copy verifies as a whole: every record with its leaf, every head.
    let url = format!("sqlite://{}", out.join("jiliang.db").display());
    let verified = tokio::task::spawn_blocking({
        let url = url.clone();
        move || jiliang(vec!["verify".into(), "--database-url".into(), url])
    })
    .await
    .expect("join");
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    let report = String::from_utf8_lossy(&verified.stdout).into_owned();
    let records: usize = report
        .strip_prefix("ok: ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(records >= 20, "{report}");

    // A fresh server starts on the backup: the copied key still matches
    // the signed heads (no --ledger-accept-new-key), and the session is there.
    let restored_store = jiliang_server::Store::connect(&url).await.expect("open");
    restored_store.migrate().await.expect("migrate");
    let restored = jiliang_server::AppState::build(
        restored_store,
        jiliang_server::Config::for_database(url.clone()),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("a server starts on the backup with its own key");
    restored.store.close().await;

    // A second backup into the same place is refused, the first untouched.
    let refused = tokio::task::spawn_blocking(move || jiliang(again))
        .await
        .expect("join");
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert!(out.join("jiliang.db").exists());

    // PostgreSQL is pg_dump's job: one line saying so.
    let pg = jiliang(vec![
        "backup".into(),
        "--database-url".into(),
        "postgres://127.0.0.1:1/none".into(),
        "--out".into(),
        dir.path().join("pg").display().to_string(),
    ]);
    assert_eq!(pg.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"));
    server.stop().await;
}
