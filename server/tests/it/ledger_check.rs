//! A node checks its tree against its own signed heads (issue 15, item 10):
//! a leaf changed in the database after a head was signed over it makes a
//! (re)starting node refuse to sign and report the ledger not ready, until
//! the leaf is restored.

use std::time::Duration;

use jiliang_server::store::testing;
use jiliang_server::{AppState, Config};
use serde_json::Value;

use crate::common::{Backend, Client, DEMO_PASSWORD, TestDb};
use crate::rooms::chat_from;

/// A node on `url` with the ledger key at `key`, serving on a random port.
struct Running {
    base: String,
    state: AppState,
    handle: tokio::task::JoinHandle<Result<(), jiliang_server::RunError>>,
}

impl Running {
    async fn start(url: &str, key: &std::path::Path) -> Self {
        let store = jiliang_server::Store::open(url).await.expect("store");
        let config = Config {
            ledger_key: Some(key.to_owned()),
            ledger_interval_ms: 100,
            ..Config::for_database(url)
        };
        let state = AppState::build(store, config, tokio_util::sync::CancellationToken::new())
            .await
            .expect("a tampered ledger must not stop the node");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let handle = tokio::spawn(jiliang_server::serve(state.clone(), listener));
        Self {
            base,
            state,
            handle,
        }
    }

    async fn readyz(&self) -> (u16, Value) {
        let r = reqwest::get(format!("{}/readyz", self.base))
            .await
            .expect("readyz");
        let status = r.status().as_u16();
        (status, r.json().await.expect("json"))
    }

    async fn stop(self) {
        self.state.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.handle).await;
    }
}

/// A session with 秦安县 as its lab, hosted by `expert`.
async fn lab_session(expert: &Client, store: &jiliang_server::Store) -> uuid::Uuid {
    let qinan = store
        .list_institutions()
        .await
        .expect("list")
        .into_iter()
        .find(|i| i.institution.name_zh == "秦安县计量检定所")
        .map(|i| i.institution.id)
        .expect("qinan");
    let res = expert
        .post(
            "/api/v1/sessions",
            &serde_json::json!({"title": "账本检查", "scheduled_start": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339).expect("fmt"),
                "duration_minutes": 30, "lab_ids": [qinan]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id")
}

fn ledger_check(readiness: &Value) -> &Value {
    readiness["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "ledger"))
        .unwrap_or_else(|| panic!("no ledger check in {readiness}"))
}

/// Set leaf `idx`'s stored hash to `hash`.
async fn set_leaf_hash(store: &jiliang_server::Store, backend: Backend, idx: u64, hash: &[u8]) {
    let hex = jiliang_ledger::hex::encode(hash);
    let literal = match backend {
        Backend::Sqlite => format!("X'{hex}'"),
        Backend::Postgres => format!("decode('{hex}', 'hex')"),
    };
    let n = testing::execute(
        store,
        &format!("UPDATE ledger_leaves SET leaf_hash = {literal} WHERE idx = {idx}"),
    )
    .await
    .expect("tamper");
    assert_eq!(n, 1);
}

backend_tests!(
    a_changed_leaf_stops_signing_and_readiness_until_restored,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let key_dir = tempfile::tempdir().expect("key dir");
        let key = key_dir.path().join("ledger-key.hex");
        let first = Running::start(&db.url, &key).await;
        jiliang_server::demo::seed(&first.state.store)
            .await
            .expect("seed");
        let store = first.state.store.clone();
        let expert = store
            .find_user_by_login("expert")
            .await
            .expect("q")
            .expect("expert")
            .user
            .id;
        let client = Client::login(&first.base, "expert", DEMO_PASSWORD).await;
        let session = lab_session(&client, &store).await;
        for i in 0..5 {
            first
                .state
                .log
                .append(chat_from(
                    expert,
                    session,
                    &format!("m{i}"),
                    "示值 100.002 g",
                ))
                .await
                .expect("append");
        }
        first.state.ledger.publish().await.expect("publish");
        let signed = store
            .latest_ledger_head()
            .await
            .expect("head")
            .expect("a head")
            .head;
        assert!(signed.size >= 5);
        assert_eq!(first.readyz().await.0, 200);
        first.stop().await; // closes its pool

        // Someone rewrites a leaf that head covers.
        let store = db.store().await;
        let leaves = store.ledger_leaves(None, 10).await.expect("leaves");
        let victim = leaves[1].clone();
        let mut forged = victim.leaf_hash.clone();
        forged[0] ^= 0xff;
        set_leaf_hash(&store, backend, victim.index, &forged).await;

        // Restarted, the node serves but refuses to sign and is not ready.
        let node = Running::start(&db.url, &key).await;
        let (status, readiness) = node.readyz().await;
        assert_eq!(status, 503, "{readiness}");
        let check = ledger_check(&readiness);
        assert_eq!(check["ok"], false);
        let why = check["detail"].as_str().expect("detail");
        assert!(
            why.contains(&format!("size {}", signed.size)) && why.contains("disagrees"),
            "{why}"
        );
        let fault = node.state.ledger.fault().expect("a fault");
        assert_eq!(fault, why);
        node.state
            .log
            .append(chat_from(expert, session, "after", "篡改之后"))
            .await
            .expect("records still stored");
        assert!(
            matches!(
                node.state.ledger.publish().await,
                Err(jiliang_server::ledger::LedgerError::Mismatch { .. })
            ),
            "signed over a tampered log"
        );
        tokio::time::sleep(Duration::from_millis(300)).await; // publisher ticks
        assert_eq!(
            store
                .latest_ledger_head()
                .await
                .expect("head")
                .map(|h| h.head),
            Some(signed),
            "no head signed since the tampering"
        );

        // The operator restores the row; the recheck (every 30 s, here by
        // hand) finds the log sound and signing resumes.
        set_leaf_hash(&store, backend, victim.index, &victim.leaf_hash).await;
        assert!(node.state.ledger.recheck().await.expect("recheck"));
        let (status, readiness) = node.readyz().await;
        assert_eq!(status, 200, "{readiness}");
        assert_eq!(ledger_check(&readiness)["ok"], true);
        node.state.ledger.publish().await.expect("signs again");
        let newest = store
            .latest_ledger_head()
            .await
            .expect("head")
            .expect("head");
        assert!(newest.head.size > signed.size);
        node.stop().await;
        db.cleanup().await;
    }
);
